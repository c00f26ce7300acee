"""Settings for a developer's machine and the demo."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403  (settings modules extend the base by star import)

DEBUG = env.bool("DJANGO_DEBUG", default=True)  # noqa: F405
# A development key, public by design: only this module and the test settings have one (F6).
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")  # noqa: F405
UA_COMMAND_KEY = ua_command_key(SECRET_KEY)  # noqa: F405
TRUNK_SECRET_KEYS = trunk_secret_keys(SECRET_KEY)  # noqa: F405

# Development-only apps: the demo (`run_demo`) and the simulated phone network (`simulate_pstn`); production
# settings install only the product apps.
INSTALLED_APPS = [*INSTALLED_APPS, "demo", "simulator"]  # noqa: F405
# Development: a webhook receiver on this machine may use http:// (docs/api.md); never in production.
WEBHOOK_ALLOW_HTTP_LOOPBACK = env.bool("WEBHOOK_ALLOW_HTTP_LOOPBACK", default=True)  # noqa: F405
