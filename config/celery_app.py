"""The Celery application: configured from Django settings (namespace ``CELERY_``)."""

from __future__ import annotations

from logging.config import dictConfig

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings

from config.entrypoints import require_settings_module

# F6: no default settings. Every import of the `config` package comes through here (config/__init__.py), so a
# process started without DJANGO_SETTINGS_MODULE stops at once, whatever its entry point.
require_settings_module("config package: web, Celery and UA pool processes")

app = Celery("campaign_engine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _configure_logging(**_: object) -> None:
    """Celery logs through Django's ``LOGGING`` (one configuration for every process), not its own handlers.

    Connecting to ``setup_logging`` stops Celery from installing its root handler; the worker and beat then log
    with the same format, levels and PII filters as the web and UA processes.
    """
    dictConfig(settings.LOGGING)
