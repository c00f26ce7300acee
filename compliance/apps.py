"""Compliance app config."""

from __future__ import annotations

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """App config for compliance."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"
