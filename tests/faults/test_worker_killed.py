"""A Celery worker SIGKILLed in the middle of `originate`: the broker delivers the task again, one INVITE.

The moment is made certain, not hoped for: the test claims two contacts itself, locks their attempt rows in a
transaction of its own, and only then enqueues `originate` for them. The worker takes a task (it is `acks_late`)
and blocks in the gate statement on the lock: it holds the message and has not acked it. The test SIGKILLs the
whole worker, releases the lock and starts a new worker. Redis redelivers the unacked messages after the
visibility timeout (5 s here); the new worker originates; the UA dials. Then beat is killed and restarted while
the calls are up.

Counted: SIPp saw exactly one INVITE per attempt, both attempts ended `human`, no contact claimed twice.

Ports (loopback): UA worker SIP 19740 (RTP 50000-50015), SIPp 19750 (RTP 50030).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from campaigns.choices import AttemptState, Disposition
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import CallAttempt
from campaigns.rules.windows import CallingWindow, zones_in_window
from campaigns.tasks import originate
from testing.sipp import SippRun, header
from tests.campaigns.dialer_setup import running_campaign
from tests.factories import ContactFactory, TrunkFactory
from tests.faults.conftest import celery_beat, celery_worker
from tests.telephony.conftest import SCENARIOS, running_worker, stop_process, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

UA_SIP_PORT, UA_RTP_PORT, SIPP_PORT, SIPP_RTP_PORT = 19740, 50000, 19750, 50030


@pytest.fixture
def sipp_answers(tmp_path: Path) -> Iterator[SippRun]:
    run = SippRun(SCENARIOS / "uas_answer_remote_bye.xml", port=SIPP_PORT, media_port=SIPP_RTP_PORT,
                  workdir=tmp_path)
    run.start(calls=10, timeout_s=180)
    yield run
    with contextlib.suppress(Exception):
        run.stop()


def _blocked_in_the_gate() -> bool:
    with connections["default"].cursor() as cursor:
        # Statistics views are a snapshot per transaction, and this runs inside the test's locking transaction.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database() AND query ILIKE '%%originate_gate%%'")
        return bool(cursor.fetchone()[0])


def test_a_worker_killed_inside_originate_gets_its_task_redelivered_and_the_call_placed_once(
        sipp_answers: SippRun, tmp_path: Path) -> None:
    env = {**worker_env(), "CELERY_VISIBILITY_TIMEOUT_S": "5", "CELERY_UNACKED_RESTORE_INTERVAL_S": "1"}
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    soon = timezone.now() + dt.timedelta(minutes=5)
    zone = sorted(set(zones_in_window(timezone.now(), window)) & set(zones_in_window(soon, window)))[0]
    campaign = running_campaign(max_concurrent=2, trunk=TrunkFactory(host="127.0.0.1", port=SIPP_PORT),
                                window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21),
                                ring_timeout_s=10)
    for _ in range(2):
        ContactFactory(campaign=campaign, time_zones=[zone])
    r = redis.Redis.from_url(settings.REDIS_URL)
    with running_worker(f"fault-celery-{campaign.pk}", UA_SIP_PORT, UA_RTP_PORT, tmp_path / "ua.log", "--hooks", ""):
        # given two claimed attempts whose rows this test holds locked
        attempt_ids = run_dispatch_tick(r=r, enqueue=lambda ids: None).attempt_ids
        assert len(attempt_ids) == 2
        worker = celery_worker(tmp_path, env, name="doomed")
        try:
            with transaction.atomic():
                list(CallAttempt.objects.select_for_update().filter(pk__in=attempt_ids))
                for attempt_id in attempt_ids:
                    originate.delay(attempt_id)
                # when the worker has taken an originate task and waits in its gate, it is killed
                wait_for(_blocked_in_the_gate, 60, "the worker to block inside originate", interval_s=0.1)
                for pid in [*_children(worker.pid), worker.pid]:  # the pool's processes and their parent
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        connection.close()  # the lock is released with the transaction above
        assert CallAttempt.objects.filter(pk__in=attempt_ids, state=AttemptState.QUEUED).count() == 2
        # then a new worker receives the tasks again and the calls go out, once each
        second = celery_worker(tmp_path, env, name="second")
        beat = None
        try:
            wait_for(lambda: CallAttempt.objects.filter(pk__in=attempt_ids, dialing_at__isnull=False).count() == 2,
                     60, "the redelivered originates to dial", interval_s=0.2)
            # and beat killed mid-campaign and restarted changes nothing
            beat = celery_beat(tmp_path, env)
            time.sleep(2)
            beat.send_signal(signal.SIGKILL)
            beat.wait(10)
            beat = celery_beat(tmp_path, env)
            wait_for(lambda: CallAttempt.objects.filter(pk__in=attempt_ids, state=AttemptState.ENDED).count() == 2,
                     60, "both calls to end", interval_s=0.2)
            time.sleep(3)  # a second dial, if any, would show now
        finally:
            for process in (second, beat):
                if process is not None:
                    stop_process(process, timeout_s=20)
    r.close()
    ended = CallAttempt.objects.filter(pk__in=attempt_ids)
    assert set(ended.values_list("disposition", flat=True)) == {Disposition.HUMAN}
    invited = [header(m, "X-Attempt-Id") for m in sipp_answers.received("INVITE")]
    assert sorted(invited) == sorted(str(a) for a in attempt_ids)
    assert CallAttempt.objects.filter(campaign=campaign).count() == 2
    print(f"celery logs: {tmp_path}")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found
