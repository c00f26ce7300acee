"""originate: the boundary with telephony. One command per attempt, re-checks just before dialing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connections
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.dialer.handoff import originate_attempt
from campaigns.dialer.leases import acquire_leases, attempt_scopes, count_leases
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.rules.windows import CallingWindow, zones_in_window
from campaigns.tasks import originate
from telephony.contract import COMMAND_TTL_S, OriginateCommand, open_command
from telephony.ua_registry import pending_commands, pending_raw_commands, total_free_lines
from tests.campaigns.dialer_setup import MIDDAY, NY, contacts, live_ua, running_campaign
from tests.factories import DoNotCallFactory, TrunkFactory


def claim_one(r: redis.Redis, campaign: Campaign, now: dt.datetime = MIDDAY) -> int:
    with time_machine.travel(now, tick=False):
        result = run_dispatch_tick(now=now, r=r, enqueue=lambda ids: None)
    assert result.claimed == 1
    return result.attempt_ids[0]


def dial(attempt_id: int, r: redis.Redis, now: dt.datetime = MIDDAY) -> str:
    with time_machine.travel(now, tick=False):
        return originate_attempt(attempt_id, r=r, now=now).outcome


@pytest.fixture
def setup(redis_client: redis.Redis) -> tuple[Campaign, Contact, int]:
    live_ua(redis_client, "ua-1")
    campaign = running_campaign(max_concurrent=2)
    contact = contacts(campaign, 1, variables={"plan": "gold"}, name="Ada")[0]
    return campaign, contact, claim_one(redis_client, campaign)


@pytest.mark.django_db
def test_originate_pushes_one_complete_command(redis_client: redis.Redis,
                                               setup: tuple[Campaign, Contact, int]) -> None:
    campaign, contact, attempt_id = setup
    failover = TrunkFactory(host="10.0.0.2")
    campaign.trunk.failover = failover
    campaign.trunk.password = "s3cret"
    campaign.trunk.save()
    assert dial(attempt_id, redis_client) == "sent"
    [raw] = pending_raw_commands(redis_client, "ua-1")
    # no secret travels in the queue: not the password, not anything that looks like it
    assert b"s3cret" not in raw
    assert b"password" not in raw
    # the command is sealed: the UA opens it with the shared key, and it expires (dial() ran at MIDDAY)
    command = open_command(raw, settings.UA_COMMAND_KEY, now=MIDDAY.timestamp())
    assert isinstance(command, OriginateCommand)
    assert command.expires_at - MIDDAY.timestamp() == COMMAND_TTL_S
    caller = campaign.caller_ids.get().number
    assert command.attempt_id == attempt_id
    assert command.destination == contact.phone_e164
    assert command.caller_id == caller
    assert command.trunk.id == campaign.trunk_id
    assert command.trunk.password == ""
    assert command.trunk.codecs == ("PCMU", "PCMA")
    assert command.trunk.failover is not None
    assert command.trunk.failover.host == "10.0.0.2"
    assert command.ring_timeout_s == campaign.ring_timeout_s
    assert command.max_call_s == campaign.agent.max_call_s
    assert (command.campaign_id, command.contact_id) == (campaign.pk, contact.pk)
    assert command.conversation.variables == {"name": "Ada", "plan": "gold"}
    attempt = CallAttempt.objects.get(pk=attempt_id)
    assert attempt.caller_id == caller
    assert attempt.ua_name == "ua-1"
    assert attempt.originated_at is not None
    scopes = attempt_scopes(campaign.pk, campaign.max_concurrent, campaign.trunk_id, campaign.trunk.max_channels)
    assert [count_leases(redis_client, s) for s in scopes] == [1, 1]


@pytest.mark.django_db
def test_double_delivery_yields_one_command(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    _, _, attempt_id = setup
    with time_machine.travel(MIDDAY, tick=False):
        originate(attempt_id)  # the task body, as a worker runs it
        originate(attempt_id)  # redelivered
    assert len(pending_commands(redis_client, "ua-1")) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_delivery_yields_one_command(redis_client: redis.Redis) -> None:
    live_ua(redis_client, "ua-1")
    campaign = running_campaign()
    contacts(campaign, 1)
    attempt_id = claim_one(redis_client, campaign)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            barrier.wait()
            outcomes.append(originate_attempt(attempt_id, r=client, now=MIDDAY).outcome)
        finally:
            connections.close_all()
            client.close()

    with time_machine.travel(MIDDAY, tick=False):
        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(outcomes) == ["sent", "skipped", "skipped", "skipped"]
    assert len(pending_commands(redis_client, "ua-1")) == 1


@pytest.mark.django_db
def test_an_attempt_no_longer_queued_is_not_dialed(redis_client: redis.Redis,
                                                   setup: tuple[Campaign, Contact, int]) -> None:
    _, _, attempt_id = setup
    CallAttempt.objects.filter(pk=attempt_id).update(state=AttemptState.DIALING)
    assert dial(attempt_id, redis_client) == "skipped"
    assert pending_commands(redis_client, "ua-1") == []


@pytest.mark.django_db
def test_dnc_added_between_claim_and_dial_stops_the_call(redis_client: redis.Redis,
                                                         setup: tuple[Campaign, Contact, int]) -> None:
    _, contact, attempt_id = setup
    DoNotCallFactory(phone_e164=contact.phone_e164)
    assert dial(attempt_id, redis_client) == "not_dialed"
    assert pending_commands(redis_client, "ua-1") == []
    attempt = CallAttempt.objects.get(pk=attempt_id)
    assert attempt.disposition == Disposition.CANCELLED
    assert "do-not-call" in attempt.reason
    contact.refresh_from_db()
    assert contact.status == ContactStatus.DNC
    assert contact.attempts == 0


@pytest.mark.django_db
def test_campaign_dnc_added_between_claim_and_dial_stops_the_call(redis_client: redis.Redis,
                                                                  setup: tuple[Campaign, Contact, int]) -> None:
    campaign, contact, attempt_id = setup
    DoNotCallFactory(phone_e164=contact.phone_e164, campaign=campaign)
    assert dial(attempt_id, redis_client) == "not_dialed"
    assert pending_commands(redis_client, "ua-1") == []


@pytest.mark.django_db
def test_window_closing_between_claim_and_dial_stops_the_call(redis_client: redis.Redis) -> None:
    live_ua(redis_client, "ua-1")
    campaign = running_campaign(window_start=dt.time(8, 0), window_end=dt.time(21, 0))
    contact = contacts(campaign, 1, zones=[NY])[0]
    claimed_at = dt.datetime(2026, 6, 17, 0, 59, 59, tzinfo=dt.UTC)  # 20:59:59 EDT
    attempt_id = claim_one(redis_client, campaign, claimed_at)
    assert dial(attempt_id, redis_client, claimed_at + dt.timedelta(seconds=1)) == "not_dialed"  # 21:00:00
    assert pending_commands(redis_client, "ua-1") == []
    contact.refresh_from_db()
    assert contact.status == ContactStatus.PENDING
    assert contact.attempts == 0


@pytest.mark.django_db
def test_pausing_stops_dials_already_queued(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    campaign, _, attempt_id = setup
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)
    assert dial(attempt_id, redis_client) == "not_dialed"
    assert pending_commands(redis_client, "ua-1") == []


@pytest.mark.django_db
def test_no_live_ua_ends_the_attempt_not_dialed_without_counting(redis_client: redis.Redis,
                                                                 setup: tuple[Campaign, Contact, int]) -> None:
    campaign, contact, attempt_id = setup
    redis_client.delete("ce:ua:index")
    assert dial(attempt_id, redis_client) == "not_dialed"
    contact.refresh_from_db()
    assert contact.attempts == 0
    assert contact.status == ContactStatus.PENDING
    scopes = attempt_scopes(campaign.pk, campaign.max_concurrent, campaign.trunk_id, campaign.trunk.max_channels)
    assert [count_leases(redis_client, s) for s in scopes] == [0, 0]


@pytest.mark.django_db
def test_full_leases_mean_no_dial(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    campaign, _, attempt_id = setup
    scope = attempt_scopes(campaign.pk, campaign.max_concurrent, None, 0)
    for holder in ("x", "y"):  # stale holders fill the campaign's two slots
        acquire_leases(redis_client, scope, holder)
    assert dial(attempt_id, redis_client) == "not_dialed"
    assert pending_commands(redis_client, "ua-1") == []
    assert total_free_lines(redis_client) == 1000


@pytest.mark.django_db
def test_redis_down_fails_closed(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    _, _, attempt_id = setup
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert dial(attempt_id, dead) == "not_dialed"
    attempt = CallAttempt.objects.get(pk=attempt_id)
    assert "fail closed" in attempt.reason
    assert pending_commands(redis_client, "ua-1") == []


@pytest.mark.django_db
def test_the_ua_takes_over_after_the_command(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    _, _, attempt_id = setup
    dial(attempt_id, redis_client)
    assert mark_attempt_dialing(attempt_id, ua_name="ua-1", sip_call_id="c1", now=MIDDAY)
    assert dial(attempt_id, redis_client) == "skipped"


@pytest.mark.django_db
def test_a_disabled_trunk_is_not_dialed(redis_client: redis.Redis, setup: tuple[Campaign, Contact, int]) -> None:
    campaign, _, attempt_id = setup
    campaign.trunk.enabled = False
    campaign.trunk.save()
    assert dial(attempt_id, redis_client) == "not_dialed"
    assert pending_commands(redis_client, "ua-1") == []


@pytest.mark.django_db(transaction=True)
def test_the_tick_task_enqueues_one_originate_per_claim(redis_client: redis.Redis) -> None:
    # given a campaign that can dial now
    import base64
    import json

    from campaigns.tasks import dispatch_tick

    live_ua(redis_client, "ua-1")
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    soon = timezone.now() + dt.timedelta(minutes=2)  # still inside when the real clock moves on
    zone = sorted(set(zones_in_window(timezone.now(), window)) & set(zones_in_window(soon, window)))[0]
    campaign = running_campaign(window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21))
    contacts(campaign, 3, zones=[zone])
    # when the beat task runs (its body, as a worker would)
    dispatch_tick()
    # then the broker holds one originate message per new attempt, with the attempt id as argument
    messages = [json.loads(raw) for raw in redis_client.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["campaigns.dialer.handoff"] * 3
    args = sorted(json.loads(base64.b64decode(m["body"]))[0][0] for m in messages)
    assert args == sorted(CallAttempt.objects.values_list("pk", flat=True))
