"""Fixtures for real pjsua2 calls on loopback: a UA worker process, SIPp peers, and a way to hand it calls.

Ports (loopback only): our UAs 15000-15999 (SIP and RTP), SIPp 16000-16999, SIPp RTP 30000-39999.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from campaigns.choices import ATTEMPT_TERMINAL, ContactStatus
from campaigns.dialer.handoff import originate_attempt
from campaigns.dialer.leases import LEASE_TTL_S
from campaigns.models import CallAttempt, Contact
from campaigns.rules.windows import CallingWindow, zones_in_window
from telephony.contract import COMMAND_TTL_S, Command, seal_command
from telephony.models import Trunk
from telephony.ua_registry import live_uas, total_free_lines
from testing.sipp import SippRun
from tests.campaigns.dialer_setup import running_campaign
from tests.factories import AgentProfileFactory, ContactFactory

SCENARIOS = Path(__file__).parent / "sipp"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
WORKER_SIP_PORT = 15000
WORKER_RTP_PORT = 15400
TEST_MEDIA_TIMEOUT_S = 2.0


def worker_env() -> dict[str, str]:
    """Environment for a UA process that must write to this test session's database and Redis db."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONPATH": str(PROJECT_ROOT),
            "UA_SPOOL_DIR": str(settings.UA_SPOOL_DIR)}


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")



def stop_process(process: subprocess.Popen[Any], timeout_s: float = 20) -> None:
    """SIGTERM a process we started and wait for it; SIGKILL it if it is still there after ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

@pytest.fixture
def registry() -> Iterator[redis.Redis]:
    """A client on the test Redis db, not flushed: live UA processes keep their registration."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@contextlib.contextmanager
def running_worker(name: str, sip_port: int, rtp_port: int, log: Path, *extra: str) -> Iterator[str]:
    """A real UA worker process (`python -m telephony.ua.process`) on this test session's database."""
    print(f"UA worker log: {log}")
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "telephony.ua.process", "--name", name, "--sip-port", str(sip_port),
             "--rtp-port", str(rtp_port), "--media-timeout", str(TEST_MEDIA_TIMEOUT_S), "--lease-renew", "1",
             *extra],
            env=worker_env(), cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        wait_for(lambda: name in live_uas(client) or process.poll() is not None, 20, "the UA worker to register")
        if process.poll() is not None:
            pytest.fail(f"UA worker died at start:\n{log.read_text(errors='replace')[-4000:]}")
        yield name
    finally:
        stop_process(process)
        client.close()


@contextlib.contextmanager
def media_bridge_worker(name: str, sip_port: int, rtp_port: int, log: Path, agent_url: str,
                        *extra: str) -> Iterator[str]:
    """A real UA worker with the production hooks (AMD, the AI bridge, voicemail, opt-out, transfer) talking to
    the agent at ``agent_url``; its recordings go under this test run's media root, so tests can read them.
    ``extra``: more command-line options of the worker (``--max-calls 1``)."""
    extra_env = {"UA_MEDIA_BRIDGE": "1", "LOCAL_AGENT_URL": agent_url, "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    saved = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)  # running_worker passes os.environ on to the worker
    try:
        with running_worker(name, sip_port, rtp_port, log, *extra) as registered:
            yield registered
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def running_simulator(workdir: Path, port: int, rtp_port_base: int, *args: str,
                      env: dict[str, str] | None = None) -> Iterator[dict[str, Path]]:
    """`manage.py simulate_pstn` (front + 2 workers) with ``args`` (ring and timeout options); yields the paths
    of its call log (``log``) and output (``out``) in ``workdir``."""
    paths = {"log": workdir / "log.jsonl", "out": workdir / "simulator.out"}
    command = [sys.executable, "manage.py", "simulate_pstn", "--port", str(port), "--workers", "2",
               "--rtp-port-base", str(rtp_port_base), "--log", str(paths["log"]), *args]
    env = env or {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    with paths["out"].open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out,  # noqa: S603 - our own command
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "simulated network ready" in paths["out"].read_text(errors="replace")
                 or process.poll() is not None, 60, "the simulator to start", interval_s=0.2)
        if process.poll() is not None:
            pytest.fail(f"simulator died:\n{paths['out'].read_text(errors='replace')[-3000:]}")
        yield paths
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def ua_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real UA worker process for the module; yields its registry name."""
    log = tmp_path_factory.mktemp("ua") / "worker.log"
    with running_worker(f"test-ua-{os.getpid()}", WORKER_SIP_PORT, WORKER_RTP_PORT, log) as name:
        yield name


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., SippRun]]:
    """Start SIPp instances for one test (stopped at teardown). Call with (scenario file name, port offset)."""
    runs: list[SippRun] = []

    def start(scenario: str, offset: int = 0, **kwargs: Any) -> SippRun:
        run = SippRun(SCENARIOS / scenario, port=16000 + offset, media_port=30000 + 10 * offset, workdir=tmp_path)
        runs.append(run.start(**kwargs))
        return run

    yield start
    for run in runs:
        run.stop()


def dialable_contact(trunk: Trunk, *, ring_timeout_s: int = 5, max_call_s: int = 60, **fields: Any) -> Contact:
    """A pending contact of a running campaign on `trunk`, inside its calling window right now."""
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    zone = zones_in_window(timezone.now(), window)[0]
    campaign = running_campaign(trunk=trunk, window_days=list(range(7)), window_start=dt.time(8),
                                window_end=dt.time(21), ring_timeout_s=ring_timeout_s,
                                agent=AgentProfileFactory(max_call_s=max_call_s))
    return ContactFactory(campaign=campaign, time_zones=[zone], **fields)


def queue_attempt(contact: Contact) -> CallAttempt:
    """A queued attempt as the dispatcher's claim leaves it (the claim itself is the dialer's, tested there)."""
    Contact.objects.filter(pk=contact.pk).update(status=ContactStatus.IN_PROGRESS)
    return CallAttempt.objects.create(campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk,
                                      lease_expires_at=timezone.now() + dt.timedelta(seconds=LEASE_TTL_S))


def sealed(command: Command, *, now: float | None = None, ttl_s: float = COMMAND_TTL_S) -> str:
    """`command` sealed with this run's command key, as the dialer sends it."""
    return seal_command(command, settings.UA_COMMAND_KEY, now=time.time() if now is None else now, ttl_s=ttl_s)


def hand_to_pool(client: redis.Redis, attempt: CallAttempt) -> str:
    """The dialer's real originate: re-checks, leases, caller ID, a UA line, the command. Returns the UA name."""
    wait_for(lambda: total_free_lines(client) > 0, 10, "a live UA with a free line")
    result = originate_attempt(attempt.pk, r=client)
    assert result.outcome == "sent", result
    return result.ua_name


def wait_ended(attempt: CallAttempt, timeout_s: float = 30) -> CallAttempt:
    """Wait until the attempt is terminal and return it fresh from the database."""
    def ended() -> CallAttempt | None:
        fresh = CallAttempt.objects.get(pk=attempt.pk)
        return fresh if fresh.state in ATTEMPT_TERMINAL else None

    return wait_for(ended, timeout_s, f"attempt {attempt.pk} to end", interval_s=0.1)
