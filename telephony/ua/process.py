"""One UA worker process: a pjsua2 Endpoint, up to four calls, a Redis command queue and a ledger writer.

Threads:
- `pjsua` (`PjsuaThread`): owns every pjsua2 object; SIP callbacks and call timers run there.
- main: sealed commands from this process's Redis queue (`pop_command`, verified by `open_command`). Before a
  dial it asks the ledger's last gate (`Ledger.begin_dial`: QUEUED -> DIALING only if the call may still be
  placed now); a redelivered, stale or refused command loses that gate and is not dialed.
- `heartbeat`: advertises free lines and the attempts this UA holds, on its own thread (a slow ledger never
  makes the UA look dead). `events`: moves call events from the pjsua side into the durable spool.
- `ledger` (`LedgerWriter`): replays the spool into the control plane's `Ledger`, opt-outs first, and renews
  the leases of live calls; a database outage only delays it. Started by the supervisor
  (`python -m telephony.ua.process --name ... --sip-port ...`).
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import redis

from telephony.contract import (
    CallEvent,
    CommandRejected,
    Ended,
    HangupCommand,
    OriginateCommand,
    TrunkSpec,
    open_command,
)
from telephony.ua.call import new_sip_call_id
from telephony.ua.endpoint import EndpointSettings, PjsuaThread, freeze_startup_heap
from telephony.ua.hooks import CallHooks
from telephony.ua.ledger import Ledger, LedgerUnavailable, LedgerWriter
from telephony.ua.lines import Lines
from telephony.ua.manager import CallManager
from telephony.ua.settings import MEDIA_HOOKS, UaSettings, install_process_settings
from telephony.ua.sip_sources import SipSourcePolicy
from telephony.ua.spool import EventSpool

logger = logging.getLogger(__name__)

__all__ = ["MEDIA_HOOKS", "UaWorker", "WorkerSettings", "build_parser", "main", "worker_settings"]

# Commands a UA refused (expired, unsigned, tampered), newest first, for operators: ids and reasons only.
REJECTED_KEY = "ce:ua:rejected"
REJECTED_KEEP = 1000


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
        command_key: the HMAC key that seals commands (`UA_COMMAND_KEY`).
        spool_dir: where this worker's event spool lives (one file per worker name).
        redis_timeout_s: socket timeout of the Redis client (a black-holed Redis must not block a thread).
        sip_allowed_sources, sip_allow_loopback: who besides the trunks may send SIP (F27, `SipSourcePolicy`).
    """

    name: str
    redis_url: str
    command_key: bytes
    spool_dir: str
    bind_address: str
    advertise_host: str
    sip_port: int
    rtp_port: int
    rtp_port_range: int
    max_calls: int
    media_timeout_s: float
    lease_renew_s: float
    drain_timeout_s: float
    hooks: str
    redis_timeout_s: float
    heartbeat_s: float = 1.0
    heartbeat_ttl_s: int = 5
    sip_allowed_sources: tuple[str, ...] = ()
    sip_allow_loopback: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name is empty")
        if not self.command_key:
            raise ValueError("command_key is empty: the UA cannot verify its commands")
        if self.heartbeat_ttl_s <= self.heartbeat_s:
            raise ValueError("heartbeat_ttl_s must exceed heartbeat_s, or the UA flickers out of the registry")
        if self.lease_renew_s <= 0:
            raise ValueError("lease_renew_s must be positive")
        if self.media_timeout_s < 0:
            raise ValueError("media_timeout_s must be >= 0")
        if self.redis_timeout_s <= 1.0:
            raise ValueError("redis_timeout_s must exceed the 1 s blocking read of the command queue")

    @classmethod
    def for_slot(cls, ua: UaSettings, name: str, sip_port: int, rtp_port: int) -> WorkerSettings:
        """The settings of the worker `name` on these ports, everything else from `ua`."""
        return cls(
            name=name, redis_url=ua.redis_url, command_key=ua.command_key, spool_dir=str(ua.spool_dir),
            bind_address=ua.bind_address, advertise_host=ua.advertise_host or ua.bind_address, sip_port=sip_port,
            rtp_port=rtp_port, rtp_port_range=ua.rtp_port_range, max_calls=ua.max_calls_per_process,
            media_timeout_s=ua.media_timeout_s, lease_renew_s=ua.lease_renew_s, drain_timeout_s=ua.drain_timeout_s,
            hooks=ua.call_hooks, redis_timeout_s=ua.redis_socket_timeout_s,
            sip_allowed_sources=ua.sip_allowed_sources, sip_allow_loopback=ua.sip_allow_loopback,
        )

    def endpoint_settings(self) -> EndpointSettings:
        """The Endpoint part of the settings."""
        return EndpointSettings(bind_address=self.bind_address, sip_port=self.sip_port, rtp_port=self.rtp_port,
                                rtp_port_range=self.rtp_port_range, max_calls=self.max_calls)

    def redis_client(self) -> redis.Redis:
        """A Redis client with timeouts and TCP keepalive."""
        return redis.Redis.from_url(self.redis_url, socket_timeout=self.redis_timeout_s,
                                    socket_connect_timeout=min(2.0, self.redis_timeout_s), socket_keepalive=True,
                                    health_check_interval=30)


def load_hooks_factory(path: str) -> Callable[[OriginateCommand], CallHooks] | None:
    """Import a hooks factory given as "package.module:callable" (empty: no hooks)."""
    if not path:
        return None
    module_name, _, attribute = path.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory


class UaWorker:
    """One UA process. `run()` blocks until SIGTERM/SIGINT, then drains and returns an exit code.

    Args:
        settings: the worker's settings.
        ledger: the control plane's ledger (`UA_LEDGER`).
        credentials: fills in a trunk's passwords by trunk id (commands never carry them).
        redis_client: optional client (default: `settings.redis_client()`).
        registration_trunks: the REGISTER-mode trunks to register at start, with their passwords (None: none).
    """

    def __init__(self, settings: WorkerSettings, ledger: Ledger, credentials: Callable[[TrunkSpec], TrunkSpec],
                 redis_client: redis.Redis | None = None,
                 registration_trunks: Callable[[], list[TrunkSpec]] | None = None) -> None:
        self.settings = settings
        self.ledger_port = ledger
        self.credentials = credentials
        self.registration_trunks = registration_trunks
        self.redis = redis_client or settings.redis_client()
        self.pjsua = PjsuaThread(settings.endpoint_settings())
        self.events: queue.SimpleQueue[CallEvent] = queue.SimpleQueue()
        self.spool = EventSpool(Path(settings.spool_dir) / f"{settings.name}.sqlite3")
        self.ledger = LedgerWriter(ledger, self.spool, busy_attempts=self.busy_attempts,
                                   on_lost=lambda attempt_id: self.hangup(attempt_id, "ended in the ledger"),
                                   lease_renew_s=settings.lease_renew_s, trunk_of=self._carrying_trunk)
        self.manager: CallManager | None = None
        self.stopping = threading.Event()
        self._wake_heartbeat = threading.Event()
        # Attempts holding one of our lines, and the transfers' second calls holding another.
        self.lines = Lines(settings.max_calls, on_change=self._wake_heartbeat.set)

    # ---- thread-safe helpers -----------------------------------------------------------------------------

    def _carrying_trunk(self, attempt_id: int) -> int | None:
        return self.manager.live_trunk(attempt_id) if self.manager is not None else None

    def busy_attempts(self) -> list[int]:
        """Attempts holding a line of this process."""
        return self.lines.attempts()

    def free_lines(self) -> int:
        """Lines held neither by an attempt nor by a transfer's second call."""
        return self.lines.free()

    def line_released(self, attempt_id: int) -> None:
        """The attempt's end is spooled: its line is free again, and the heartbeat says so at once.

        The registry's count is not incremented: the heartbeat writes the absolute number (minus the commands
        still queued), and an increment racing a heartbeat would advertise a line twice.
        """
        self.lines.release(attempt_id)

    def advertise(self) -> None:
        """Heartbeat: alive, with free lines and the attempts held (calls up or results still spooled)."""
        from telephony.ua_registry import advertise_ua

        if self.stopping.is_set():
            return  # withdrawn: do not come back to life in the registry while draining
        s = self.settings
        try:
            holding = set(self.busy_attempts()) | self.ledger.holding()
            advertise_ua(self.redis, s.name, free_lines=self.free_lines(), host=s.advertise_host,
                         sip_port=s.sip_port, ttl_s=s.heartbeat_ttl_s, holding=holding)
        except redis.RedisError:
            logger.warning("UA %s: heartbeat failed", s.name, exc_info=True)

    def hangup(self, attempt_id: int, reason: str) -> None:
        """Hang up an attempt's call (any thread)."""
        if self.manager is not None:
            self.pjsua.call_soon(self.manager.hangup, attempt_id, reason)

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the pjsua, events, ledger and heartbeat threads (raises when the Endpoint cannot be created)."""
        self.pjsua.start()
        self.pjsua.ready.wait()
        if self.pjsua.startup_error is not None:
            raise RuntimeError(f"pjsua2 endpoint failed to start: {self.pjsua.startup_error}")
        s = self.settings
        hooks_factory = load_hooks_factory(s.hooks)
        gate = getattr(self.ledger_port, "take_trunk_channel", None)
        channel_gate = None
        if gate is not None:
            def channel_gate(attempt_id: int, trunk: TrunkSpec) -> bool:
                return bool(gate(attempt_id, trunk.id, trunk.max_channels))
        sources = SipSourcePolicy(s.sip_allowed_sources, allow_loopback=s.sip_allow_loopback)
        self.manager = self.pjsua.submit(
            lambda: CallManager(self.pjsua, self.events, bind_address=s.bind_address, rtp_port=s.rtp_port,
                                rtp_port_range=s.rtp_port_range, media_timeout_s=s.media_timeout_s,
                                hooks_factory=hooks_factory, channel_gate=channel_gate, source_policy=sources,
                                transfer_lines=self.lines)
        ).result(timeout=10)
        self.pjsua.shutdown_hook = self.manager.shutdown
        self._register_trunks()
        if len(self.spool):
            # Results of calls from before a restart: delivered first, opt-outs before anything else.
            logger.warning("UA %s: %d call events from before the restart are in the spool; replaying", s.name,
                           len(self.spool))
        self.ledger.start()
        threading.Thread(target=self._forward_events, name="events", daemon=True).start()
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        freeze_startup_heap()

    def _register_trunks(self) -> None:
        """Register the REGISTER-mode trunks now (they would otherwise register on their first call)."""
        if self.registration_trunks is None or self.manager is None:
            return
        try:
            specs = self.registration_trunks()
        except Exception:  # the database is down at start: the trunks register on their first call instead
            logger.warning("UA %s: REGISTER trunks not read at start", self.settings.name, exc_info=True)
            return
        if specs:
            started = self.pjsua.submit(self.manager.register_trunks, specs).result(timeout=10)
            logger.info("UA %s: registering %d trunk(s)", self.settings.name, started)

    def publish_registrations(self) -> None:
        """Publish what each trunk's registrar answered this process (heartbeat thread)."""
        from telephony.registrations import publish_registrations

        if self.manager is None:
            return
        registrations = self.manager.registrations()
        if not registrations:
            return
        try:
            publish_registrations(self.redis, self.settings.name, registrations)
        except redis.RedisError:
            logger.warning("UA %s: registration state not published", self.settings.name, exc_info=True)

    def _forward_events(self) -> None:
        # CallManager emits from the pjsua thread; the spool write (an fsync for opt-outs and ends) happens here,
        # off the pjsua thread, before anything else learns of the event.
        while True:
            event = self.events.get()
            try:
                self.ledger.submit(event)
            except Exception:  # the disk is full or gone: nothing else can keep the event; say so loudly
                logger.critical("UA %s: could not spool attempt %s %s", self.settings.name, event.attempt_id,
                                event.kind, exc_info=True)
            if isinstance(event, Ended):
                self.line_released(event.attempt_id)

    def _heartbeat(self) -> None:
        while not self.stopping.is_set():
            self.advertise()
            self.publish_registrations()
            self._wake_heartbeat.wait(self.settings.heartbeat_s)
            self._wake_heartbeat.clear()

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
        self._wake_heartbeat.set()

    def _serve(self) -> None:
        from telephony.ua_registry import pop_command

        s = self.settings
        while not self.stopping.is_set():
            try:
                raw = pop_command(self.redis, s.name, timeout_s=1.0)
            except redis.RedisError:
                logger.warning("UA %s: cannot read commands; retrying", s.name, exc_info=True)
                time.sleep(1)
                continue
            if raw is not None:
                self.handle_raw(raw)

    def handle_raw(self, raw: bytes | str) -> None:
        """Verify and execute one sealed command (main thread); a refused one is reported, never executed."""
        try:
            command = open_command(raw, self.settings.command_key, now=time.time())
        except CommandRejected as exc:
            self._rejected(exc)
            return
        try:
            if isinstance(command, HangupCommand):
                self.hangup(command.attempt_id, command.reason)
            else:
                self._originate(command, raw)
        except Exception:  # one bad command must not kill the process
            logger.exception("UA %s: command for attempt %s failed", self.settings.name, command.attempt_id)

    def _rejected(self, exc: CommandRejected) -> None:
        logger.warning("UA %s: command refused (%s), attempt %s", self.settings.name, exc.reason, exc.attempt_id)
        # A genuine but expired or malformed command leaves its attempt queued: the reaper ends it not dialed
        # once its lease is gone (it was never dialed, so it does not count).
        try:
            pipe = self.redis.pipeline()
            pipe.lpush(REJECTED_KEY, json.dumps({"ua": self.settings.name, "attempt_id": exc.attempt_id,
                                                 "reason": exc.reason, "at": time.time()}))
            pipe.ltrim(REJECTED_KEY, 0, REJECTED_KEEP - 1)
            pipe.execute()
        except redis.RedisError:
            logger.warning("UA %s: could not record the refusal", self.settings.name, exc_info=True)

    def _originate(self, command: OriginateCommand, raw: bytes | str) -> None:
        from telephony.ua_registry import push_command, release_ua_line, reserve_ua_line

        name = self.settings.name
        if self.lines.holds(command.attempt_id):
            logger.info("attempt %s already on a line here; duplicate command dropped", command.attempt_id)
            return
        if not self.lines.take(command.attempt_id):
            # The registry said a line was free but our own count disagrees (a reservation raced a
            # heartbeat): never exceed pjsua's call limit. Hand the attempt to another UA if one has a line.
            other = reserve_ua_line(self.redis)
            if other is not None and other != name:
                logger.warning("UA %s full; attempt %s handed to %s", name, command.attempt_id, other)
                push_command(self.redis, other, raw if isinstance(raw, str) else raw.decode())
                return
            if other == name:
                release_ua_line(self.redis, name)
            logger.warning("UA %s has no free line for attempt %s; left to its lease", name, command.attempt_id)
            return
        try:
            trunk = self.credentials(command.trunk)
        except (LookupError, LedgerUnavailable) as exc:
            logger.warning("attempt %s not dialed: %s", command.attempt_id, exc)
            self.lines.release(command.attempt_id)  # the line is free again: the heartbeat says so now
            return
        sip_call_id = new_sip_call_id()
        # The last gate: only the actor that moves QUEUED -> DIALING dials, and only if the campaign still runs,
        # the number is not on do-not-call, every zone of the contact is inside the window and the lease holds.
        try:
            decision = self.ledger_port.begin_dial(command.attempt_id, ua_name=name, sip_call_id=sip_call_id)
        except LedgerUnavailable as exc:
            logger.warning("attempt %s not dialed: ledger unavailable (%s)", command.attempt_id, exc)
            self.lines.release(command.attempt_id)  # the line is free again: the heartbeat says so now
            return
        if not decision:
            logger.info("attempt %s not dialed: %s", command.attempt_id, decision.reason)
            self.lines.release(command.attempt_id)  # the line is free again: the heartbeat says so now
            return
        self.lines.dialing(command.attempt_id)
        assert self.manager is not None  # noqa: S101 - set in start()
        self.pjsua.call_soon(self.manager.originate, replace(command, trunk=trunk), sip_call_id)

    def drain(self) -> None:
        """Withdraw from the registry, hang up every call, wait for the ends to be spooled and sent, stop."""
        from telephony.ua_registry import withdraw_ua

        s = self.settings
        try:
            withdraw_ua(self.redis, s.name)
        except redis.RedisError:
            logger.warning("UA %s: could not withdraw from the registry", s.name, exc_info=True)
        if self.manager is not None and self.pjsua.is_alive():
            self.pjsua.call_soon(self.manager.hangup_all, "UA shutting down")
            deadline = time.monotonic() + s.drain_timeout_s
            # Wait for BYE/CANCEL to complete and for every end to reach the spool.
            while time.monotonic() < deadline and self.busy_attempts():
                time.sleep(0.05)
            if self.busy_attempts():
                logger.warning("UA %s: calls still up after %.0fs: %s", s.name, s.drain_timeout_s,
                               self.busy_attempts())
        self.pjsua.stop()
        self.pjsua.join(timeout=10)
        # What the ledger cannot take now stays in the spool for the next start.
        self.ledger.stop(timeout_s=5)
        self.spool.close()


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of a worker (the supervisor fills them); an option not given keeps the UA setting."""
    parser = argparse.ArgumentParser(description="One SIP user-agent worker of the UA pool.", allow_abbrev=False)
    parser.add_argument("--name", required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--bind", help="default: UA_BIND_ADDRESS")
    parser.add_argument("--advertise-host", help="default: UA_ADVERTISE_HOST, else the bind address")
    parser.add_argument("--rtp-port-range", type=int, help="default: UA_RTP_PORT_RANGE")
    parser.add_argument("--max-calls", type=int, help="default: UA_MAX_CALLS_PER_PROCESS")
    parser.add_argument("--media-timeout", type=float, help="seconds; default: UA_MEDIA_TIMEOUT_S")
    parser.add_argument("--lease-renew", type=float, help="seconds; default (or 0): a third of DIALER_LEASE_TTL_S")
    parser.add_argument("--drain-timeout", type=float, help="seconds; default: UA_STOP_TIMEOUT_S - 3")
    parser.add_argument("--hooks", default=None,
                        help='"module:callable"; default: UA_CALL_HOOKS, else the media bridge unless '
                             'UA_MEDIA_BRIDGE is off; "" installs none')
    return parser


def worker_settings(ua: UaSettings, argv: list[str] | None = None) -> tuple[UaSettings, WorkerSettings]:
    """The worker's command line applied over `ua`: the resulting UA settings and this worker's settings.

    Raises:
        SystemExit: an unknown option (argparse); ValueError: a value the settings refuse.
    """
    args = build_parser().parse_args(argv)
    ua = ua.with_flags(
        bind_address=args.bind, advertise_host=args.advertise_host, rtp_port_range=args.rtp_port_range,
        max_calls_per_process=args.max_calls, media_timeout_s=args.media_timeout,
        lease_renew_s=args.lease_renew or None, drain_timeout_s=args.drain_timeout, call_hooks=args.hooks)
    return ua, WorkerSettings.for_slot(ua, args.name, args.sip_port, args.rtp_port)


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process."""
    # A crash inside pjsua2 (C++) kills the process; print every thread's Python stack first for the log.
    # SIGUSR2 prints them on demand (the supervisor sends it before killing a worker that will not stop).
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    from config.entrypoints import require_settings_module

    require_settings_module("telephony.ua.process")  # F6: a worker never guesses its settings
    import django

    django.setup()
    from django.conf import settings as django_settings

    from telephony.credentials import registration_trunks, with_credentials
    from telephony.ua.db_sessions import limit_idle_transactions
    from telephony.ua.ledger import load_ledger

    limit_idle_transactions(django_settings.UA_DB_IDLE_IN_TRANSACTION_S)  # a host cut off mid-write frees its rows
    ua, settings = worker_settings(UaSettings.from_django(django_settings), argv)
    install_process_settings(ua)  # the call plan and the controller read these, not Django's settings
    # Why: every frame callback runs on the conference clock thread and must take the GIL. While another
    # thread of this process holds it (a ledger write, SIP handling), the clock thread waits for Python's
    # switch interval, 5 ms by default, once per callback: with 8 callbacks per 20 ms tick that stalls the
    # media of all four calls. A short interval bounds each wait; the cost is more frequent GIL hand-overs
    # between the process's few busy threads.
    sys.setswitchinterval(ua.gil_switch_interval_ms / 1000)

    worker = UaWorker(settings, load_ledger(ua.ledger), with_credentials, registration_trunks=registration_trunks)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    return worker.run()


if __name__ == "__main__":
    from telephony.ua.endpoint import exit_without_teardown

    exit_without_teardown(main())
