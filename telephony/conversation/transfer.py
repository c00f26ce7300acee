"""Cold transfer of a campaign call to a person, with its fallback (docs/transfer.md).

The agent asks for it with its ``transfer_call`` tool; the tool is offered only while one of the campaign's transfer
targets is staffed (in the target's own zone). Then, on the media loop:

1. the agent's last words (its "please hold") are played out, and the agent is cut off the call;
2. the call goes to the target: by SIP REFER when the trunk accepts it (202, then NOTIFY sipfrag to the end), else
   by a second call the UA places through the trunk and bridges to the caller's call in pjmedia's conference;
   meanwhile the caller hears a short hold message (local TTS);
3. the target answers (2xx) within its longest wait: the disposition is ``transferred``. Busy, declined, a refused
   REFER or no answer in time: the target's fallback (back to the agent with a message, a call-back offer, or a
   polite end).

What happened is kept as the attempt's ``transfer`` result: target, method, time to answer, accepted, fallback and
whether the caller hung up while waiting (abandoned).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import deque
from typing import Any

import numpy as np

from media.audio.frames import FRAME_MS, split_frames
from media.bridge.prompts import render_template
from media.speech.transfer_replies import REPLY_CORPUS, transfer_reply
from media.speech.tts import SpeechSynthesisError, Voice, synthesize
from telephony.conversation.handover import HandoverTranscript
from telephony.conversation.speech_stream import SpeechStream, Utterance
from telephony.transfers import (
    FALLBACK_AGENT,
    FALLBACK_CALLBACK,
    TransferTargetSpec,
    staffed_target,
    target_uri,
)

logger = logging.getLogger(__name__)

TRANSFERRED = "transferred"  # campaigns.choices.Disposition.TRANSFERRED
HOLD_MESSAGE = "Please hold while I connect you."
DEFAULT_FALLBACK_MESSAGES = {
    FALLBACK_AGENT: "Sorry, nobody is free to take your call right now. I am back with you.",
    FALLBACK_CALLBACK: "Sorry, nobody is free to take your call right now. We will call you back soon. Goodbye.",
    "end": "Sorry, nobody is free to take your call right now. Thank you for your time. Goodbye.",
}
# The agent's own "please hold" is played out before the caller is moved; bounded so a talkative agent cannot
# keep the caller from the person they asked for.
AGENT_GOODBYE_MAX_S = 8.0
# Beyond the target's longest wait: the REFER's NOTIFY or the CANCEL's answer may take a moment.
RESULT_MARGIN_S = 3.0
# Warm transfer: after the briefing the person at the target has this long to press a key or say it; 1 (or "yes,
# put them through") takes the call, anything else said that is a reply ("sorry, I can't take it now") declines.
ACCEPT_WAIT_S = 10.0
ACCEPT_KEY = "1"
BRIEFING_QUESTION = "Press 1 or say yes to take the call; press 2 or say no to decline."
HOLD_QUEUE_FRAMES = 25  # hold audio queued ahead (0.5 s)
HOLD_REFILL_S = 0.2
HOLD_LEVEL = 0.12  # of full scale: audible, not loud


def hold_audio() -> bytes:
    """Two seconds of hold audio (8 kHz PCM16): a soft two-note chime, no gap (a loop of it has none either)."""
    rate = 8000
    t = np.arange(rate) / rate
    notes = [np.sin(2 * np.pi * hz * t) * np.hanning(rate) ** 0.25 for hz in (523.25, 659.25)]
    return (np.concatenate(notes) * HOLD_LEVEL * 32767).astype("<i2").tobytes()


class TransferFlow:
    """The transfer part of `telephony.conversation.controller.CampaignCall` (a mixin: it uses the call's plan,
    session, control and playout helpers). State is owned by the media loop, except `_transfer_result`, which
    the pjsua thread fills through `call_soon_threadsafe`."""

    plan: Any
    session: Any
    loop: Any
    _bridged: bool
    _ended: bool
    _hung_up: bool
    _control: Any
    _answered_at: float
    _tx: Any
    recording: Any

    def _init_transfer(self) -> None:
        self.transfer: dict[str, Any] = {}
        self._transfer_result: asyncio.Future[int] | None = None
        self._transferring = False
        self._holding = False
        self._recording_only = False  # after a bridged or warm transfer: frames go to the recorder only
        # The warm transfer's replies: ("key", digit; "" when the person hung up) or ("voice", what was said).
        self._replies: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._consult_tx: deque[bytes] = deque()
        self._consult_listen: SpeechStream | None = None
        self._briefing_from_ms: int | None = None  # on the consultation stream's clock
        self.handover: HandoverTranscript | None = None
        self._handover_segments: list[dict[str, Any]] = []

    # ==== media loop ==========================================================================================

    def transfer_target_now(self) -> TransferTargetSpec | None:
        """The target a transfer would go to now (None: no transfer is offered)."""
        return staffed_target(self.plan.transfer_targets, dt.datetime.now(dt.UTC))

    def request_transfer(self, reason: str) -> bool:
        """The agent called ``transfer_call``: start the transfer; False when none is possible now."""
        if self._transferring or self._ended or self._hung_up or self._control is None:
            return False
        target = self.transfer_target_now()
        if target is None:
            return False
        self._transferring = True
        method = "warm" if target.warm else ("refer" if self.plan.allow_refer else "bridge")
        self.transfer = {
            "target": target.name,
            "destination": target.destination,
            "method": method,
            "reason": reason[:200],
            "requested_ms": self._since_answer_ms(),
            "answer_ms": None,
            "sip_code": None,
            "accepted": False,
            "fallback": "",
            "abandoned": False,
        }
        logger.info("attempt %s: transfer to %s by %s", self.plan.attempt_id, target.name, method)
        self._spawn(self._run_transfer(target, method))
        return True

    async def _run_transfer(self, target: TransferTargetSpec, method: str) -> None:
        await self._agent_done_speaking()
        self._bridged = False  # the agent no longer hears or speaks to the caller
        if self._ended:
            return
        loop = asyncio.get_running_loop()
        self._transfer_result = loop.create_future()
        self._replies = asyncio.Queue()
        if method == "warm":
            self._consult_listen = SpeechStream(self._consult_heard, REPLY_CORPUS)
            self._spawn(self._consult_listen.run())
        if method != "refer" and self.config.transcribe_after_handover:
            # The two people will talk through this UA: from the hand-over, each one is transcribed apart.
            self.handover = HandoverTranscript(self._spawn)
        started = time.monotonic()
        uri = target_uri(target.destination, self.plan.trunk_host_port, self.plan.trunk_uri_params)
        if method == "refer":
            self._control.transfer(uri, keep_call_on_failure=True)
        elif method == "warm":
            self._control.consult_transfer(uri, float(target.max_wait_s))
        else:
            self._control.bridge_transfer(uri, float(target.max_wait_s))
        # The caller hears the hold message, then hold audio, while the target rings (and, warm, is briefed).
        self._holding = True
        hold = self._spawn(self._hold())
        try:
            code = await asyncio.wait_for(asyncio.shield(self._transfer_result), target.max_wait_s + RESULT_MARGIN_S)
        except TimeoutError:
            code = 408  # no final answer in time (a REFER's NOTIFY that never came)
            if method != "refer":
                self._control.cancel_transfer("no answer in time")
        self.transfer["sip_code"] = code
        answered = 200 <= code < 300
        if answered:
            self.transfer["answer_ms"] = int((time.monotonic() - started) * 1000)
        if answered and method == "warm":
            answered = await self._consult(target)
        if self._consult_listen is not None:
            self._consult_listen.closed = True
        self._holding = False
        hold.cancel()
        self._tx.clear()  # the rest of the hold audio would talk over the person (or the fallback message)
        if answered:
            self.transfer["accepted"] = True
            self.disposition, self.reason = TRANSFERRED, f"transferred to {target.name} ({method})"
            if self.session is not None and method == "refer":
                self.session.request_stop("transferred")  # our leg is hung up by the call
            elif self.session is not None:
                # The two people talk through this UA until one hangs up: the agent leaves, and the recording
                # goes on (the caller's port hears both of them) until the end of the call.
                self._recording_only = True
                self.session.detach_agent("transferred")
            return
        logger.info(
            "attempt %s: transfer to %s failed (%s); fallback %s",
            self.plan.attempt_id,
            target.name,
            code,
            target.fallback,
        )
        await self._fall_back(target)

    async def _consult(self, target: TransferTargetSpec) -> bool:
        """Warm transfer: brief the person who answered, then wait for their reply: a key (1 takes the call) or
        words ("yes, put them through"; "sorry, I can't take it now" declines)."""
        briefing = self._briefing()
        self.transfer["briefing"] = briefing[:1000]
        try:
            audio = await asyncio.to_thread(synthesize, briefing, 8000, Voice(name=self.config.fallback_voice))
        except (SpeechSynthesisError, ValueError, OSError):
            logger.exception("attempt %s: the briefing could not be synthesised", self.plan.attempt_id)
            audio = b""
        listen = self._consult_listen
        # What the person says when picking up ("Sales desk, Jo speaking") is no reply: replies count from the
        # briefing on (recognised as "no", a "Hello?" at the pick-up would decline every call).
        self._briefing_from_ms = (listen.origin_ms or 0) + listen.heard_ms if listen is not None else 0
        self._consult_tx.extend(split_frames(audio))
        kind, reply = "", ""
        try:
            # A reply may come during the briefing (a person who already knows enough): it counts at once.
            kind, reply = await asyncio.wait_for(self._replies.get(), len(audio) / 16000 + ACCEPT_WAIT_S)
        except TimeoutError:
            kind, reply = "", ""
        self._consult_tx.clear()
        self.transfer["key"] = reply if kind == "key" else ""
        if kind == "voice":
            self.transfer["said"] = reply[:200]
        accepted = (kind == "key" and reply == ACCEPT_KEY) or (kind == "voice" and transfer_reply(reply) is True)
        if accepted and not self._ended:
            self._control.join_transfer()
            return True
        self.transfer["declined"] = True
        self._control.cancel_transfer("declined" if reply else "no reply")
        return False

    def _consult_heard(self, utterance: Utterance) -> None:
        """Something the person at a warm transfer's target said: a reply when it takes or declines the call."""
        if self._briefing_from_ms is None or utterance.start_ms < self._briefing_from_ms:
            return
        if transfer_reply(utterance.text) is not None:
            self._replies.put_nowait(("voice", utterance.text))

    def _briefing(self) -> str:
        """What the person at a warm transfer's target hears: who is on the line, what they said, the outcome."""
        name = str(self.plan.variables.get("name") or "the caller")
        parts = [f"Hello, this is the calling assistant with a transfer. {name} is on the line."]
        session = self.session
        if session is not None:
            said = [s.text for s in session.transcript.segments(lambda turn: None) if s.speaker == "caller" and s.text]
            if said:
                parts.append(f"They said: {' '.join(said[-2:])}.")
            if session.outcome:
                fields = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in session.outcome_fields.items())
                parts.append(f"Outcome so far: {session.outcome.replace('_', ' ')}{'; ' + fields if fields else ''}.")
        if self.transfer.get("reason"):
            parts.append(f"Reason for the transfer: {self.transfer['reason']}.")
        parts.append(BRIEFING_QUESTION)
        return " ".join(parts)

    async def _hold(self) -> None:
        await self._play(HOLD_MESSAGE)
        # Hold audio without gaps until the transfer ends: the caller knows the line is alive.
        frames = split_frames(hold_audio())
        while self._holding and not self._ended:
            if len(self._tx) < HOLD_QUEUE_FRAMES:
                self._tx.extend(frames)
            await asyncio.sleep(HOLD_REFILL_S)

    async def _fall_back(self, target: TransferTargetSpec) -> None:
        self.transfer["fallback"] = target.fallback
        text = render_template(
            target.fallback_message or DEFAULT_FALLBACK_MESSAGES[target.fallback], self.plan.variables
        )
        played = await self._play(text)
        self._transferring = False
        if target.fallback == FALLBACK_AGENT and self.session is not None and not self._ended:
            self._bridged = True  # the agent has the caller again
            # ... and is told why, in words, so it does not talk as if the person were on the line.
            self.session.tell_agent(transfer_failed_note(target.name, self.transfer, text))
            return
        if not self._ended:
            self.hangup(f"transfer failed: {target.fallback}" if played else "transfer failed")

    async def _agent_done_speaking(self) -> None:
        session = self.session
        if session is None:
            return
        deadline = time.monotonic() + AGENT_GOODBYE_MAX_S
        grace_s = self.config.end_call_grace_ms / 1000
        while time.monotonic() < deadline and not self._ended:
            if session.playout.empty and time.monotonic() - session.playout.last_audio_at >= grace_s:
                return
            await asyncio.sleep(FRAME_MS / 1000)

    def _since_answer_ms(self) -> int:
        return int((time.monotonic() - self._answered_at) * 1000) if self._answered_at else 0

    async def _close_handover(self) -> None:
        """At the end: what the two people said last is recognised before the call's results go (bounded)."""
        if self.handover is not None:
            self._handover_segments = await self.handover.close(self.config.close_timeout_s / 2)

    def _add_handover_transcript(self, results: dict[str, Any]) -> None:
        """After a hand-over the transcript goes on with the caller and the person at the target."""
        if self._handover_segments:
            results["transcript"] = [*(results.get("transcript") or []), *self._handover_segments]

    # ==== media clock thread: copy and return =================================================================

    def _clock_ms(self) -> int:
        """Milliseconds since the answer: the recording's clock when recorded (the transcript's times)."""
        recording = self.recording
        return recording.now_ms if recording is not None else self._since_answer_ms()

    def _handover_heard(self, pcm: bytes) -> None:
        """A frame from the caller: after a hand-over it is transcribed."""
        handover = self.handover
        if handover is not None and self._recording_only:
            handover.caller_frame(pcm, self._clock_ms())

    def _to_record(self, frame: bytes | None) -> bytes | None:
        """What the recording's second channel gets for a frame sent to the caller: after a hand-over (nothing is
        sent then), the person at the target; the agent has left."""
        handover = self.handover
        if frame is None and handover is not None and self._recording_only:
            return handover.frame_to_record()
        return frame

    # ==== pjsua thread ========================================================================================

    def on_transfer_status(self, call: Any, code: int, method: str) -> None:
        """The target's final answer (or the REFER's failure): hand it to the transfer's task on the loop."""
        with contextlib.suppress(RuntimeError):  # loop closed: the process is stopping
            self.loop.loop.call_soon_threadsafe(self._set_transfer_result, int(code))

    def attach_consult_media(self, call: Any, port: Any) -> None:
        """The warm transfer's target answered: it hears the briefing from `_consult_tx`, and what it says is
        recognised (a spoken reply)."""
        listen = self._consult_listen
        port.sink = listen.push if listen is not None else None
        port.source = self._consult_source

    def attach_transfer_media(self, call: Any, port: Any) -> bool:
        """The person at the target is on the line with the caller: their frames are recorded and transcribed."""
        if self.handover is None:
            return False
        port.sink = self._human_frame
        port.source = None
        return True

    def _human_frame(self, pcm: bytes) -> None:
        handover = self.handover
        if handover is not None:
            handover.human_frame(pcm, self._clock_ms())

    def _consult_source(self) -> bytes | None:
        try:
            return self._consult_tx.popleft()
        except IndexError:
            return None

    def on_transfer_dtmf(self, call: Any, digit: str) -> None:
        """A key from the person at the target ("" when they hung up during the consultation)."""
        with contextlib.suppress(RuntimeError):  # loop closed: the process is stopping
            self.loop.loop.call_soon_threadsafe(self._replies.put_nowait, ("key", digit))

    def _set_transfer_result(self, code: int) -> None:
        future = self._transfer_result
        if future is not None and not future.done():
            future.set_result(code)

    # ==== at the end ==========================================================================================

    def _transfer_at_end(self) -> dict[str, Any]:
        """The transfer record for the ledger; a caller who hung up while on hold for a person was abandoned."""
        record = dict(self.transfer)
        if record and self._transferring and not record.get("accepted") and record.get("sip_code") is None:
            # FCC abandonment: the person asked for a human and hung up before one came on the line.
            record["abandoned"] = True
            record["fallback"] = record.get("fallback") or ""
        return record

    # Provided by CampaignCall.
    config: Any
    disposition: str | None
    reason: str

    def _spawn(self, coro: Any) -> Any:
        raise NotImplementedError


    async def _play(self, text: str) -> bool:
        raise NotImplementedError

    def hangup(self, reason: str) -> None:
        raise NotImplementedError


def transfer_failed_note(target: str, record: dict[str, Any], said: str) -> str:
    """What the agent is told when a transfer failed and the caller is back with it: why, and what the caller
    just heard, so it neither talks as if the person were on the line nor tries the same transfer at once."""
    code = record.get("sip_code")
    if record.get("declined"):
        why = "the person there declined the call"
    elif code in (486, 600):
        why = "the line was busy"
    elif code in (408, 480, 487) or code is None:
        why = "nobody answered in time"
    else:
        why = f"the call did not go through (SIP {code})"
    return (f"Note from the phone system: the transfer to {target} did not work: {why}. The caller has just "
            f'heard: "{said}". Go on helping them yourself; offer the transfer again only if they ask for it.')
