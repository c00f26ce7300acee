"""PostgreSQL unreachable for 60 s under a live call that opts out: nothing is lost, nobody is called again.

A real UA worker process reaches PostgreSQL only through a TCP proxy that the test cuts: its connections are
reset and new ones refused, as when the database host goes away. SIPp answers the call and presses the opt-out
digit 1.5 s after the answer (SIP INFO). The cut happens at the answer, so the opt-out and the end of the call
both happen while the UA cannot write. Meanwhile the control plane (this test process, with its own connection)
runs the reaper past the lease and a dispatcher tick. Then the line comes back.

Counted afterwards: the do-not-call row exists (written by the UA's spool replay, note ``: dtmf``), the attempt
ended ``opted_out`` with its reason, the contact is DNC, SIPp saw one INVITE, and a dispatcher tick claims
nobody.

Ports (loopback): UA worker SIP 19700 (RTP 49900-49915), SIPp 19710 (RTP 49950).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from campaigns.choices import AttemptState, ContactStatus, Disposition, DncSource
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.dialer.reaper import reap_stuck_attempts
from campaigns.models import AgentProfile, CallAttempt, Contact, DoNotCall
from telephony.ua_registry import live_uas
from testing.sipp import SippRun
from tests.factories import TrunkFactory
from tests.faults.tcp_proxy import TcpProxy
from tests.telephony.conftest import (
    PROJECT_ROOT,
    SCENARIOS,
    dialable_contact,
    hand_to_pool,
    queue_attempt,
    stop_process,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)

UA_SIP_PORT, UA_RTP_PORT, SIPP_PORT, SIPP_RTP_PORT = 19700, 49900, 19710, 49950
OUTAGE_S = 60
NUMBER = "+12025550187"


@pytest.fixture
def db_proxy() -> Iterator[TcpProxy]:
    db = settings.DATABASES["default"]
    with TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))) as proxy:
        yield proxy


def start_worker_behind(proxy: TcpProxy, name: str, log: Path) -> subprocess.Popen[bytes]:
    """A UA worker with the media hooks whose only way to PostgreSQL is `proxy`; returns once registered."""
    db = settings.DATABASES["default"]
    env = {**worker_env(), "UA_MEDIA_BRIDGE": "1", "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
           "DB_CONN_MAX_AGE": "0", "LOCAL_AGENT_URL": "ws://127.0.0.1:9/v1"}
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "telephony.ua.process", "--name", name, "--sip-port", str(UA_SIP_PORT),
             "--rtp-port", str(UA_RTP_PORT), "--media-timeout", "0", "--lease-renew", "1"],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        wait_for(lambda: name in live_uas(client) or process.poll() is not None, 20, "the UA worker to register")
    finally:
        client.close()
    assert process.poll() is None, log.read_text(errors="replace")[-3000:]
    return process


@pytest.fixture
def worker_behind_proxy(db_proxy: TcpProxy, tmp_path: Path) -> Iterator[str]:
    """A UA worker with the media hooks whose only way to PostgreSQL is the proxy."""
    name = f"fault-db-{os.getpid()}"
    process = start_worker_behind(db_proxy, name, tmp_path / "worker.log")
    try:
        yield name
    finally:
        stop_process(process)
        print(f"UA worker log: {tmp_path / 'worker.log'}")


@pytest.fixture
def sipp_opt_out(tmp_path: Path) -> Iterator[SippRun]:
    run = SippRun(SCENARIOS / "uas_dtmf_opt_out.xml", port=SIPP_PORT, media_port=SIPP_RTP_PORT, workdir=tmp_path)
    run.start(timeout_s=OUTAGE_S + 60)
    yield run
    with contextlib.suppress(Exception):
        run.stop()


def _call_answered_then_database_cut(proxy: TcpProxy, registry: redis.Redis) -> tuple[Contact, CallAttempt]:
    """A person who will press the opt-out digit is called; at the answer, the database goes away."""
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=SIPP_PORT), phone_e164=NUMBER, ring_timeout_s=10)
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(provider="local", url="")
    contact.campaign.__class__.objects.filter(pk=contact.campaign_id).update(opt_out_digit="9")
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    wait_for(lambda: CallAttempt.objects.values_list("state", flat=True).get(pk=attempt.pk)
             in (AttemptState.ANSWERED, AttemptState.BRIDGED), 20, "the answer", interval_s=0.02)
    proxy.cut()
    return contact, attempt


def test_a_database_outage_during_an_opt_out_loses_nothing_and_calls_nobody_again(
        db_proxy: TcpProxy, worker_behind_proxy: str, sipp_opt_out: SippRun) -> None:
    registry = redis.Redis.from_url(settings.REDIS_URL)
    # given a person who will press the opt-out digit; when the call is answered, the database goes away
    contact, attempt = _call_answered_then_database_cut(db_proxy, registry)
    outage_started = time.monotonic()
    try:
        # the person opts out and hangs up meanwhile; the UA cannot write any of it
        assert sipp_opt_out.wait(30) == 0
        assert not DoNotCall.objects.filter(phone_e164=NUMBER).exists()
        # the lease runs out; the reaper leaves the attempt alone (its UA is alive and holds it)
        time.sleep(max(0.0, 35 - (time.monotonic() - outage_started)))
        assert reap_stuck_attempts(r=registry) == []
        assert CallAttempt.objects.get(pk=attempt.pk).state != AttemptState.ENDED
        # and a dispatcher tick does not call the contact again
        assert run_dispatch_tick(r=registry, enqueue=lambda ids: None).attempt_ids == []
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
    finally:
        db_proxy.restore()
    # then the UA delivers what it kept: the opt-out and the end of the call
    wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).state == AttemptState.ENDED, 30,
             "the spooled end to reach the ledger", interval_s=0.2)
    entry = DoNotCall.objects.get(phone_e164=NUMBER, campaign=None)
    assert (entry.source, entry.note) == (DncSource.OPT_OUT, f"attempt {attempt.pk}: dtmf")
    ended = CallAttempt.objects.get(pk=attempt.pk)
    assert (ended.disposition, ended.reason) == (Disposition.OPTED_OUT, "opted out (dtmf)")
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.DNC
    # and nobody is called again: one INVITE in all, and the next tick claims nothing
    assert len(sipp_opt_out.received("INVITE")) == 1
    assert run_dispatch_tick(r=registry, enqueue=lambda ids: None).attempt_ids == []
    registry.close()


def test_an_opt_out_spooled_during_an_outage_survives_the_ua_being_killed(
        db_proxy: TcpProxy, sipp_opt_out: SippRun, tmp_path: Path) -> None:
    registry = redis.Redis.from_url(settings.REDIS_URL)
    name = f"fault-db-kill-{os.getpid()}"
    log = tmp_path / "worker.log"
    worker = start_worker_behind(db_proxy, name, log)
    try:
        # given a call answered, then the database gone, then the person opting out
        contact, attempt = _call_answered_then_database_cut(db_proxy, registry)
        assert sipp_opt_out.wait(30) == 0
        # when the UA process is killed with the opt-out only in its spool
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert not DoNotCall.objects.filter(phone_e164=NUMBER).exists()
        # and it starts again (as the pool's supervisor restarts it, same name) with the database back
        db_proxy.restore()
        worker = start_worker_behind(db_proxy, name, log)
        # then the spooled opt-out and end of call reach the ledger
        wait_for(lambda: DoNotCall.objects.filter(phone_e164=NUMBER, campaign=None).exists(), 30,
                 "the replayed opt-out", interval_s=0.2)
        wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).state == AttemptState.ENDED, 30,
                 "the replayed end", interval_s=0.2)
    finally:
        stop_process(worker)
        registry.close()
        print(f"UA worker log: {log}")
    entry = DoNotCall.objects.get(phone_e164=NUMBER, campaign=None)
    assert (entry.source, entry.note) == (DncSource.OPT_OUT, f"attempt {attempt.pk}: dtmf")
    ended = CallAttempt.objects.get(pk=attempt.pk)
    assert ended.disposition == Disposition.OPTED_OUT
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.DNC
    assert len(sipp_opt_out.received("INVITE")) == 1
