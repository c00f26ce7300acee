"""Sending the outbox: claim due deliveries, POST them signed, record the answer, back off, give up, disable.

- At least once: a delivery is marked delivered only after a 2xx; a crash between the POST and that mark
  sends it again. Receivers de-duplicate on the event id (``Webhook-Id``).
- Ordered per subject: a delivery waits while an older delivery of the same subject (one call attempt) to
  the same endpoint is still pending, so ``attempt.answered`` arrives before that attempt's ``attempt.ended``.
  Events of different subjects are not ordered.
- Retries back off exponentially (30 s doubling, at most 3 h apart) for ``WEBHOOK_RETRY_HORIZON_S`` (26 h);
  then the delivery fails, the endpoint is disabled and the operator is told (log and mail to ADMINS).
- The POST goes to an address the URL policy checked just before (no second resolution: DNS rebinding).
- No network I/O inside a transaction: claiming pushes ``next_attempt_at`` ahead by a lease and commits; the
  POSTs happen after; a sender that dies leaves the claimed rows due again when the lease runs out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.mail import mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header
from webhooks.urls_policy import UrlPolicy, UrlRefused, check_webhook_url, pinned

logger = logging.getLogger(__name__)

CLAIM_LEASE = dt.timedelta(seconds=60)  # longer than one POST's timeout
BASE_DELAY_S = 30
MAX_DELAY_S = 3 * 3600
USER_AGENT = "campaign-engine-webhooks/1"
BATCH = 50


def retry_horizon() -> dt.timedelta:
    """How long a delivery is retried before it fails (at least 24 h)."""
    return dt.timedelta(seconds=getattr(settings, "WEBHOOK_RETRY_HORIZON_S", 26 * 3600))


def backoff_delay(tries: int) -> float:
    """Seconds before try ``tries + 1``: 30 s doubling per try, capped at 3 h, with 10 % jitter."""
    delay = min(BASE_DELAY_S * 2 ** max(tries - 1, 0), MAX_DELAY_S)
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not cryptography)


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON body sent for a delivery's event."""
    event = delivery.event
    return json.dumps({"id": str(event.event_id), "type": event.type, "created_at": event.created_at,
                       "campaign_id": event.campaign_id, "data": event.data},
                      cls=DjangoJSONEncoder, separators=(",", ":")).encode()


@dataclass(slots=True)
class SendReport:
    """What one run of the sender did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled_endpoints: int = 0


def claim_due(limit: int, now: dt.datetime) -> list[int]:
    """Lock due deliveries (skipping those another sender holds), lease them, and return their ids."""
    older_pending = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), status=DeliveryStatus.PENDING, event__subject=OuterRef("event__subject"),
        id__lt=OuterRef("id"))
    with transaction.atomic():
        ids = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
                                                  endpoint__enabled=True)
                   .filter(Q(event__subject="") | ~Exists(older_pending))
                   .order_by("next_attempt_at", "id")
                   .select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + CLAIM_LEASE)
    return ids


def send_due(*, limit: int = 200, client: httpx.Client | None = None, now: dt.datetime | None = None) -> SendReport:
    """Send due deliveries, one POST each, and record the results; claims again after each batch (a delivery
    that waited for an older one of its subject is due once that one went out), up to ``limit`` sends."""
    report = SendReport()
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False,
                                    headers={"User-Agent": USER_AGENT})
    sent = 0
    try:
        while sent < limit:
            ids = claim_due(min(BATCH, limit - sent), now or timezone.now())
            if not ids:
                break
            sent += len(ids)
            for delivery in (WebhookDelivery.objects.select_related("event", "endpoint").filter(pk__in=ids)
                             .order_by("id")):
                _send_one(delivery, client, report)
    finally:
        if own:
            client.close()
    return report


def _send_one(delivery: WebhookDelivery, client: httpx.Client, report: SendReport) -> None:
    endpoint = delivery.endpoint
    body = body_of(delivery)
    started = time.perf_counter()
    code: int | None = None
    error = ""
    try:
        # Again at every send: the name may point somewhere internal since the endpoint was saved (SSRF).
        addresses = check_webhook_url(endpoint.url, UrlPolicy.from_settings())
        response = _post_pinned(client, endpoint, delivery, body, addresses)
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except UrlRefused as exc:
        error = f"URL refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    now = timezone.now()
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.DELIVERED, tries=delivery.tries + 1, last_status_code=code, last_error="",
            last_duration_ms=duration_ms, delivered_at=now)
        report.delivered += 1
        return
    tries = delivery.tries + 1
    if now - delivery.created_at >= retry_horizon():
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, tries=tries, last_status_code=code, last_error=error[:500],
            last_duration_ms=duration_ms)
        report.failed += 1
        if disable_endpoint(endpoint.pk, f"delivery {delivery.pk} failed for {retry_horizon()} (last: {error})"):
            report.disabled_endpoints += 1
        return
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        tries=tries, last_status_code=code, last_error=error[:500], last_duration_ms=duration_ms,
        next_attempt_at=now + dt.timedelta(seconds=backoff_delay(tries)))
    report.retried += 1


def _post_pinned(client: httpx.Client, endpoint: WebhookEndpoint, delivery: WebhookDelivery, body: bytes,
                 addresses: list[str]) -> httpx.Response:
    """POST to the checked addresses in turn (a name may have an IPv6 and an IPv4 address) until one connects."""
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", EVENT_ID_HEADER: str(delivery.event.event_id),
               EVENT_TYPE_HEADER: delivery.event.type,
               SIGNATURE_HEADER: signature_header([endpoint.secret, endpoint.previous_secret], timestamp, body)}
    for address in addresses[:-1]:
        url, host_header, extensions = pinned(endpoint.url, address)
        try:
            return client.post(url, content=body, extensions=extensions, headers={**host_header, **headers})
        except httpx.ConnectError:
            continue
    url, host_header, extensions = pinned(endpoint.url, addresses[-1])
    return client.post(url, content=body, extensions=extensions, headers={**host_header, **headers})


def disable_endpoint(endpoint_id: int, reason: str) -> bool:
    """Disable an endpoint that keeps failing and tell the operator; False when it was already disabled.

    Its pending deliveries stay pending: they go out once an operator fixes and re-enables it.
    """
    now = timezone.now()
    changed = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now)
    if changed:
        url = WebhookEndpoint.objects.values_list("url", flat=True).get(pk=endpoint_id)
        logger.error("webhooks: endpoint %s disabled: %s", endpoint_id, reason)
        mail_admins(f"Webhook endpoint {endpoint_id} disabled",
                    f"The webhook endpoint {url} kept failing and was disabled.\n\n{reason}\n\n"
                    "Fix the receiver, then enable the endpoint in the admin; pending deliveries will follow.",
                    fail_silently=True)
    return bool(changed)
