"""Pure-tone (beep) detection on streamed 8 kHz PCM16 frames.

Answering machines mark the start of recording with a beep: a single sinusoid, usually between
400 and 2000 Hz, lasting from about 100 ms to a second. Speech is harmonic (many peaks) and noise
is broadband, so a beep shows up as one narrow spectral peak holding nearly all the energy of the
telephone band, at a stable frequency, frame after frame. That is what `ToneDetector` tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz

_FFT_SIZE = 512
_WINDOW = np.hanning(2 * FRAME_SAMPLES)
_BIN_HZ = SAMPLE_RATE / _FFT_SIZE
# Telephone band: energy outside it is line junk, not part of what the far end sent us.
_BAND_LO = int(200 / _BIN_HZ)
_BAND_HI = int(3400 / _BIN_HZ)
# A Hann window over 320 samples has a main lobe of +-50 Hz: +-4 bins of 15.6 Hz hold a pure tone.
_PEAK_HALF_WIDTH = 4
# Voiced speech puts harmonics f0 apart (85-300 Hz) on both sides of its strongest one; a beep has
# nothing there (its own overtones, if any, sit a whole tone frequency away, >= 300 Hz). So the
# strongest bin 90-280 Hz away from the peak tells a held vowel from a beep.
_NEIGHBOUR_NEAR = round(90 / _BIN_HZ)
_NEIGHBOUR_FAR = round(280 / _BIN_HZ)
_MAX_ENVELOPE_RATIO = 1.25  # a clean tone stays within 1.1 over 5 ms blocks; beating tones exceed 1.3
_BLOCK = 40  # 5 ms: short enough to see a 40-50 Hz beat whatever its phase


def goertzel_power(samples: np.ndarray, freq_hz: float, rate: int = SAMPLE_RATE) -> float:
    """Power of one frequency in a block of samples (Goertzel algorithm).

    Args:
        samples: the block, any numeric dtype.
        freq_hz: the frequency to measure.
        rate: the sample rate in Hz.

    Returns:
        The squared magnitude of the DFT term nearest `freq_hz`, normalised by the block length.
    """
    n = len(samples)
    k = round(n * freq_hz / rate)
    coeff = 2.0 * math.cos(2.0 * math.pi * k / n)
    s_prev = 0.0
    s_prev2 = 0.0
    for x in np.asarray(samples, dtype=np.float64):
        s = float(x) + coeff * s_prev - s_prev2
        s_prev2 = s_prev
        s_prev = s
    power = s_prev2 * s_prev2 + s_prev * s_prev - coeff * s_prev * s_prev2
    return power / n


@dataclass(frozen=True, slots=True)
class FrameTone:
    """The dominant spectral peak of one frame.

    Attributes:
        freq_hz: frequency of the strongest peak in the telephone band.
        purity: share of the band's energy within the peak's main lobe (1.0 for a clean sinusoid).
        contrast_db: how far the peak stands above the strongest bin 90-280 Hz away from it.
    """

    freq_hz: float
    purity: float
    contrast_db: float


SILENT_FRAME = FrameTone(0.0, 0.0, 0.0)


def analyse_frame(window: np.ndarray) -> FrameTone:
    """Find the dominant peak of a 40 ms analysis window (two 20 ms frames).

    Args:
        window: 320 float samples.

    Returns:
        The peak frequency (parabolic interpolation between bins), its purity and contrast.
    """
    spectrum = np.fft.rfft(window * _WINDOW, _FFT_SIZE)
    power = spectrum.real**2 + spectrum.imag**2
    band = power[_BAND_LO:_BAND_HI]
    total = float(band.sum())
    if total <= 0.0:
        return SILENT_FRAME
    peak = int(np.argmax(band)) + _BAND_LO
    lo = max(peak - _PEAK_HALF_WIDTH, _BAND_LO)
    hi = min(peak + _PEAK_HALF_WIDTH + 1, _BAND_HI)
    purity = float(power[lo:hi].sum()) / total
    below = power[max(peak - _NEIGHBOUR_FAR, 0) : max(peak - _NEIGHBOUR_NEAR + 1, 0)]
    above = power[peak + _NEIGHBOUR_NEAR : peak + _NEIGHBOUR_FAR + 1]
    neighbour = max(float(below.max(initial=0.0)), float(above.max(initial=0.0)))
    contrast_db = 10.0 * math.log10((float(power[peak]) + 1e-12) / (neighbour + 1e-12))
    # Parabolic interpolation on log power refines the frequency to a few Hz.
    a, b, c = (math.log(float(power[i]) + 1e-12) for i in (peak - 1, peak, peak + 1))
    denom = a - 2 * b + c
    offset = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return FrameTone((peak + offset) * _BIN_HZ, purity, contrast_db)


def steady_envelope(window: np.ndarray, max_ratio: float = _MAX_ENVELOPE_RATIO) -> bool:
    """Whether the level holds steady across the window's 5 ms blocks, as a beep's does.

    Two tones a few tens of Hz apart (the 440 + 480 Hz North American ringback, the 400 + 450 Hz
    British one) fall inside one spectral peak at this resolution but beat: their sum swells and
    fades every 20-25 ms. A beep is a single tone with a flat envelope.

    Args:
        window: float samples (40 ms: eight 5 ms blocks).
        max_ratio: largest allowed ratio between the loudest and quietest block's RMS.
    """
    blocks = window[: len(window) // _BLOCK * _BLOCK].reshape(-1, _BLOCK)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    return float(rms.max()) <= max_ratio * float(rms.min())


@dataclass(frozen=True, slots=True)
class Beep:
    """A detected beep.

    Attributes:
        freq_hz: mean frequency of the tone.
        start_ms: time of the tone's first frame, from the start of the stream.
        duration_ms: how long the tone had lasted when it was reported.
    """

    freq_hz: float
    start_ms: int
    duration_ms: int


class ToneDetector:
    """Streams 20 ms frames and reports a beep once a stable pure tone has lasted long enough.

    Args:
        min_hz: lowest beep frequency accepted.
        max_hz: highest beep frequency accepted.
        min_ms: how long the tone must last before it is reported.
        min_purity: share of band energy the peak must hold in each frame.
        min_contrast_db: how far the peak must stand above its neighbourhood (rules out vowels).
        min_dbfs: frames quieter than this are never tonal (line noise can look pure when faint).
        max_drift_hz: how far the frequency may wander within one tone.
    """

    def __init__(
        self,
        *,
        min_hz: float = 300.0,
        max_hz: float = 2500.0,
        min_ms: int = 120,
        min_purity: float = 0.6,
        min_contrast_db: float = 20.0,
        min_dbfs: float = -45.0,
        max_drift_hz: float = 40.0,
    ) -> None:
        self.min_hz = min_hz
        self.max_hz = max_hz
        self.min_ms = min_ms
        self.min_purity = min_purity
        self.min_contrast_db = min_contrast_db
        self.min_dbfs = min_dbfs
        self.max_drift_hz = max_drift_hz
        self._prev = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        self._elapsed_ms = 0
        self._run_start_ms = -1
        self._run_freqs: list[float] = []
        self._missed = 0
        self._reported = False

    @property
    def in_tone(self) -> bool:
        """Whether the last frames fed were (still) one steady tone, reported or not."""
        return bool(self._run_freqs)

    def feed(self, frame: np.ndarray, dbfs: float) -> Beep | None:
        """Consume one frame.

        Args:
            frame: 160 float samples (PCM16 scale).
            dbfs: the frame's level, already computed by the caller.

        Returns:
            A `Beep` the first time the current tone reaches `min_ms`, else None.
        """
        window = np.concatenate((self._prev, frame))
        self._prev = frame
        now_ms = self._elapsed_ms
        self._elapsed_ms += 20
        tone = analyse_frame(window) if dbfs >= self.min_dbfs else SILENT_FRAME
        tonal = (
            tone.purity >= self.min_purity
            and tone.contrast_db >= self.min_contrast_db
            and self.min_hz <= tone.freq_hz <= self.max_hz
            and steady_envelope(window)
        )
        if tonal and self._run_freqs and abs(tone.freq_hz - self._run_freqs[0]) <= self.max_drift_hz:
            self._run_freqs.append(tone.freq_hz)
            self._missed = 0
        elif tonal:
            self._run_start_ms = now_ms
            self._run_freqs = [tone.freq_hz]
            self._missed = 0
            self._reported = False
        elif self._run_freqs and self._missed == 0:
            # One frame lost to a noise burst or a codec glitch does not end a tone.
            self._missed = 1
            return None
        else:
            self._run_freqs = []
            self._reported = False
            return None
        duration_ms = 20 * len(self._run_freqs)
        if not self._reported and duration_ms >= self.min_ms:
            self._reported = True
            return Beep(float(np.mean(self._run_freqs)), self._run_start_ms, duration_ms)
        return None
