"""The REST API: ``/api/v1/``, API keys, idempotency, audit."""

from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """App config for the REST API."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "REST API"
