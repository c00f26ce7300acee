"""The dispatcher tick against real PostgreSQL and Redis: what it claims, in which order, within which limits."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, CampaignStatus, ContactStatus
from campaigns.dialer.claim import (
    CampaignPlan,
    claim_due_contacts,
    run_dispatch_tick,
    share_fairly,
)
from campaigns.dialer.handoff import originate_attempt
from campaigns.keys import DISPATCHER_LOCK_ID
from campaigns.models import CallAttempt, Contact
from tests.campaigns.dialer_setup import LA, MIDDAY, NY, contacts, live_ua, running_campaign
from tests.factories import DoNotCallFactory, TrunkFactory


class Collected:
    """An enqueue callback that records the attempt ids it was given."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, ids: Sequence[int]) -> None:
        self.ids.extend(ids)


def tick(r: redis.Redis, now: dt.datetime = MIDDAY) -> tuple[list[int], Collected]:
    sink = Collected()
    with time_machine.travel(now, tick=False):
        result = run_dispatch_tick(now=now, r=r, enqueue=sink)
    assert result.ran
    return result.attempt_ids, sink


@pytest.fixture
def ua(redis_client: redis.Redis) -> str:
    return live_ua(redis_client)


@pytest.mark.django_db(transaction=True)
def test_claims_up_to_the_campaign_limit_and_enqueues_after_commit(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign(max_concurrent=3)
    contacts(campaign, 5)
    ids, sink = tick(redis_client)
    assert len(ids) == 3
    assert sorted(sink.ids) == sorted(ids)
    attempts = CallAttempt.objects.filter(pk__in=ids)
    assert {a.state for a in attempts} == {AttemptState.QUEUED}
    assert all(a.trunk_id == campaign.trunk_id and a.attempt_number == 1 for a in attempts)
    assert Contact.objects.filter(status=ContactStatus.IN_PROGRESS).count() == 3
    # the ledger holds: nothing more while those three are in flight
    assert tick(redis_client)[0] == []


@pytest.mark.django_db(transaction=True)
def test_claim_order_is_priority_then_due_time_then_id(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign(max_concurrent=4)
    low_fresh = contacts(campaign, 1, priority=0)[0]
    retry_late = contacts(campaign, 1, priority=5, status=ContactStatus.RETRY_SCHEDULED,
                          next_attempt_at=MIDDAY - dt.timedelta(minutes=1))[0]
    retry_early = contacts(campaign, 1, priority=5, status=ContactStatus.RETRY_SCHEDULED,
                           next_attempt_at=MIDDAY - dt.timedelta(hours=1))[0]
    fresh_high = contacts(campaign, 1, priority=5)[0]
    ids, _ = tick(redis_client)
    claimed = list(CallAttempt.objects.filter(pk__in=ids).order_by("pk").values_list("contact_id", flat=True))
    assert claimed == [fresh_high.pk, retry_early.pk, retry_late.pk, low_fresh.pk]


@pytest.mark.django_db(transaction=True)
def test_claim_skips_what_must_not_be_dialed(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign(max_concurrent=50)
    ok = contacts(campaign, 1)[0]
    contacts(campaign, 1, zones=[])  # unknown zone
    contacts(campaign, 1, zones=[NY, "Asia/Tokyo"])  # 01:00 in Tokyo
    contacts(campaign, 1, zones=["Asia/Tokyo"])
    contacts(campaign, 1, status=ContactStatus.RETRY_SCHEDULED, next_attempt_at=MIDDAY + dt.timedelta(minutes=1))
    contacts(campaign, 1, status=ContactStatus.DONE)
    contacts(campaign, 1, status=ContactStatus.DNC)
    global_dnc = contacts(campaign, 1)[0]
    DoNotCallFactory(phone_e164=global_dnc.phone_e164)
    campaign_dnc = contacts(campaign, 1)[0]
    DoNotCallFactory(phone_e164=campaign_dnc.phone_e164, campaign=campaign)
    other_campaigns_dnc = contacts(campaign, 1)[0]
    DoNotCallFactory(phone_e164=other_campaigns_dnc.phone_e164, campaign=running_campaign())
    ids, _ = tick(redis_client)
    claimed = set(CallAttempt.objects.filter(pk__in=ids).values_list("contact_id", flat=True))
    assert claimed == {ok.pk, other_campaigns_dnc.pk}


@pytest.mark.django_db(transaction=True)
def test_window_edges_at_claim_time(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign(max_concurrent=50, window_start=dt.time(8, 0), window_end=dt.time(21, 0))
    ny = contacts(campaign, 1, zones=[NY])[0]
    la = contacts(campaign, 1, zones=[LA])[0]
    before_nine_pm_ny = dt.datetime(2026, 6, 17, 0, 59, tzinfo=dt.UTC)  # Tue 20:59 EDT, 17:59 PDT
    assert set(CallAttempt.objects.filter(pk__in=tick(redis_client, before_nine_pm_ny)[0])
               .values_list("contact_id", flat=True)) == {ny.pk, la.pk}
    CallAttempt.objects.all().delete()
    Contact.objects.update(status=ContactStatus.PENDING)
    at_nine_pm_ny = dt.datetime(2026, 6, 17, 1, 0, tzinfo=dt.UTC)
    assert set(CallAttempt.objects.filter(pk__in=tick(redis_client, at_nine_pm_ny)[0])
               .values_list("contact_id", flat=True)) == {la.pk}


@pytest.mark.django_db(transaction=True)
def test_paused_campaign_claims_nothing(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign()
    contacts(campaign, 2)
    campaign.status = CampaignStatus.PAUSED
    campaign.save()
    assert tick(redis_client)[0] == []


@pytest.mark.django_db(transaction=True)
def test_no_live_user_agent_means_no_claim(redis_client: redis.Redis) -> None:
    campaign = running_campaign()
    contacts(campaign, 2)
    assert tick(redis_client)[0] == []
    live_ua(redis_client, free_lines=1)
    assert len(tick(redis_client)[0]) == 1


@pytest.mark.django_db(transaction=True)
def test_campaigns_sharing_a_trunk_share_its_channels_fairly(redis_client: redis.Redis, ua: str) -> None:
    trunk = TrunkFactory(max_channels=4, max_cps=1000)
    first, second = running_campaign(trunk=trunk, max_concurrent=10), running_campaign(trunk=trunk, max_concurrent=10)
    contacts(first, 10)
    contacts(second, 10)
    ids, _ = tick(redis_client)
    per_campaign = sorted(CallAttempt.objects.filter(pk__in=ids).values_list("campaign_id", flat=True))
    assert per_campaign == [first.pk] * 2 + [second.pk] * 2


@pytest.mark.django_db(transaction=True)
def test_trunk_calls_per_second_limit_the_claims(redis_client: redis.Redis, ua: str, settings: Settings) -> None:
    settings.DIALER_TICK_S = 1.0
    campaign = running_campaign(max_concurrent=50, trunk_cps="3")
    contacts(campaign, 20)
    assert len(tick(redis_client)[0]) == 4  # one tick's worth (3 per second x 1 s) plus one
    assert len(tick(redis_client)[0]) <= 1  # the bucket refills at 3/s of real Redis time


@pytest.mark.django_db(transaction=True)
def test_a_short_tick_spreads_a_trunks_calls_over_the_second(redis_client: redis.Redis, ua: str,
                                                             settings: Settings) -> None:
    # given a 20 calls/s trunk and the default 0.25 s tick: no tick sends the whole second's calls at once
    settings.DIALER_TICK_S = 0.25
    campaign = running_campaign(max_concurrent=50, trunk_cps="20")
    contacts(campaign, 40)
    assert len(tick(redis_client)[0]) == 6  # 20 x 0.25 + 1


def test_share_fairly_gives_no_one_more_than_they_want() -> None:
    assert share_fairly({1: 1, 2: 10, 3: 10}, 9, [1, 2, 3]) == {1: 1, 2: 4, 3: 4}
    assert share_fairly({1: 3, 2: 3}, 10, [1, 2]) == {1: 3, 2: 3}
    assert share_fairly({1: 5, 2: 5}, 3, [2, 1]) == {1: 1, 2: 2}


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_in_threads_never_claim_the_same_contact(redis_client: redis.Redis) -> None:
    campaign = running_campaign(max_concurrent=10_000)
    contacts(campaign, 300)
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def dispatcher(slot: int) -> None:
        # Straight to the claim (no single-dispatcher lock): SKIP LOCKED alone must keep claims disjoint.
        try:
            barrier.wait()
            for _ in range(15):
                plan = CampaignPlan(campaign.pk, campaign.trunk_id, 10, [NY], granted=10)
                for ids in claim_due_contacts([plan], MIDDAY, enqueue=lambda ids: None).values():
                    claimed[slot].extend(ids)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    contact_ids = list(CallAttempt.objects.values_list("contact_id", flat=True))
    assert len(contact_ids) == len(claimed[0]) + len(claimed[1]) == 300
    assert len(set(contact_ids)) == 300
    assert claimed[0]
    assert claimed[1]


@pytest.mark.django_db(transaction=True)
def test_a_second_dispatcher_skips_the_tick_while_one_holds_the_lock(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign()
    contacts(campaign, 2)
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [DISPATCHER_LOCK_ID])
        assert not run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=Collected()).ran
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [DISPATCHER_LOCK_ID])
        assert run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=Collected()).ran
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_redis_flush_mid_run_never_pushes_in_flight_above_the_limit(redis_client: redis.Redis) -> None:
    # given a campaign with a limit of 5 dialing through several concurrent claimers and originates
    campaign = running_campaign(max_concurrent=5)
    contacts(campaign, 200)
    live_ua(redis_client)
    stop = threading.Event()
    peaks: list[int] = []
    errors: list[BaseException] = []

    def in_flight() -> int:
        return CallAttempt.objects.filter(campaign=campaign, state__in=ATTEMPT_IN_FLIGHT).count()

    def claimer() -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            while not stop.is_set():
                plan = CampaignPlan(campaign.pk, campaign.trunk_id, 5, [NY], granted=5)
                for ids in claim_due_contacts([plan], MIDDAY, enqueue=lambda ids: None).values():
                    for attempt_id in ids:
                        with time_machine.travel(MIDDAY, tick=False):
                            originate_attempt(attempt_id, r=client, now=MIDDAY)
        except BaseException as exc:  # noqa: BLE001 (reported to the main thread)
            errors.append(exc)
        finally:
            connections.close_all()
            client.close()

    def watcher() -> None:
        try:
            while not stop.is_set():
                peaks.append(in_flight())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(3)] + [threading.Thread(target=watcher)]
    for t in threads:
        t.start()
    try:
        # when Redis is flushed while calls are in flight (the leases vanish) and the UA re-advertises
        for _ in range(5):
            threading.Event().wait(0.1)
            # FLUSHDB, not FLUSHALL: the server is shared with other test runs; this database holds every
            # key the dialer has (leases, buckets, UA registry), so for the dialer it is the same event.
            redis_client.flushdb()
            live_ua(redis_client)
            # some calls end, freeing capacity, so claims keep racing the flush
            for attempt in CallAttempt.objects.filter(campaign=campaign, state=AttemptState.QUEUED)[:2]:
                CallAttempt.objects.filter(pk=attempt.pk).update(state=AttemptState.ENDED, ended_at=timezone.now())
    finally:
        stop.set()
        for t in threads:
            t.join()
    # then Postgres, the ledger, never saw more than 5 in flight
    assert not errors
    assert peaks
    assert max(peaks) <= 5
    assert max(peaks) == 5
    assert in_flight() <= 5


@pytest.mark.django_db(transaction=True)
def test_tick_queries_are_bounded_whatever_the_number_of_campaigns(redis_client: redis.Redis, ua: str) -> None:
    def queries_for_one_tick() -> int:
        with CaptureQueriesContext(connection) as ctx:
            tick(redis_client)
        ctx_sql[:] = ctx.captured_queries
        return len(ctx.captured_queries)

    ctx_sql: list[dict[str, str]] = []

    first = running_campaign()
    contacts(first, 3)
    one = queries_for_one_tick()
    first_sql = list(ctx_sql)
    for _ in range(9):
        contacts(running_campaign(), 3)
    ten = queries_for_one_tick()
    # lock, campaigns, in-flight counts, the company's compliance rules, BEGIN, planner settings with the
    # campaign row locks, the claim, COMMIT, unlock, and one completion check when some campaign claimed
    # nothing: ten at most, whatever the number of campaigns; on a connection's first tick, two more to
    # prepare the claim statement (look it up, PREPARE)
    assert one <= 12, [q["sql"][:60] for q in first_sql]
    assert ten <= 10, [q["sql"][:60] for q in ctx_sql]


@pytest.mark.django_db(transaction=True)
def test_a_campaign_with_nothing_left_completes(redis_client: redis.Redis, ua: str) -> None:
    campaign = running_campaign()
    contacts(campaign, 1, status=ContactStatus.DONE)
    busy = running_campaign()
    contacts(busy, 1, status=ContactStatus.RETRY_SCHEDULED, next_attempt_at=MIDDAY + dt.timedelta(hours=1))
    with time_machine.travel(MIDDAY, tick=False):
        result = run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=Collected())
    assert result.completed_campaigns == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_contacts_outside_their_window_are_parked_until_it_opens(redis_client: redis.Redis, ua: str) -> None:
    # given, at 12:00 in New York, waiting contacts in New York, Tokyo (01:00) and of unknown zone
    from campaigns.dialer.claim import park_contacts_outside_window

    campaign = running_campaign(max_concurrent=50)
    ny = contacts(campaign, 2)
    tokyo = contacts(campaign, 3, zones=["Asia/Tokyo"])
    unknown = contacts(campaign, 1, zones=[])[0]
    # when the parking task runs
    with time_machine.travel(MIDDAY, tick=False):
        assert park_contacts_outside_window(MIDDAY) == 4
    # then Tokyo waits for 09:00 Tokyo (the default window), the unknown zone for a day, New York not at all
    tokyo_opening = dt.datetime(2026, 6, 17, 0, 0, tzinfo=dt.UTC)
    assert set(Contact.objects.filter(pk__in=[c.pk for c in tokyo]).values_list("next_attempt_at", flat=True)) == {
        tokyo_opening}
    assert Contact.objects.get(pk=unknown.pk).next_attempt_at == MIDDAY + dt.timedelta(days=1)
    assert set(Contact.objects.filter(pk__in=[c.pk for c in ny]).values_list("next_attempt_at", flat=True)) == {None}
    # and the claim reaches them when (and only when) their window opens
    assert len(tick(redis_client)[0]) == 2
    assert tick(redis_client, tokyo_opening - dt.timedelta(minutes=1))[0] == []
    assert len(tick(redis_client, tokyo_opening)[0]) == 3


@pytest.mark.django_db(transaction=True)
def test_redis_down_means_no_claim(redis_client: redis.Redis, ua: str) -> None:
    # Fail closed: without Redis neither the UA pool's lines nor the calls-per-second budget can be known.
    campaign = running_campaign()
    contacts(campaign, 3)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with time_machine.travel(MIDDAY, tick=False), pytest.raises(redis.RedisError):
        run_dispatch_tick(now=MIDDAY, r=dead, enqueue=Collected())
    assert not CallAttempt.objects.exists()
    assert tick(redis_client)[0]  # and the next tick with Redis back claims again (the lock was released)
