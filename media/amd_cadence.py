"""Turn-taking cadence of the far end's talk, for the AMD decision at the deadline.

A person who answers and hears nothing talks in short bursts ("Hello?", "Hello? Hello?") and
leaves a pause after each, waiting for the caller; a recorded greeting reads whole sentences with
only short dips between words and rarely stops long. By the deadline both may still be talking, so
"still talking" alone cannot tell them apart (that rule hung up on people who kept asking). These
features describe the rhythm of the current utterance from its per-frame speech flags and levels.

The features are computed once, at the deadline, over at most `max_decision_ms / 20` frames, so
the per-frame cost stays a list append.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

FRAME_MS = 20
BURST_BRIDGE_FRAMES = 5  # dips up to 100 ms are inside a syllable or between words of one burst
PHRASE_BRIDGE_FRAMES = 10  # dips up to 200 ms are inside a phrase (same as AmdConfig.word_gap_ms)
TURN_PAUSE_FRAMES = 15  # a pause of 300 ms or more leaves room for the caller to answer
_END_FRAMES = 8  # a phrase's ending: its last 160 ms of voiced frames
_MIN_LAG, _MAX_LAG = 20, 100  # pitch periods at 8 kHz: 400 Hz down to 80 Hz
_VOICED = 0.5  # normalised autocorrelation peak of a clearly voiced window
_LAG_BIAS = 320.0 / (320.0 - np.arange(_MIN_LAG, _MAX_LAG + 1))  # undo the short-window taper


def frame_pitch(window: np.ndarray) -> float:
    """Pitch of a 40 ms window (two frames) in semitones above 100 Hz, or NaN if not clearly voiced.

    Autocorrelation through a 512-point FFT (no wrap-around for lags up to 100 samples); about
    15 µs, and the detector calls it on speech frames only.
    """
    centred = window - window.mean()
    spectrum = np.fft.rfft(centred, 512)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, 512)
    if acf[0] <= 1e-3:
        return math.nan
    peaks = acf[_MIN_LAG : _MAX_LAG + 1] * _LAG_BIAS / acf[0]
    lag = int(np.argmax(peaks))
    if peaks[lag] < _VOICED:
        return math.nan
    return 12.0 * math.log2(8000.0 / (lag + _MIN_LAG) / 100.0)


@dataclass(frozen=True, slots=True)
class Cadence:
    """Rhythm of one utterance, from its first word to now.

    Attributes:
        span_ms: time from the utterance's first speech frame to now.
        speech_ratio: share of that time that was speech (0-1).
        turn_pauses: pauses of 300 ms or more between phrases (trailing silence not counted).
        mean_burst_ms: mean length of speech bursts (dips up to 100 ms bridged).
        longest_phrase_ms: the longest phrase (dips up to 200 ms bridged), the current one included.
        tail_silence_ms: silence since the last speech frame.
        level_swing_db: spread between the 10th and 90th percentile frame levels since the
            utterance began (one talker swings widely; several voices at once fill their gaps).
        end_rise: the steepest pitch rise (semitones per second) at the end of a phrase that was
            followed by a pause; 0 if no phrase has ended. "Hello?" ends rising; a read
            sentence ends falling.
        last_rise: the pitch slope at the end of the last phrase if it has ended (100 ms of
            silence after it) and was voiced enough to measure, else None.
    """

    span_ms: int
    speech_ratio: float
    turn_pauses: int
    mean_burst_ms: float
    longest_phrase_ms: int
    tail_silence_ms: int
    level_swing_db: float
    end_rise: float
    last_rise: float | None


def _runs(speech: np.ndarray, bridge: int) -> list[tuple[int, int]]:
    """(start, end) frame index of each run of speech, joining runs split by at most `bridge` frames."""
    idx = np.flatnonzero(speech)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > bridge + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def talker_phrases(
    speech: list[bool], levels: list[float], range_db: float, bridge: int, onset: int = 0
) -> tuple[int, int]:
    """Speech and longest phrase (ms) of an utterance, counted from where its talker's voice starts.

    The talker starts `onset` frames before the first speech frame within `range_db` of the
    utterance's loudest frame (a voice's first syllable ramps up to its level); speech frames before
    that are the background the speech gate let in before it had heard the talker. After that point
    every speech frame counts, so a greeting's quiet syllables still do.

    Args:
        speech: per-frame speech flags from the utterance's first frame to now.
        levels: per-frame levels (dBFS) over the same frames.
        range_db: how far below the loudest speech frame the talker's first frame may be.
        bridge: dips of up to this many frames are inside a phrase and count as its speech.
        onset: frames allowed for the talker's voice to reach its level.

    Returns:
        (speech_ms, longest_phrase_ms): the total and the longest length of the phrases.
    """
    flags = np.asarray(speech, dtype=bool)
    if not flags.any():
        return 0, 0
    level = np.asarray(levels, dtype=np.float64)
    first = max(int(np.argmax(flags & (level >= level[flags].max() - range_db))) - onset, 0)
    phrases = _runs(flags[first:], bridge)
    lengths = [e - s + 1 for s, e in phrases]
    return sum(lengths) * FRAME_MS, max(lengths) * FRAME_MS


def _end_slope(pitch: np.ndarray, speech: np.ndarray, start: int, end: int) -> float | None:
    """Pitch slope (semitones per second) over a phrase's last voiced frames, None if too few."""
    frames = [i for i in range(start, end + 1) if speech[i] and not math.isnan(pitch[i])][-_END_FRAMES:]
    if len(frames) < 4:
        return None
    at = np.asarray(frames, dtype=np.float64)
    semitones = pitch[frames]
    # Octave errors of the tracker: keep frames within 7 semitones of the ending's median.
    keep = np.abs(semitones - np.median(semitones)) < 7.0
    if keep.sum() < 4:
        return None
    return float(np.polyfit(at[keep] * (FRAME_MS / 1000.0), semitones[keep], 1)[0])


def measure(speech: list[bool], levels: list[float], pitch: list[float]) -> Cadence | None:
    """Describe the cadence of an utterance.

    Args:
        speech: per-frame speech flags from the utterance's first frame to now.
        levels: per-frame levels (dBFS) over the same frames.
        pitch: per-frame pitch (`frame_pitch`, NaN when unvoiced or not speech), same frames.

    Returns:
        The cadence, or None if no frame was speech.
    """
    flags = np.asarray(speech, dtype=bool)
    bursts = _runs(flags, BURST_BRIDGE_FRAMES)
    if not bursts:
        return None
    phrases = _runs(flags, PHRASE_BRIDGE_FRAMES)
    pauses = [b[0] - a[1] - 1 for a, b in itertools.pairwise(phrases)]
    low, high = np.percentile(levels, (10, 90)) if len(levels) >= 2 else (0.0, 0.0)
    # Phrase endings heard so far: those followed by a turn pause, and the last phrase if the far
    # end has paused after it for 100 ms (a phrase still going has no ending yet).
    pitches = np.asarray(pitch, dtype=np.float64)
    slopes = []
    slope = None
    for i, (start, end) in enumerate(phrases):
        after = phrases[i + 1][0] - end - 1 if i + 1 < len(phrases) else len(flags) - 1 - end
        slope = None
        if after >= (TURN_PAUSE_FRAMES if i + 1 < len(phrases) else BURST_BRIDGE_FRAMES):
            slope = _end_slope(pitches, flags, start, end)
            if slope is not None:
                slopes.append(slope)
    first = bursts[0][0]
    return Cadence(
        span_ms=(len(flags) - first) * FRAME_MS,
        speech_ratio=float(flags[first:].mean()),
        turn_pauses=sum(p >= TURN_PAUSE_FRAMES for p in pauses),
        mean_burst_ms=float(np.mean([e - s + 1 for s, e in bursts])) * FRAME_MS,
        longest_phrase_ms=max(e - s + 1 for s, e in phrases) * FRAME_MS,
        tail_silence_ms=(len(flags) - 1 - bursts[-1][1]) * FRAME_MS,
        level_swing_db=float(high - low),
        end_rise=max(slopes, default=0.0),
        last_rise=slope,
    )


@dataclass(frozen=True, slots=True)
class DeadlineModel:
    """Logistic model of P(machine) from a cadence at the decision deadline.

    Four features, each with a reason to point one way:
    - two or more turn pauses, and three or more: a person leaves room for an answer after each
      question, a greeting pauses only between sentences;
    - silence since the last word (seconds, capped at 1): a person who stopped is waiting;
    - the steepest phrase-final pitch rise (semitones per second / 10, clipped to [-2, 4]):
      questions rise at their end, read sentences fall.

    Attributes:
        bias: intercept (log-odds of a machine with all features at zero).
        two_pauses: weight of `turn_pauses >= 2`.
        three_pauses: weight of `turn_pauses >= 3`.
        tail_s: weight of the trailing silence in seconds.
        end_rise: weight of the end rise in tens of semitones per second.
    """

    bias: float
    two_pauses: float
    three_pauses: float
    tail_s: float
    end_rise: float

    def machine_probability(self, cadence: Cadence) -> float:
        """P(machine) for an utterance with this cadence (0-1)."""
        score = (
            self.bias
            + self.two_pauses * (cadence.turn_pauses >= 2)
            + self.three_pauses * (cadence.turn_pauses >= 3)
            + self.tail_s * min(cadence.tail_silence_ms, 1000) / 1000.0
            + self.end_rise * min(max(cadence.end_rise, -20.0), 40.0) / 10.0
        )
        return 1.0 / (1.0 + math.exp(-score))

    @staticmethod
    def features(cadence: Cadence) -> list[float]:
        """The model's inputs in weight order (bias excluded), for fitting."""
        return [
            float(cadence.turn_pauses >= 2),
            float(cadence.turn_pauses >= 3),
            min(cadence.tail_silence_ms, 1000) / 1000.0,
            min(max(cadence.end_rise, -20.0), 40.0) / 10.0,
        ]


# Fitted with `python bench/amd.py --fit-deadline` on six generated train and heldout sets (train
# seeds 7, 1001, 1002; heldout seeds 11, 1011, 1012; 381 files reach the deadline mid-utterance), never
# on test draws. See docs/benchmarks.md.
DEADLINE_MODEL = DeadlineModel(bias=3.694, two_pauses=-0.896, three_pauses=-2.419, tail_s=-9.892, end_rise=-0.546)
