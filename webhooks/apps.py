"""Signed webhooks: endpoints, the outbox of events, deliveries with retries."""

from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """App config for webhooks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
