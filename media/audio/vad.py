"""Energy voice activity detection with hangover, on PCM16 at 8, 16 or 24 kHz.

Audio is cut into 20 ms frames; a frame is *voiced* when its level (dBFS) is above both an absolute
floor and the noise floor (the quietest frame of the last 2 s) plus a margin. Speech starts after
``min_speech_ms`` of voiced frames in a row, and stops after ``silence_duration_ms`` without a voiced
frame (the hangover), which is what OpenAI's ``server_vad`` setting of that name means. Timestamps
are milliseconds of all audio fed so far (the ``audio_start_ms``/``audio_end_ms`` of the Realtime
events): the start is moved back by ``prefix_padding_ms``, and the end includes the hangover, as the
real service reports them.

``threshold`` (0-1, like OpenAI's) scales both the absolute floor (-60 to -30 dBFS) and the margin over
the noise floor (6 to 30 dB): 0.5 gives -45 dBFS and 18 dB.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

FRAME_MS = 20
_NOISE_FLOOR_MIN_DB = -90.0
# Minimum statistics: the noise floor is the quietest frame of the last 2 s. Speech always has quieter gaps
# within that span, while a steady noise (hum, a noisy line) sets the floor at its own level, so it never
# counts as speech however loud it is.
_NOISE_WINDOW_FRAMES = 2000 // FRAME_MS
# Until real history exists the floor is assumed quiet for 200 ms, so a caller who speaks at once is heard
# (a noisy line then gives at most one short phantom turn before its own level becomes the floor).
_ASSUMED_QUIET_DB = -70.0
_ASSUMED_QUIET_FRAMES = 200 // FRAME_MS


@dataclass(frozen=True)
class VadConfig:
    """Turn detection settings (the ``server_vad`` fields of a Realtime session).

    Attributes:
        threshold: sensitivity 0-1; higher needs louder speech.
        prefix_padding_ms: audio before the detected start that belongs to the turn.
        silence_duration_ms: silence that ends a turn (the hangover).
        min_speech_ms: voiced audio needed before a turn starts (rejects clicks).
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    min_speech_ms: int = 60

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"VadConfig.threshold must be 0-1, got {self.threshold}")
        if self.prefix_padding_ms < 0:
            raise ValueError(f"VadConfig.prefix_padding_ms must be >= 0, got {self.prefix_padding_ms}")
        if self.silence_duration_ms < FRAME_MS:
            raise ValueError(f"VadConfig.silence_duration_ms must be >= {FRAME_MS}, got {self.silence_duration_ms}")
        if self.min_speech_ms < FRAME_MS:
            raise ValueError(f"VadConfig.min_speech_ms must be >= {FRAME_MS}, got {self.min_speech_ms}")

    @property
    def floor_dbfs(self) -> float:
        """Absolute level below which a frame is never voiced."""
        return -60.0 + 30.0 * self.threshold

    @property
    def margin_db(self) -> float:
        """How far above the noise floor a voiced frame must be."""
        return 6.0 + 24.0 * self.threshold


class VadEventKind(StrEnum):
    """What the detector saw."""

    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"


@dataclass(frozen=True)
class VadEvent:
    """A speech start or stop, in milliseconds of all audio fed to the detector."""

    kind: VadEventKind
    ms: int


def frame_dbfs(frame: np.ndarray) -> float:
    """Level of int16 samples in dB relative to full scale (-100 for digital silence)."""
    if frame.size == 0:
        return -100.0
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64)))))
    if rms < 1e-3:
        return -100.0
    return 20.0 * float(np.log10(rms / 32768.0))


class EnergyVad:
    """Streaming speech start/stop detector for one audio stream.

    Args:
        sample_rate: rate of the PCM16 fed to :meth:`feed`.
        config: thresholds and timings.
        clock_ms: where the stream's clock stands (when a detector replaces another mid-stream).
    """

    def __init__(self, sample_rate: int, config: VadConfig | None = None, clock_ms: int = 0) -> None:
        if sample_rate % (1000 // FRAME_MS):
            raise ValueError(f"sample_rate must be a multiple of 50 Hz, got {sample_rate}")
        self.sample_rate = sample_rate
        self.config = config or VadConfig()
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._pending = b""
        self._frames_seen = clock_ms // FRAME_MS
        self._frames_analysed = 0
        self._levels: deque[float] = deque(maxlen=_NOISE_WINDOW_FRAMES)
        self._in_speech = False
        self._voiced_run = 0
        self._silent_run = 0

    @property
    def in_speech(self) -> bool:
        """True between a start and its stop."""
        return self._in_speech

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio analysed so far (whole frames)."""
        return self._frames_seen * FRAME_MS

    @property
    def noise_floor_dbfs(self) -> float:
        """The tracked background level (the quietest recent frame)."""
        if self._frames_analysed <= _ASSUMED_QUIET_FRAMES:
            return _ASSUMED_QUIET_DB
        return max(_NOISE_FLOOR_MIN_DB, min(self._levels)) if self._levels else _NOISE_FLOOR_MIN_DB

    def reset(self) -> None:
        """Forget any speech in progress (after ``input_audio_buffer.clear``); keep the clock and noise floor."""
        self._pending = b""
        self._in_speech = False
        self._voiced_run = 0
        self._silent_run = 0

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Analyse more PCM16 LE audio and return the starts and stops it completed.

        Args:
            pcm: samples at ``sample_rate``; any length (partial frames wait for the next call).

        Returns:
            The events, in order.
        """
        data = self._pending + pcm
        frame_bytes = self._frame_samples * 2
        whole = len(data) - len(data) % frame_bytes
        self._pending = data[whole:]
        if not whole:
            return []
        frames = np.frombuffer(data[:whole], dtype="<i2").reshape(-1, self._frame_samples)
        events: list[VadEvent] = []
        for frame in frames:
            event = self._step(frame_dbfs(frame))
            if event is not None:
                events.append(event)
        return events

    def _step(self, level_db: float) -> VadEvent | None:
        cfg = self.config
        self._frames_seen += 1
        self._frames_analysed += 1
        self._levels.append(level_db)
        voiced = level_db > cfg.floor_dbfs and level_db > self.noise_floor_dbfs + cfg.margin_db
        end_ms = self._frames_seen * FRAME_MS
        if not self._in_speech:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run * FRAME_MS >= cfg.min_speech_ms:
                self._in_speech = True
                self._silent_run = 0
                first_voiced_ms = end_ms - self._voiced_run * FRAME_MS
                return VadEvent(VadEventKind.SPEECH_STARTED, max(0, first_voiced_ms - cfg.prefix_padding_ms))
            return None
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run * FRAME_MS >= cfg.silence_duration_ms:
            self._in_speech = False
            self._voiced_run = 0
            self._silent_run = 0
            return VadEvent(VadEventKind.SPEECH_STOPPED, end_ms)
        return None
