"""Caller audio on its way to the agent: frames pushed by the media thread, sent by the event loop.

The media thread (pjmedia's conference clock, holding its conference lock) only appends to a bounded deque
and, once per batch, asks the loop to wake the sender; it never waits for the network. The sender on the
event loop forwards the frames to the adapter as they come. The same push notes which frames were voiced,
which the bridge uses for first-response latencies and for caller segment times when the provider reports
none.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import warnings
import weakref
from collections import deque

from websockets.exceptions import ConnectionClosed

from media.adapters.base import AgentAdapter
from media.bridge.result import BridgeStats

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib on 3.11 (audioop-lts on 3.13+): RMS of a frame in C

UTTERANCE_GAP_TICKS = 25  # 500 ms without a voiced caller frame separates two caller utterances


class Inbound:
    """The caller's frames between the media thread and the agent.

    Args:
        max_frames: frames kept while the agent is not reading (connecting, stalled); the oldest are dropped
            first, so a stalled socket never grows memory.
        speech_rms_threshold: PCM16 RMS above which a frame counts as speech.
        stats: per-frame latencies to fill, or None.

    Attributes:
        streaming: whether frames are forwarded to the agent (False before the session is confirmed and
            after it failed or ended; frames are then dropped).
        last_voiced_tick, utterance_start_tick: media ticks of the last voiced frame and of the start of the
            caller utterance it belongs to.
        origin_tick: media tick of the first frame sent to the agent (the zero of the provider's audio times).
    """

    def __init__(self, max_frames: int, speech_rms_threshold: int, stats: BridgeStats | None = None) -> None:
        # Entries (pcm, push time ns, tick).
        self._frames: deque[tuple[bytes, int, int]] = deque(maxlen=max_frames)
        self._threshold = speech_rms_threshold
        self._stats = stats
        self._collect = stats is not None
        self._event: asyncio.Event | None = None
        self._waker: _Waker | None = None
        self._wake_pending = False
        self.streaming = False
        self.last_voiced_tick = -1_000_000
        self.utterance_start_tick = 0
        self.origin_tick: int | None = None

    def push(self, pcm: bytes, tick: int) -> None:
        """Take one 20 ms frame heard from the callee at media tick ``tick``. Media thread; never blocks."""
        if audioop.rms(pcm, 2) >= self._threshold:
            if tick - self.last_voiced_tick > UTTERANCE_GAP_TICKS:
                self.utterance_start_tick = tick
            self.last_voiced_tick = tick
        self._frames.append((pcm, time.perf_counter_ns() if self._collect else 0, tick))
        waker = self._waker
        # Wake the sender once per batch: while a wake-up is pending, the sender will find this frame too.
        if waker is not None and not self._wake_pending:
            self._wake_pending = True
            waker.wake(self)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the event loop the sender runs on (event loop, before `send_loop`)."""
        self._event = asyncio.Event()
        self._waker = _waker_for(loop)
        if self._frames:
            self.wake_sender()

    def wake_sender(self) -> None:
        """Event loop: let the sender look for frames."""
        if self._event is not None:
            self._event.set()

    async def send_loop(self, adapter: AgentAdapter) -> None:
        """Forward the frames to ``adapter`` as they come, until cancelled (event loop)."""
        assert self._event is not None  # noqa: S101 - set by attach()
        frames, event, stats = self._frames, self._event, self._stats
        while True:
            await event.wait()
            event.clear()
            self._wake_pending = False
            while frames:
                pcm, pushed_ns, tick = frames.popleft()
                if not self.streaming:
                    continue
                if self.origin_tick is None:
                    self.origin_tick = tick
                try:
                    await adapter.send_audio(pcm)
                except ConnectionClosed:
                    continue  # the frame is lost; the receiving side decides whether the call goes on
                if stats is not None:
                    stats.inbound.append(time.perf_counter_ns() - pushed_ns)


class _Waker:
    """Wakes the senders of every session on one loop with at most one cross-thread call per media tick.

    The media thread pushes a frame for each call every 20 ms; one ``call_soon_threadsafe`` per frame would be
    one self-pipe write per call and tick, made while pjmedia holds its conference lock. Senders with new
    frames are queued here instead, and a single loop callback wakes them all.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: deque[Inbound] = deque()
        self._scheduled = False

    def wake(self, inbound: Inbound) -> None:
        """Media thread: have ``inbound``'s sender run soon."""
        self._pending.append(inbound)
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed: the sessions are over, nobody reads
                self.loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        # Reset first: a sender queued from now on schedules a new callback (it may also be served now).
        self._scheduled = False
        pending = self._pending
        while pending:
            pending.popleft().wake_sender()


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker] = weakref.WeakKeyDictionary()
_wakers_lock = threading.Lock()  # one registry for every loop of the process (each on its own thread)


def _waker_for(loop: asyncio.AbstractEventLoop) -> _Waker:
    with _wakers_lock:
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = _Waker(loop)
        return waker
