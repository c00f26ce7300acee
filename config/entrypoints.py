"""Which settings a process runs with: always named, never guessed (audit F6).

The rule: the web (``config.wsgi``, ``config.asgi``), Celery (``config.celery_app``) and the UA pool (the
``run_ua_pool`` supervisor and each ``telephony.ua.process`` worker) refuse to start unless
``DJANGO_SETTINGS_MODULE`` is set. Only ``manage.py`` falls back, to ``config.settings.local``, and only when it
runs from a development checkout (a ``.git`` next to it) with ``DJANGO_DEBUG`` not set to false (see
``manage.py``). Before, every entry point defaulted to the local settings: a server started without the variable
ran with ``DEBUG=True`` and the public development ``SECRET_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

SETTINGS_ENV = "DJANGO_SETTINGS_MODULE"


def require_settings_module(entry: str, environ: Mapping[str, str] | None = None) -> str:
    """Return the settings module named in the environment, or refuse to go on.

    Args:
        entry: the entry point asking (named in the error).
        environ: the environment (``os.environ`` when None).

    Raises:
        ImproperlyConfigured: ``DJANGO_SETTINGS_MODULE`` is unset or blank.
    """
    module = (os.environ if environ is None else environ).get(SETTINGS_ENV, "").strip()
    if not module:
        raise ImproperlyConfigured(
            f"DJANGO_SETTINGS_MODULE is not set ({entry}). Name the settings explicitly: config.settings.production "
            "in production, config.settings.local on a developer machine (e.g. in .env for honcho). The web, "
            "Celery and UA pool processes have no default, so they never run development settings by accident.")
    return module
