"""After an undecided call was connected: the machine's beep, heard while the far end still talks on.

At the deadline the detector leaves a far end it cannot place UNKNOWN, and the engine connects
the agent: hanging up on a person is the worse error. Some of those are machines whose greeting
simply ran past the deadline, and most of those end their greeting with a beep. `LateBeepWatch`
listens on and turns such a call into a MACHINE decision (`late_beep`), so the campaign's machine
policy still applies (a voicemail drop at the very moment the machine records, or a hang-up).

A person stops talking to hear the agent: once the far end's talker has been quiet for
`AmdConfig.late_beep_listening_ms` the watch ends for good, and a tone after that (a microwave, a
kitchen timer, a smoke alarm) is taken for their room, not a machine. Quiet here means nothing
within `talker_range_db` of the talker's own level: residual echo of the agent's voice or the
room behind them does not keep a listening person "talking". A machine reads its greeting
through the agent's words, pausing between sentences for less (0.15-0.9 s). The beep must also be
followed at once by `late_beep_quiet_ms` of a quiet line, as a machine is while it records; a
person who talks on after a tone in their room is not.
"""

from __future__ import annotations

import numpy as np

from media.amd.config import AmdConfig, AmdDecision, AmdLabel
from media.amd.levels import NoiseFloor, follow_talker, frame_dbfs, passes_speech_gate
from media.audio.frames import FRAME_MS
from media.audio.tones import Beep, ToneDetector

MAX_BEEP_MS = 3000  # a machine's beep lasts 0.1-2 s; a longer steady tone is a line signal


class LateBeepWatch:
    """Streams the received frames after an UNKNOWN decision; a MACHINE decision once a machine beeps.

    Args:
        config: the campaign's AMD settings (beep band, purity and length; the `late_beep_*` bounds).
        decided_ms: audio time after answer of the UNKNOWN decision (the decision's `decided_ms`).
        first_speech_ms: the UNKNOWN decision's `first_speech_ms`, carried into the MACHINE one.
        talker_dbfs: the far-end talker's recent peak level by the detector's measure
            (`AnsweringMachineDetector.talker_dbfs`), if it heard one: a person who has already
            stopped is measured against their own voice, not against what comes after it.

    `feed` returns the decision at most once; `ended` names why the watch stopped listening
    (`"beep"`, `"listening"`, `"window"`), None while it listens.
    """

    def __init__(self, config: AmdConfig, decided_ms: int, first_speech_ms: int | None = None,
                 talker_dbfs: float | None = None) -> None:
        self.config = config
        self.ended: str | None = None if config.late_beep_window_ms > 0 else "window"
        self._decided_ms = decided_ms
        self._first_speech_ms = first_speech_ms
        self._talker_dbfs = talker_dbfs if talker_dbfs is not None else -200.0
        self._elapsed_ms = 0
        self._line_quiet_ms = 0  # the line at its noise floor
        self._talker_quiet_ms = 0  # nothing near the talker's level
        self._floor: NoiseFloor | None = None
        self._tones = ToneDetector(min_hz=config.beep_min_hz, max_hz=config.beep_max_hz,
                                   min_ms=config.beep_min_ms, min_purity=config.beep_min_purity)
        self._beep: Beep | None = None
        self._after_tone_ms = 0  # time since the reported tone ended

    def feed(self, frame: bytes | np.ndarray) -> AmdDecision | None:
        """Consume one 20 ms PCM16 frame (bytes or int16 samples) received after the decision."""
        if self.ended is not None:
            return None
        samples = np.frombuffer(frame, dtype="<i2") if isinstance(frame, bytes) else frame
        audio = samples.astype(np.float64)
        dbfs = frame_dbfs(audio)
        beep = self._tones.feed(audio, dbfs)
        self._elapsed_ms += FRAME_MS
        if self._floor is None:
            self._floor = NoiseFloor(dbfs)
        # A steady tone must not lift the noise floor to its own level: the quiet after it is measured
        # against the line as it was.
        floor = self._floor.level if self._tones.in_tone else self._floor.update(dbfs)
        cfg = self.config
        line_speech = passes_speech_gate(dbfs, floor, cfg.min_speech_dbfs, cfg.speech_margin_db)
        self._talker_dbfs = follow_talker(self._talker_dbfs, dbfs, line_speech)
        talking = line_speech and dbfs >= self._talker_dbfs - cfg.talker_range_db
        self._line_quiet_ms = 0 if line_speech else self._line_quiet_ms + FRAME_MS
        self._talker_quiet_ms = 0 if talking else self._talker_quiet_ms + FRAME_MS
        if beep is not None:
            self._beep, self._after_tone_ms = beep, 0
            return None
        if self._beep is not None:
            return self._after_beep(self._beep, line_speech)
        # FCC abandoned-call rule: never hang up on a person. A talker quiet this long is listening to
        # the agent, as people do and greetings do not; from here on, no tone makes it a machine.
        if self._talker_quiet_ms >= cfg.late_beep_listening_ms:
            self.ended = "listening"
        elif self._elapsed_ms >= cfg.late_beep_window_ms:
            self.ended = "window"
        return None

    def _after_beep(self, beep: Beep, line_speech: bool) -> AmdDecision | None:
        """A machine records after its beep: the line goes quiet at once. Sound just after the tone
        (a person talking on after a tone in their room) drops the beep, and the watch goes on."""
        if self._tones.in_tone:
            if self._elapsed_ms - beep.start_ms > MAX_BEEP_MS:
                self._beep = None  # a steady tone this long is a line signal, not a beep
            return None
        self._after_tone_ms += FRAME_MS
        # The tone detector holds a tone over one missed frame, so the tone's tail may reach one
        # frame past the end it reports.
        if line_speech and self._after_tone_ms > FRAME_MS:
            self._beep = None
            return None
        # The quiet counts from the tone's end, not from inside it.
        if min(self._line_quiet_ms, self._after_tone_ms) >= self.config.late_beep_quiet_ms:
            return self._decide(beep)
        return None

    def _decide(self, beep: Beep) -> AmdDecision:
        self.ended = "beep"
        return AmdDecision(AmdLabel.MACHINE, "late_beep", self._decided_ms + self._elapsed_ms,
                           self._first_speech_ms,
                           f"{beep.freq_hz:.0f} Hz beep {beep.start_ms} ms after the unknown decision")
