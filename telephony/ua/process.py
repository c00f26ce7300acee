"""One UA worker process: a pjsua2 Endpoint, up to four calls, a Redis command queue and a ledger writer.

Threads:
- `pjsua` (`PjsuaThread`): owns every pjsua2 object; SIP callbacks and call timers run there.
- main: heartbeat (`advertise_ua`) and commands from this process's Redis queue (`pop_command`). Before a dial
  it moves the attempt QUEUED -> DIALING in Postgres; a redelivered or stale command loses that conditional
  update and is dropped, so an attempt is never dialed twice.
- `ledger` (`LedgerWriter`): writes call progress to Postgres (ringing, answered, finish) and renews the leases
  of live calls, so a slow database never stalls SIP or media.

Started by the supervisor as `python -m telephony.ua.process --name ... --sip-port ...`.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import redis

from telephony.ua.calls import CallEvent, CallHooks, CallManager, new_sip_call_id
from telephony.ua.commands import OriginateRequest
from telephony.ua.endpoint import EndpointSettings, PjsuaThread, freeze_startup_heap

logger = logging.getLogger(__name__)

# Keys `finish_attempt` accepts in `results` (campaigns/attempts.py contract).
FINISH_RESULT_KEYS = frozenset({"transcript", "recording", "outcome", "outcome_fields", "outcome_error",
                                "amd_result", "first_response_ms", "usage", "agent_first_audio_at"})
# The per-call hooks installed unless told otherwise (`--hooks`, settings UA_CALL_HOOKS / UA_MEDIA_BRIDGE).
MEDIA_HOOKS = "telephony.ua.media_hooks:media_hooks"
PROBE_STATS_KEY = "ua:probe:stats"
_DB_RETRIES = 5


@dataclass(frozen=True)
class WorkerSettings:
    """Configuration of one UA worker, validated at start.

    Attributes:
        name: unique name in the Redis registry (stable across restarts of the same pool slot).
        bind_address: SIP/RTP bind address; advertise_host: the address other hosts reach us at.
        sip_port, rtp_port, rtp_port_range, max_calls: see `EndpointSettings`.
        media_timeout_s: end an answered call as failed after this long without RTP (0 disables).
        heartbeat_s: how often free lines are advertised; heartbeat_ttl_s: how long an advert lives.
        lease_renew_s: how often leases of live calls are renewed.
        drain_timeout_s: on SIGTERM, how long to wait for calls to end after hanging them up.
        hooks: optional "module:callable" building the per-call `CallHooks` (the media work's entry point).
    """

    name: str
    redis_url: str
    bind_address: str = "127.0.0.1"
    advertise_host: str = "127.0.0.1"
    sip_port: int = 5070
    rtp_port: int = 20000
    rtp_port_range: int = 16
    max_calls: int = 4
    media_timeout_s: float = 15.0
    heartbeat_s: float = 1.0
    heartbeat_ttl_s: int = 5
    lease_renew_s: float = 3.0
    drain_timeout_s: float = 10.0
    hooks: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name is empty")
        if self.heartbeat_ttl_s <= self.heartbeat_s:
            raise ValueError("heartbeat_ttl_s must exceed heartbeat_s, or the UA flickers out of the registry")
        if self.lease_renew_s <= 0:
            raise ValueError("lease_renew_s must be positive")
        if self.media_timeout_s < 0:
            raise ValueError("media_timeout_s must be >= 0")

    def endpoint_settings(self) -> EndpointSettings:
        """The Endpoint part of the settings."""
        return EndpointSettings(bind_address=self.bind_address, sip_port=self.sip_port, rtp_port=self.rtp_port,
                                rtp_port_range=self.rtp_port_range, max_calls=self.max_calls)


def load_hooks_factory(path: str) -> Callable[[OriginateRequest], CallHooks] | None:
    """Import a hooks factory given as "package.module:callable" (empty: no hooks)."""
    if not path:
        return None
    module_name, _, attribute = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory  # type: ignore[no-any-return]


def _with_db_retry(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a ledger service, reconnecting on a dropped database connection."""
    from django.db import InterfaceError, OperationalError, close_old_connections

    for attempt in range(_DB_RETRIES):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if attempt == _DB_RETRIES - 1:
                raise
            logger.warning("database error in %s; reconnecting", getattr(fn, "__name__", fn), exc_info=True)
            close_old_connections()
            time.sleep(0.2 * (2**attempt))
    return None


class LedgerWriter(threading.Thread):
    """Writes call events to the ledger and keeps the leases of live calls alive."""

    def __init__(self, worker: UaWorker) -> None:
        super().__init__(name="ledger", daemon=True)
        self.worker = worker
        self.events: queue.SimpleQueue[CallEvent | None] = queue.SimpleQueue()
        self.idle = threading.Event()
        self.finished = 0

    def run(self) -> None:
        from campaigns.leases import renew_attempt_leases

        next_renew = time.monotonic() + self.worker.settings.lease_renew_s
        while True:
            timeout = max(0.0, next_renew - time.monotonic())
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                event = None
                self.idle.set()
            else:
                if event is None:
                    return
                self.idle.clear()
                try:
                    self.handle(event)
                except Exception:  # one bad event must not stop the ledger of the others
                    logger.exception("ledger: could not record %s", event)
            if time.monotonic() >= next_renew:
                next_renew = time.monotonic() + self.worker.settings.lease_renew_s
                for attempt_id in self.worker.busy_attempts():
                    try:
                        renewed = _with_db_retry(renew_attempt_leases, attempt_id)
                    except Exception:  # retried at the next renewal
                        logger.exception("lease renewal of attempt %s failed", attempt_id)
                        continue
                    if not renewed:
                        # The dialer no longer holds this attempt (the reaper resolved it): the call has no
                        # ledger row to report to, so stop it rather than talk off the books.
                        logger.warning("attempt %s lost its leases; hanging up", attempt_id)
                        self.worker.hangup(attempt_id, "leases lost")

    def handle(self, event: CallEvent) -> None:
        """Record one event (called on this thread)."""
        from campaigns import attempts

        if event.kind == "ringing":
            _with_db_retry(attempts.mark_attempt_ringing, event.attempt_id)
        elif event.kind == "answered":
            _with_db_retry(attempts.mark_attempt_answered, event.attempt_id)
        elif event.kind == "bridged":
            _with_db_retry(attempts.mark_attempt_bridged, event.attempt_id)
        elif event.kind == "opt_out":
            from campaigns.choices import DncSource
            from campaigns.dnc import add_to_do_not_call

            # Compliance: recorded the moment the callee asks (before the goodbye and the hangup), company-wide:
            # the same number in other campaigns becomes do-not-call in the same transaction.
            _with_db_retry(add_to_do_not_call, str(event.data["number"]), campaign=None, source=DncSource.OPT_OUT,
                           note=f"attempt {event.attempt_id}: {event.data.get('how', '')}"[:255])
        elif event.kind == "ended":
            data = event.data
            results = {k: v for k, v in (data.get("results") or {}).items() if k in FINISH_RESULT_KEYS}
            try:
                _with_db_retry(
                    attempts.finish_attempt, event.attempt_id, disposition=str(data["disposition"]),
                    sip_code=data.get("sip_code"), sip_reason=str(data.get("sip_reason") or ""),
                    reason=str(data.get("reason") or ""), results=results or None,
                )
            finally:
                self.worker.line_released(event.attempt_id)
                self.finished += 1
            probe = data.get("probe")
            if probe is not None:
                self.worker.redis.rpush(PROBE_STATS_KEY, json.dumps({"attempt_id": event.attempt_id, **probe}))


class UaWorker:
    """One UA process. `run()` blocks until SIGTERM/SIGINT, then drains and returns an exit code."""

    def __init__(self, settings: WorkerSettings, redis_client: redis.Redis | None = None) -> None:
        self.settings = settings
        self.redis = redis_client or redis.Redis.from_url(settings.redis_url)
        self.pjsua = PjsuaThread(settings.endpoint_settings())
        self.events: queue.SimpleQueue[CallEvent] = queue.SimpleQueue()
        self.ledger = LedgerWriter(self)
        self.manager: CallManager | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()  # guards _busy, read by the heartbeat and the ledger thread
        self._busy: set[int] = set()  # attempts holding one of our lines, from dial until their end is recorded

    # ---- thread-safe helpers -----------------------------------------------------------------------------

    def busy_attempts(self) -> list[int]:
        """Attempts holding a line of this process."""
        with self._lock:
            return sorted(self._busy)

    def free_lines(self) -> int:
        """Lines not held by any attempt."""
        with self._lock:
            return max(0, self.settings.max_calls - len(self._busy))

    def line_released(self, attempt_id: int) -> None:
        """The attempt's end is recorded: its line is free again, and the registry hears it at once.

        The registry's count is not incremented: the heartbeat writes the absolute number (minus the commands
        still queued), and an increment racing a heartbeat would advertise a line twice.
        """
        with self._lock:
            self._busy.discard(attempt_id)
        self.advertise()

    def advertise(self) -> None:
        """Heartbeat: this process is alive with its free lines (any thread; the Redis client is thread-safe)."""
        from telephony.ua_registry import advertise_ua

        if self.stopping.is_set():
            return  # withdrawn: do not come back to life in the registry while draining
        s = self.settings
        try:
            advertise_ua(self.redis, s.name, free_lines=self.free_lines(), host=s.advertise_host,
                         sip_port=s.sip_port, ttl_s=s.heartbeat_ttl_s)
        except redis.RedisError:
            logger.warning("UA %s: heartbeat failed", s.name, exc_info=True)

    def hangup(self, attempt_id: int, reason: str) -> None:
        """Hang up an attempt's call (any thread)."""
        if self.manager is not None:
            self.pjsua.call_soon(self.manager.hangup, attempt_id, reason)

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the pjsua and ledger threads (raises when the Endpoint cannot be created)."""
        self.pjsua.start()
        self.pjsua.ready.wait()
        if self.pjsua.startup_error is not None:
            raise RuntimeError(f"pjsua2 endpoint failed to start: {self.pjsua.startup_error}")
        s = self.settings
        hooks_factory = load_hooks_factory(s.hooks)
        self.manager = self.pjsua.submit(
            lambda: CallManager(self.pjsua, self.events, bind_address=s.bind_address, rtp_port=s.rtp_port,
                                rtp_port_range=s.rtp_port_range, media_timeout_s=s.media_timeout_s,
                                hooks_factory=hooks_factory)
        ).result(timeout=10)
        self.pjsua.shutdown_hook = self.manager.shutdown
        self.ledger.start()
        threading.Thread(target=self._forward_events, name="events", daemon=True).start()
        freeze_startup_heap()

    def _forward_events(self) -> None:
        # CallManager emits from the pjsua thread; the ledger consumes in order. A separate queue keeps the
        # pjsua side free of the ledger's sentinel handling.
        while True:
            self.ledger.events.put(self.events.get())

    def run(self) -> int:
        """Serve commands until asked to stop, then drain. Returns the process exit code."""
        self.start()
        logger.info("UA %s listening on %s:%s", self.settings.name, self.settings.bind_address,
                    self.settings.sip_port)
        try:
            self._serve()
        finally:
            self.drain()
        return 0

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler: stop taking commands and drain."""
        self.stopping.set()

    def _serve(self) -> None:
        from telephony.ua_registry import pop_command

        s = self.settings
        next_heartbeat = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + s.heartbeat_s
                self.advertise()
            # Blocking up to one heartbeat: an idle worker wakes once a second (25 workers idle cost ~0.1 core
            # with 0.2 s polls). Freed lines are advertised by the ledger thread as they happen.
            try:
                command = pop_command(self.redis, s.name, timeout_s=max(0.1, next_heartbeat - time.monotonic()))
            except redis.RedisError:
                logger.warning("UA %s: cannot read commands; retrying", s.name, exc_info=True)
                time.sleep(1)
                continue
            if command is not None:
                try:
                    self.handle_command(command)
                except Exception:  # a malformed command must not kill the process
                    logger.exception("UA %s: command failed: %r", s.name, _redacted(command))

    def handle_command(self, command: dict[str, Any]) -> None:
        """Execute one command from the queue (main thread)."""
        kind = command.get("type")
        if kind == "hangup":
            self.hangup(int(command["attempt_id"]), str(command.get("reason") or "hangup requested"))
        elif kind == "originate":
            self._originate(OriginateRequest.from_command(command), command)
        else:
            logger.warning("UA %s: unknown command type %r", self.settings.name, kind)

    def _originate(self, request: OriginateRequest, command: dict[str, Any]) -> None:
        from campaigns.attempts import finish_attempt, mark_attempt_dialing
        from telephony.ua_registry import push_command, release_ua_line, reserve_ua_line

        name = self.settings.name
        with self._lock:
            full = len(self._busy) >= self.settings.max_calls
            duplicate = request.attempt_id in self._busy
        if duplicate:
            logger.info("attempt %s already on a line here; duplicate command dropped", request.attempt_id)
            return
        if full:
            # The registry said a line was free but our own count disagrees (a reservation raced a
            # heartbeat): never exceed pjsua's call limit. Hand the attempt to another UA if one has a line.
            other = reserve_ua_line(self.redis)
            if other is not None and other != name:
                logger.warning("UA %s full; attempt %s handed to %s", name, request.attempt_id, other)
                push_command(self.redis, other, command)
                return
            if other == name:
                release_ua_line(self.redis, name)
            logger.warning("UA %s has no free line for attempt %s", name, request.attempt_id)
            _with_db_retry(finish_attempt, request.attempt_id, disposition="failed", reason="no free SIP line")
            return
        sip_call_id = new_sip_call_id()
        # The idempotency gate: only the actor that moves QUEUED -> DIALING dials.
        if not _with_db_retry(mark_attempt_dialing, request.attempt_id, ua_name=name, sip_call_id=sip_call_id):
            logger.info("attempt %s is no longer queued; not dialing", request.attempt_id)
            self.advertise()
            return
        with self._lock:
            self._busy.add(request.attempt_id)
        assert self.manager is not None  # noqa: S101 - set in start()
        self.pjsua.call_soon(self.manager.originate, request, sip_call_id)

    def drain(self) -> None:
        """Withdraw from the registry, hang up every call, wait for the ends to be recorded, stop."""
        from telephony.ua_registry import withdraw_ua

        s = self.settings
        try:
            withdraw_ua(self.redis, s.name)
        except redis.RedisError:
            logger.warning("UA %s: could not withdraw from the registry", s.name, exc_info=True)
        if self.manager is not None and self.pjsua.is_alive():
            self.pjsua.call_soon(self.manager.hangup_all, "UA shutting down")
            deadline = time.monotonic() + s.drain_timeout_s
            # Wait for BYE/CANCEL to complete and for the ledger to record every end.
            while time.monotonic() < deadline and self.busy_attempts():
                time.sleep(0.05)
            if self.busy_attempts():
                logger.warning("UA %s: calls still up after %.0fs: %s", s.name, s.drain_timeout_s,
                               self.busy_attempts())
        self.pjsua.stop()
        self.pjsua.join(timeout=10)
        self.ledger.events.put(None)
        self.ledger.join(timeout=5)


def _redacted(command: dict[str, Any]) -> dict[str, Any]:
    """A command without trunk passwords, for log lines."""
    out = dict(command)
    trunk = out.get("trunk")
    if isinstance(trunk, dict):
        trunk = {k: ("***" if k == "password" else v) for k, v in trunk.items()}
        if isinstance(trunk.get("failover"), dict):
            trunk["failover"] = {k: ("***" if k == "password" else v) for k, v in trunk["failover"].items()}
        out["trunk"] = trunk
    return out


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of a worker (the supervisor fills them)."""
    parser = argparse.ArgumentParser(description="One SIP user-agent worker of the UA pool.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--advertise-host", default="")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--rtp-port-range", type=int, default=16)
    parser.add_argument("--max-calls", type=int, default=4)
    parser.add_argument("--media-timeout", type=float, default=15.0)
    parser.add_argument("--lease-renew", type=float, default=0.0, help="seconds; 0: the dialer's RENEW_EVERY_S")
    parser.add_argument("--drain-timeout", type=float, default=10.0)
    parser.add_argument("--hooks", default=None,
                        help='"module:callable"; default: settings.UA_CALL_HOOKS, else the media bridge unless '
                             'settings.UA_MEDIA_BRIDGE is off; "" installs none')
    return parser


def default_hooks(django_settings: Any) -> str:
    """The hooks a worker installs when `--hooks` is not given: UA_CALL_HOOKS, else the media bridge (if on)."""
    configured = str(getattr(django_settings, "UA_CALL_HOOKS", "") or "")
    if configured:
        return configured
    return MEDIA_HOOKS if getattr(django_settings, "UA_MEDIA_BRIDGE", True) else ""


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process."""
    args = build_parser().parse_args(argv)
    # A crash inside pjsua2 (C++) kills the process; print every thread's Python stack first for the log.
    # SIGUSR2 prints them on demand (the supervisor sends it before killing a worker that will not stop).
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings as django_settings

    from campaigns.leases import RENEW_EVERY_S

    # Why: every frame callback runs on the conference clock thread and must take the GIL. While another
    # thread of this process holds it (a ledger write, SIP handling), the clock thread waits for Python's
    # switch interval, 5 ms by default, once per callback: with 8 callbacks per 20 ms tick that stalls the
    # media of all four calls. A short interval bounds each wait; the cost is more frequent GIL hand-overs
    # between the process's few busy threads.
    sys.setswitchinterval(django_settings.UA_GIL_SWITCH_INTERVAL_MS / 1000)

    worker = UaWorker(WorkerSettings(
        name=args.name, redis_url=django_settings.REDIS_URL, bind_address=args.bind,
        advertise_host=args.advertise_host or args.bind, sip_port=args.sip_port, rtp_port=args.rtp_port,
        rtp_port_range=args.rtp_port_range, max_calls=args.max_calls, media_timeout_s=args.media_timeout,
        lease_renew_s=args.lease_renew or RENEW_EVERY_S, drain_timeout_s=args.drain_timeout,
        hooks=args.hooks if args.hooks is not None else default_hooks(django_settings),
    ))
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    return worker.run()


if __name__ == "__main__":
    from telephony.ua.endpoint import exit_without_teardown

    exit_without_teardown(main())
