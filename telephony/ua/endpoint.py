"""The one thread that owns the process's pjsua2 Endpoint and every pjsua2 object created from it.

pjsua2 is not safe to drive from several Python threads (see the known deadlock of `libHandleEvents` against
`Call.getInfo()` in another thread, pjproject issue 3125). So one `PjsuaThread` creates the Endpoint, pumps
`libHandleEvents`, and runs every other pjsua2 call submitted to it through `submit()` / `call_soon()`.
SIP callbacks (`onCallState`...) therefore arrive on this thread too (`uaConfig.threadCnt = 0`).
The only other thread that enters Python from pjsua2 is the conference bridge clock (audio frame callbacks),
which pjsua2 registers itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NoReturn

import pjsua2 as pj

from telephony.ua.tls import TlsRefusals, TlsTransports, refusal_text, verifying_tls_config

logger = logging.getLogger(__name__)

_PJ_LOG_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


@dataclass(frozen=True)
class EndpointSettings:
    """How the Endpoint is built. Validated at construction so a bad value fails at start.

    Attributes:
        bind_address: IP address the SIP and RTP sockets bind to.
        sip_port: UDP and TCP SIP port; TLS listens on `sip_port + 1`.
        rtp_port: first RTP port; the process uses `rtp_port_range` ports from there.
        rtp_port_range: how many RTP ports the process may use (2 per call: RTP and RTCP).
        max_calls: concurrent calls (the wheel's compile-time maximum is 4).
        clock_rate: conference bridge clock. 8000 keeps G.711 audio un-resampled end to end.
        log_level: pjsip log level forwarded to Python logging (0-5).
        user_agent: the User-Agent header value.
        enable_tls: create a TLS client/server transport as well. It verifies every server it connects to
            (`telephony.ua.tls`): against `tls_ca_file`, empty for the system's CA bundle.
    """

    bind_address: str = "127.0.0.1"
    sip_port: int = 5070
    rtp_port: int = 20000
    rtp_port_range: int = 16
    max_calls: int = 4
    clock_rate: int = 8000
    log_level: int = 2
    user_agent: str = "campaign-engine"
    enable_tls: bool = True
    tls_ca_file: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.sip_port <= 65534:
            raise ValueError(f"sip_port out of range: {self.sip_port}")
        if not 1 <= self.rtp_port <= 65535 - self.rtp_port_range:
            raise ValueError(f"rtp_port out of range: {self.rtp_port}")
        if self.rtp_port_range < 2 * self.max_calls:
            raise ValueError(f"rtp_port_range {self.rtp_port_range} is too small for {self.max_calls} calls")
        if not 1 <= self.max_calls <= 4:
            raise ValueError(f"max_calls must be 1..4 (pjsua2 wheel limit), got {self.max_calls}")
        if self.clock_rate not in (8000, 16000, 24000, 32000, 48000):
            raise ValueError(f"clock_rate not supported: {self.clock_rate}")


def freeze_startup_heap() -> None:
    """Move every object alive after start-up out of the cyclic garbage collector's sight.

    Why: a full collection of a worker's heap (Django, pjsua2, the bridge: about 100,000 objects) holds the
    GIL for about 50 ms, measured, and the media clock thread waits for it: two or three frames late on every
    call of the process whenever the collector reaches its oldest generation. What is alive once a worker has
    started lives as long as the process, so it is frozen (`gc.freeze`); later collections scan only what
    calls create (0.03 ms measured). Call it once, when start-up is complete.
    """
    gc.collect()
    gc.freeze()


def exit_without_teardown(code: int) -> NoReturn:
    """End a pjsua2 process with ``code`` once its work is done, skipping the interpreter's teardown.

    Why: after ``libDestroy`` the teardown still collects the pjsua2 objects (SWIG proxies, media ports) and
    runs their C++ destructors. Seen: a UA worker that had hung up its calls, written them to the ledger
    and destroyed its Endpoint stayed "Garbage-collecting" until the supervisor killed it, and a trunk
    check child aborted in an Account destructor. Everything that matters is written by then (ledger,
    Redis, the process's output); only the log and output streams are flushed here.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing more can be written anyway
            stream.flush()
    os._exit(code)


def allow_port_in_from_to() -> None:
    """Let `From` and `To` carry the port of their URIs (pjsip's `allow_port_in_fromto_hdr`, off by default).

    Why: a trunk configured as ``host:port`` expects that port in `From` and `To` too; carriers and SBCs that
    route or match on those headers (one port per customer, or a port other than 5060) refused or misrouted
    calls whose `From`/`To` fell back to 5060. RFC 3261 table 1 lets a port stand in a From/To URI. pjsua2
    does not expose the setting, so the run-time configuration (`pjsip_sip_cfg_var`, whose first field is
    this flag) is set through the library's exported symbol.
    """
    library = ctypes.CDLL(pj._pjsua2.__file__)
    ctypes.c_int.in_dll(library, "pjsip_sip_cfg_var").value = 1


class _PythonLogWriter(pj.LogWriter):
    """Routes pjsip's log lines into Python logging (kept referenced: pjsua2 does not own it)."""

    def write(self, entry: pj.LogEntry) -> None:
        level = _PJ_LOG_LEVELS.get(entry.level, logging.DEBUG)
        logging.getLogger("pjsip").log(level, entry.msg.rstrip())


class _Endpoint(pj.Endpoint):
    """The Endpoint, keeping why TLS servers were refused (`TlsRefusals`) for the calls that fail on it."""

    def __init__(self, refusals: TlsRefusals) -> None:
        super().__init__()
        self.refusals = refusals

    def onTransportState(self, prm: pj.OnTransportStateParam) -> None:  # pjsua2 callback name
        text = refusal_text(prm.tlsInfo)
        if text:
            self.refusals.record(str(prm.tlsInfo.remoteAddr), text)
            logger.warning("%s", text)


class PjsuaThread(threading.Thread):
    """Owns the Endpoint and runs every pjsua2 operation of the process.

    Use `start()` then `ready.wait()`. Submit work with `submit(fn, *args)` (returns a Future) or
    `call_soon(fn, *args)` (fire and forget). `tick_handlers` run every `tick_s` on this thread (timers for
    ring timeout, media timeout...). `stop()` asks the loop to finish; `shutdown_hook` runs on this thread
    before `libDestroy`.
    """

    def __init__(self, settings: EndpointSettings, *, tick_s: float = 0.1, poll_ms: int = 100) -> None:
        super().__init__(name="pjsua", daemon=True)
        self.settings = settings
        self.tick_s = tick_s
        # How long one libHandleEvents may wait for SIP traffic. Submitted jobs do not wait for it: `_wake`
        # interrupts the wait. Every poll costs a wake-up of the Python thread in every worker of the pool
        # (measured: 20 ms polls were half of an idle worker's CPU), so the poll is as long as the timers allow.
        self.poll_ms = min(poll_ms, int(tick_s * 1000))
        self._wake_socket: socket.socket | None = None
        self._wake_address: tuple[str, int] | None = None
        self._wake_pending = threading.Event()
        self.ready = threading.Event()
        self.startup_error: BaseException | None = None
        self.endpoint: pj.Endpoint | None = None
        self.transport_ids: dict[str, int] = {}
        self.tls_refusals = TlsRefusals()
        self.tls_transports: TlsTransports | None = None
        self.tick_handlers: list[Callable[[float], None]] = []
        self.shutdown_hook: Callable[[], None] | None = None
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any] | None]] = (
            queue.SimpleQueue()
        )
        self._stopping = threading.Event()
        self._log_writer: _PythonLogWriter | None = None

    # ---- public API (any thread) -------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run `fn(*args)` on the pjsua thread; the Future carries its result or exception."""
        future: Future[Any] = Future()
        self._jobs.put((fn, args, future))
        self._wake()
        return future

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the pjsua thread without waiting; exceptions are logged."""
        self._jobs.put((fn, args, None))
        self._wake()

    def stop(self) -> None:
        """Ask the loop to exit after the current iteration (then the Endpoint is destroyed)."""
        self._stopping.set()
        self._wake()

    def is_pjsua_thread(self) -> bool:
        """True when called from the thread that owns the Endpoint."""
        return threading.current_thread() is self

    def _wake(self) -> None:
        """End the current `libHandleEvents` wait so a submitted job runs now, not at the end of the poll.

        Why a datagram: the wait is pjsip's own socket poll, which only network traffic ends. A SIP keep-alive
        (a bare CRLF pair, RFC 5626 section 4.4.1) sent to our own UDP transport wakes it, and pjsip drops
        keep-alives without logging or answering them. One is outstanding at a time: the flag is cleared by
        the loop after the wait returns and before it runs the jobs, so a job put after that sends a new one.
        """
        # Also from the pjsua thread itself: a job queued by a callback inside `libHandleEvents` (a timer, say)
        # must not wait for the rest of that call's socket poll either.
        if self._wake_address is None or self._wake_pending.is_set():
            return
        self._wake_pending.set()
        try:
            assert self._wake_socket is not None  # noqa: S101 - created with the address
            self._wake_socket.sendto(b"\r\n\r\n", self._wake_address)
        except OSError:  # the job still runs at the end of the poll
            logger.debug("pjsua wake-up datagram failed", exc_info=True)

    # ---- the thread --------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._create_endpoint()
        except BaseException as exc:  # noqa: BLE001 - reported to the starter through startup_error
            self.startup_error = exc
            self.ready.set()
            return
        self.ready.set()
        endpoint = self.endpoint
        assert endpoint is not None  # noqa: S101 - set by _create_endpoint
        next_tick = time.monotonic()
        try:
            while not self._stopping.is_set():
                # pjsip timers and sockets are served here; `_wake` ends the wait when a job is submitted.
                endpoint.libHandleEvents(self.poll_ms)
                self._wake_pending.clear()
                self._run_jobs()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + self.tick_s
                    for handler in list(self.tick_handlers):
                        self._guard(handler, now)
        finally:
            self._destroy_endpoint()

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # one failing handler must not take the pjsua thread down
            logger.exception("pjsua thread handler %r failed", fn)

    def _run_jobs(self) -> None:
        while True:
            try:
                fn, args, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future is None:
                self._guard(fn, *args)
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed back to the submitter
                future.set_exception(exc)

    def _create_endpoint(self) -> None:
        s = self.settings
        endpoint = _Endpoint(self.tls_refusals)
        endpoint.libCreate()
        config = pj.EpConfig()
        # One thread drives SIP: ours. pjsua2's own worker threads would call back into Python concurrently.
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = False
        config.uaConfig.maxCalls = s.max_calls
        config.uaConfig.userAgent = s.user_agent
        self._log_writer = _PythonLogWriter()
        config.logConfig.writer = self._log_writer
        config.logConfig.level = s.log_level
        config.logConfig.consoleLevel = 0
        config.logConfig.msgLogging = 0
        # G.711 is 8 kHz: a bridge at 8 kHz passes it through without resampling (the default is 16 kHz).
        config.medConfig.clockRate = s.clock_rate
        config.medConfig.sndClockRate = s.clock_rate
        config.medConfig.channelCount = 1
        config.medConfig.audioFramePtime = 20
        config.medConfig.ptime = 20
        # Silence is still sent as audio: VAD would stop RTP, and the far end's media timeout with it.
        config.medConfig.noVad = True
        config.medConfig.ecTailLen = 0
        # Why: the null sound device only supplies the conference bridge's clock. By default pjsua closes it
        # after 1 s without a connection and opens it again for the next call, so the first call after a
        # pause starts on a restarted clock: its frames came back late for seconds (measured: the first call
        # of every worker took 30-160 late frames while a ramp of other calls was set up; the other calls
        # none). Kept open, the clock runs steadily from start-up.
        config.medConfig.sndAutoCloseTime = -1
        endpoint.libInit(config)
        allow_port_in_from_to()

        transport = pj.TransportConfig()
        transport.boundAddress = s.bind_address
        transport.port = s.sip_port
        self.transport_ids["udp"] = endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self._open_wake_socket()
        self.transport_ids["tcp"] = endpoint.transportCreate(pj.PJSIP_TRANSPORT_TCP, transport)
        if s.enable_tls:
            tls = pj.TransportConfig()
            tls.boundAddress = s.bind_address
            tls.port = s.sip_port + 1
            verifying_tls_config(tls, ca_file=s.tls_ca_file)
            try:
                self.transport_ids["tls"] = endpoint.transportCreate(pj.PJSIP_TRANSPORT_TLS, tls)
            except pj.Error as exc:  # a TLS listener needs no certificate for outbound use, but log if it fails
                logger.warning("TLS transport unavailable: %s", exc.info())
        self.tls_transports = TlsTransports(endpoint, s.bind_address, self.transport_ids.get("tls"))
        endpoint.libStart()
        # No sound card on a server: the null device only supplies the conference bridge clock.
        endpoint.audDevManager().setNullDev()
        self.endpoint = endpoint

    def _open_wake_socket(self) -> None:
        """The socket `_wake` sends from, aimed at our UDP transport (loopback when bound to every address)."""
        host = self.settings.bind_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if host in ("", "0.0.0.0"):  # noqa: S104 - the transport's wildcard bind, not ours
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        self._wake_socket = socket.socket(family, socket.SOCK_DGRAM)
        self._wake_address = (host, self.settings.sip_port)

    def _destroy_endpoint(self) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            return
        if self.shutdown_hook is not None:
            self._guard(self.shutdown_hook)
        self._wake_address = None
        if self._wake_socket is not None:
            self._wake_socket.close()
        try:
            endpoint.libDestroy()
        except pj.Error as exc:
            logger.warning("libDestroy failed: %s", exc.info())
        self.endpoint = None
