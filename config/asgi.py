"""ASGI entry point."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

from config.entrypoints import require_settings_module

require_settings_module("config.asgi")  # F6: no default settings for a server
application = get_asgi_application()
