"""Production settings: secrets and hosts must come from the environment."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403  (settings modules extend the base by star import)

SECRET_KEY = env("DJANGO_SECRET_KEY")  # noqa: F405
# Derived here, after SECRET_KEY: base.py has no key to derive it from (F6).
UA_COMMAND_KEY = ua_command_key(SECRET_KEY)  # noqa: F405
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")  # noqa: F405
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)  # noqa: F405
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600)  # noqa: F405
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading commits the whole domain to HTTPS in browsers for months and is slow to undo: opt-in. Without it,
# `check --deploy` would warn (W021) on every run, and a warning everyone ignores hides the next one.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)  # noqa: F405
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
