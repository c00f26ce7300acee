"""The outbox and its sender against a real HTTP receiver: signed deliveries, retries with backoff, order per
subject, giving up after the horizon (endpoint disabled, operator told), rotation, and replays from the admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.webhooks.receiver import Receiver
from webhooks.delivery import send_due
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.outbox import emit_event
from webhooks.services import create_endpoint, rotate_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def endpoint_for(receiver: Receiver, **kwargs: object) -> WebhookEndpoint:
    endpoint = create_endpoint(receiver.url, **kwargs)  # type: ignore[arg-type]
    receiver.secret = endpoint.secret
    return endpoint


def test_an_event_exists_only_if_its_change_committed(receiver: Receiver) -> None:
    endpoint_for(receiver)

    def failing_change() -> None:
        with transaction.atomic():
            emit_event("attempt.ended", {"attempt_id": 1}, campaign_id=1)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    assert not WebhookEvent.objects.exists()
    assert emit_event("attempt.ended", {"attempt_id": 2}, campaign_id=1) is not None
    assert WebhookDelivery.objects.count() == 1


def test_only_subscribed_endpoints_get_an_event(receiver: Receiver) -> None:
    endpoint_for(receiver, events=["campaign.completed"])
    assert emit_event("attempt.ended", {}, campaign_id=1) is None
    endpoint_for(receiver, campaign_id=None, events=["attempt.ended"])
    assert emit_event("attempt.ended", {}, campaign_id=1) is not None


def test_a_failing_receiver_gets_retries_with_backoff_then_the_same_signed_event(receiver: Receiver) -> None:
    endpoint_for(receiver)
    receiver.statuses = [500, 503]
    event = emit_event("attempt.ended", {"attempt_id": 7, "disposition": "human"}, campaign_id=3, subject="attempt:7")
    assert event is not None
    start = timezone.now()
    assert send_due().retried == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.tries == 1
    assert delivery.last_status_code == 500
    assert dt.timedelta(seconds=25) < delivery.next_attempt_at - start < dt.timedelta(seconds=35)
    assert send_due().retried == 0  # not due yet
    with time_machine.travel(start + dt.timedelta(seconds=40)):
        assert send_due().retried == 1
    delivery.refresh_from_db()
    assert delivery.next_attempt_at - (start + dt.timedelta(seconds=40)) > dt.timedelta(seconds=50)  # doubled
    with time_machine.travel(start + dt.timedelta(seconds=200)):
        assert send_due().delivered == 1
    assert [r.verified for r in receiver.received] == [True, True, True]
    assert {r.headers["webhook-id"] for r in receiver.received} == {str(event.event_id)}
    body = receiver.received[-1].event
    assert body["type"] == "attempt.ended"
    assert body["data"]["disposition"] == "human"
    assert body["campaign_id"] == 3
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.tries == 3


def test_deliveries_of_one_attempt_go_out_in_order(receiver: Receiver) -> None:
    endpoint_for(receiver)
    receiver.statuses = [500]
    emit_event("attempt.answered", {"attempt_id": 9}, subject="attempt:9")
    emit_event("attempt.ended", {"attempt_id": 9}, subject="attempt:9")
    emit_event("campaign.completed", {"campaign_id": 1}, subject="campaign:1")
    send_due()
    # the answered event failed; the ended event of the same attempt waits; another subject goes on
    assert [r.event["type"] for r in receiver.received] == ["attempt.answered", "campaign.completed"]
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        send_due()
    assert [r.event["type"] for r in receiver.received][2:] == ["attempt.answered", "attempt.ended"]


def test_after_the_horizon_the_delivery_fails_and_the_endpoint_is_disabled_and_the_operator_told(
        receiver: Receiver, settings: object) -> None:
    settings.ADMINS = [("ops", "ops@example.com")]  # type: ignore[attr-defined]
    endpoint = endpoint_for(receiver)
    receiver.statuses = [500] * 100
    emit_event("attempt.ended", {}, subject="attempt:1")
    start = timezone.now()
    moments = [start + dt.timedelta(hours=h) for h in (0, 3, 6, 9, 12, 15, 18, 21, 24)]
    for moment in moments:
        with time_machine.travel(moment):
            send_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING  # still retrying after 24 h
    with time_machine.travel(start + dt.timedelta(hours=27)):
        report = send_due()
    assert report.failed == 1
    assert report.disabled_endpoints == 1
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "failed" in endpoint.disabled_reason
    assert len(mail.outbox) == 1
    assert receiver.url in mail.outbox[0].body
    # a disabled endpoint gets nothing more
    emit_event("attempt.ended", {}, subject="attempt:2")
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()


def test_a_url_by_name_is_delivered_to_its_checked_address_with_its_host(receiver: Receiver) -> None:
    endpoint = create_endpoint(receiver.url.replace("127.0.0.1", "localhost"))
    receiver.secret = endpoint.secret
    emit_event("import.finished", {"import_job_id": 1})
    assert send_due().delivered == 1
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.url.split(':')[2].split('/')[0]}"
    assert receiver.received[0].verified


def test_during_a_rotation_both_secrets_sign(receiver: Receiver) -> None:
    endpoint = endpoint_for(receiver)
    old = endpoint.secret
    rotated = rotate_secret(endpoint.pk)
    emit_event("import.finished", {"import_job_id": 1})
    receiver.secret = old  # a receiver not yet updated
    send_due()
    receiver.secret = rotated.secret  # and one that has the new secret
    emit_event("import.finished", {"import_job_id": 2})
    send_due()
    assert [r.verified for r in receiver.received] == [True, True]


def test_the_admin_replays_one_delivery_and_an_event_range(receiver: Receiver) -> None:
    endpoint = endpoint_for(receiver)
    first = emit_event("contact.completed", {"contact_id": 1})
    emit_event("contact.completed", {"contact_id": 2})
    send_due()
    assert len(receiver.received) == 2
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert first is not None
    delivery = WebhookDelivery.objects.get(event=first)
    response = admin.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    assert response.status_code == 302
    send_due()
    assert [r.event["data"]["contact_id"] for r in receiver.received] == [1, 2, 1]
    assert receiver.received[2].headers["webhook-id"] == str(first.event_id)  # the same event, de-duplicable
    since = (timezone.now() - dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    response = admin.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/replay/", {"since": since})
    assert response.status_code == 302
    send_due()
    assert [r.event["data"]["contact_id"] for r in receiver.received][3:] == [1, 2]
    assert all(r.verified for r in receiver.received)
