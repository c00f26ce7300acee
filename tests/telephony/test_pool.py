"""The supervised pool: a UA process killed mid-call loses only its own call, is restarted, and the reaper
resolves its attempt; SIGTERM drains calls with a BYE before exiting."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
import time_machine
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, Disposition
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.dialer.handoff import originate_attempt
from campaigns.dialer.leases import LEASE_TTL_S
from campaigns.dialer.reaper import reap_stuck_attempts
from campaigns.models import CallAttempt
from telephony.contract import HangupCommand
from telephony.ua.supervisor import PoolSettings, UaSupervisor
from telephony.ua_registry import live_uas, push_command
from testing.sipp import SippRun
from tests.factories import ContactFactory, TrunkFactory
from tests.telephony.conftest import dialable_contact, sealed, wait_ended, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pool() -> Iterator[UaSupervisor]:
    """Two supervised UA workers, polled by a background thread like `run_ua_pool` does."""
    settings = PoolSettings(processes=2, name_prefix=f"test-pool-{os.getpid()}", sip_port_base=15100,
                            rtp_port_base=15600, media_timeout_s=5, restart_backoff_s=0.2, stop_timeout_s=10)
    supervisor = UaSupervisor(settings, env=worker_env())
    supervisor.start()
    stop = threading.Event()

    def supervise() -> None:
        while not stop.is_set():
            supervisor.poll()
            time.sleep(0.1)

    thread = threading.Thread(target=supervise, daemon=True)
    thread.start()
    yield supervisor
    stop.set()
    thread.join()
    supervisor.stop()


def _state(attempt_id: int) -> str:
    return CallAttempt.objects.values_list("state", flat=True).get(pk=attempt_id)


def _all_live(r: redis.Redis, supervisor: UaSupervisor) -> bool:
    names = {supervisor.settings.worker_name(i) for i in range(supervisor.settings.processes)}
    return names <= set(live_uas(r))


def test_killed_ua_loses_only_its_call_is_restarted_and_its_attempt_is_reaped(
        pool: UaSupervisor, registry: redis.Redis, sipp: Callable[..., SippRun]) -> None:
    # given two live UA processes and two answered calls, dispatched and originated by the dialer
    peer = sipp("uas_answer.xml", calls=3, timeout_s=60)
    wait_for(lambda: _all_live(registry, pool), 20, "both UA workers to register")
    first = dialable_contact(TrunkFactory(host="127.0.0.1", port=peer.port, max_channels=10))
    ContactFactory(campaign=first.campaign, time_zones=first.time_zones)
    tick = run_dispatch_tick(r=registry, enqueue=lambda ids: None)
    assert len(tick.attempt_ids) == 2
    sent = {attempt_id: originate_attempt(attempt_id, r=registry) for attempt_id in tick.attempt_ids}
    assert {result.outcome for result in sent.values()} == {"sent"}
    assert len({result.ua_name for result in sent.values()}) == 2  # one call on each process
    for attempt_id in sent:
        wait_for(lambda a=attempt_id: _state(a) == AttemptState.ANSWERED, 10, f"attempt {attempt_id} answered")
    victim_id, survivor_id = sorted(sent)
    victim_ua, survivor_ua = sent[victim_id].ua_name, sent[survivor_id].ua_name
    victim_pid = pool.worker_pids()[victim_ua]

    # when one UA process is killed outright mid-call
    os.kill(victim_pid, signal.SIGKILL)

    # then the other call carries on and ends normally
    time.sleep(1)
    assert _state(survivor_id) == AttemptState.ANSWERED
    push_command(registry, survivor_ua, sealed(HangupCommand(survivor_id)))
    survivor = wait_ended(CallAttempt.objects.get(pk=survivor_id))
    assert survivor.disposition == Disposition.HUMAN
    # and the supervisor restarts the killed process under the same name
    wait_for(lambda: pool.worker_pids().get(victim_ua) not in (None, victim_pid), 10, "the restart")
    wait_for(lambda: _all_live(registry, pool), 20, "the restarted worker to register")
    # and the pool keeps calling: a new call through the restarted pool works
    third = ContactFactory(campaign=first.campaign, time_zones=first.time_zones)
    tick = run_dispatch_tick(r=registry, enqueue=lambda ids: None)
    assert len(tick.attempt_ids) == 1
    result = originate_attempt(tick.attempt_ids[0], r=registry)
    assert result.outcome == "sent"
    wait_for(lambda: _state(tick.attempt_ids[0]) == AttemptState.ANSWERED, 10, "the new call answered")
    push_command(registry, result.ua_name, sealed(HangupCommand(tick.attempt_ids[0])))
    assert wait_ended(CallAttempt.objects.get(pk=tick.attempt_ids[0])).disposition == Disposition.HUMAN
    assert CallAttempt.objects.get(pk=tick.attempt_ids[0]).contact_id == third.pk
    # and the killed call's attempt is left to its lease: not reaped early, reaped once it expired
    assert _state(victim_id) == AttemptState.ANSWERED
    assert reap_stuck_attempts(timezone.now()) == []
    later = timezone.now() + dt.timedelta(seconds=LEASE_TTL_S + 1)
    with time_machine.travel(later, tick=False):
        assert reap_stuck_attempts(later) == [victim_id]
    victim = CallAttempt.objects.get(pk=victim_id)
    assert victim.disposition == Disposition.FAILED_UNKNOWN
    assert not CallAttempt.objects.filter(state__in=ATTEMPT_IN_FLIGHT).exists()
    # what SIPp saw: the two calls that were hung up properly passed; the killed one never got its BYE
    peer.stop()
    assert int(peer.final_stats()["SuccessfulCall(C)"]) == 2


def test_sigterm_hangs_up_live_calls_records_them_and_exits_cleanly(
        pool: UaSupervisor, registry: redis.Redis, sipp: Callable[..., SippRun]) -> None:
    # given an answered call on the pool
    peer = sipp("uas_answer.xml", calls=1)
    wait_for(lambda: _all_live(registry, pool), 20, "both UA workers to register")
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=peer.port))
    tick = run_dispatch_tick(r=registry, enqueue=lambda ids: None)
    attempt_id = tick.attempt_ids[0]
    assert originate_attempt(attempt_id, r=registry).outcome == "sent"
    wait_for(lambda: _state(attempt_id) == AttemptState.ANSWERED, 10, "the answer")
    processes = [slot.process for slot in pool.slots]
    # when the pool is told to stop
    pool.stop()
    # then the call was hung up with a BYE and recorded before the processes exited with status 0
    attempt = CallAttempt.objects.get(pk=attempt_id)
    assert attempt.state == AttemptState.ENDED
    assert attempt.reason == "UA shutting down"
    assert attempt.contact_id == contact.pk
    assert [p.returncode for p in processes if p is not None] == [0, 0]
    assert peer.wait(5) == 0
    assert len(peer.received("BYE")) == 1
    assert live_uas(registry) == {}
