"""Process trees for the fault tests: a Celery worker and beat on this test session's database and Redis db."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
