"""Endpoints (create, rotate the secret, enable) and replays of past events from the delivery log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.outbox import _kick
from webhooks.signing import new_secret
from webhooks.urls_policy import check_webhook_url


def create_endpoint(url: str, *, events: list[str] | None = None, campaign_id: int | None = None,
                    description: str = "") -> WebhookEndpoint:
    """A new endpoint with a fresh secret.

    Raises:
        UrlRefused: the URL is not allowed (https only, no internal address: ``webhooks.urls_policy``).
    """
    check_webhook_url(url)
    return WebhookEndpoint.objects.create(url=url, events=events or [], campaign_id=campaign_id,
                                          description=description, secret=new_secret())


def rotate_secret(endpoint_id: int) -> WebhookEndpoint:
    """Start a rotation: a new secret signs alongside the old one until ``end_rotation``."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(secret=endpoint.secret,
                                                              previous_secret=endpoint.previous_secret)
    return endpoint


def end_rotation(endpoint_id: int) -> None:
    """Stop signing with the previous secret (the receiver has the new one)."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(previous_secret="")


def enable_endpoint(endpoint_id: int) -> bool:
    """Re-enable a disabled endpoint; its pending deliveries go out from the next run of the sender."""
    changed = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=False).update(
        enabled=True, disabled_reason="", disabled_at=None)
    if changed:
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
            next_attempt_at=timezone.now())
    return bool(changed)


def _replay(pairs: Iterable[tuple[int, int, int | None]]) -> int:
    rows = [WebhookDelivery(event_id=event_id, endpoint_id=endpoint_id, replay_of_id=of)
            for event_id, endpoint_id, of in pairs]
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows)
        transaction.on_commit(_kick)
    return len(rows)


def replay_deliveries(delivery_ids: Iterable[int]) -> int:
    """Send these deliveries' events again to the same endpoints (new delivery rows, same event ids)."""
    return _replay(WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).values_list("event_id", "endpoint_id",
                                                                                          "id"))


def replay_events(endpoint_id: int, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                  event_ids: Iterable[int] | None = None) -> int:
    """Send the events of a time range (or the given events) again to one endpoint, if it subscribes to them."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    events = WebhookEvent.objects.all()
    if event_ids is not None:
        events = events.filter(pk__in=list(event_ids))
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    if endpoint.campaign_id is not None:
        events = events.filter(Q(campaign_id=endpoint.campaign_id))
    if endpoint.events:
        events = events.filter(type__in=endpoint.events)
    return _replay((e, endpoint_id, None) for e in events.order_by("id").values_list("id", flat=True))
