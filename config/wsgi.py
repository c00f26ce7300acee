"""WSGI entry point."""

from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from config.entrypoints import require_settings_module

require_settings_module("config.wsgi")  # F6: no default settings for a server
application = get_wsgi_application()
