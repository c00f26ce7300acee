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

from django.conf import settings

from tests.telephony.conftest import PROJECT_ROOT, running_worker, stop_process, wait_for, worker_env

# The variables the UA worker reads from os.environ (running_worker passes os.environ on to it).
_UA_ENV_KEYS = ("UA_MEDIA_BRIDGE", "LOCAL_AGENT_URL", "TEST_MEDIA_ROOT")


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
    sim_log = workdir / "simulator.jsonl"
    env = {**worker_env(), "UA_MEDIA_BRIDGE": "1", "LOCAL_AGENT_URL": f"ws://127.0.0.1:{ports.agent}/v1",
           "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT), "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    started: list[subprocess.Popen[bytes]] = []
    saved = {k: os.environ.get(k) for k in _UA_ENV_KEYS}
    os.environ.update({k: env[k] for k in _UA_ENV_KEYS})
    try:
        sim_out = workdir / "simulator.out"
        started.append(_process(
            [sys.executable, "manage.py", "simulate_pstn", "--port", str(ports.simulator), "--workers", "2",
             "--rtp-port-base", str(ports.simulator_rtp), "--log", str(sim_log), *simulator_args], sim_out, env))
        started.append(_process([sys.executable, "-m", "local_agent", "--port", str(ports.agent)],
                                workdir / "agent.out", env))
        started.append(_process([str(bin_dir / "celery"), "-A", "config", "worker", "--loglevel=info",
                                 "--concurrency=2", "--without-gossip", "--without-mingle"],
                                workdir / "celery-worker.out", env))
        started.append(_process([str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel=info",
                                 "--schedule", str(workdir / "beat-schedule")], workdir / "celery-beat.out", env))
        wait_for(lambda: "simulated network ready" in sim_out.read_text(errors="replace")
                 or started[0].poll() is not None, 60, "the simulator", interval_s=0.2)
        assert started[0].poll() is None, sim_out.read_text(errors="replace")[-3000:]
        with running_worker(f"{workdir.name}-ua-{os.getpid()}", ports.ua_sip, ports.ua_rtp,
                            workdir / "ua-worker.log"):
            yield sim_log
    finally:
        for process in reversed(started):
            stop_process(process, timeout_s=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        print(f"end-to-end processes' logs: {workdir}")
