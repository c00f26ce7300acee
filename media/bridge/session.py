"""The per-call media bridge: 20 ms PCM16 frames between a SIP call and an AI agent over WebSocket.

Two sides, two threads:

* The **media thread** (pjmedia's conference bridge clock) calls `BridgeSession.push_received_frame` with
  each frame heard from the callee and `BridgeSession.pull_frame_to_play` for each frame to send, every
  20 ms. Both only copy bytes into or out of deques under a lock held for microseconds, and never wait for
  the network: they run while pjmedia holds its conference lock, so a slow callback would delay every call
  of the process.
* The **event loop** (one asyncio loop per UA process, `MediaLoop`) runs `BridgeSession.run`: it sends the
  buffered caller frames to the adapter as they come, turns the adapter's events into playout, transcript,
  outcome and usage, and handles barge-in and failures.

Pacing: models send audio faster than real time; the bridge queues it as 20 ms frames and the media clock
takes one per tick, so the bridge knows exactly how many milliseconds of each agent turn were played. That
is what a barge-in reports (``conversation.item.truncate`` ``audio_end_ms``) and what the transcript times
and first-response latencies are measured with. The call's clock is that tick count (20 ms per
`pull_frame_to_play`), shared by the stereo recording and the transcript.

How the UA wires it (``telephony.ua.hooks``): the UA process starts one `MediaLoop` at boot. For each
answered call its `CallHooks.create_media_port` builds a `BridgeSession`, submits ``session.run()`` with
`MediaLoop.submit` (keeping the returned future) and returns
``CallMediaPort(sink=session.push_received_frame, source=session.pull_frame_to_play)``; ``on_dtmf`` calls
`BridgeSession.push_dtmf`; on hangup, ``on_ended`` calls `BridgeSession.request_stop` and then
``future.result(timeout)`` to merge `CallResult.finish_fields` into ``event.data`` (``disposition`` and
``reason`` only when the bridge reports ``ai_error``, ``results`` always). The session asks the UA to hang
up or transfer through the `CallControls` it was given; those methods are called on the event loop and
must only post a command to the pjsua thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from media.adapters.base import (
    AdapterError,
    AdapterEvent,
    AgentAdapter,
    AgentAudio,
    AgentAudioDone,
    AgentHangup,
    AgentTranscript,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTranscript,
    Mark,
    PlayoutCleared,
    ToolCall,
    Usage,
)
from media.audio.frames import FRAME_BYTES, FRAME_MS
from media.audio.recording import StereoRecorder
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.prompts import END_CALL, RECORD_OUTCOME, TRANSFER_CALL, render_template
from media.bridge.transcript import Transcript

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib on 3.11 (audioop-lts on 3.13+): RMS of a frame in C

logger = logging.getLogger(__name__)

SILENCE = bytes(FRAME_BYTES)
# One writer thread for the recordings of every call in the process. Measured with 50 calls: flushing
# through the default executor (up to 6 threads) let those threads queue for the GIL ahead of the media
# clock thread, which then ran up to a second late; one thread keeps the file work out of the loop without
# that convoy. The work per flush is small (one second of audio interleaved, 32 KB written).
_RECORDING_WRITER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings")
_UTTERANCE_GAP_TICKS = 25  # 500 ms without a voiced caller frame separates two caller utterances
AI_ERROR = "ai_error"  # campaigns.choices.Disposition.AI_ERROR


class CallControls(Protocol):
    """What the bridge may ask of the call. Called on the event loop: post to the pjsua thread and return."""

    def hangup(self, reason: str) -> None:
        """End the call (the agent said goodbye, or the AI failed and the fallback message was played)."""

    def transfer(self, reason: str) -> bool:
        """Start a transfer to a human; return False when none is possible."""


class NoControls:
    """Controls that do nothing (a session not attached to a call)."""

    def hangup(self, reason: str) -> None:
        """Ignore."""

    def transfer(self, reason: str) -> bool:
        """Refuse."""
        return False


@dataclass
class BridgeStats:
    """Per-frame latencies in nanoseconds (kept only with ``BridgeConfig.collect_stats``).

    Attributes:
        inbound: frame pushed by the media thread -> its WebSocket send returned.
        outbound_ready: WebSocket message read -> its audio queued as frames, ready for the next tick.
        outbound_played: WebSocket message read -> its frame taken by the media clock (includes the wait
            for the next 20 ms tick and any audio queued ahead).
    """

    inbound: list[int] = field(default_factory=list)
    outbound_ready: list[int] = field(default_factory=list)
    outbound_played: list[int] = field(default_factory=list)


@dataclass
class CallResult:
    """What a bridged call leaves behind.

    Attributes:
        disposition: ``"ai_error"`` when the AI failed, else None (the UA decides: human, opted out, ...).
        reason: why the AI failed, or why the bridge ended the call.
        transcript: ``[{"speaker", "text", "start_ms", "end_ms"}]`` on the call's clock.
        recording: WAV path relative to the recordings root ("" when not recorded).
        outcome, outcome_fields, outcome_error: from the ``record_outcome`` tool call, validated against the
            campaign's schema; an invalid one is kept as sent with the problems in ``outcome_error``.
        first_response_ms: per agent turn, end of caller speech to first agent audio played.
        usage: tokens etc. reported by the provider, summed per key.
        ended_by: ``"agent"``, ``"ua"`` (hangup or stop from the call side) or ``"ai_error"``.
        transfer_requested: the agent asked for a transfer and the UA accepted.
        played_ms: agent audio played in total (silence excluded).
    """

    disposition: str | None = None
    reason: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    recording: str = ""
    outcome: str = ""
    outcome_fields: dict[str, Any] = field(default_factory=dict)
    outcome_error: str = ""
    first_response_ms: list[int] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    ended_by: str = ""
    transfer_requested: bool = False
    played_ms: int = 0

    def results(self) -> dict[str, Any]:
        """The ``results`` argument of ``campaigns.attempts.finish_attempt``."""
        out: dict[str, Any] = {
            "transcript": self.transcript,
            "first_response_ms": self.first_response_ms,
            "usage": self.usage,
        }
        if self.recording:
            out["recording"] = self.recording
        if self.outcome or self.outcome_error:
            out.update(outcome=self.outcome[:64], outcome_fields=self.outcome_fields, outcome_error=self.outcome_error)
        return out

    def finish_fields(self) -> dict[str, Any]:
        """Keys to merge into the UA's ``ended`` event data (``disposition``/``reason`` only for AI errors)."""
        data: dict[str, Any] = {"results": self.results()}
        if self.disposition:
            data.update(disposition=self.disposition, reason=self.reason)
        return data


def _sum_usage(total: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            sub = total.get(key)
            if not isinstance(sub, dict):
                sub = total[key] = {}
            _sum_usage(sub, value)


class BridgeSession:
    """One call bridged to one AI agent.

    Args:
        agent: the campaign's agent (provider, prompt, outcome schema...).
        call: the call (attempt id, contact variables).
        config: bridge settings.
        controls: how to hang up or transfer the call (default: no-ops).
        adapter_factory: builds the adapter (default: `media.adapters.factory.make_adapter`).
    """

    def __init__(
        self,
        agent: AgentConfig,
        call: CallContext,
        config: BridgeConfig | None = None,
        controls: CallControls | None = None,
        adapter_factory: Callable[..., AgentAdapter] | None = None,
    ) -> None:
        self.agent = agent
        self.call = call
        self.config = config or BridgeConfig()
        self.controls: CallControls = controls or NoControls()
        if adapter_factory is None:
            from media.adapters.factory import make_adapter

            adapter_factory = make_adapter
        self._adapter_factory = adapter_factory
        self.adapter: AgentAdapter | None = None
        self.stats = BridgeStats() if self.config.collect_stats else None
        self._collect = self.config.collect_stats
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waker: _Waker | None = None
        # Inbound (media thread -> loop): (pcm, push time ns, tick); bounded, oldest dropped first.
        self._in: deque[tuple[bytes, int, int]] = deque(maxlen=self.config.inbound_buffer_frames)
        self._in_event: asyncio.Event | None = None
        self._in_wake_pending = False
        self._streaming = False
        self._input_origin_tick: int | None = None
        # Outbound (loop -> media thread): entries (pcm or None for a mark, turn, received ns, mark name).
        self._play: deque[tuple[bytes | None, str, int, str]] = deque()
        self._play_lock = threading.Lock()
        self._partial = bytearray()
        self._partial_turn = ""
        self._partial_ns = 0
        self._ticks = 0
        self._turn_play: dict[str, list[int]] = {}  # turn -> [first tick, last tick, frames played]
        self._turn_received: dict[str, int] = {}  # turn -> bytes of audio received
        self._turns_done: set[str] = set()
        self._dropped_turns: set[str] = set()  # flushed by a barge-in: late audio of theirs is discarded
        self._current_turn = ""
        self._last_agent_tick = -2
        self._last_voiced_tick = -1_000_000
        self._utterance_start_tick = 0
        self._latencies: list[int] = []
        # Results
        self.transcript = Transcript()
        self._speech_start_ms: dict[str, int] = {}
        self._speech_end_ms: dict[str, int] = {}
        self._last_caller_end_ms = 0
        self.outcome = ""
        self.outcome_fields: dict[str, Any] = {}
        self.outcome_error = ""
        self.usage: dict[str, Any] = {}
        self.transfer_requested = False
        self.recorder: StereoRecorder | None = None
        self.recording_path = ""
        if self.config.recordings_root is not None:
            day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
            self.recording_path = f"{day}/attempt-{call.attempt_id}.wav"
            self.recorder = StereoRecorder(self.config.recordings_root / self.recording_path)
        # Ending
        self._stop_event: asyncio.Event | None = None
        self._stop_reason = ""
        self._stop_requested_early = False
        self._ended_by = ""
        self._failure: AdapterError | None = None
        self._end_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_audio_at = 0.0

    # ==== media thread ====================================================================================

    def push_received_frame(self, pcm: bytes) -> None:
        """Take one 20 ms frame heard from the callee (PCM16 LE mono 8 kHz). Media thread; never blocks."""
        tick = self._ticks
        if audioop.rms(pcm, 2) >= self.config.speech_rms_threshold:
            if tick - self._last_voiced_tick > _UTTERANCE_GAP_TICKS:
                self._utterance_start_tick = tick
            self._last_voiced_tick = tick
        recorder = self.recorder  # one read: the loop drops it when the call ends
        if recorder is not None:
            recorder.add_caller(pcm, tick)
        self._in.append((pcm, time.perf_counter_ns() if self._collect else 0, tick))
        waker = self._waker
        # Wake the sender once per batch: while a wake-up is pending, the sender will find this frame too.
        if waker is not None and not self._in_wake_pending:
            self._in_wake_pending = True
            waker.wake(self)

    def pull_frame_to_play(self) -> bytes:
        """Return the next 20 ms frame to send to the callee (silence when nothing is queued). Media thread."""
        marks: list[str] = []
        with self._play_lock:
            tick = self._ticks
            self._ticks = tick + 1
            queue = self._play
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
                if self._last_agent_tick != tick - 1 and self._last_voiced_tick > self._last_agent_tick:
                    self._latencies.append(max(0, (tick - self._last_voiced_tick - 1) * FRAME_MS))
                self._last_agent_tick = tick
        if marks and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the session is over
                self._loop.call_soon_threadsafe(self._marks_played, marks)
        out = pcm if pcm is not None else SILENCE
        recorder = self.recorder
        if recorder is not None:
            recorder.add_agent(out)
        if received_ns and self.stats is not None:
            self.stats.outbound_played.append(time.perf_counter_ns() - received_ns)
        return out

    # ==== any thread =======================================================================================

    def request_stop(self, reason: str = "call ended") -> None:
        """End the session (the call hung up or the UA is stopping). Safe from any thread; idempotent."""
        loop = self._loop
        if loop is None:
            self._stop_requested_early = True
            self._stop_reason = self._stop_reason or reason
            return
        with contextlib.suppress(RuntimeError):  # loop closed: already over
            loop.call_soon_threadsafe(self._stop, reason, "ua")

    def push_dtmf(self, digit: str) -> None:
        """Forward a caller key press to the agent (Twilio-style agents receive ``dtmf``). Any thread."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._spawn_dtmf, digit)

    # ==== event loop ======================================================================================

    @property
    def now_ms(self) -> int:
        """The call's clock: 20 ms per media tick since the session started."""
        return self._ticks * FRAME_MS

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop holds tasks weakly
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, AdapterError):
            self._fail(exc)
        elif isinstance(exc, ConnectionClosed):
            pass  # a send hit a closed socket: the receiving side tells a clean end from a drop
        elif exc is not None:
            logger.error("attempt %s: bridge task failed", self.call.attempt_id, exc_info=exc)
            self._fail(AdapterError("internal", f"bridge error handling the AI: {exc!r}"))

    def _spawn_dtmf(self, digit: str) -> None:
        if self.adapter is not None and self._streaming:
            self._spawn(self.adapter.send_dtmf(digit))

    def _wake_sender(self) -> None:
        if self._in_event is not None:
            self._in_event.set()

    def _stop(self, reason: str, by: str) -> None:
        if self._stop_event is None or self._stop_event.is_set():
            return
        self._stop_reason = reason
        self._ended_by = self._ended_by or by
        self._stop_event.set()

    def _fail(self, error: AdapterError) -> None:
        if self._failure is None and self._stop_event is not None and not self._stop_event.is_set():
            logger.warning("attempt %s: AI failure (%s): %s", self.call.attempt_id, error.kind, error.reason)
            self._failure = error
            self._streaming = False
            self._stop_event.set()

    async def run(self) -> CallResult:
        """Bridge the call until it ends; never raises (failures become an ``ai_error`` result).

        Returns:
            The call's `CallResult`.
        """
        self._loop = asyncio.get_running_loop()
        self._waker = _waker_for(self._loop)
        self._in_event = asyncio.Event()
        self._stop_event = asyncio.Event()
        if self._stop_requested_early:
            self._stop(self._stop_reason, "ua")
        if self._in:
            self._wake_sender()
        try:
            await self._run()
        except AdapterError as exc:
            self._failure = self._failure or exc
        except Exception as exc:  # nothing may escape into the UA's loop: other calls share it
            logger.exception("attempt %s: bridge failed", self.call.attempt_id)
            self._failure = self._failure or AdapterError("internal", f"bridge error: {exc!r}")
        try:
            if self._failure is not None:
                await self._play_fallback()
        except Exception:  # the fallback is best effort: the call still ends as ai_error
            logger.exception("attempt %s: fallback message failed", self.call.attempt_id)
        result = await self._finish()
        return result

    async def _run(self) -> None:
        assert self._stop_event is not None  # noqa: S101 - set by run()
        self.adapter = self._adapter_factory(self.agent, self.config, self.call, self._on_event)
        if self._stop_event.is_set():
            return
        connect = self._spawn_untracked(self.adapter.connect())
        stop_wait = self._spawn_untracked(self._stop_event.wait())
        done, _ = await asyncio.wait(
            {connect, stop_wait}, timeout=self.config.session_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if connect not in done:
            connect.cancel()
            with contextlib.suppress(asyncio.CancelledError, AdapterError):
                await connect
            stop_wait.cancel()
            if self._stop_event.is_set():
                return  # the call ended while connecting: no failure to report
            raise AdapterError("timeout", f"no AI session within {self.config.session_timeout_s:g} s")
        stop_wait.cancel()
        connect.result()  # raises AdapterError
        self._streaming = True
        self._spawn(self._send_loop())
        self._spawn(self._run_adapter())
        if self.recorder is not None:
            self._spawn(self._flush_recording())
        await self._stop_event.wait()

    def _spawn_untracked(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_adapter(self) -> None:
        assert self.adapter is not None  # noqa: S101
        await self.adapter.run()
        if not self.adapter.closing:  # run() returned by itself: the agent hung up cleanly
            self._on_event(AgentHangup())

    async def _send_loop(self) -> None:
        assert self._in_event is not None  # noqa: S101 - set by run()
        assert self.adapter is not None  # noqa: S101
        adapter, inbound, event, stats = self.adapter, self._in, self._in_event, self.stats
        while True:
            await event.wait()
            event.clear()
            self._in_wake_pending = False
            while inbound:
                pcm, pushed_ns, tick = inbound.popleft()
                if not self._streaming:
                    continue
                if self._input_origin_tick is None:
                    self._input_origin_tick = tick
                try:
                    await adapter.send_audio(pcm)
                except ConnectionClosed:
                    continue  # the frame is lost; the receiving side decides whether the call goes on
                if stats is not None:
                    stats.inbound.append(time.perf_counter_ns() - pushed_ns)

    async def _flush_recording(self) -> None:
        recorder = self.recorder
        assert recorder is not None  # noqa: S101
        loop = asyncio.get_running_loop()
        # Spread the flushes of calls that started together over the interval.
        await asyncio.sleep(self.config.recording_flush_s * (1 + self.call.attempt_id % 16 / 16))
        while True:
            await loop.run_in_executor(_RECORDING_WRITER, recorder.flush)
            await asyncio.sleep(self.config.recording_flush_s)

    # ---- adapter events ----------------------------------------------------------------------------------

    def _on_event(self, event: AdapterEvent) -> None:
        """Apply one adapter event (event loop; in message order)."""
        if isinstance(event, AgentAudio):
            self._queue_audio(event)
        elif isinstance(event, CallerSpeechStarted):
            if event.audio_ms is not None and event.item_id:
                self._speech_start_ms[event.item_id] = self._input_ms(event.audio_ms)
            self._barge_in(truncate=True)
        elif isinstance(event, PlayoutCleared):
            self._barge_in(truncate=False)
        elif isinstance(event, CallerSpeechStopped):
            if event.audio_ms is not None and event.item_id:
                self._speech_end_ms[event.item_id] = self._input_ms(event.audio_ms)
        elif isinstance(event, AgentAudioDone):
            self._turns_done.add(event.turn)
            self._pad_partial(event.turn)
        elif isinstance(event, Mark):
            self._queue_mark(event.name)
        elif isinstance(event, CallerTranscript):
            self._add_caller_text(event)
        elif isinstance(event, AgentTranscript):
            self.transcript.add_agent(event.text, event.turn, self.now_ms)
        elif isinstance(event, ToolCall):
            self._spawn(self._on_tool_call(event))
        elif isinstance(event, Usage):
            _sum_usage(self.usage, event.data)
        elif isinstance(event, AgentHangup):
            self._ended_by = "agent"
            self._spawn(self._end_after_playout(event.reason, grace_ms=0))

    def _input_ms(self, audio_ms: int) -> int:
        origin = self._input_origin_tick or 0
        return origin * FRAME_MS + audio_ms

    def _queue_audio(self, event: AgentAudio) -> None:
        turn = event.turn
        if turn in self._dropped_turns:
            return  # still in flight when the caller barged in: never play it
        pcm = event.pcm
        self._last_audio_at = time.monotonic()
        self._turn_received[turn] = self._turn_received.get(turn, 0) + len(pcm)
        with self._play_lock:
            partial = self._partial
            if not partial and len(pcm) == FRAME_BYTES:  # the common case: one whole frame
                self._play.append((pcm, turn, event.received_ns, ""))
                pcm = b""
        if not pcm:
            if self.stats is not None and event.received_ns:
                self.stats.outbound_ready.append(time.perf_counter_ns() - event.received_ns)
            return
        with self._play_lock:
            partial = self._partial
            if partial and self._partial_turn != turn:  # a new turn: finish the previous one's last frame
                self._play.append(
                    (bytes(partial) + bytes(FRAME_BYTES - len(partial)), self._partial_turn, self._partial_ns, "")
                )
                partial.clear()
            partial.extend(pcm)
            self._partial_turn, self._partial_ns = turn, event.received_ns
            whole = len(partial) - len(partial) % FRAME_BYTES
            if whole:
                data = bytes(partial[:whole])
                del partial[:whole]
                self._play.extend(
                    (data[i : i + FRAME_BYTES], turn, event.received_ns, "") for i in range(0, whole, FRAME_BYTES)
                )
        if self.stats is not None and event.received_ns:
            self.stats.outbound_ready.append(time.perf_counter_ns() - event.received_ns)

    def _pad_partial(self, turn: str) -> None:
        with self._play_lock:
            if self._partial and self._partial_turn == turn:
                self._play.append(
                    (bytes(self._partial) + bytes(FRAME_BYTES - len(self._partial)), turn, self._partial_ns, "")
                )
                self._partial.clear()

    def _queue_mark(self, name: str) -> None:
        with self._play_lock:
            if self._partial:
                self._play.append(
                    (
                        bytes(self._partial) + bytes(FRAME_BYTES - len(self._partial)),
                        self._partial_turn,
                        self._partial_ns,
                        "",
                    )
                )
                self._partial.clear()
            if self._play:
                self._play.append((None, "", 0, name))
                return
        self._marks_played([name])  # nothing queued before it: its audio has been played already

    def _marks_played(self, names: list[str]) -> None:
        if self.adapter is None or not self._streaming:
            return
        for name in names:
            self._spawn(self.adapter.mark_played(name))

    def _barge_in(self, *, truncate: bool) -> None:
        """Flush playout now (the next tick plays silence) and tell the model how much it said was heard."""
        with self._play_lock:
            marks = [entry[3] for entry in self._play if entry[0] is None]
            queued_turns = {entry[1] for entry in self._play if entry[0] is not None}
            had_partial = bool(self._partial)
            if had_partial:
                queued_turns.add(self._partial_turn)
            self._play.clear()
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
        if marks:
            # Marks dropped by the flush are echoed too, so agents that wait for them do not stall.
            self._marks_played(marks)
        if truncate and turn and self.adapter is not None and self._streaming:
            received_ms = self._turn_received.get(turn, 0) // 16  # 16 bytes per ms of PCM16 8 kHz
            self._spawn(self.adapter.truncate(turn, min(played_ms, received_ms)))

    def _add_caller_text(self, event: CallerTranscript) -> None:
        start = self._speech_start_ms.get(event.item_id) if event.item_id else None
        end = self._speech_end_ms.get(event.item_id) if event.item_id else None
        if start is None:
            # No provider times: the bridge's own view of the latest caller utterance.
            start = self._utterance_start_tick * FRAME_MS
            end = (self._last_voiced_tick + 1) * FRAME_MS
            if start < self._last_caller_end_ms or end <= start:
                start = end = self.now_ms
        end = end if end is not None else self.now_ms
        self.transcript.add_caller(event.text, start, end)
        self._last_caller_end_ms = max(self._last_caller_end_ms, end)

    async def _on_tool_call(self, call: ToolCall) -> None:
        assert self.adapter is not None  # noqa: S101
        if call.name == RECORD_OUTCOME:
            output = self._record_outcome(call)
            await self.adapter.send_tool_result(call, output, respond=True)
        elif call.name == END_CALL:
            reason = str((call.arguments or {}).get("reason") or "agent ended the call")
            self._ended_by = "agent"
            await self.adapter.send_tool_result(call, {"ok": True}, respond=False)
            self._end_task = self._end_task or self._spawn(
                self._end_after_playout(reason, grace_ms=self.config.end_call_grace_ms)
            )
        elif call.name == TRANSFER_CALL:
            reason = str((call.arguments or {}).get("reason") or "")
            ok = bool(self.config.transfer_available and self.controls.transfer(reason))
            self.transfer_requested = self.transfer_requested or ok
            output = {"ok": ok} if ok else {"ok": False, "error": "no transfer is possible on this call"}
            await self.adapter.send_tool_result(call, output, respond=not ok)
        else:
            await self.adapter.send_tool_result(
                call, {"ok": False, "error": f"unknown tool {call.name!r}"}, respond=True
            )

    def _record_outcome(self, call: ToolCall) -> dict[str, Any]:
        from media.outcomes import validate_outcome

        args = call.arguments
        if args is None:
            # Never dropped: the raw text is kept with the reason it could not be used.
            self.outcome, self.outcome_fields = "", {"raw_arguments": call.raw[:2000]}
            self.outcome_error = "record_outcome arguments are not a JSON object"
            return {"ok": False, "errors": [self.outcome_error]}
        label = args.get("label")
        fields = args.get("fields", {})
        problems: list[str] = []
        if not isinstance(label, str):
            problems.append(f"label must be a string, got {label!r}")
            label = "" if label is None else str(label)
        if not isinstance(fields, dict):
            problems.append(f"fields must be an object, got {fields!r}")
            fields = {"raw_fields": fields}
        elif not problems:
            problems = validate_outcome(self.agent.outcome_schema, label, fields)
        self.outcome, self.outcome_fields, self.outcome_error = label[:64], fields, "; ".join(problems)
        return {"ok": not problems, "errors": problems}

    async def _end_after_playout(self, reason: str, *, grace_ms: int) -> None:
        """Hang up once the agent's audio has been played and no more came for ``grace_ms``."""
        while True:
            idle_s = time.monotonic() - self._last_audio_at
            if not self._play and not self._partial and idle_s * 1000 >= grace_ms:
                break
            await asyncio.sleep(FRAME_MS / 1000)
        self.controls.hangup(reason)
        self._stop(reason, "agent")

    # ---- failure and end ---------------------------------------------------------------------------------

    async def _play_fallback(self) -> None:
        """Speak the fallback message to the caller, then hang up (unless the call is already gone)."""
        from media.speech.tts import SpeechSynthesisError, Voice, synthesize

        self._streaming = False
        assert self._failure is not None  # noqa: S101
        if self._stop_reason and self._ended_by == "ua":
            return  # the caller is gone: nobody to speak to
        self._ended_by = "ai_error"
        self._barge_in(truncate=False)
        text = render_template(self.agent.fallback_message or self.config.fallback_message, self.call.variables)
        audio = b""
        try:
            audio = await asyncio.to_thread(synthesize, text, 8000, Voice(name=self.config.fallback_voice))
        except (SpeechSynthesisError, ValueError, OSError):
            logger.exception("attempt %s: fallback message could not be synthesised", self.call.attempt_id)
        if audio:
            stop = asyncio.Event()
            self._stop_event = stop  # a UA stop (caller hung up) ends the fallback early
            self._queue_audio(AgentAudio(audio, "fallback"))
            self._pad_partial("fallback")
            deadline = time.monotonic() + len(audio) / 16000 + 2.0
            # The media thread drains the queue; polling once a tick is the simplest cross-thread wait.
            while (self._play or self._partial) and not stop.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(FRAME_MS / 1000)
        if self._ended_by == "ai_error":
            self.controls.hangup(f"AI failure: {self._failure.reason}")

    @staticmethod
    async def _close_adapter(adapter: AgentAdapter) -> None:
        with contextlib.suppress(Exception):  # a Twilio `stop` on a broken socket must not skip the close
            await adapter.stop()
        adapter.closing = True
        await adapter.close()

    async def _finish(self) -> CallResult:
        adapter = self.adapter
        self._streaming = False
        if adapter is not None:
            # Bounded as a whole: the UA waits for this result about close_timeout_s when the call ends.
            with contextlib.suppress(Exception):  # best effort: the socket may already be broken
                await asyncio.wait_for(self._close_adapter(adapter), self.config.close_timeout_s * 0.75)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        recording = ""
        recorder, self.recorder = self.recorder, None  # frames the port still delivers are not recorded
        if recorder is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(_RECORDING_WRITER, recorder.close)
                recording = self.recording_path
            except OSError:
                logger.exception("attempt %s: recording could not be written", self.call.attempt_id)
        with self._play_lock:
            spans = {turn: (s[0] * FRAME_MS, (s[1] + 1) * FRAME_MS) for turn, s in self._turn_play.items()}
            played_ms = sum(s[2] for turn, s in self._turn_play.items() if turn != "fallback") * FRAME_MS
            latencies = list(self._latencies)
        failure = self._failure
        return CallResult(
            disposition=AI_ERROR if failure is not None else None,
            reason=f"{failure.kind}: {failure.reason}" if failure is not None else self._stop_reason,
            transcript=self.transcript.as_list(spans.get),
            recording=recording,
            outcome=self.outcome,
            outcome_fields=self.outcome_fields,
            outcome_error=self.outcome_error,
            first_response_ms=latencies,
            usage=self.usage,
            ended_by="ai_error" if failure is not None else (self._ended_by or "ua"),
            transfer_requested=self.transfer_requested,
            played_ms=played_ms,
        )


class _Waker:
    """Wakes the senders of every session on one loop with at most one cross-thread call per media tick.

    The media thread pushes a frame for each call every 20 ms; one ``call_soon_threadsafe`` per frame would be
    one self-pipe write per call and tick, made while pjmedia holds its conference lock. Sessions with new
    frames are queued here instead, and a single loop callback wakes them all.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: deque[BridgeSession] = deque()
        self._scheduled = False

    def wake(self, session: BridgeSession) -> None:
        """Media thread: have ``session``'s sender run soon."""
        self._pending.append(session)
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed: the sessions are over, nobody reads
                self.loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        # Reset first: a session queued from now on schedules a new callback (it may also be served now).
        self._scheduled = False
        pending = self._pending
        while pending:
            pending.popleft()._wake_sender()


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker] = weakref.WeakKeyDictionary()
_wakers_lock = threading.Lock()


def _waker_for(loop: asyncio.AbstractEventLoop) -> _Waker:
    with _wakers_lock:
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = _Waker(loop)
        return waker


class MediaLoop:
    """The asyncio event loop of one UA process, on its own thread, hosting every call's `BridgeSession`.

    One loop serves all calls of the process: sessions are independent tasks, and `BridgeSession.run`
    never raises, so one call's failure cannot reach another.
    """

    def __init__(self, name: str = "media-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._log_exception)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @staticmethod
    def _log_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        logger.error("media loop: %s", context.get("message"), exc_info=context.get("exception"))

    def start(self) -> MediaLoop:
        """Start the loop thread; returns self."""
        self._thread.start()
        return self

    def submit(self, session: BridgeSession) -> concurrent.futures.Future[CallResult]:
        """Run a session on the loop; the future resolves to its `CallResult` (any thread)."""
        return asyncio.run_coroutine_threadsafe(session.run(), self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread (call after the sessions ended)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


def recording_file(root: Path, result: CallResult) -> Path | None:
    """The absolute path of a result's recording under ``root`` (None when not recorded)."""
    return root / result.recording if result.recording else None
