"""Campaigns app: agents, campaigns, contacts, call attempts, do-not-call, imports."""

from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """App config for campaigns."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"

    def ready(self) -> None:
        from campaigns import retention  # noqa: F401  (connects the receiver that deletes an import's files)
