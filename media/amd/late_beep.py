"""After an undecided call was connected: the machine's beep, heard while the far end still talks on.

At the deadline the detector leaves a far end it cannot place UNKNOWN, and the engine connects
the agent: hanging up on a person is the worse error. Some of those are machines whose greeting
simply ran past the deadline, and most of those end their greeting with a beep. `LateBeepWatch`
listens on and turns such a call into a MACHINE decision (`late_beep`), so the campaign's machine
policy still applies (a voicemail drop at the very moment the machine records, or a hang-up).

It never looks at a person who is listening: a person stops talking to hear the agent, so once
the far end has been quiet for `AmdConfig.late_beep_listening_ms` the watch ends for good, and a
tone after that (a microwave, a truck reversing, a smoke alarm) is their room, not a machine. A
machine reads its greeting through the agent's words, pausing between sentences for less
(0.15-0.9 s). The beep must also be followed by `late_beep_quiet_ms` of quiet, as a machine is
while it records; a person talking over a tone in their room is not.
"""

from __future__ import annotations

import numpy as np

from media.amd.config import AmdConfig, AmdDecision, AmdLabel
from media.amd.levels import NoiseFloor, frame_dbfs
from media.audio.tones import Beep, ToneDetector

FRAME_MS = 20
MAX_BEEP_MS = 3000  # a machine's beep lasts 0.1-2 s; a longer steady tone is a line signal


class LateBeepWatch:
    """Streams the received frames after an UNKNOWN decision; a MACHINE decision once a machine beeps.

    Args:
        config: the campaign's AMD settings (beep band, purity and length; the `late_beep_*` bounds).
        decided_ms: audio time after answer of the UNKNOWN decision (the decision's `decided_ms`).
        first_speech_ms: the UNKNOWN decision's `first_speech_ms`, carried into the MACHINE one.

    `feed` returns the decision at most once; `ended` names why the watch stopped listening
    (`"beep"`, `"listening"`, `"window"`), None while it listens.
    """

    def __init__(self, config: AmdConfig, decided_ms: int, first_speech_ms: int | None = None) -> None:
        self.config = config
        self.ended: str | None = None if config.late_beep_window_ms > 0 else "window"
        self._decided_ms = decided_ms
        self._first_speech_ms = first_speech_ms
        self._elapsed_ms = 0
        self._quiet_ms = 0
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
        if self._floor is None:
            self._floor = NoiseFloor(dbfs)
        floor = self._floor.update(dbfs)
        cfg = self.config
        speech = dbfs >= cfg.min_speech_dbfs and dbfs >= floor + cfg.speech_margin_db
        self._elapsed_ms += FRAME_MS
        self._quiet_ms = 0 if speech else self._quiet_ms + FRAME_MS
        beep = self._tones.feed(audio, dbfs)
        if beep is not None:
            self._beep, self._after_tone_ms = beep, 0
            return None
        if self._beep is not None:
            return self._after_beep(self._beep, speech)
        # FCC abandoned-call rule: never hang up on a person. A far end quiet this long is listening
        # to the agent, as people do and greetings do not; from here on, no tone makes it a machine.
        if self._quiet_ms >= cfg.late_beep_listening_ms:
            self.ended = "listening"
        elif self._elapsed_ms >= cfg.late_beep_window_ms:
            self.ended = "window"
        return None

    def _after_beep(self, beep: Beep, speech: bool) -> AmdDecision | None:
        """A machine records after its beep: the line goes quiet at once. Sound right after the tone
        (a person talking over a tone in their room) drops the beep, and the watch goes on."""
        if self._tones.in_tone:
            if self._elapsed_ms - beep.start_ms > MAX_BEEP_MS:
                self._beep = None  # a steady tone this long is a line signal, not a beep
            return None
        self._after_tone_ms += FRAME_MS
        if speech and self._after_tone_ms > FRAME_MS:  # the first frame may hold the tone's tail
            self._beep = None
            return None
        if self._quiet_ms >= self.config.late_beep_quiet_ms:
            return self._decide(beep)
        return None

    def _decide(self, beep: Beep) -> AmdDecision:
        self.ended = "beep"
        return AmdDecision(AmdLabel.MACHINE, "late_beep", self._decided_ms + self._elapsed_ms,
                           self._first_speech_ms,
                           f"{beep.freq_hz:.0f} Hz beep {beep.start_ms} ms after the unknown decision")
