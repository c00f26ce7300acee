"""Benchmark the media bridge: N concurrent bridged calls against an echo AI server.

Usage:
    python bench/bridge.py --calls N [--seconds S] [--rounds R] [--warmup S] [--no-record]
                           [--calls-per-process K]

The calls run as the UA pool runs them: spread over worker processes of at most K calls (default 4, the
pjsua2 wheel's limit per process). In each worker, one 20 ms clock thread plays pjmedia's conference bridge:
every tick, for each of its calls, it pushes one caller frame (PCM16 8 kHz) with `push_received_frame` and
pulls one frame with `pull_frame_to_play`. The bridge runs as in a UA process (one `MediaLoop` per worker),
each call a `BridgeSession` speaking OpenAI Realtime GA (mu-law, base64, JSON) to an echo server that answers
every ``input_audio_buffer.append`` with a ``response.output_audio.delta`` carrying the same audio. The echo
server is another process (this one), as the AI service is. Stereo recording is on unless ``--no-record``.
The workers measure together (a barrier), and their figures are pooled.

The same run then measures a bare passthrough with the same processes, threads and WebSocket library:
frames go out as raw binary messages, an echo server sends them back, received bytes go straight into a
playout deque. No codec, no JSON, no bookkeeping.

Measured per frame (nanosecond clock):
    in  = frame pushed by the clock thread -> its WebSocket send returned;
    out = echo server sent the message -> its audio queued as 20 ms frames, ready for the next tick
          (loopback socket, the loop waking up, parsing and decoding all count);
    out_played = the same start -> frame taken by the clock (adds the wait for the next tick and any
          audio queued ahead: the echo returns each frame just after its tick, so about one tick).
CPU is the workers' process CPU time (the clock thread's callbacks plus the bridge loop), divided by calls
and wall time; the echo server's is not counted.

Last line:
    calls=N in_p99_ms=A out_p99_ms=B cpu_ratio_vs_passthrough=X
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.adapters.base import AgentAdapter
from media.adapters.openai_realtime import OpenAIRealtimeAdapter
from media.audio.frames import FRAME_BYTES
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.loop import MediaLoop
from media.bridge.session import BridgeSession

HOST = "127.0.0.1"
PORTS = (18890, 18891)  # bridge echo, passthrough echo
SILENCE = bytes(FRAME_BYTES)
_APPEND_PREFIX = '{"type":"input_audio_buffer.append"'
_AUDIO_KEY = '"audio":"'


class FramePort(Protocol):
    """The two callbacks pjmedia's AudioMediaPort calls."""

    def push_received_frame(self, pcm: bytes) -> None:
        """A frame heard from the callee."""

    def pull_frame_to_play(self) -> bytes:
        """The next frame to send."""


# ---- echo servers (a thread of the parent process, which does nothing else; their CPU is not counted) ---------


async def _realtime_echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):  # the benchmark ends by closing the clients
        await _realtime_echo_loop(ws)


async def _realtime_echo_loop(ws: ServerConnection) -> None:
    await ws.recv()  # session.update
    await ws.send('{"type":"session.updated","session":{}}')
    async for raw in ws:
        # The server shares the process (and its GIL) with the bridge, so it does as little as the raw echo:
        # the audio is cut out of the append event by position instead of parsing the JSON.
        text = raw if isinstance(raw, str) else raw.decode()
        start = text.find(_AUDIO_KEY)
        if not text.startswith(_APPEND_PREFIX) or start < 0:
            continue
        audio = text[start + len(_AUDIO_KEY):text.index('"', start + len(_AUDIO_KEY))]
        # "sent_ns" (an extra field clients ignore) lets the benchmark time the return path from the
        # moment the message left the server: socket, loop wake-up and decoding all count.
        await ws.send('{"type":"response.output_audio.delta","item_id":"item_1","sent_ns":'
                      + str(time.perf_counter_ns()) + ',"delta":"' + audio + '"}')


async def _raw_echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            await ws.send(time.perf_counter_ns().to_bytes(8, "little") + raw)  # send time, then the frame


class EchoServers:
    """Both echo servers on one thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="echo-servers", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            async with serve(_realtime_echo, HOST, PORTS[0], compression=None), \
                    serve(_raw_echo, HOST, PORTS[1], compression=None):
                self._ready.set()
                await self._stop.wait()

        self.loop.run_until_complete(main())

    def start(self) -> EchoServers:
        """Start serving."""
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


class TimedRealtimeAdapter(OpenAIRealtimeAdapter):
    """The production adapter, timing received audio from the echo server's send time instead of ``recv``."""

    async def handle(self, message: dict[str, Any], received_ns: int) -> None:
        """Handle as usual, with the server's send time as the reception time."""
        sent = message.get("sent_ns")
        await super().handle(message, sent if isinstance(sent, int) else received_ns)


def _timed_adapter(*args: Any) -> AgentAdapter:
    return TimedRealtimeAdapter(*args)


# ---- bare passthrough -----------------------------------------------------------------------------------------


class Passthrough:
    """The least a bridge must do: same threads, same deques and wake-ups, raw bytes over the same library."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._in: deque[tuple[bytes, int]] = deque(maxlen=50)
        self._play: deque[bytes] = deque()
        self._event = asyncio.Event()
        self._wake_pending = False
        self.ws: ClientConnection | None = None
        self.inbound: list[int] = []
        self.outbound_ready: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []

    def push_received_frame(self, pcm: bytes) -> None:
        """Media thread: queue and wake."""
        self._in.append((pcm, time.perf_counter_ns()))
        if not self._wake_pending:
            self._wake_pending = True
            self.loop.call_soon_threadsafe(self._event.set)

    def pull_frame_to_play(self) -> bytes:
        """Media thread: next frame or silence."""
        return self._play.popleft() if self._play else SILENCE

    async def start(self) -> None:
        """Connect and run sender and receiver."""
        self.ws = await connect(f"ws://{HOST}:{PORTS[1]}/", compression=None)
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]

    async def _send(self) -> None:
        assert self.ws is not None  # noqa: S101
        with contextlib.suppress(ConnectionClosed):
            await self._send_loop()

    async def _send_loop(self) -> None:
        assert self.ws is not None  # noqa: S101
        while True:
            await self._event.wait()
            self._event.clear()
            self._wake_pending = False
            while self._in:
                pcm, pushed = self._in.popleft()
                await self.ws.send(pcm)
                self.inbound.append(time.perf_counter_ns() - pushed)

    async def _receive(self) -> None:
        assert self.ws is not None  # noqa: S101
        with contextlib.suppress(ConnectionClosed):
            while True:
                data = await self.ws.recv()
                sent = int.from_bytes(data[:8], "little")
                self._play.append(bytes(data[8:]))
                self.outbound_ready.append(time.perf_counter_ns() - sent)

    async def stop(self) -> None:
        """Close."""
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            await self.ws.close()


# ---- the clock --------------------------------------------------------------------------------------------------


class MediaClock:
    """One thread ticking every 20 ms over all ports, as the conference bridge does."""

    def __init__(self, ports: list[FramePort]) -> None:
        self.ports = ports
        frames = [(np.sin(2 * np.pi * (300 + 7 * i) * np.arange(160) / 8000) * 8000).astype("<i2").tobytes()
                  for i in range(50)]
        self.frames = frames
        self.late_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="media-clock", daemon=True)

    def _run(self) -> None:
        tick = 0
        next_at = time.perf_counter()
        while not self._stop.is_set():
            lateness = time.perf_counter() - next_at
            self.late_ms.append(lateness * 1000)
            frame = self.frames[tick % 50]
            for port in self.ports:
                port.push_received_frame(frame)
                port.pull_frame_to_play()
            tick += 1
            next_at += 0.020
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def start(self) -> MediaClock:
        """Start ticking."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        self._thread.join(5)


# ---- measurement -------------------------------------------------------------------------------------------------


@dataclass
class Measure:
    """One phase's figures."""

    name: str
    calls: int
    seconds: float
    cpu_s: float
    inbound: list[int]
    outbound_ready: list[int]
    outbound_played: list[int]
    late_ms: list[float]

    def pct(self, values: list[int] | list[float], q: float, scale: float = 1e-6) -> float:
        """Percentile ``q`` of ``values`` (ns -> ms by default)."""
        return float(np.percentile(np.asarray(values, dtype=np.float64), q)) * scale if values else float("nan")

    @property
    def cpu_per_call_pct(self) -> float:
        """CPU per call as a percentage of one core."""
        return 100.0 * self.cpu_s / self.seconds / self.calls

    def line(self) -> str:
        """A human-readable summary."""
        played = (f" out_played_p50_ms={self.pct(self.outbound_played, 50):.2f}"
                  f" out_played_p99_ms={self.pct(self.outbound_played, 99):.2f}" if self.outbound_played else "")
        return (f"{self.name}: calls={self.calls} frames_in={len(self.inbound)} frames_out={len(self.outbound_ready)}"
                f" in_p50_ms={self.pct(self.inbound, 50):.3f} in_p99_ms={self.pct(self.inbound, 99):.3f}"
                f" out_p50_ms={self.pct(self.outbound_ready, 50):.3f}"
                f" out_p99_ms={self.pct(self.outbound_ready, 99):.3f}"
                f"{played} cpu_per_call_pct={self.cpu_per_call_pct:.3f}"
                f" clock_late_p99_ms={self.pct(self.late_ms, 99, 1.0):.2f}")


def _measure(name: str, calls: int, seconds: float, warmup: float, sync: Callable[[], None],
             clock: MediaClock, reset: Callable[[], None],
             collect: Callable[[], tuple[list[int], list[int], list[int]]]) -> Measure:
    time.sleep(warmup)
    sync()  # every worker process starts measuring together
    reset()
    clock.late_ms.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    inbound, ready, played = collect()
    return Measure(name, calls, wall1 - wall0, cpu1 - cpu0, list(inbound), list(ready), list(played),
                   list(clock.late_ms))


def run_passthrough(calls: int, seconds: float, warmup: float, sync: Callable[[], None]) -> Measure:
    """Measure the bare passthrough."""
    media = MediaLoop("passthrough-loop").start()
    ports = [Passthrough(media.loop) for _ in range(calls)]
    for port in ports:
        asyncio.run_coroutine_threadsafe(port.start(), media.loop).result(60)
    clock = MediaClock(list(ports)).start()

    def reset() -> None:
        for port in ports:
            port.inbound.clear()
            port.outbound_ready.clear()

    def collect() -> tuple[list[int], list[int], list[int]]:
        return ([v for p in ports for v in p.inbound], [v for p in ports for v in p.outbound_ready], [])

    try:
        return _measure("passthrough", calls, seconds, warmup, sync, clock, reset, collect)
    finally:
        clock.stop()
        for port in ports:
            asyncio.run_coroutine_threadsafe(port.stop(), media.loop).result(60)
        media.stop()


def run_bridge(calls: int, seconds: float, warmup: float, sync: Callable[[], None], record: bool) -> Measure:
    """Measure the bridge."""
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        config = BridgeConfig(collect_stats=True, recordings_root=Path(folder) if record else None,
                              session_timeout_s=10)
        agent = AgentConfig(provider="local", url=f"ws://{HOST}:{PORTS[0]}/v1/realtime")
        media = MediaLoop("bridge-loop").start()
        sessions = [BridgeSession(agent, CallContext(i + 1, {}), config, adapter_factory=_timed_adapter)
                    for i in range(calls)]
        futures = [media.submit(s) for s in sessions]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(s.streaming for s in sessions):
            time.sleep(0.05)
        clock = MediaClock(list(sessions)).start()

        def reset() -> None:
            for s in sessions:
                assert s.stats is not None  # noqa: S101
                s.stats.inbound.clear()
                s.stats.outbound_ready.clear()
                s.stats.outbound_played.clear()

        def collect() -> tuple[list[int], list[int], list[int]]:
            stats = [s.stats for s in sessions if s.stats is not None]
            return ([v for st in stats for v in st.inbound], [v for st in stats for v in st.outbound_ready],
                    [v for st in stats for v in st.outbound_played])

        try:
            measure = _measure("bridge", calls, seconds, warmup, sync, clock, reset, collect)
        finally:
            clock.stop()
            for s in sessions:
                s.request_stop("benchmark over")
            results = [f.result(60) for f in futures]
            media.stop()
        failed = [r.reason for r in results if r.disposition]
        if failed:
            print(f"bridge: {len(failed)} calls failed, first: {failed[0]}", file=sys.stderr)
        return measure


def _combine(measures: list[Measure]) -> Measure:
    """One phase over several rounds: times and CPU add up, the calls stay."""
    first = measures[0]
    return Measure(first.name, first.calls, sum(m.seconds for m in measures), sum(m.cpu_s for m in measures),
                   [v for m in measures for v in m.inbound], [v for m in measures for v in m.outbound_ready],
                   [v for m in measures for v in m.outbound_played], [v for m in measures for v in m.late_ms])


def _gather(measures: list[Measure]) -> Measure:
    """One phase of one round over the worker processes: calls and CPU add up over the same wall time."""
    first = measures[0]
    return Measure(first.name, sum(m.calls for m in measures), max(m.seconds for m in measures),
                   sum(m.cpu_s for m in measures), [v for m in measures for v in m.inbound],
                   [v for m in measures for v in m.outbound_ready], [v for m in measures for v in m.outbound_played],
                   [v for m in measures for v in m.late_ms])


def _worker(calls: int, rounds: int, seconds: float, warmup: float, record: bool, switch_interval_s: float,
            barrier: Any, conn: Connection) -> None:
    """One UA-like process: its own media clock and bridge loop with `calls` calls, phase after phase."""
    if switch_interval_s > 0:
        sys.setswitchinterval(switch_interval_s)
    try:
        for _ in range(rounds):
            conn.send(run_passthrough(calls, seconds, warmup, barrier.wait))
            conn.send(run_bridge(calls, seconds, warmup, barrier.wait, record))
    finally:
        conn.close()


def _split(calls: int, per_process: int) -> list[int]:
    """Calls per worker process: full processes first, as the dialer fills the pool's lines."""
    sizes = [per_process] * (calls // per_process)
    if calls % per_process:
        sizes.append(calls % per_process)
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Run both phases (alternating, ``--rounds`` times each) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase and round")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2,
                        help="passthrough and bridge alternate this many times, so a change in machine load "
                             "affects both alike")
    parser.add_argument("--no-record", action="store_true", help="do not write stereo recordings")
    parser.add_argument("--switch-interval-ms", type=float, default=0.0,
                        help="sys.setswitchinterval for the run (Python's default is 5 ms): how long a thread "
                             "that wants the GIL may wait for another that holds it")
    parser.add_argument("--calls-per-process", type=int, default=4,
                        help="calls per worker process, each with its own media clock and bridge loop, as in the "
                             "UA pool (whose pjsua2 processes hold at most 4 calls)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.rounds < 1 or args.calls_per_process < 1:
        parser.error("--calls, --rounds and --calls-per-process must be at least 1")
    sizes = _split(args.calls, args.calls_per_process)
    print(f"machine: cpus={os.cpu_count()} load_avg_1m={os.getloadavg()[0]:.1f} (other processes compete for the CPU: "
          "latency figures are only meaningful on a quiet machine); "
          f"switch_interval_ms={args.switch_interval_ms or sys.getswitchinterval() * 1000:g}; "
          f"{len(sizes)} worker processes of up to {args.calls_per_process} calls", flush=True)
    servers = EchoServers().start()  # in this process, which only waits for the workers' figures
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(sizes))
    links: list[tuple[BaseProcess, Connection]] = []
    for size in sizes:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(size, args.rounds, args.seconds, args.warmup,
                                                        not args.no_record, args.switch_interval_ms / 1000,
                                                        barrier, sender), daemon=True)
        process.start()
        sender.close()
        links.append((process, receiver))
    passthroughs: list[Measure] = []
    bridges: list[Measure] = []
    try:
        for _ in range(args.rounds):
            for phase in (passthroughs, bridges):
                phase.append(_gather([receiver.recv() for _, receiver in links]))
                print(phase[-1].line(), flush=True)
    finally:
        for process, _ in links:
            process.join(60)
        servers.stop()
    passthrough, bridge = _combine(passthroughs), _combine(bridges)
    print("all rounds: " + passthrough.line(), flush=True)
    print("all rounds: " + bridge.line(), flush=True)
    ratio = bridge.cpu_s / passthrough.cpu_s if passthrough.cpu_s > 0 else float("inf")
    # CPU time is not stretched by other processes the way wall time is: the bridge's own cost per frame.
    per_frame = [m.cpu_s / max(1, len(m.inbound)) * 1e6 for m in (passthrough, bridge)]
    print(f"cpu_us_per_frame (in and out together): passthrough={per_frame[0]:.1f} bridge={per_frame[1]:.1f} "
          f"added={per_frame[1] - per_frame[0]:.1f}", flush=True)
    print(f"calls={args.calls} in_p99_ms={bridge.pct(bridge.inbound, 99):.2f} "
          f"out_p99_ms={bridge.pct(bridge.outbound_ready, 99):.2f} cpu_ratio_vs_passthrough={ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

