"""Process trees for the fault tests: a Celery worker and beat on this test session's database and Redis db."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact
from tests.factories import ContactFactory
from tests.telephony.conftest import PROJECT_ROOT, stop_process, wait_for, worker_env


def start_process(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one of our own commands with its output in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out,  # noqa: S603 - our own commands
                                stderr=subprocess.STDOUT)


def celery_worker(workdir: Path, env: dict[str, str] | None = None, name: str = "w1") -> subprocess.Popen[bytes]:
    """A Celery worker (two processes) for the default queue."""
    bin_dir = Path(sys.executable).parent
    return start_process([str(bin_dir / "celery"), "-A", "config", "worker", "--loglevel=info", "--concurrency=2",
                          "--without-gossip", "--without-mingle", "-n", f"{name}@%h"],
                         workdir / f"celery-{name}.out", env or worker_env())


def celery_beat(workdir: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Celery beat (the dispatcher tick, the reaper)."""
    bin_dir = Path(sys.executable).parent
    return start_process([str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel=info",
                          "--schedule", str(workdir / "beat-schedule")], workdir / "celery-beat.out",
                         env or worker_env())


@contextmanager
def control_plane(workdir: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """A Celery worker and beat, stopped (and their logs named) at the end."""
    processes = {"worker": celery_worker(workdir), "beat": celery_beat(workdir)}
    try:
        wait_for(lambda: "ready" in (workdir / "celery-w1.out").read_text(errors="replace")
                 or processes["worker"].poll() is not None, 60, "the Celery worker", interval_s=0.2)
        yield processes
    finally:
        for process in processes.values():
            stop_process(process, timeout_s=20)
        print(f"control plane logs: {workdir}")


def good_month(campaign: Campaign) -> Contact:
    """A month of calls connected to a voice at once, so the abandonment governor leaves the campaign alone.

    SIPp answers and no agent joins: by the FCC's definition each call of a fault test is abandoned, and the
    governor (beat, every 30 s) would rightly pause the campaign after the first few; these tests are about the
    fault. Returns the contact the history belongs to (its attempts never reached a UA: ``dialing_at`` is empty).
    """
    earlier = timezone.now() - dt.timedelta(days=1)
    record = ContactFactory(campaign=campaign, status=ContactStatus.DONE)
    CallAttempt.objects.bulk_create(
        CallAttempt(campaign=campaign, contact=record, trunk=campaign.trunk, state=AttemptState.ENDED,
                    disposition=Disposition.HUMAN, answered_at=earlier, bridged_at=earlier,
                    agent_first_audio_at=earlier + dt.timedelta(milliseconds=500),
                    ended_at=earlier + dt.timedelta(seconds=30), attempt_number=n)
        for n in range(1, 2001))
    return record
