"""The front of the simulated network: one UDP SIP port that redirects each INVITE to a worker process.

pjsua2 runs at most four calls per process, so the personas live in N worker processes, each on its own SIP
port (`front port + 1 + i`). The front is not a pjsua2 process: it answers every INVITE with
`302 Moved Temporarily` and `Contact: <sip:NUMBER@HOST:WORKER_PORT>`, choosing the least loaded live worker.
A caller that follows redirects (the UA pool does, to the same host) then sends its INVITE to that worker.
Workers report `SIMSTAT <index> <live calls> <INVITEs received>` datagrams to this same port whenever a call
starts or ends and every 0.5 s; a redirect counts against its worker until the worker reports its INVITE (or
for `REDIRECT_HOLD_S`, when the caller never follows it). A worker silent for `STALE_S` is not chosen, and a
worker process that died is started again.

Other requests: CANCEL gets 200 (the INVITE transaction is already final), OPTIONS and REGISTER get 200,
ACK is absorbed, anything else 481. A retransmitted INVITE gets the same answer again. UDP only.
When every worker is full the front answers `503 Simulator Full` and logs it (`kind` = "overflow").
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from simulator.calllog import append_record
from simulator.personas import SimulatorOptions, persona_for_number

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_CALLS_PER_WORKER = 4
STALE_S = 3.0  # a worker not heard from for this long is not given calls
# A redirect the caller never followed stops counting against its worker after this long.
REDIRECT_HOLD_S = 2.0
RESPONSE_CACHE_S = 32.0  # how long an INVITE's answer is kept for retransmissions (Timer B)
RESTART_BACKOFF_S = 1.0

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}


@dataclass
class WorkerHandle:
    """One worker process as the front sees it."""

    index: int
    sip_port: int
    rtp_port: int
    process: subprocess.Popen[bytes] | None = None
    live_calls: int = 0
    last_seen: float = 0.0
    started_at: float = 0.0
    invites_seen: int = 0
    redirects: deque[float] = field(default_factory=deque)  # sent, INVITE not yet reported by the worker

    def load(self, now: float) -> int:
        """Calls it has plus redirects on their way to it."""
        while self.redirects and self.redirects[0] < now - REDIRECT_HOLD_S:
            self.redirects.popleft()
        return self.live_calls + len(self.redirects)

    def report(self, live_calls: int, invites_seen: int, now: float) -> None:
        """A `SIMSTAT` from the worker: its INVITEs since the last report settle that many redirects."""
        if invites_seen < self.invites_seen:  # the worker restarted
            self.invites_seen = 0
        for _ in range(min(invites_seen - self.invites_seen, len(self.redirects))):
            self.redirects.popleft()
        self.invites_seen = invites_seen
        self.live_calls = live_calls
        self.last_seen = now


@dataclass(frozen=True)
class FrontConfig:
    """The simulated network's addresses and sizes.

    Attributes:
        bind_address: loopback address everything binds to.
        port: the public SIP port (UDP).
        workers: number of worker processes (4 calls each).
        worker_port_base: first worker SIP port (default `port + 1`).
        rtp_port_base: first RTP port; each worker uses `rtp_ports_per_worker` from its own offset.
        rtp_ports_per_worker: RTP ports of one worker (2 per call).
        options: what the workers do.
    """

    bind_address: str = "127.0.0.1"
    port: int = 5080
    workers: int = 4
    worker_port_base: int = 0
    rtp_port_base: int = 31000
    rtp_ports_per_worker: int = 16
    options: SimulatorOptions = field(default_factory=SimulatorOptions)

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 64:
            raise ValueError("workers must be 1..64")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if self.rtp_ports_per_worker < 2 * MAX_CALLS_PER_WORKER:
            raise ValueError("rtp_ports_per_worker is too small for four calls")
        last_sip = self.first_worker_port + self.workers - 1
        if last_sip > 65535 or self.rtp_port_base + self.workers * self.rtp_ports_per_worker > 65535:
            raise ValueError("port ranges run past 65535")
        if self.first_worker_port <= self.port <= last_sip:
            raise ValueError("worker ports overlap the front port")

    @property
    def first_worker_port(self) -> int:
        """The first worker's SIP port."""
        return self.worker_port_base or self.port + 1


def parse_message(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    """(start line, headers as (lower-case full name, value) in order) of a SIP message."""
    text = data.decode("utf-8", errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines = [line.rstrip("\r") for line in head.split("\n")]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return lines[0], headers


def _first(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k == name), "")


def _via_param(via: str, name: str) -> str | None:
    for part in via.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value
    return None


def build_response(code: int, reason: str, headers: list[tuple[str, str]], source: tuple[str, int], *,
                   to_tag: str, contact: str = "", extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A response to a request (RFC 3261 8.2.6): Vias, From, To (+tag), Call-ID and CSeq copied."""
    out = [f"SIP/2.0 {code} {reason}"]
    first_via = True
    for name, value in headers:
        if name == "via":
            for via in value.split(","):
                via = via.strip()
                if first_via:
                    # RFC 3581: fill rport (and received) so the answer can go back where the request came from.
                    if _via_param(via, "rport") == "":
                        via = via.replace(";rport", f";rport={source[1]}", 1)
                    if _via_param(via, "received") is None:
                        via += f";received={source[0]}"
                    first_via = False
                out.append(f"Via: {via}")
    out.append(f"From: {_first(headers, 'from')}")
    to = _first(headers, "to")
    if code > 100 and ";tag=" not in to.replace(" ", "").lower():
        to += f";tag={to_tag}"
    out.append(f"To: {to}")
    out.append(f"Call-ID: {_first(headers, 'call-id')}")
    out.append(f"CSeq: {_first(headers, 'cseq')}")
    if contact:
        out.append(f"Contact: {contact}")
    out.extend(f"{name}: {value}" for name, value in extra)
    out.append("Server: simulated-pstn")
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def request_user(uri: str) -> str:
    """The user part of a SIP Request-URI (`sip:+1202@host:5080;x=y` -> `+1202`)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return rest.split("@", 1)[0].split(";", 1)[0] if "@" in rest else ""


class SimulatorFront:
    """The front process: a UDP SIP redirector and the supervisor of the worker processes."""

    def __init__(self, config: FrontConfig) -> None:
        self.config = config
        self.workers = [
            WorkerHandle(index=i, sip_port=config.first_worker_port + i,
                         rtp_port=config.rtp_port_base + i * config.rtp_ports_per_worker)
            for i in range(config.workers)
        ]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.stopping = threading.Event()
        self._answers: dict[tuple[str, str, str], tuple[float, bytes]] = {}
        self._next = 0
        self.ready_announced = False

    # ---- workers -----------------------------------------------------------------------------------------

    def _spawn(self, worker: WorkerHandle) -> None:
        c = self.config
        command = [sys.executable, "-m", "simulator.worker", "--index", str(worker.index),
                   "--bind", c.bind_address, "--sip-port", str(worker.sip_port), "--rtp-port", str(worker.rtp_port),
                   "--rtp-port-range", str(c.rtp_ports_per_worker), "--front-port", str(c.port),
                   "--options", c.options.to_json()]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                          os.environ.get("PYTHONPATH")]))}
        worker.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)  # noqa: S603 - our own module
        worker.started_at = time.monotonic()
        worker.last_seen = 0.0
        worker.live_calls = 0
        worker.invites_seen = 0
        worker.redirects.clear()

    def _supervise(self, now: float) -> None:
        for worker in self.workers:
            process = worker.process
            if process is not None and process.poll() is not None and now - worker.started_at >= RESTART_BACKOFF_S:
                logger.warning("simulator worker %s exited with %s; starting it again", worker.index,
                               process.returncode)
                self._spawn(worker)
        if not self.ready_announced and all(w.last_seen for w in self.workers):
            self.ready_announced = True
            print(f"simulated network ready on {self.config.bind_address}:{self.config.port} "
                  f"({len(self.workers)} workers)", flush=True)

    def pick_worker(self, now: float) -> WorkerHandle | None:
        """The least loaded live worker with a free line (round robin among equals), or None."""
        live = [w for w in self.workers if w.last_seen and now - w.last_seen <= STALE_S
                and w.process is not None and w.process.poll() is None]
        candidates = [w for w in live if w.load(now) < MAX_CALLS_PER_WORKER]
        if not candidates:
            return None
        count = len(self.workers)
        best = min(candidates, key=lambda w: (w.load(now), (w.index - self._next) % count))
        self._next = (best.index + 1) % count
        return best

    # ---- SIP ---------------------------------------------------------------------------------------------

    def handle(self, data: bytes, source: tuple[str, int], now: float) -> bytes | None:
        """Handle one datagram; returns the answer to send back (or None)."""
        if data.startswith(b"SIMSTAT "):
            stat = data.split()
            if len(stat) == 4 and all(p.isdigit() for p in stat[1:]):
                index = int(stat[1])
                if 0 <= index < len(self.workers):
                    self.workers[index].report(int(stat[2]), int(stat[3]), now)
            return None
        try:
            start, headers = parse_message(data)
        except ValueError:
            return None
        parts = start.split(" ")
        if len(parts) != 3 or start.startswith("SIP/2.0"):
            return None  # a response, or junk
        method, uri, _version = parts
        call_id = _first(headers, "call-id")
        if not call_id or not _first(headers, "via") or not _first(headers, "cseq"):
            return None
        tag = secrets.token_hex(6)
        if method == "ACK":
            return None
        if method == "INVITE":
            branch = _via_param(_first(headers, "via").split(",")[0], "branch") or ""
            key = (call_id, _first(headers, "cseq"), branch)
            cached = self._answers.get(key)
            if cached is not None:
                return cached[1]
            answer = self._redirect(uri, headers, source, tag, call_id, now)
            self._answers[key] = (now, answer)
            return answer
        if method in ("CANCEL", "OPTIONS"):
            return build_response(200, "OK", headers, source, to_tag=tag)
        if method == "REGISTER":
            contact = _first(headers, "contact")
            extra = (("Expires", _first(headers, "expires") or "300"),)
            return build_response(200, "OK", headers, source, to_tag=tag, contact=contact, extra=extra)
        return build_response(481, "Call/Transaction Does Not Exist", headers, source, to_tag=tag)

    def _redirect(self, uri: str, headers: list[tuple[str, str]], source: tuple[str, int], tag: str,
                  call_id: str, now: float) -> bytes:
        number = request_user(uri)
        worker = self.pick_worker(now)
        record = {"call_id": call_id, "number": number, "persona": str(persona_for_number(number)),
                  "at": datetime.now(UTC).isoformat(), "source": f"{source[0]}:{source[1]}"}
        if worker is None:
            append_record(self.config.options.log_path, {"kind": "overflow", **record, "final_code": 503})
            return build_response(503, "Simulator Full", headers, source, to_tag=tag,
                                  extra=(("Retry-After", "5"),))
        worker.redirects.append(now)
        append_record(self.config.options.log_path, {"kind": "redirect", **record, "worker": f"sim-{worker.index}"})
        contact = f"<sip:{number}@{self.config.bind_address}:{worker.sip_port}>"
        return build_response(302, "Moved Temporarily", headers, source, to_tag=tag, contact=contact)

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Bind, start the workers, serve until SIGTERM/SIGINT, stop the workers. Returns the exit code."""
        self.sock.bind((self.config.bind_address, self.config.port))
        for worker in self.workers:
            self._spawn(worker)
        next_prune = 0.0
        try:
            while not self.stopping.is_set():
                readable, _, _ = select.select([self.sock], [], [], 0.2)
                now = time.monotonic()
                if readable:
                    data, source = self.sock.recvfrom(65535)
                    try:
                        answer = self.handle(data, source, now)
                    except Exception:  # one malformed datagram must not stop the network
                        logger.exception("front: could not handle a datagram from %s", source)
                        answer = None
                    if answer is not None:
                        self.sock.sendto(answer, source)
                self._supervise(now)
                if self._answers and now >= next_prune:
                    next_prune = now + 1.0
                    self._answers = {k: v for k, v in self._answers.items() if now - v[0] < RESPONSE_CACHE_S}
        finally:
            self._stop_workers()
            self.sock.close()
        return 0

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler."""
        self.stopping.set()

    def _stop_workers(self) -> None:
        processes = [w.process for w in self.workers if w.process is not None]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_front(config: FrontConfig) -> int:
    """Run the simulated network in this process until SIGTERM/SIGINT."""
    front = SimulatorFront(config)
    signal.signal(signal.SIGTERM, front.request_stop)
    signal.signal(signal.SIGINT, front.request_stop)
    return front.run()
