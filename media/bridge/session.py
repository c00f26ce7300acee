"""The per-call media bridge: 20 ms PCM16 frames between a SIP call and an AI agent over WebSocket.

Two sides, two threads:

* The **media thread** (pjmedia's conference bridge clock) calls `BridgeSession.push_received_frame` with
  each frame heard from the callee and `BridgeSession.pull_frame_to_play` for each frame to send, every
  20 ms. Both only copy bytes into or out of deques under a lock held for microseconds, and never wait for
  the network: they run while pjmedia holds its conference lock, so a slow callback would delay every call
  of the process.
* The **event loop** (one asyncio loop per UA process, `loop.MediaLoop`) runs `BridgeSession.run`: it sends the
  buffered caller frames to the adapter as they come, turns the adapter's events into playout, transcript,
  outcome and usage, and handles barge-in and failures.

The parts: `inbound.Inbound` (caller frames to the agent), `playout.Playout` (agent audio paced by the media
clock; its tick count is the call's clock, shared by the stereo recording and the transcript),
`result.CallResult`, `loop.MediaLoop`, `guards` (F20: the playout cap, the AI silence timeout). This module
holds the session that ties them to the adapter: its events, tool calls, failures and the end of the call.

How a call uses it: `telephony.conversation.controller.CampaignCall` and docs/media-bridge.md. The session asks
the UA to hang up or transfer through its `CallControls`, on the event loop: they only post to the pjsua thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

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
from media.audio.frames import FRAME_MS
from media.audio.recording import StereoRecorder
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.controls import CallControls, NoControls
from media.bridge.disclosures import played_disclosures, queue_disclosures
from media.bridge.guards import playout_overflow, watch_ai_silence
from media.bridge.inbound import Inbound
from media.bridge.playout import Playout
from media.bridge.prompts import END_CALL, RECORD_OUTCOME, TRANSFER_CALL, referenced_variables, render_spoken
from media.bridge.result import AI_ERROR, BridgeStats, CallResult, outcome_from_tool_call, sum_usage
from media.bridge.transcript import Transcript

logger = logging.getLogger(__name__)

# One writer thread for the recordings of every call in the process. Measured with 50 calls: flushing
# through the default executor (up to 6 threads) let those threads queue for the GIL ahead of the media
# clock thread, which then ran up to a second late; one thread keeps the file work out of the loop without
# that convoy. The work per flush is small (one second of audio interleaved, 32 KB written).
_RECORDING_WRITER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="recordings")


class BridgeSession:
    """One call bridged to one AI agent.

    Args:
        agent: the campaign's agent (provider, prompt, outcome schema...).
        call: the call (attempt id, contact variables).
        config: bridge settings.
        controls: how to hang up or transfer the call (default: no-ops).
        adapter_factory: builds the adapter (default: `media.adapters.factory.make_adapter`).
    """

    def __init__(self, agent: AgentConfig, call: CallContext, config: BridgeConfig | None = None,
                 controls: CallControls | None = None,
                 adapter_factory: Callable[..., AgentAdapter] | None = None) -> None:
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
        self.inbound = Inbound(self.config.inbound_buffer_frames, self.config.speech_rms_threshold, self.stats)
        self.playout = Playout(self.stats)
        self.playout.on_marks = self._marks_played
        self._loop: asyncio.AbstractEventLoop | None = None
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
        self._agent_detached = False
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

    # ==== media thread ====================================================================================

    def push_received_frame(self, pcm: bytes) -> None:
        """Take one 20 ms frame heard from the callee (PCM16 LE mono 8 kHz). Media thread; never blocks."""
        tick = self.playout.ticks
        recorder = self.recorder  # one read: the loop drops it when the call ends
        if recorder is not None:
            recorder.add_caller(pcm, tick)
        self.inbound.push(pcm, tick)

    def pull_frame_to_play(self) -> bytes:
        """Return the next 20 ms frame to send to the callee (silence when nothing is queued). Media thread."""
        out = self.playout.pull(self.inbound.last_voiced_tick)
        recorder = self.recorder
        if recorder is not None:
            recorder.add_agent(out)
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

    def detach_agent(self, reason: str) -> None:
        """The agent leaves a call that goes on without it (handed to a person): the AI connection closes, while
        the frames pushed and pulled are still recorded until `request_stop`. Event loop only."""
        if self._agent_detached:
            return
        self._agent_detached = True
        self._stop_reason = self._stop_reason or reason
        self.inbound.streaming = False
        adapter = self.adapter
        if adapter is not None:
            adapter.closing = True  # its connection ending now is ours, not the agent hanging up
            self._spawn_untracked(self._close_quietly(adapter))

    async def _close_quietly(self, adapter: AgentAdapter) -> None:
        with contextlib.suppress(Exception):  # the agent is gone either way; the call and its recording go on
            await self._close_adapter(adapter)

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
        return self.playout.ticks * FRAME_MS

    @property
    def streaming(self) -> bool:
        """Whether the agent's session is up and caller audio flows to it."""
        return self.inbound.streaming

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
        if self.adapter is not None and self.inbound.streaming:
            self._spawn(self.adapter.send_dtmf(digit))

    def tell_agent(self, text: str) -> None:
        """Tell the model what happened on the call (a transfer that failed), so it can say so. Event loop only."""
        if self.adapter is not None and self.inbound.streaming:
            self._spawn(self.adapter.send_note(text))

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
            self.inbound.streaming = False
            self._stop_event.set()

    async def run(self) -> CallResult:
        """Bridge the call until it ends; never raises (failures become an ``ai_error`` result).

        Returns:
            The call's `CallResult`.
        """
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested_early:
            self._stop(self._stop_reason, "ua")
        self.playout.attach(self._loop)
        self.inbound.attach(self._loop)
        try:
            await queue_disclosures(self.call, self.config, self.playout)
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
        self.inbound.streaming = True
        self._spawn(self.inbound.send_loop(self.adapter))
        self._spawn(self._run_adapter())
        ending = lambda: self.transfer_requested or self._end_task is not None  # noqa: E731 - silence expected
        self._spawn(watch_ai_silence(self.playout, self.inbound, self.config, ending))
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
            if self._failure is None:  # F20: checked before queueing, so the queue never passes the cap
                overflow = playout_overflow(self.playout, self.config, len(event.pcm))
                if overflow is not None:
                    self._fail(overflow)
                else:
                    self.playout.queue_audio(event)
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
            self.playout.end_turn(event.turn)
        elif isinstance(event, Mark):
            self.playout.queue_mark(event.name)
        elif isinstance(event, CallerTranscript):
            self._add_caller_text(event)
        elif isinstance(event, AgentTranscript):
            self.transcript.add_agent(event.text, event.turn, self.now_ms)
        elif isinstance(event, ToolCall):
            self._spawn(self._on_tool_call(event))
        elif isinstance(event, Usage):
            sum_usage(self.usage, event.data)
        elif isinstance(event, AgentHangup):
            self._ended_by = "agent"
            self._spawn(self._end_after_playout(event.reason, grace_ms=0))

    def _input_ms(self, audio_ms: int) -> int:
        origin = self.inbound.origin_tick or 0
        return origin * FRAME_MS + audio_ms

    def _marks_played(self, names: list[str]) -> None:
        if self.adapter is None or not self.inbound.streaming:
            return
        for name in names:
            self._spawn(self.adapter.mark_played(name))

    def _barge_in(self, *, truncate: bool) -> None:
        """Flush playout now (the next tick plays silence) and tell the model how much it said was heard."""
        flushed = self.playout.flush()
        if flushed.marks:
            # Marks dropped by the flush are echoed too, so agents that wait for them do not stall.
            self._marks_played(flushed.marks)
        if truncate and flushed.turn and self.adapter is not None and self.inbound.streaming:
            self._spawn(self.adapter.truncate(flushed.turn, flushed.heard_ms))

    def _add_caller_text(self, event: CallerTranscript) -> None:
        start = self._speech_start_ms.get(event.item_id) if event.item_id else None
        end = self._speech_end_ms.get(event.item_id) if event.item_id else None
        if start is None:
            # No provider times: the bridge's own view of the latest caller utterance.
            start = self.inbound.utterance_start_tick * FRAME_MS
            end = (self.inbound.last_voiced_tick + 1) * FRAME_MS
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
        outcome = outcome_from_tool_call(self.agent.outcome_schema, call.arguments, call.raw)
        # F13: an invalid outcome never replaces a valid one recorded earlier; the model is told and may retry.
        if outcome.valid or not self.outcome:
            self.outcome, self.outcome_fields, self.outcome_error = outcome.label, outcome.fields, outcome.error
        return {"ok": not outcome.problems, "errors": outcome.problems}

    async def _end_after_playout(self, reason: str, *, grace_ms: int) -> None:
        """Hang up once the agent's audio has been played and no more came for ``grace_ms``."""
        while True:
            idle_s = time.monotonic() - self.playout.last_audio_at
            if self.playout.empty and idle_s * 1000 >= grace_ms:
                break
            await asyncio.sleep(FRAME_MS / 1000)
        self.controls.hangup(reason)
        self._stop(reason, "agent")

    # ---- failure and end ---------------------------------------------------------------------------------

    async def _play_fallback(self) -> None:
        """Speak the fallback message to the caller, then hang up (unless the call is already gone)."""
        from media.speech.tts import SpeechSynthesisError, Voice, synthesize

        self.inbound.streaming = False
        assert self._failure is not None  # noqa: S101
        if self._stop_reason and self._ended_by == "ua":
            return  # the caller is gone: nobody to speak to
        self._ended_by = "ai_error"
        self._barge_in(truncate=False)
        template = self.agent.fallback_message or self.config.fallback_message
        text = render_spoken(template, self.call.variables, self.config.prompt_variable_max_chars)
        audio = b""
        try:
            audio = await asyncio.to_thread(synthesize, text, 8000, Voice(name=self.config.fallback_voice),
                                            cache=not referenced_variables(template))  # F21: per contact
        except (SpeechSynthesisError, ValueError, OSError):
            logger.exception("attempt %s: fallback message could not be synthesised", self.call.attempt_id)
        if audio:
            stop = asyncio.Event()
            self._stop_event = stop  # a UA stop (caller hung up) ends the fallback early
            self.playout.queue_audio(AgentAudio(audio, "fallback"))
            self.playout.end_turn("fallback")
            deadline = time.monotonic() + len(audio) / 16000 + 2.0
            # The media thread drains the queue; polling once a tick is the simplest cross-thread wait.
            while not self.playout.empty and not stop.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
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
        self.inbound.streaming = False
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
        spans, played_ms, latencies = self.playout.summary()
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
            disclosures=played_disclosures(self.call, self.playout),
        )
