"""Agent audio on its way to the caller: queued by the event loop as 20 ms frames, taken by the media clock.

Models send audio faster than real time; the playout queues it as whole frames and the media clock takes one
per tick, so it knows exactly how many milliseconds of each agent turn were played. That is what a barge-in
reports (``conversation.item.truncate`` ``audio_end_ms``) and what transcript times and first-response
latencies are measured with. The tick count (20 ms per `Playout.pull`) is the call's clock.

Threads: `pull` runs on the media thread while pjmedia holds its conference lock; everything else on the
event loop. They share the queue under one lock held for microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from media.adapters.base import AgentAudio
from media.audio.frames import FRAME_BYTES, FRAME_MS
from media.bridge.result import BridgeStats

SILENCE = bytes(FRAME_BYTES)
BYTES_PER_MS = 16  # PCM16 at 8 kHz
DISCLOSURE = "disclosure:"  # the turn name prefix of disclosure audio (never cut by a barge-in)


@dataclass(frozen=True)
class Flushed:
    """What a barge-in removed from the playout.

    Attributes:
        turn: the agent turn being heard (or, none started yet, the one queued next); "" when none.
        heard_ms: how much of ``turn`` the caller heard (never more than was received).
        marks: marks dropped with the audio (to be echoed, so agents waiting for them do not stall).
    """

    turn: str
    heard_ms: int
    marks: list[str]


class Playout:
    """The agent's audio queued for the media clock, and the accounting of what was played.

    Args:
        stats: per-frame latencies to fill, or None.

    Attributes:
        ticks: media ticks so far (20 ms each): the call's clock.
        last_audio_at: ``time.monotonic()`` of the last agent audio queued.
        last_audio_tick: media tick at which agent audio was last queued (-1 before any).
        on_marks: called on the event loop with the names of marks whose preceding audio has been played.
    """

    def __init__(self, stats: BridgeStats | None = None) -> None:
        self._stats = stats
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_marks: Callable[[list[str]], None] = lambda names: None
        # Entries (pcm or None for a mark, turn, received ns, mark name).
        self._queue: deque[tuple[bytes | None, str, int, str]] = deque()
        self._lock = threading.Lock()  # the media thread pulls while the loop queues and flushes
        self._partial = bytearray()
        self._partial_turn = ""
        self._partial_ns = 0
        self.ticks = 0
        self._turn_play: dict[str, list[int]] = {}  # turn -> [first tick, last tick, frames played]
        self._turn_received: dict[str, int] = {}  # turn -> bytes of audio received
        self._turns_done: set[str] = set()
        self._dropped_turns: set[str] = set()  # flushed by a barge-in: late audio of theirs is discarded
        self._current_turn = ""
        self._last_agent_tick = -2
        self._latencies: list[int] = []
        self.last_audio_at = 0.0
        self.last_audio_tick = -1

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the event loop that `on_marks` runs on."""
        self._loop = loop

    # ==== media thread ====================================================================================

    def pull(self, last_voiced_tick: int) -> bytes:
        """Return the next 20 ms frame to send to the callee (silence when nothing is queued). Media thread.

        Args:
            last_voiced_tick: tick of the caller's last voiced frame (first-response latency of a new turn).
        """
        marks: list[str] = []
        with self._lock:
            tick = self.ticks
            self.ticks = tick + 1
            queue = self._queue
            while queue and queue[0][0] is None:  # marks whose preceding audio has now been played
                marks.append(queue.popleft()[3])
            pcm: bytes | None = None
            received_ns = 0
            if queue:
                pcm, turn, received_ns, _ = queue.popleft()
            elif self._partial:  # an underrun: play the tail we have rather than hold it back
                pcm = bytes(self._partial) + bytes(FRAME_BYTES - len(self._partial))
                turn, received_ns = self._partial_turn, self._partial_ns
                self._partial.clear()
            if pcm is not None:
                span = self._turn_play.get(turn)
                if span is None:
                    self._turn_play[turn] = [tick, tick, 1]
                else:
                    span[1] = tick
                    span[2] += 1
                self._current_turn = turn
                # A new agent turn after the caller spoke: end of caller speech -> first agent audio played.
                if self._last_agent_tick != tick - 1 and last_voiced_tick > self._last_agent_tick:
                    self._latencies.append(max(0, (tick - last_voiced_tick - 1) * FRAME_MS))
                self._last_agent_tick = tick
        if marks and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the session is over
                self._loop.call_soon_threadsafe(self.on_marks, marks)
        if received_ns and self._stats is not None:
            self._stats.outbound_played.append(time.perf_counter_ns() - received_ns)
        return pcm if pcm is not None else SILENCE

    # ==== event loop ======================================================================================

    @property
    def empty(self) -> bool:
        """Whether everything queued has been played."""
        return not self._queue and not self._partial

    @property
    def queued_ms(self) -> int:
        """Agent audio queued and not yet played, in milliseconds (marks count as a frame: there are few)."""
        with self._lock:
            return len(self._queue) * FRAME_MS + len(self._partial) // BYTES_PER_MS

    def queue_audio(self, event: AgentAudio) -> None:
        """Queue an agent audio chunk as whole frames (a trailing part waits for more of its turn)."""
        turn = event.turn
        if turn in self._dropped_turns:
            return  # still in flight when the caller barged in: never play it
        pcm = event.pcm
        self.last_audio_at = time.monotonic()
        self.last_audio_tick = self.ticks
        self._turn_received[turn] = self._turn_received.get(turn, 0) + len(pcm)
        with self._lock:
            if not self._partial and len(pcm) == FRAME_BYTES:  # the common case: one whole frame
                self._queue.append((pcm, turn, event.received_ns, ""))
                pcm = b""
        if pcm:
            with self._lock:
                partial = self._partial
                if partial and self._partial_turn != turn:  # a new turn: finish the previous one's last frame
                    self._queue.append(self._padded_partial())
                partial.extend(pcm)
                self._partial_turn, self._partial_ns = turn, event.received_ns
                whole = len(partial) - len(partial) % FRAME_BYTES
                if whole:
                    data = bytes(partial[:whole])
                    del partial[:whole]
                    self._queue.extend(
                        (data[i : i + FRAME_BYTES], turn, event.received_ns, "") for i in range(0, whole, FRAME_BYTES)
                    )
        if self._stats is not None and event.received_ns:
            self._stats.outbound_ready.append(time.perf_counter_ns() - event.received_ns)

    def end_turn(self, turn: str) -> None:
        """The agent sent all audio of ``turn``: its last partial frame is padded with silence and queued."""
        self._turns_done.add(turn)
        with self._lock:
            if self._partial and self._partial_turn == turn:
                self._queue.append(self._padded_partial())

    def queue_mark(self, name: str) -> None:
        """Queue a mark after the audio queued so far; `on_marks` fires when that audio has been played."""
        with self._lock:
            if self._partial:
                self._queue.append(self._padded_partial())
            if self._queue:
                self._queue.append((None, "", 0, name))
                return
        self.on_marks([name])  # nothing queued before it: its audio has been played already

    def _padded_partial(self) -> tuple[bytes, str, int, str]:
        """The partial frame padded with silence, as a queue entry; the partial is emptied. Under the lock."""
        pcm = bytes(self._partial) + bytes(FRAME_BYTES - len(self._partial))
        entry = (pcm, self._partial_turn, self._partial_ns, "")
        self._partial.clear()
        return entry

    def flush(self) -> Flushed:
        """Drop everything queued (the next tick plays silence) and say what of the current turn was heard."""
        with self._lock:
            marks = [entry[3] for entry in self._queue if entry[0] is None]
            # Disclosures are not interruptible: they stay queued (and are always whole frames).
            kept = [entry for entry in self._queue if entry[1].startswith(DISCLOSURE)]
            queued_turns = {entry[1] for entry in self._queue
                            if entry[0] is not None and not entry[1].startswith(DISCLOSURE)}
            if self._partial:
                queued_turns.add(self._partial_turn)
            self._queue.clear()
            self._queue.extend(kept)
            self._partial.clear()
            current = self._current_turn
            span = self._turn_play.get(current)
            played_ms = span[2] * FRAME_MS if span else 0
        # The turn being heard, or (none started yet) the one queued next.
        turn = current if current and (current in queued_turns or current not in self._turns_done) else ""
        if not turn and queued_turns:
            turn = next(iter(queued_turns))
            played_ms = 0
        if turn:
            self._dropped_turns.add(turn)
        self._dropped_turns.update(queued_turns)
        heard_ms = min(played_ms, self._turn_received.get(turn, 0) // BYTES_PER_MS) if turn else 0
        return Flushed(turn, heard_ms, marks)

    def summary(self) -> tuple[dict[str, tuple[int, int]], int, list[int]]:
        """(span in ms of each turn played, agent audio played in ms without the fallback, latencies in ms)."""
        with self._lock:
            spans = {turn: (s[0] * FRAME_MS, (s[1] + 1) * FRAME_MS) for turn, s in self._turn_play.items()}
            played_ms = sum(s[2] for turn, s in self._turn_play.items() if turn != "fallback") * FRAME_MS
            return spans, played_ms, list(self._latencies)

    def played_disclosures(self) -> list[tuple[str, int, int]]:
        """(kind, offset ms, duration ms) of each disclosure played, in the order played."""
        with self._lock:
            return [(turn[len(DISCLOSURE):], s[0] * FRAME_MS, s[2] * FRAME_MS)
                    for turn, s in sorted(self._turn_play.items(), key=lambda t: t[1][0])
                    if turn.startswith(DISCLOSURE)]
