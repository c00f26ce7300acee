"""Writing events: call ``emit_event`` inside the transaction of the change it reports.

The event row and one delivery row per subscribed endpoint are inserted in that transaction, so an event
exists if and only if its change committed (no event for a rolled-back change, no change without its event).
Sending happens later, from the outbox, by ``webhooks.delivery``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q

from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver_due"


def _kick() -> None:
    # Latency only: the beat runs the sender every second anyway, so a lost kick delays, never loses.
    from config.celery_app import app

    try:
        app.send_task(DELIVER_TASK, expires=5)
    except Exception:  # noqa: BLE001 (a broker hiccup must not fail the change that already committed)
        logger.warning("webhooks: could not kick the sender; the beat will send")


def emit_event(event_type: str, data: dict[str, Any], *, campaign_id: int | None = None,
               subject: str = "") -> WebhookEvent | None:
    """Record an event and its deliveries in the current transaction; None when no endpoint subscribes.

    Args:
        event_type: An ``EventType`` value.
        data: The event's payload (JSON-serialisable).
        campaign_id: The campaign it concerns (per-campaign endpoints get only theirs).
        subject: What it is about (``attempt:42``): deliveries with the same subject go out in order.
    """
    endpoints = [e.pk for e in WebhookEndpoint.objects.filter(enabled=True).filter(
        Q(campaign_id__isnull=True) | Q(campaign_id=campaign_id)).only("id", "events", "campaign_id", "enabled")
        if e.wants(event_type, campaign_id)]
    if not endpoints:
        return None
    with transaction.atomic():
        event = WebhookEvent.objects.create(type=event_type, data=data, campaign_id=campaign_id, subject=subject)
        WebhookDelivery.objects.bulk_create([WebhookDelivery(event=event, endpoint_id=e) for e in endpoints])
        transaction.on_commit(_kick)
    return event
