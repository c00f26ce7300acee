"""Lease semaphores and token buckets in real Redis: limits hold under contention and after crashes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from pytest_django.fixtures import Settings

from campaigns.choices import AttemptState
from campaigns.dialer.attempts import renew_attempt_leases
from campaigns.dialer.leases import (
    LEASE_TTL_S,
    LeaseScope,
    TokenRequest,
    acquire_leases,
    attempt_scopes,
    campaign_scope,
    count_leases,
    refund_dial_tokens,
    release_leases,
    renew_leases,
    take_dial_tokens,
    trunk_scope,
)
from campaigns.models import CallAttempt
from tests.factories import ContactFactory, TrunkFactory


def test_acquire_admits_up_to_the_limit_then_refuses(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:scope", 2)
    assert acquire_leases(redis_client, [scope], 1)
    assert acquire_leases(redis_client, [scope], 2)
    assert not acquire_leases(redis_client, [scope], 3)
    assert count_leases(redis_client, scope) == 2


def test_acquire_is_idempotent_for_a_holder(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:scope", 1)
    assert acquire_leases(redis_client, [scope], 7)
    assert acquire_leases(redis_client, [scope], 7)
    assert count_leases(redis_client, scope) == 1


def test_acquire_is_all_or_nothing_across_scopes(redis_client: redis.Redis) -> None:
    roomy, full = LeaseScope("t:roomy", 5), LeaseScope("t:full", 1)
    assert acquire_leases(redis_client, [full], "other")
    assert not acquire_leases(redis_client, [roomy, full], "me")
    assert count_leases(redis_client, roomy) == 0


def test_double_release_does_not_free_someone_elses_slot(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:scope", 2)
    acquire_leases(redis_client, [scope], "a")
    acquire_leases(redis_client, [scope], "b")
    release_leases(redis_client, [scope.key], "a")
    release_leases(redis_client, [scope.key], "a")
    assert count_leases(redis_client, scope) == 1
    assert acquire_leases(redis_client, [scope], "c")
    assert not acquire_leases(redis_client, [scope], "d")


def test_32_threads_racing_for_5_slots_never_exceed_5(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:race", 5)
    observed: list[int] = []
    holding = 0
    guard = threading.Lock()
    start = threading.Barrier(32)

    def worker(n: int) -> None:
        nonlocal holding
        client = redis.Redis.from_url(settings.REDIS_URL)
        start.wait()
        for i in range(30):
            member = f"{n}-{i}"
            if acquire_leases(client, [scope], member):
                with guard:
                    holding += 1
                    # Checked on every successful acquire: both our own count and Redis's.
                    observed.append(max(holding, count_leases(client, scope)))
                time.sleep(0.001)
                with guard:
                    holding -= 1
                release_leases(client, [scope.key], member)
        client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert observed, "nobody ever acquired"
    assert max(observed) <= 5
    assert max(observed) == 5  # the race really reached the limit


def test_killed_holders_lease_is_reclaimed_after_expiry(redis_client: redis.Redis) -> None:
    # given a holder in another process that takes the only slot with a 1 s lease and is then killed
    code = (
        "import sys, time, redis\n"
        "from campaigns.dialer.leases import LeaseScope, acquire_leases\n"
        f"r = redis.Redis.from_url({settings.REDIS_URL!r})\n"
        "assert acquire_leases(r, [LeaseScope('t:crash', 1)], 'holder', ttl_s=1)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,  # noqa: S603
                            cwd=settings.BASE_DIR)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        proc.kill()
        proc.wait(timeout=5)
        scope = LeaseScope("t:crash", 1)
        # when another caller asks at once, the slot is still taken
        assert not acquire_leases(redis_client, [scope], "next")
        # then after the lease expired, it is reclaimed
        time.sleep(1.1)
        assert acquire_leases(redis_client, [scope], "next")
    finally:
        proc.kill()


def test_renew_keeps_a_lease_alive_past_its_first_expiry(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:renew", 1)
    # margins of 0.8 s either way, so a loaded machine's scheduling delays cannot decide the outcome
    assert acquire_leases(redis_client, [scope], "a", ttl_s=2.0)
    time.sleep(1.2)
    assert renew_leases(redis_client, [scope], "a", ttl_s=2.0)
    time.sleep(1.2)  # past the first expiry (2.0 s), inside the renewed one (3.2 s)
    assert not acquire_leases(redis_client, [scope], "b")


def test_renew_readmits_a_member_lost_in_a_flush_only_under_the_limit(redis_client: redis.Redis) -> None:
    scope = LeaseScope("t:flush", 1)
    acquire_leases(redis_client, [scope], "a")
    redis_client.flushdb()
    acquire_leases(redis_client, [scope], "b")
    assert not renew_leases(redis_client, [scope], "a")
    assert count_leases(redis_client, scope) == 1


def test_token_bucket_grants_at_most_the_burst(redis_client: redis.Redis) -> None:
    # a bucket holds one tick's worth of its rate, plus one: 5/s with a 1 s tick -> 6
    granted = take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 5.0, want=10)], burst_s=1.0)
    assert granted == [6]
    assert take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 5.0, want=10)], burst_s=1.0) in ([0], [1])


def test_token_bucket_burst_is_one_tick_of_the_dispatcher(redis_client: redis.Redis, settings: Settings) -> None:
    # given the default tick of 0.25 s: 25 calls per second -> 25 * 0.25 + 1 = 7.25 tokens at most
    settings.DIALER_TICK_S = 0.25
    assert take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 25.0, want=100)]) == [7]


def test_token_bucket_keeps_a_fractional_rate_per_tick(redis_client: redis.Redis) -> None:
    # given 6 calls per second taken every 0.25 s (1.5 per tick): whole tokens only, and none lost to the cap
    def redis_now() -> float:
        seconds, micros = redis_client.time()
        return seconds + micros / 1e6

    take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 6.0, want=100)], burst_s=0.25)  # empties it
    started = redis_now()
    granted = 0
    for _ in range(8):
        time.sleep(0.25)
        granted += take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 6.0, want=100)], burst_s=0.25)[0]
    elapsed = redis_now() - started
    # the refill over the elapsed time, give or take the one token a take may leave in the bucket
    assert int(elapsed * 6) - 1 <= granted <= elapsed * 6 + 1


def test_token_bucket_refills_at_its_rate(redis_client: redis.Redis) -> None:
    def redis_now() -> float:
        seconds, micros = redis_client.time()
        return seconds + micros / 1e6

    before = redis_now()
    take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 10.0, want=20)], burst_s=1.0)  # empties the bucket
    after_first = redis_now()
    time.sleep(0.35)
    before_second = redis_now()
    granted = take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 10.0, want=20)], burst_s=1.0)[0]
    after = redis_now()
    # 10 tokens per second of Redis time between the two takes (bounds from the clock reads around them;
    # the first take may leave a fraction of a token behind)
    assert int((before_second - after_first) * 10) <= granted <= min(11, int((after - before) * 10) + 1)
    assert granted >= 3


def test_token_bucket_shares_a_trunk_fairly_between_campaigns(redis_client: redis.Redis) -> None:
    granted = take_dial_tokens(redis_client, [TokenRequest(1, 50.0, 9, 3.0, want=10),
                                              TokenRequest(2, 50.0, 9, 3.0, want=10)], burst_s=1.0)
    assert granted == [2, 2]


def test_campaign_bucket_limits_below_the_trunk(redis_client: redis.Redis) -> None:
    granted = take_dial_tokens(redis_client, [TokenRequest(1, 1.0, 9, 50.0, want=10),
                                              TokenRequest(2, 50.0, 9, 50.0, want=10)], burst_s=1.0)
    assert granted == [2, 10]


def test_refund_returns_unused_tokens(redis_client: redis.Redis) -> None:
    take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 3.0, want=4)], burst_s=1.0)
    refund_dial_tokens(redis_client, [(1, 9, 2)])
    assert take_dial_tokens(redis_client, [TokenRequest(1, 100.0, 9, 3.0, want=4)], burst_s=1.0) == [2]


@pytest.mark.django_db
def test_renew_attempt_leases_extends_the_ledger_and_the_slots(redis_client: redis.Redis) -> None:
    contact = ContactFactory()
    campaign = contact.campaign
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                         state=AttemptState.DIALING)
    assert renew_attempt_leases(attempt.pk)
    attempt.refresh_from_db()
    assert attempt.lease_expires_at > timezone.now() + timedelta(seconds=LEASE_TTL_S - 5)
    scopes = attempt_scopes(campaign.pk, campaign.max_concurrent, campaign.trunk_id, campaign.trunk.max_channels)
    assert all(count_leases(redis_client, s) == 1 for s in scopes)


@pytest.mark.django_db
def test_renewal_after_a_failover_keeps_the_channel_on_the_trunk_that_carries_the_call(
        redis_client: redis.Redis) -> None:
    # given a call that failed over: its row names the primary, the UA holds a channel on the secondary
    contact = ContactFactory()
    campaign = contact.campaign
    secondary = TrunkFactory(max_channels=3)
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                         state=AttemptState.ANSWERED)
    channel = trunk_scope(secondary.pk, 3)
    assert acquire_leases(redis_client, [channel], attempt.pk, ttl_s=1)
    # when the UA renews naming the secondary, past the lease the channel would have had
    assert renew_attempt_leases(attempt.pk, trunk_id=secondary.pk)
    time.sleep(1.2)
    # then the secondary's channel is still held (and the campaign's slot too)
    assert count_leases(redis_client, channel) == 1
    assert count_leases(redis_client, campaign_scope(campaign.pk, campaign.max_concurrent)) == 1


@pytest.mark.django_db
def test_renew_attempt_leases_says_stop_for_an_ended_attempt(redis_client: redis.Redis) -> None:
    contact = ContactFactory()
    attempt = CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state=AttemptState.ENDED,
                                         ended_at=timezone.now())
    assert not renew_attempt_leases(attempt.pk)
