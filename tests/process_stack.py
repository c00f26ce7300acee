"""The engine's processes for end-to-end tests: the simulated phone network, the local agent, a Celery worker and
beat, and one UA worker with the media bridge, all on the test session's database and Redis db.

Each test module that runs a stack gives it its own loopback ports (``StackPorts``), so modules never share a
port even when run one after another before a port leaves TIME_WAIT.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.telephony.conftest import PROJECT_ROOT, media_bridge_worker, running_simulator, stop_process, worker_env


@dataclass(frozen=True)
class StackPorts:
    """Loopback ports of one stack: the simulator (its workers take the next ports), its RTP base, the UA
    worker's SIP (TLS is the next port) and RTP base, and the local agent."""

    simulator: int
    simulator_rtp: int
    ua_sip: int
    ua_rtp: int
    agent: int


def _process(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out,  # noqa: S603 (our own commands)
                                stderr=subprocess.STDOUT)


@contextlib.contextmanager
def process_stack(workdir: Path, ports: StackPorts, simulator_args: Sequence[str] = ()) -> Iterator[Path]:
    """Start the stack with its logs in ``workdir``, yield the simulator's call log, stop everything on exit.

    ``simulator_args`` are added to ``simulate_pstn``'s (ring times, greeting, timeouts).
    """
    env = {**worker_env(), "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    started: list[subprocess.Popen[bytes]] = []
    try:
        with running_simulator(workdir, ports.simulator, ports.simulator_rtp, *simulator_args, env=env) as sim:
            started.append(_process([sys.executable, "-m", "local_agent", "--port", str(ports.agent)],
                                    workdir / "agent.out", env))
            started.append(_process([str(bin_dir / "celery"), "-A", "config", "worker", "--loglevel=info",
                                     "--concurrency=2", "--without-gossip", "--without-mingle"],
                                    workdir / "celery-worker.out", env))
            started.append(_process([str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel=info",
                                     "--schedule", str(workdir / "beat-schedule")], workdir / "celery-beat.out", env))
            with media_bridge_worker(f"{workdir.name}-ua-{os.getpid()}", ports.ua_sip, ports.ua_rtp,
                                     workdir / "ua-worker.log", f"ws://127.0.0.1:{ports.agent}/v1"):
                yield sim["log"]
    finally:
        for process in reversed(started):
            stop_process(process, timeout_s=30)
        print(f"end-to-end processes' logs: {workdir}")
