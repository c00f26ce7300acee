"""``POST /api/v1/calls``: the dialer's gates answer first; a call accepted is claimed by the next tick; an
Idempotency-Key makes a retried or concurrent POST one call."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import redis
import time_machine
from django.db import connection

from api.models import IdempotencyRecord
from campaigns.choices import ContactStatus
from campaigns.dialer.attempts import finish_attempt, mark_attempt_dialing
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import CallAttempt, Contact
from tests.api.conftest import ApiClient
from tests.campaigns.dialer_setup import MIDDAY, live_ua, running_campaign
from tests.factories import CampaignFactory, DoNotCallFactory

NIGHT = dt.datetime(2026, 6, 17, 6, 0, tzinfo=dt.UTC)  # 02:00 in New York


def tick(r: redis.Redis, now: dt.datetime = MIDDAY) -> list[int]:
    sink: list[int] = []

    def enqueue(ids: Sequence[int]) -> None:
        sink.extend(ids)

    with time_machine.travel(now, tick=False):
        assert run_dispatch_tick(now=now, r=r, enqueue=enqueue).ran
    return sink


def call(client: ApiClient, campaign_id: int, to: str = "+12125550123", key: str | None = None, **extra: Any) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return client.post("/api/v1/calls", {"to": to, "campaign_id": campaign_id, **extra}, headers=headers)


@pytest.mark.django_db(transaction=True)
def test_an_accepted_call_is_claimed_first_by_the_next_tick(api_client: ApiClient, redis_client: redis.Redis) -> None:
    campaign = running_campaign(max_concurrent=1)
    live_ua(redis_client)
    Contact.objects.create(campaign=campaign, phone_e164="+12125550100", time_zones=["America/New_York"])
    with time_machine.travel(MIDDAY, tick=False):
        response = call(api_client, campaign.pk, name="Ann", variables={"plan": "gold"})
    assert response.status_code == 202, response.content
    contact = Contact.objects.get(pk=response.json()["contact_id"])
    assert (contact.name, contact.variables, contact.status) == ("Ann", {"plan": "gold"}, ContactStatus.PENDING)
    # the one free slot goes to the API's call, ahead of the contact imported before it
    ids = tick(redis_client)
    assert CallAttempt.objects.get(pk__in=ids).contact_id == contact.pk


@pytest.mark.django_db
@pytest.mark.parametrize(("setup", "reason", "has_retry_at"), [
    ("paused", "campaign-not-running", False),
    ("dnc", "do-not-call", False),
    ("night", "outside-calling-window", True),
    ("full", "at-capacity", False),
])
def test_a_call_that_may_not_dial_now_says_why_and_when(api_client: ApiClient, setup: str, reason: str,
                                                          has_retry_at: bool) -> None:
    campaign = running_campaign(max_concurrent=1) if setup != "paused" else CampaignFactory(status="paused")
    when = NIGHT if setup == "night" else MIDDAY
    if setup == "dnc":
        DoNotCallFactory(phone_e164="+12125550123")
    if setup == "full":
        busy = Contact.objects.create(campaign=campaign, phone_e164="+12125550999", time_zones=["America/New_York"])
        CallAttempt.objects.create(campaign=campaign, contact=busy, state="dialing")
    with time_machine.travel(when, tick=False):
        response = call(api_client, campaign.pk)
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["reason"] == reason
    if has_retry_at:
        # the window (09:00-20:00 New York, weekdays) opens at 13:00 UTC the same day
        assert dt.datetime.fromisoformat(body["retry_at"]) == dt.datetime(2026, 6, 17, 13, 0, tzinfo=dt.UTC)
    if setup == "full":
        assert response["Retry-After"] == "5"
    assert not Contact.objects.filter(phone_e164="+12125550123", status="pending").exists()


@pytest.mark.django_db
def test_a_zone_the_number_cannot_be_in_is_refused(api_client: ApiClient) -> None:
    campaign = running_campaign()
    with time_machine.travel(MIDDAY, tick=False):
        response = call(api_client, campaign.pk, time_zone="Asia/Tokyo")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.time_zone"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_posts_place_one_call(api_client: ApiClient, redis_client: redis.Redis) -> None:
    campaign = running_campaign()
    live_ua(redis_client)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def post() -> None:
        barrier.wait()
        with time_machine.travel(MIDDAY, tick=False):
            results.append(call(api_client, campaign.pk, key="order-42"))
        connection.close()

    # given a lock that holds every contact insert, so both requests are in flight at the same time
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(f"LOCK TABLE {Contact._meta.db_table} IN SHARE MODE")
        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        cursor.execute("COMMIT")
    for t in threads:
        t.join(10)
    # then one request ran and the other got its stored response
    assert sorted(r.status_code for r in results) == [202, 202]
    assert sorted(r.get("Idempotent-Replayed", "") for r in results) == ["", "true"]
    assert results[0].json() == results[1].json()
    assert Contact.objects.count() == 1
    assert len(tick(redis_client)) == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_retried_post_after_the_call_ended_does_not_call_again(api_client: ApiClient,
                                                                  redis_client: redis.Redis) -> None:
    campaign = running_campaign()
    live_ua(redis_client)
    with time_machine.travel(MIDDAY, tick=False):
        first = call(api_client, campaign.pk, key="lead-8")
    [attempt_id] = tick(redis_client)
    with time_machine.travel(MIDDAY + dt.timedelta(seconds=1), tick=False):
        assert mark_attempt_dialing(attempt_id, ua_name="ua-test")
    with time_machine.travel(MIDDAY + dt.timedelta(seconds=30), tick=False):
        assert finish_attempt(attempt_id, disposition="no_answer", sip_code=480)
    contact = Contact.objects.get()
    assert contact.status == ContactStatus.RETRY_SCHEDULED
    # when the client retries the same POST (a timeout on its side), it gets the first answer again
    with time_machine.travel(MIDDAY + dt.timedelta(seconds=40), tick=False):
        again = call(api_client, campaign.pk, key="lead-8")
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Contact.objects.get().next_attempt_at == contact.next_attempt_at  # not made due again
    # and the same key with another body is refused
    other = call(api_client, campaign.pk, to="+12125550124", key="lead-8")
    assert other.status_code == 409
    assert other.json()["type"].endswith("/idempotency-key-reused")
