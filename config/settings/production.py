"""Production settings: secrets and hosts must come from the environment."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403  (settings modules extend the base by star import)

SECRET_KEY = env("DJANGO_SECRET_KEY")  # noqa: F405
# Derived here, after SECRET_KEY: base.py has no key to derive it from (F6).
UA_COMMAND_KEY = ua_command_key(SECRET_KEY)  # noqa: F405
# F8: Fernet keys of the trunk passwords at rest (comma separated, the first encrypts): required, never derived.
TRUNK_SECRET_KEYS = env.list("TRUNK_SECRET_KEYS")  # noqa: F405
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")  # noqa: F405
DEBUG = False
# F26: trust X-Forwarded-Proto only when told to. Set DJANGO_TRUST_X_FORWARDED_PROTO=1 only behind a proxy that
# terminates TLS and overwrites (never passes on) the client's X-Forwarded-Proto; otherwise any client can claim
# HTTPS. Behind such a proxy without it, SECURE_SSL_REDIRECT loops: the app never sees the request as secure.
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):  # noqa: F405
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)  # noqa: F405
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# F26: a year once HTTPS is confirmed (browsers then refuse plain HTTP to the admin for that long). While moving a
# site to HTTPS, start with DJANGO_SECURE_HSTS_SECONDS=3600 and raise it when every page works over HTTPS.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)  # noqa: F405
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading commits the whole domain to HTTPS in browsers for months and is slow to undo: opt-in. Without it,
# `check --deploy` would warn (W021) on every run, and a warning everyone ignores hides the next one.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)  # noqa: F405
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
