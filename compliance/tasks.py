"""Celery tasks of the compliance app: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task
from django.apps import apps
from django.utils import timezone

from campaigns.services import pause_campaign
from compliance.governor import govern_campaigns


@shared_task(name="compliance.govern_abandonment", ignore_result=True, soft_time_limit=50, time_limit=60, expires=30)
def govern_abandonment() -> None:
    """Beat, every 30 s: the abandonment governor over the running campaigns (throttle, pause, history)."""
    campaign = apps.get_model("campaigns", "Campaign")
    running = list(campaign.objects.filter(status="running").values_list("id", "max_concurrent"))
    govern_campaigns(running, timezone.now(), pause_campaign)
