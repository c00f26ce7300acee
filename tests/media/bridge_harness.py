"""Test harness for the media bridge: real WebSocket servers on their own thread, a 20 ms media clock thread
driving the bridge's frame interface as pjmedia's conference bridge does, and call controls that record.

Each `WsServer` speaks one protocol (`tests.media.protocol_check`): every event a scripted server sends and
every message the adapter under test sends is checked against it, and a handler's failure fails the test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from media.bridge.loop import MediaLoop
from media.bridge.result import CallResult
from media.bridge.session import BridgeSession
from media.endpoints import DEFAULT_KEY_ENVS, EndpointPolicy
from tests.media.protocol_check import Protocol, ProtocolViolation

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

PORT_RANGE = range(18800, 18900)  # this test suite's loopback ports
FRAME = 320
SILENCE = bytes(FRAME)
# The scripted AI servers listen on loopback, which a deployment's policy refuses for the cloud providers
# (media/endpoints.py); the extra key variables are the tests' own names.
TEST_POLICY = EndpointPolicy(key_envs=DEFAULT_KEY_ENVS | {"ACME_REALTIME_KEY", "GEMINI_TEST_KEY"}, allow_loopback=True)


def free_port() -> int:
    """A loopback TCP port of this suite's range that nothing listens on now."""
    for port in PORT_RANGE:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18800-18899")


def sine(freq_hz: float, seconds: float, rate: int = 8000, dbfs: float = -12.0) -> bytes:
    """PCM16 LE sine."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq_hz * t) * 32767 * 10 ** (dbfs / 20)).astype("<i2").tobytes()


def dominant_hz(pcm: bytes, rate: int) -> float:
    """The strongest frequency of PCM16 LE audio."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def ulaw_b64(pcm: bytes) -> str:
    """PCM16 -> base64 mu-law (what an OpenAI pcmu or Twilio peer sends)."""
    return base64.b64encode(audioop.lin2ulaw(pcm, 2)).decode()


def ulaw_b64_to_pcm(data: str) -> bytes:
    """base64 mu-law -> PCM16."""
    return audioop.ulaw2lin(base64.b64decode(data), 2)


def rms(pcm: bytes) -> int:
    """RMS of PCM16 audio."""
    return audioop.rms(pcm, 2)


@dataclass
class Received:
    """Messages a test server read, with arrival times (perf_counter_ns) and the request headers."""

    messages: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def of(self, key: str, value: str) -> list[dict[str, Any]]:
        """Messages whose ``key`` equals ``value``."""
        return [m for _, m in self.messages if m.get(key) == value]


Handler = Callable[[ServerConnection, "WsServer"], Awaitable[None]]


class WsServer:
    """A real ``websockets`` server on 127.0.0.1 in its own thread and event loop, speaking ``protocol``.

    ``handler(ws, server)`` scripts the server's side of the conversation. It sends through `send`, which
    checks every event against the protocol before it goes out (deliberately broken messages, for tests of an
    adapter's tolerance, go through `send_malformed`), and reads through `read`, which records every message
    the adapter sent in ``received`` and checks it against the protocol too. An exception in a handler (a
    failed assert, a `ProtocolViolation`) is kept and raised again when the ``with`` block exits, so it fails
    the test; the connection closing under a handler is the normal end of a call and is not an error.
    """

    def __init__(self, handler: Handler, protocol: Protocol) -> None:
        self.handler = handler
        self.protocol = protocol
        self.port = free_port()
        self.received = Received()
        self.errors: list[Exception] = []
        self.loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-ws-server")
        self.connections = 0

    @property
    def url(self) -> str:
        """ws:// URL of the server."""
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def handle(ws: ServerConnection) -> None:
            self.connections += 1
            self.received.headers.append(dict(ws.request.headers) if ws.request else {})
            self.received.paths.append(ws.request.path if ws.request else "")
            task = asyncio.ensure_future(self.handler(ws, self))
            self._handlers.add(task)
            try:
                await task
            except ConnectionClosed:
                pass  # the adapter hung up or the server is closing: how every call ends
            except asyncio.CancelledError:
                if not self._stopping:
                    raise  # websockets itself is cancelling the connection
            except Exception as exc:  # noqa: BLE001 - kept for __exit__, which fails the test with it
                self.errors.append(exc)
            finally:
                self._handlers.discard(task)

        async def main() -> None:
            self._server = await serve(handle, "127.0.0.1", self.port, compression=None)
            self._ready.set()
            await self._server.wait_closed()

        self.loop.run_until_complete(main())

    async def send(self, ws: ServerConnection, event: dict[str, Any]) -> None:
        """Check one event against the protocol, then send it as a JSON text frame.

        Raises:
            ProtocolViolation: the event is not valid in ``protocol`` (it is not sent).
        """
        text = json.dumps(event)
        self.protocol.server(text)
        await ws.send(text)

    async def send_malformed(self, ws: ServerConnection, raw: str | bytes) -> None:
        """Send a frame that breaks the protocol on purpose (to test how the adapter copes with it).

        Raises:
            AssertionError: the frame is valid after all: the test would not test what it says.
        """
        try:
            self.protocol.server(raw)
        except ProtocolViolation:
            await ws.send(raw)
            return
        raise AssertionError(f"not malformed in {self.protocol.name}, send it with send(): {raw[:200]!r}")

    async def read(self, ws: ServerConnection) -> dict[str, Any]:
        """Read one message, record it, and check it against the protocol.

        Raises:
            ProtocolViolation: the adapter sent a message that is not valid in ``protocol``.
        """
        raw = await ws.recv()
        received_ns = time.perf_counter_ns()
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                self.received.messages.append((received_ns, json.loads(raw)))
        self.protocol.client(raw)
        return json.loads(raw)

    def __enter__(self) -> WsServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the server, then raise what a handler raised (all of it, when several did).

        Closing lets each handler read what is still buffered before its connection ends; a handler that
        does not end within a second (one sleeping, say) is cancelled.
        """

        def close() -> None:
            if self._server is not None:
                self._server.close()

        def cancel() -> None:
            self._stopping = True
            for task in list(self._handlers):
                task.cancel()

        self.loop.call_soon_threadsafe(close)
        self._thread.join(1)
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(cancel)
            self._thread.join(5)
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ExceptionGroup(f"{len(self.errors)} scripted {self.protocol.name} handlers failed", self.errors)


def relay(upstream_url: str) -> Handler:
    """A `WsServer` handler passing every message between the adapter and a real server at ``upstream_url``
    (with the adapter's query string), checking each one on the way: the protocol check of a whole real
    conversation."""

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        query = (ws.request.path if ws.request else "").partition("?")[2]
        async with connect(f"{upstream_url}?{query}" if query else upstream_url, compression=None,
                           max_size=2**24) as upstream:

            async def adapter_to_server() -> None:
                while True:
                    await upstream.send(json.dumps(await server.read(ws)))

            async def server_to_adapter() -> None:
                async for raw in upstream:
                    await server.send(ws, json.loads(raw))

            pumps = [asyncio.ensure_future(adapter_to_server()), asyncio.ensure_future(server_to_adapter())]
            try:
                done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
            for pump in done:
                pump.result()  # a protocol violation, or the connection that closed

    return handler


class Clock:
    """The conference bridge's 20 ms clock: each tick pushes one caller frame, then pulls one frame to play.

    ``caller(tick)`` gives the caller's frame for a tick. Pulled frames are kept with their tick and time.
    """

    def __init__(self, session: BridgeSession, caller: Callable[[int], bytes] | None = None) -> None:
        self.session = session
        self.caller = caller or (lambda _tick: SILENCE)
        self.pulled: list[tuple[int, int, bytes]] = []  # (tick, perf_counter_ns, frame)
        self.pushed: list[tuple[int, int]] = []  # (tick, perf_counter_ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-media-clock")

    def _run(self) -> None:
        tick = 0
        next_at = time.perf_counter()
        while not self._stop.is_set():
            frame = self.caller(tick)
            self.pushed.append((tick, time.perf_counter_ns()))
            self.session.push_received_frame(frame)
            out = self.session.pull_frame_to_play()
            self.pulled.append((tick, time.perf_counter_ns(), out))
            tick += 1
            next_at += 0.020
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    @property
    def ticks(self) -> int:
        """Ticks so far."""
        return len(self.pulled)

    def agent_frames(self) -> list[tuple[int, int, bytes]]:
        """Pulled frames that were not digital silence."""
        return [p for p in self.pulled if p[2] != SILENCE]

    def start(self) -> Clock:
        """Start ticking."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        self._thread.join(5)


class RecordingControls:
    """Call controls that record what the bridge asked for."""

    def __init__(self, transfer_ok: bool = False) -> None:
        self.hangups: list[tuple[int, str]] = []
        self.transfers: list[str] = []
        self.hung_up = threading.Event()
        self.transfer_ok = transfer_ok

    def hangup(self, reason: str) -> None:
        """Record a hangup."""
        self.hangups.append((time.perf_counter_ns(), reason))
        self.hung_up.set()

    def transfer(self, reason: str) -> bool:
        """Record a transfer request."""
        self.transfers.append(reason)
        return self.transfer_ok


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` every 10 ms until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@contextlib.contextmanager
def media_loop() -> Iterator[MediaLoop]:
    """A started MediaLoop, stopped afterwards."""
    loop = MediaLoop("test-media-loop").start()
    try:
        yield loop
    finally:
        loop.stop()


def run_bridged(loop: MediaLoop, session: BridgeSession, caller: Callable[[int], bytes] | None = None,
                *, until: Callable[[Clock], bool], timeout: float = 10.0,
                stop: bool = True) -> tuple[CallResult, Clock]:
    """Run one session with a media clock until ``until(clock)``, then stop it and return its result."""
    clock = Clock(session, caller).start()
    future = loop.submit(session)
    try:
        wait_for(lambda: until(clock) or future.done(), timeout)
        if stop:
            session.request_stop("test over")
        result = future.result(timeout=10)
    finally:
        clock.stop()
    return result, clock
