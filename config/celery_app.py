"""The Celery application: configured from Django settings (namespace ``CELERY_``)."""

from __future__ import annotations

from celery import Celery

from config.entrypoints import require_settings_module

# F6: no default settings. Every import of the `config` package comes through here (config/__init__.py), so a
# process started without DJANGO_SETTINGS_MODULE stops at once, whatever its entry point.
require_settings_module("config package: web, Celery and UA pool processes")

app = Celery("campaign_engine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
