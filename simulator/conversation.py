"""One simulated callee's side of a call: what it hears (energy VAD), what it says (eSpeak NG), when it hangs up.

No pjsua2 here. The conference bridge clock thread only calls `on_frame` (a deque append) and `next_frame` (a
deque pop); everything else runs on the worker's conversation thread through `step()`, about every 20 ms.

Turn-taking: after each of its lines, a person waits for the agent's turn — speech that starts, then
`silence_ms` of silence after it, ending while the person is silent — then says the next line. After the last
line it waits for one more agent turn (the goodbye) or `final_wait_s`, pauses `hangup_delay_s` and hangs up.
"""

from __future__ import annotations

import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from media.audio.vad import EnergyVad, VadConfig, VadEventKind
from media.speech.tts import Voice, synthesize
from simulator.personas import (
    FOLLOW_UP_PAUSE_S,
    FOLLOW_UPS,
    GREETING,
    INTERRUPTION,
    KEYS,
    NUDGE,
    OPENINGS,
    REPLIES,
    Persona,
    SimulatorOptions,
)

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2  # PCM16 mono, 320 bytes per 20 ms


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut PCM16 audio into 20 ms frames, padding the last one with silence."""
    if len(pcm) % FRAME_BYTES:
        pcm += bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def tone(hz: float, seconds: float, level: float = 0.3) -> bytes:
    """A sine tone as PCM16 at 8 kHz (`level` of full scale)."""
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2").tobytes()


def speech(text: str, options: SimulatorOptions) -> bytes:
    """The person's voice saying `text` (PCM16, 8 kHz; cached by `synthesize`; the same samples on every run)."""
    return synthesize(text, RATE, Voice(words_per_minute=options.words_per_minute), repeatable=True)


class Conversation:
    """The callee's behaviour on one call.

    Args:
        persona: who answers.
        options: timings of the run.
        number: the dialed number; call_id: the SIP Call-ID; worker: the worker's name (for the log).
        clock: monotonic clock (seconds).
    """

    def __init__(self, persona: Persona, options: SimulatorOptions, *, number: str, call_id: str, worker: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.persona = persona
        self.options = options
        self.number = number
        self.call_id = call_id
        self.worker = worker
        self.clock = clock
        self.started = clock()
        self.started_at = datetime.now(UTC)
        self._rx: deque[bytes] = deque()
        self._tx: deque[bytes] = deque()
        self._lock = threading.Lock()  # events are added from the pjsua thread and the conversation thread
        self.events: list[dict[str, Any]] = []
        self.said: list[dict[str, Any]] = []
        self.heard: list[dict[str, Any]] = []
        self.recording: bytearray | None = bytearray() if options.record_dir else None
        self.vad = EnergyVad(RATE, VadConfig(threshold=options.vad_threshold, prefix_padding_ms=0,
                                             silence_duration_ms=options.silence_ms, min_speech_ms=100))
        self.answered_at: float | None = None  # set by the pjsua thread at CONFIRMED
        self.state = "ringing"
        self.replies = list(REPLIES.get(persona, ()))
        self.tx_end = self.started  # when the audio queued so far finishes playing
        self.turn_started = False  # the agent began speaking since our last line was queued
        self.last_activity = self.started
        self.nudged = False
        self.leave_at: float | None = None
        self.leave_reason = ""
        self.hangup_requested = False
        self._segment_start_ms: int | None = None
        self._segment_start_vad: int | None = None
        self.interruption: dict[str, Any] | None = None
        self.voicemail: dict[str, Any] | None = None
        self.keys: deque[str] = deque()  # DTMF to send, taken by the pjsua thread
        self.key_pressed = False
        self.said_reply = False

    # ---- bridge clock thread: copy and return -----------------------------------------------------------

    def on_frame(self, pcm: bytes) -> None:
        """A 20 ms frame heard from the caller."""
        self._rx.append(pcm)

    def next_frame(self) -> bytes | None:
        """The next 20 ms frame to send (None: silence)."""
        try:
            return self._tx.popleft()
        except IndexError:
            return None

    # ---- any thread --------------------------------------------------------------------------------------

    def ms(self, at: float | None = None) -> int:
        """Milliseconds since the INVITE arrived."""
        return round(((self.clock() if at is None else at) - self.started) * 1000)

    def event(self, name: str, **fields: Any) -> None:
        """Log a SIP or call event at the current time."""
        with self._lock:
            self.events.append({"ms": self.ms(), "event": name, **fields})

    # ---- conversation thread -----------------------------------------------------------------------------

    def say(self, text: str, pcm: bytes | None = None) -> None:
        """Queue a line (or a sound, with `pcm`) after whatever is already queued."""
        audio = speech(text, self.options) if pcm is None else pcm
        now = self.clock()
        start = max(now, self.tx_end)
        self.tx_end = start + len(audio) / (2 * RATE)
        self._tx.extend(split_frames(audio))
        self.said.append({"text": text, "start_ms": self.ms(start), "end_ms": self.ms(self.tx_end)})
        # The agent's turn counts from our line on; speech already in progress is the start of that turn.
        self.turn_started = self.vad.in_speech
        self.last_activity = self.tx_end

    def step(self) -> bool:
        """Advance the conversation; True when the callee hangs up now (returned once)."""
        now = self.clock()
        self._drain(now)
        if self.hangup_requested or self.answered_at is None:
            return False
        if self.state == "ringing":
            self._start(now)
        elif self.state == "listening" and not self.turn_started and not self.vad.in_speech:
            if now - max(self.last_activity, self.tx_end) > self.options.no_speech_timeout_s:
                if self.nudged:
                    self._leave(now, "nobody there")
                else:
                    self.nudged = True
                    self.say(NUDGE)
        elif self.state == "final" and not self.vad.in_speech and now - self.tx_end > self.options.final_wait_s:
            self._leave(now, "no answer from the agent")
        elif self.state == "voicemail":
            if now - self.answered_at > self.options.voicemail_max_s:
                self._leave(now, "voicemail full")
            elif (self.heard and not self.vad.in_speech and self.voicemail is not None
                  and self.heard[-1]["end_ms"] > self.voicemail["beep_end_ms"]
                  and self.ms(now) - self.heard[-1]["end_ms"] > self.options.voicemail_silence_s * 1000):
                self._leave(now, "message ended")
        if self.leave_at is None and now - self.answered_at > self.options.max_call_s:
            self._leave(now, "max call length", delay=False)
        if self.leave_at is not None and now >= self.leave_at and now >= self.tx_end:
            self.hangup_requested = True
            self.event("hangup", reason=self.leave_reason)
            return True
        return False

    def _start(self, now: float) -> None:
        if self.persona == Persona.VOICEMAIL:
            self.say(self.options.voicemail_greeting)
            greeting_end = self.ms(self.tx_end)
            self.say("(beep)", tone(self.options.beep_hz, self.options.beep_s))
            self.voicemail = {"greeting_end_ms": greeting_end, "beep_end_ms": self.ms(self.tx_end),
                              "message_start_after_beep_ms": None}
            self.state = "voicemail"
            return
        self.say(OPENINGS.get(self.persona, GREETING))
        self.state = "listening"

    def _leave(self, now: float, reason: str, *, delay: bool = True) -> None:
        if self.leave_at is None:
            self.leave_at = now + (self.options.hangup_delay_s if delay else 0.0)
            self.leave_reason = reason
            self.state = "leaving"

    def _drain(self, now: float) -> None:
        frames = []
        while True:
            try:
                frames.append(self._rx.popleft())
            except IndexError:
                break
        now_ms = self.ms(now)
        for i, frame in enumerate(frames):
            if self.recording is not None:
                self.recording += frame
            # Timestamps are wall-clock: the newest frame ends now. (Counting frames from the first one would
            # drift whenever a loaded machine makes the bridge clock skip frames.)
            frame_end_ms = now_ms - (len(frames) - 1 - i) * FRAME_MS
            for vad_event in self.vad.feed(frame):
                event_ms = frame_end_ms - (self.vad.position_ms - vad_event.ms)
                if vad_event.kind == VadEventKind.SPEECH_STARTED:
                    self._speech_started(event_ms, vad_event.ms)
                else:
                    self._speech_stopped(event_ms, now)
            self._maybe_interrupt()

    def _speech_started(self, call_ms: int, vad_ms: int) -> None:
        self._segment_start_ms = call_ms
        self._segment_start_vad = vad_ms
        self.turn_started = True

    def _speech_stopped(self, call_ms: int, now: float) -> None:
        start = self._segment_start_ms if self._segment_start_ms is not None else call_ms
        end = call_ms - self.options.silence_ms  # the VAD's stop includes its hangover
        self.heard.append({"start_ms": start, "end_ms": max(start, end)})
        self._segment_start_ms = self._segment_start_vad = None
        if self.interruption is not None and self.interruption["agent_stopped_after_ms"] is None:
            self.interruption["agent_stopped_after_ms"] = max(start, end) - self.interruption["start_ms"]
        self.last_activity = now
        if now < self.tx_end:
            # The agent spoke over us and stopped before we finished: that was no turn of its own.
            self.turn_started = False
            return
        if not self.turn_started:
            return
        self.turn_started = False
        if self.state == "listening":
            key = KEYS.get(self.persona)
            if key and not self.key_pressed:
                self.key_pressed = True
                self.keys.append(key)
                self.event("dtmf_sent", digit=key)
            if self.replies:
                first = not self.said_reply
                self.said_reply = True
                self.say(self.replies.pop(0))
                if first and self.persona in FOLLOW_UPS:
                    self.say("(pause)", bytes(int(FOLLOW_UP_PAUSE_S * RATE) * 2))
                    self.say(FOLLOW_UPS[self.persona])
            if not self.replies:
                self.state = "final"
        elif self.state == "final":
            self._leave(now, "agent finished")

    def _maybe_interrupt(self) -> None:
        if (self.persona != Persona.INTERRUPTER or self.interruption is not None or self.state != "listening"
                or not self.vad.in_speech or self._segment_start_vad is None):
            return
        if self.vad.position_ms - self._segment_start_vad >= self.options.interrupt_after_s * 1000:
            self.say(INTERRUPTION)
            self.turn_started = True  # the agent is mid-sentence: its turn goes on until it stops
            self.interruption = {"start_ms": self.said[-1]["start_ms"],
                                 "agent_started_ms": self._segment_start_ms,
                                 # measured on the received audio itself: immune to scheduling delays
                                 "agent_talked_ms": self.vad.position_ms - self._segment_start_vad,
                                 "agent_stopped_after_ms": None}

    # ---- the end -----------------------------------------------------------------------------------------

    def record(self, *, final_code: int | None, ended_by: str) -> dict[str, Any]:
        """The call's log record (call once, after the call ended); writes the WAV when recording."""
        now = self.clock()
        self._drain(now)
        if self._segment_start_ms is not None:  # the call ended mid-speech
            self.heard.append({"start_ms": self._segment_start_ms, "end_ms": self.ms(now)})
            self._segment_start_ms = None
        # Lines cut short by the hang-up end when the call did.
        end_ms = self.ms(now)
        said = [{**s, "end_ms": min(s["end_ms"], end_ms)} for s in self.said if s["start_ms"] <= end_ms]
        if self.voicemail is not None:
            beep_end = self.voicemail["beep_end_ms"]
            message = next((h for h in self.heard if h["end_ms"] > beep_end), None)
            self.voicemail["message_start_after_beep_ms"] = (message["start_ms"] - beep_end) if message else None
        wav = self._write_wav() if self.recording else None  # nothing heard (a rejected call): no file
        with self._lock:
            events = list(self.events)
        return {
            "kind": "call", "call_id": self.call_id, "number": self.number, "persona": str(self.persona),
            "worker": self.worker, "started_at": self.started_at.isoformat(), "events": events, "said": said,
            "heard": self.heard, "final_code": final_code, "ended_by": ended_by, "duration_ms": end_ms,
            "answered_ms": self.ms(self.answered_at) if self.answered_at is not None else None,
            "hangup_reason": self.leave_reason or None, "wav": wav,
            "voicemail": self.voicemail, "interruption": self.interruption,
        }

    def _write_wav(self) -> str:
        directory = Path(self.options.record_dir)
        directory.mkdir(parents=True, exist_ok=True)
        safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.call_id)[:80]
        path = directory / f"{self.started_at:%Y%m%dT%H%M%S}-{safe_id}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(bytes(self.recording or b""))
        return str(path)
