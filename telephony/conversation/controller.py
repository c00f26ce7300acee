"""The campaign call: answering-machine detection, the AI bridge, voicemail drops, opt-out (the UA pool's default
per-call hooks).

One `CampaignCall` per attempt, built from the `OriginateCommand` alone: the agent, AMD policy, voicemail message,
opt-out digit and contact variables travel in the originate command (`campaigns/dialer/handoff.py`), so nothing here
reads the ORM. Three threads touch a call:

* pjsua thread: the `CallHooks` methods (copy and return; `on_ended` waits at most `close_timeout_s + 1` s).
* media clock thread: `_sink` / `_source`, 20 ms frames, deque appends and pops only.
* the process's `MediaLoop` (asyncio): the call's controller (AMD, then the bridge or the machine policy), the
  `BridgeSession`, the voicemail and thank-you playout.

What must reach the ledger during the call (`Bridged`, `OptedOut`) leaves as `telephony.contract` events on the
manager's queue, is spooled to disk and reported by the worker's ledger thread; the results go with the `Ended`
event.

Flow after the answer: the agent stays silent while AMD listens (unless the campaign greets at once, in which
case the bridge starts at answer and AMD listens alongside). Human or unknown: the bridge starts (the caller's
audio from then on goes to the AI, the AI's to the caller); after an unknown decision a late beep can still make
it a machine. Machine: hang up, or leave the voicemail message (`telephony.conversation.machine`). Opt-out (the
campaign's DTMF digit, an ``opted_out`` outcome from the agent, or an opt-out phrase in the caller's transcript):
the number goes on the company-wide do-not-call list at once, then a short thank-you and the hangup (an agent that
is already saying goodbye gets a few seconds to finish), disposition ``opted_out``. Transfer to a person (the
agent's ``transfer_call`` tool, offered while a target is staffed): `telephony.conversation.transfer`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from media.amd import AmdDecision, AmdLabel, AnsweringMachineDetector
from media.audio.frames import FRAME_MS, split_frames
from media.bridge.config import DEFAULT_FALLBACK, BridgeConfig, CallContext
from media.bridge.loop import MediaLoop
from media.bridge.playout import SILENCE
from media.bridge.result import CallResult
from media.bridge.session import BridgeSession
from telephony.contract import Bridged, CallEvent, OptedOut, OriginateCommand
from telephony.conversation import opt_out
from telephony.conversation.machine import MachineFlow
from telephony.conversation.plan import (
    CallPlan,
    bridge_config_from_settings,
    call_plan_from_settings,
    process_media_loop,
)
from telephony.conversation.recording import AnswerRecording, add_recording_results
from telephony.conversation.transfer import TRANSFERRED, TransferFlow
from telephony.ua.call import OutboundCall
from telephony.ua.hooks import CallControl, CallHooks, EndReport
from telephony.ua.media_port import CallMediaPort
from telephony.ua.settings import process_settings

logger = logging.getLogger(__name__)

# Dispositions (campaigns.choices.Disposition values; the UA does not import the models).
HUMAN, AI_ERROR, OPTED_OUT, FAILED = "human", "ai_error", "opted_out", "failed"
WATCH_INTERVAL_S = 0.1
PLAYOUT_MARGIN_S = 2.0
LISTEN_BUFFER_FRAMES = 1500  # 30 s of received audio kept for AMD / beep detection


def campaign_call(command: OriginateCommand) -> CampaignCall:
    """Hooks factory for the UA worker (`telephony.ua.settings.MEDIA_HOOKS`), with the worker's UA settings."""
    ua = process_settings()
    return CampaignCall(call_plan_from_settings(command, ua), process_media_loop(), bridge_config_from_settings(ua))


class _BridgeControls:
    """`media.bridge.CallControls` over the UA's thread-safe `CallControl` (posts to the pjsua thread)."""

    def __init__(self, hooks: CampaignCall) -> None:
        self.hooks = hooks

    def hangup(self, reason: str) -> None:
        """Hang the call up (the agent ended it, or the fallback message was played)."""
        self.hooks.hangup(reason)

    def transfer(self, reason: str) -> bool:
        """Start a cold transfer to the campaign's staffed target (False when none is staffed now)."""
        return self.hooks.request_transfer(reason)


class CampaignCall(MachineFlow, TransferFlow, CallHooks):
    """One attempt's conversation: AMD, then the AI bridge or the machine policy; opt-out at any time.

    Args:
        plan: what the call does.
        loop: the process's media loop.
        config: bridge settings.
    """

    def __init__(self, plan: CallPlan, loop: MediaLoop, config: BridgeConfig) -> None:
        self.plan = plan
        self.loop = loop
        self.config = config
        self._control: CallControl | None = None
        self._emit: Callable[[CallEvent], None] | None = None
        # Media thread <-> loop.
        self._answered = False
        self._answered_at = 0.0  # time.monotonic() of the answer: AMD's wall-clock deadline counts from here
        self._heard_audio = False  # a frame with sound (not digital silence) arrived after the answer
        self._listening = False
        self._rx: deque[bytes] = deque(maxlen=LISTEN_BUFFER_FRAMES)
        self._tx: deque[bytes] = deque()
        self._bridged = False
        self.session: BridgeSession | None = None
        self.agent_first_audio_at: dt.datetime | None = None
        # Loop-owned state.
        self._session_task: asyncio.Task[CallResult] | None = None
        self._controller: concurrent.futures.Future[None] | None = None
        self._late_task: asyncio.Task[Any] | None = None  # the late-beep watch after an unknown AMD decision
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ended = False
        self.amd: AmdDecision | None = None
        self.opted_out = ""  # how: "dtmf", "agent", "phrase"
        self.disposition: str | None = None
        self.reason = ""
        self.voicemail: dict[str, Any] = {}
        self._hung_up = False
        # D15: recorded from the answer (AMD's listening and a voicemail drop included), not from the bridge.
        self.recording: AnswerRecording | None = None
        self._init_transfer()

    # ==== pjsua thread ========================================================================================

    def attach_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
        """Take the call's audio both ways."""
        self._control = call.control
        self._emit = call.manager.emit
        port.sink = self._sink
        port.source = self._source
        return True

    def on_answered(self, call: OutboundCall) -> None:
        """Start the call's controller on the media loop."""
        self._control = self._control or call.control
        self._emit = self._emit or call.manager.emit
        self._answered_at = time.monotonic()
        if self.config.recordings_root is not None and self.recording is None:
            self.recording = AnswerRecording(self.config.recordings_root, self.plan.attempt_id,
                                             self.config.recording_flush_s)
        self._answered = True
        self._listening = self.plan.amd_enabled
        self._controller = asyncio.run_coroutine_threadsafe(self._guarded(self._control_call()), self.loop.loop)

    def on_dtmf(self, call: OutboundCall, digit: str, method: str) -> None:
        """The campaign's opt-out key opts out; other keys go to the agent."""
        if not self._answered:
            return
        if self.plan.opt_out_digit and digit == self.plan.opt_out_digit:
            self._call_soon(self._opt_out, "dtmf")
        elif self.session is not None:
            self.session.push_dtmf(digit)

    def on_ended(self, call: OutboundCall, event: EndReport) -> None:
        """Collect the bridge's result and this call's own findings into the ledger event."""
        if self._controller is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._collect(), self.loop.loop)
        try:
            result = future.result(timeout=self.config.close_timeout_s + 1)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError):
            logger.warning("attempt %s: media results not ready at the end of the call", self.plan.attempt_id)
            result = None
        self._apply(event, result)

    # ==== media clock thread: copy and return =================================================================

    def _sink(self, pcm: bytes) -> None:
        if not self._answered:
            return  # early media: AMD starts at the answer
        if not self._heard_audio and pcm.strip(b"\x00"):
            self._heard_audio = True
        recording = self.recording
        if recording is not None:
            recording.heard(pcm)
        if self._listening:
            self._rx.append(pcm)
        session = self.session
        if session is not None and (self._bridged or self._recording_only):
            session.push_received_frame(pcm)
        self._handover_heard(pcm)

    def _source(self) -> bytes | None:
        frame, from_bridge = self._next_frame()
        recording = self.recording
        if recording is not None and self._answered:
            recording.played(self._to_record(frame), from_bridge=from_bridge)
        return frame

    def _next_frame(self) -> tuple[bytes | None, bool]:
        if self._tx:
            with contextlib.suppress(IndexError):  # emptied by the loop meanwhile
                return self._tx.popleft(), False
        session = self.session
        if session is not None and self._recording_only:
            session.pull_frame_to_play()  # the agent channel of the recording goes on, silent
            return None, False
        if session is not None and self._bridged:
            frame = session.pull_frame_to_play()
            if frame is not SILENCE and self.agent_first_audio_at is None:
                self.agent_first_audio_at = dt.datetime.now(dt.UTC)
            return frame, True
        return None, False

    # ==== any thread ==========================================================================================

    def hangup(self, reason: str) -> None:
        """Ask the pjsua thread to hang up."""
        self._hung_up = True
        if self._control is not None:
            self._control.hangup(reason)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed: the process is stopping
            self.loop.loop.call_soon_threadsafe(fn, *args)

    # ==== media loop ==========================================================================================

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:  # one call's bug must not reach the other calls on the loop
            logger.exception("attempt %s: media controller failed", self.plan.attempt_id)
            if not self._ended and not self._hung_up:
                self.hangup("media error")

    async def _control_call(self) -> None:
        plan = self.plan
        if self.recording is not None:
            self._spawn(self.recording.flush_forever())
        if plan.agent is None:
            self.disposition, self.reason = AI_ERROR, f"config: {plan.agent_error}"
            await self._play(DEFAULT_FALLBACK)
            self.hangup(f"AI failure: {plan.agent_error}")
            return
        if not plan.amd_enabled or plan.amd.greet_immediately:
            self._start_bridge()
        if plan.amd_enabled:
            detector = AnsweringMachineDetector(plan.amd)
            decision = await self._detect(detector)
            if decision is None:
                await self._on_no_audio()
                return
            self.amd = decision
            logger.info("attempt %s: AMD %s (%s) at %d ms", plan.attempt_id, decision.label, decision.reason,
                        decision.decided_ms)
            if decision.label == AmdLabel.MACHINE:
                await self._on_machine(decision)
                return
            if decision.label == AmdLabel.UNKNOWN and plan.amd.late_beep_window_ms > 0:
                self._late_task = self._spawn(self._late_beep(decision, detector.talker_dbfs))
            else:
                self._listening = False
                self._rx.clear()
            # The detector heard the callee's "hello?": without a greeting the model would wait for words that
            # already went by, and the person would hear silence (an abandoned call). Let the model open.
            self._start_bridge(open_call=True)
        self._start_bridge()
        await self._watch_bridge()

    async def _detect(self, detector: AnsweringMachineDetector) -> AmdDecision | None:
        """AMD's decision, due by the answer + its deadline on the wall clock; None when no audio came by then.

        The detector counts its deadline in audio frames; frames that never arrive (no RTP, a stream that
        moved) would keep it waiting for ever, and the call would stay up with nobody on it.
        """
        deadline = self._answered_at + self.plan.amd.max_decision_ms / 1000
        while True:
            while self._rx:
                decision = detector.feed(self._rx.popleft())
                if decision is not None:
                    # Frames of digital silence only (every sample 0): the far end sent no sound at all, which
                    # is a dead line, not a silent person (a real line carries at least its noise).
                    return decision if self._heard_audio else None
            if time.monotonic() >= deadline:
                if not self._heard_audio:
                    return None
                return _decide_at_deadline(detector, self.plan.amd.max_decision_ms)
            await asyncio.sleep(FRAME_MS / 1000)

    async def _on_no_audio(self) -> None:
        """Answered, and no frames or only digital silence by AMD's deadline: end the call as failed."""
        seconds = self.plan.amd.max_decision_ms / 1000
        self._listening = False
        if self.session is not None:  # greeted at once: nobody heard it
            self._bridged = False
            self.session.request_stop("no audio")
        self.disposition, self.reason = FAILED, f"answered but no audio after {seconds:g} s"
        logger.info("attempt %s: %s", self.plan.attempt_id, self.reason)
        self.hangup("no audio after the answer")

    def _start_bridge(self, *, open_call: bool = False) -> None:
        if self.session is not None or self._ended or self.opted_out:
            return
        assert self.plan.agent is not None  # noqa: S101 - checked by the controller
        agent = self.plan.agent
        if open_call and not agent.greeting.strip():
            agent = replace(agent, open_call=True)
        context = CallContext(self.plan.attempt_id, self.plan.variables, disclosures=self.plan.disclosures)
        # The call records from the answer itself (self.recording): the session must not make a second file.
        # The transfer tool is offered only while a target is staffed (in its own zone), decided as the agent joins.
        config = replace(self.config, recordings_root=None,
                         transfer_available=self.transfer_target_now() is not None)
        self.session = BridgeSession(agent, context, config, _BridgeControls(self))
        self._session_task = asyncio.get_running_loop().create_task(self.session.run())
        self._bridged = True
        if self._emit is not None:
            self._emit(Bridged(self.plan.attempt_id))

    async def _watch_bridge(self) -> None:
        """Watch the agent's outcome and the caller's words for an opt-out while the bridge runs."""
        session, task = self.session, self._session_task
        if session is None or task is None:
            return
        checked = 0
        while not task.done():
            if opt_out.is_opt_out_label(session.outcome):
                self._opt_out("agent")
                return
            callers = [s for s in session.transcript.segments(lambda turn: None) if s.speaker == "caller"]
            if len(callers) > checked:
                checked = len(callers)
                # Segments are sorted by start time, so a new one may sort before older ones: check them all.
                if any(opt_out.is_opt_out_phrase(segment.text) for segment in callers):
                    self._opt_out("phrase")
                    return
            await asyncio.sleep(WATCH_INTERVAL_S)

    def _opt_out(self, how: str) -> None:
        if self.opted_out or self._ended:
            return
        self.opted_out = how
        self.disposition, self.reason = OPTED_OUT, f"opted out ({how})"
        logger.info("attempt %s: opted out by %s", self.plan.attempt_id, how)
        if self._emit is not None:
            # Compliance: the do-not-call entry is written by the ledger thread now, not at the end of the call.
            self._emit(OptedOut(self.plan.attempt_id, number=self.plan.destination, how=how))
        if how == "dtmf":  # AMD or the voicemail drop stop here
            for flow in (self._controller, self._late_task):
                if flow is not None:
                    flow.cancel()
        self._spawn(self._finish_opt_out(how))

    async def _finish_opt_out(self, how: str) -> None:
        task = self._session_task
        if how != "dtmf" and task is not None and not task.done():
            # The agent heard it and is probably saying its own goodbye: let it end the call.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), opt_out.OPT_OUT_AGENT_GRACE_S)
            if self._hung_up or self._ended:
                return
        self._listening = False
        if self.session is not None:
            self._bridged = False
            self.session.request_stop("opted out")
        self._tx.clear()  # the rest of a voicemail message: the thank-you comes now
        await self._play(opt_out.THANK_YOU)
        self.hangup("opted out")

    async def _play(self, text: str, *, cache: bool = True) -> bool:
        """Speak `text` to the callee with local TTS; True once it was played to the end.

        ``cache=False`` for a text rendered from the contact's variables (F21: unique per contact).
        """
        from media.speech.tts import SpeechSynthesisError, Voice, synthesize

        try:
            audio = await asyncio.to_thread(synthesize, text, 8000, Voice(name=self.config.fallback_voice),
                                            cache=cache)
        except (SpeechSynthesisError, ValueError, OSError):
            logger.exception("attempt %s: could not synthesise %d characters", self.plan.attempt_id, len(text))  # F23
            return False
        frames = split_frames(audio)
        self._tx.extend(frames)
        deadline = time.monotonic() + len(frames) * FRAME_MS / 1000 + PLAYOUT_MARGIN_S
        # The media clock drains the deque; a tick-long poll is the simplest cross-thread wait.
        while self._tx and not self._ended and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(FRAME_MS / 1000)
        # The last frame left the deque: give it one more tick to be sent.
        await asyncio.sleep(FRAME_MS / 1000)
        return not self._tx and not self._ended

    async def _collect(self) -> CallResult | None:
        """End everything of this call on the loop; return the bridge's result (None when never bridged)."""
        self._ended = True
        self._listening = False
        self._tx.clear()
        if self._controller is not None:
            self._controller.cancel()
        for pending in list(self._tasks):
            pending.cancel()
        result = await self._stop_session()
        await self._close_handover()
        if self.recording is not None:
            await self.recording.close()
        return result

    async def _stop_session(self) -> CallResult | None:
        session, task = self.session, self._session_task
        if session is None or task is None:
            return None
        session.request_stop("call ended")
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.config.close_timeout_s + 0.5)
        except (TimeoutError, asyncio.CancelledError):
            return None

    # ==== pjsua thread, at the end ============================================================================

    def _apply(self, event: EndReport, result: CallResult | None) -> None:
        data = event.data
        results: dict[str, Any] = data.setdefault("results", {})
        if result is not None:
            results.update(result.results())
        add_recording_results(results, self.recording, self.voicemail)
        self._add_handover_transcript(results)  # on the answer's clock, as the rest once rebased above
        if self.amd is not None:
            results["amd_result"] = self.amd.label.value
        if self.agent_first_audio_at is not None:
            results["agent_first_audio_at"] = self.agent_first_audio_at
        if self.transfer:
            results["transfer"] = self._transfer_at_end()
        answered_human = data.get("disposition") == HUMAN
        if self.opted_out:
            # Compliance: an opt-out decides the disposition whatever else happened on the call.
            data["disposition"], data["reason"] = OPTED_OUT, self.reason
        elif self.disposition == TRANSFERRED and answered_human:
            data["disposition"], data["reason"] = self.disposition, self.reason
        elif result is not None and result.disposition == AI_ERROR and answered_human:
            data["disposition"], data["reason"] = AI_ERROR, result.reason
        elif self.disposition is not None and answered_human:
            data["disposition"], data["reason"] = self.disposition, self.reason


def _decide_at_deadline(detector: AnsweringMachineDetector, max_decision_ms: int) -> AmdDecision:
    """The detector's own decision at its deadline, the frames that never arrived counted as silence."""
    for _ in range(max_decision_ms // FRAME_MS + 1):
        decision = detector.feed(SILENCE)
        if decision is not None:
            return decision
    return AmdDecision(AmdLabel.UNKNOWN, "undecided", detector.elapsed_ms, None)
