"""The reaper resolves attempts whose holder died; it never re-dials on its own."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.dialer.leases import LEASE_TTL_S
from campaigns.dialer.reaper import reap_stuck_attempts
from campaigns.models import CallAttempt, Contact
from campaigns.rules.windows import CallingWindow, zones_in_window
from telephony.ua_registry import pending_commands
from tests.campaigns.dialer_setup import MIDDAY, contacts, live_ua, running_campaign
from tests.factories import ContactFactory


def _attempt(state: str, *, lease_expires_at: dt.datetime, originated: bool = True) -> CallAttempt:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS)
    return CallAttempt.objects.create(campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk,
                                      state=state, lease_expires_at=lease_expires_at,
                                      originated_at=timezone.now() if originated else None,
                                      dialing_at=timezone.now() if state != AttemptState.QUEUED else None)


@pytest.mark.django_db
def test_an_expired_call_ends_failed_unknown_and_the_rules_decide() -> None:
    now = timezone.now()
    stuck = _attempt(AttemptState.RINGING, lease_expires_at=now - dt.timedelta(seconds=1))
    assert reap_stuck_attempts(now) == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.state == AttemptState.ENDED
    assert stuck.disposition == Disposition.FAILED_UNKNOWN
    assert "ringing" in stuck.reason
    contact = Contact.objects.get(pk=stuck.contact_id)
    assert contact.attempts == 1  # it may have rung: counted
    assert contact.status == ContactStatus.RETRY_SCHEDULED
    assert contact.next_attempt_at > now


@pytest.mark.django_db
def test_a_live_lease_is_left_alone() -> None:
    now = timezone.now()
    alive = _attempt(AttemptState.BRIDGED, lease_expires_at=now + dt.timedelta(seconds=5))
    assert reap_stuck_attempts(now) == []
    alive.refresh_from_db()
    assert alive.state == AttemptState.BRIDGED


@pytest.mark.django_db
def test_a_never_originated_attempt_does_not_count_against_the_contact() -> None:
    now = timezone.now()
    lost = _attempt(AttemptState.QUEUED, lease_expires_at=now - dt.timedelta(seconds=1), originated=False)
    reap_stuck_attempts(now)
    lost.refresh_from_db()
    assert lost.disposition == Disposition.FAILED_UNKNOWN
    assert "never handed" in lost.reason
    contact = Contact.objects.get(pk=lost.contact_id)
    assert contact.attempts == 0
    assert contact.status == ContactStatus.PENDING


@pytest.mark.django_db
def test_reaping_twice_is_harmless() -> None:
    now = timezone.now()
    _attempt(AttemptState.DIALING, lease_expires_at=now - dt.timedelta(seconds=1))
    assert len(reap_stuck_attempts(now)) == 1
    assert reap_stuck_attempts(now) == []


WORKER = textwrap.dedent("""
    import sys, time
    import django
    django.setup()
    from campaigns.dialer.attempts import mark_attempt_dialing
    from campaigns.dialer.claim import run_dispatch_tick
    from campaigns.dialer.attempts import renew_attempt_leases
    from campaigns.dialer.handoff import originate_attempt

    result = run_dispatch_tick(enqueue=lambda ids: None)
    attempt_id = result.attempt_ids[0]
    assert originate_attempt(attempt_id).outcome == "sent"
    assert mark_attempt_dialing(attempt_id, ua_name="ua-1")
    print(attempt_id, flush=True)
    while True:  # a live call: the heartbeat goes on until the process dies
        renew_attempt_leases(attempt_id)
        time.sleep(0.2)
""")


@pytest.mark.django_db(transaction=True)
def test_reaper_resolves_an_attempt_whose_worker_was_killed(redis_client: redis.Redis) -> None:
    # given a worker process that claimed, originated and is running a call (renewing its lease)
    live_ua(redis_client, "ua-1")
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    soon = timezone.now() + dt.timedelta(minutes=2)  # still inside when the real clock moves on
    zone = sorted(set(zones_in_window(timezone.now(), window)) & set(zones_in_window(soon, window)))[0]
    campaign = running_campaign(window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21))
    contacts(campaign, 1, zones=[zone])
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=settings.BASE_DIR, env=env,  # noqa: S603
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        attempt_id = int(proc.stdout.readline())
        # when it is killed with SIGKILL (no cleanup of any kind runs)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    attempt = CallAttempt.objects.get(pk=attempt_id)
    assert attempt.state == AttemptState.DIALING
    assert reap_stuck_attempts(timezone.now()) == []  # the lease has not expired yet
    # then once its lease expired the reaper resolves it, and nothing is dialed again
    later = timezone.now() + dt.timedelta(seconds=LEASE_TTL_S + 1)
    with time_machine.travel(later, tick=False):
        assert reap_stuck_attempts(later) == [attempt_id]
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.ENDED
    assert attempt.disposition == Disposition.FAILED_UNKNOWN
    assert len(pending_commands(redis_client, "ua-1")) == 1
    assert not mark_attempt_dialing(attempt_id, ua_name="ua-1", now=MIDDAY)  # a late report from the dead call loses
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.RETRY_SCHEDULED


@pytest.mark.django_db
def test_an_attempt_handed_over_but_never_dialing_does_not_count() -> None:
    # The UA marks DIALING before its INVITE: a queued attempt never rang, even if its command was sent.
    now = timezone.now()
    sent = _attempt(AttemptState.QUEUED, lease_expires_at=now - dt.timedelta(seconds=1))
    reap_stuck_attempts(now)
    sent.refresh_from_db()
    assert sent.disposition == Disposition.FAILED_UNKNOWN
    assert "never reported dialing" in sent.reason
    assert Contact.objects.get(pk=sent.contact_id).attempts == 0
