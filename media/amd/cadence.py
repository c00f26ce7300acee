"""Turn-taking cadence of the far end's talk, for the AMD decision at the deadline.

A person who answers and hears nothing talks in short bursts ("Hello?", "Hello? Hello?") and
leaves a pause after each, waiting for the caller; a recorded greeting reads whole sentences with
only short dips between words and rarely stops long. By the deadline both may still be talking, so
"still talking" alone cannot tell them apart (that rule hung up on people who kept asking). These
features describe the rhythm of the current utterance from its per-frame speech flags and levels.

The features are computed once, at the deadline, over at most `max_decision_ms / 20` frames, so
the per-frame cost stays a list append. `media.amd.deadline` turns them into P(machine).
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
RISING_END_ST_PER_S = 8.0  # a phrase ending rising this steeply is a question (AmdConfig.question_rise_st_per_s)
_END_FRAMES = 8  # a phrase's ending: its last 160 ms of voiced frames
NO_REPETITION = 9.0  # no two phrases to compare
_MIN_REPEAT_FRAMES = 10  # phrases of 200 ms or more are compared for repetition
_REPEAT_LENGTH_RATIO = 1.67
_SPECTRUM_FFT = 256
_BAND_EDGES = np.geomspace(4, 110, 17).astype(int)  # 256-point FFT bins at 8 kHz: 125 Hz to 3.4 kHz
_HANN = np.hanning(160)
_FLAT = np.zeros(16, dtype=np.float32)  # the band spectrum given to a dip inside a phrase
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
        phrases: number of phrases (dips up to 200 ms bridged), the current one included.
        speech_ms: total length of the phrases.
        mean_phrase_ms: mean phrase length.
        shortest_phrase_ms: the shortest phrase.
        first_phrase_ms: the first phrase.
        last_phrase_ms: the last (current) phrase.
        mean_pause_ms: mean pause between phrases (0 with one phrase).
        longest_pause_ms: the longest pause between phrases (0 with one phrase).
        shortest_pause_ms: the shortest pause between phrases (0 with one phrase).
        end_fall: the steepest phrase-final pitch slope (most negative), 0 if no ending.
        mean_end_slope: mean phrase-final pitch slope, 0 if no ending.
        rising_ends: phrase endings rising by `RISING_END_ST_PER_S` or more.
        voiced_ratio: share of speech frames with a clear pitch (0-1).
        repetition: how alike the two most alike phrases of similar length sound (`repetition`);
            `NO_REPETITION` with fewer than two such phrases. A person who hears nothing says
            "Hello? ... Hello?" again; a greeting never repeats a sentence.
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
    phrases: int
    speech_ms: int
    mean_phrase_ms: float
    shortest_phrase_ms: int
    first_phrase_ms: int
    last_phrase_ms: int
    mean_pause_ms: float
    longest_pause_ms: int
    shortest_pause_ms: int
    end_fall: float
    mean_end_slope: float
    rising_ends: int
    voiced_ratio: float
    repetition: float


def _runs(speech: np.ndarray, bridge: int) -> list[tuple[int, int]]:
    """(start, end) frame index of each run of speech, joining runs split by at most `bridge` frames."""
    idx = np.flatnonzero(speech)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > bridge + 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def phrase_count(speech: list[bool], min_frames: int) -> int:
    """Phrases (dips up to 200 ms bridged) at least `min_frames` long."""
    return sum(e - s + 1 >= min_frames for s, e in _runs(np.asarray(speech, dtype=bool), PHRASE_BRIDGE_FRAMES))


def talker_phrases(
    speech: list[bool],
    levels: list[float],
    range_db: float,
    bridge: int,
    onset: int = 0,
    phrase_range_db: float | None = None,
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
        phrase_range_db: if given, a phrase whose loudest frame is more than this below the
            loudest phrase's is not the talker's (talk in the room, a gust of wind after the person
            has stopped) and does not count. A recorded greeting keeps its level from sentence
            to sentence.

    Returns:
        (speech_ms, longest_phrase_ms): the total and the longest length of the phrases.
    """
    _first, phrases = _talker_runs(speech, levels, range_db, bridge, onset, phrase_range_db)
    lengths = [e - s + 1 for s, e in phrases]
    return sum(lengths) * FRAME_MS, max(lengths, default=0) * FRAME_MS


def talker_bounds(
    speech: list[bool],
    levels: list[float],
    range_db: float,
    bridge: int,
    onset: int,
    phrase_range_db: float,
) -> tuple[int, int] | None:
    """Where the talker's voice starts and where their last phrase ends, in frames from the first.

    The same talker as `talker_phrases` (arguments alike): phrases far below the loudest one
    are the room, not the person, so a person who has stopped and waits shows a long gap after
    their last phrase even while the speech gate still hears the room.

    Returns:
        (first frame of the talker, frame after their last phrase), or None without speech.
    """
    first, phrases = _talker_runs(speech, levels, range_db, bridge, onset, phrase_range_db)
    if not phrases:
        return None
    return first, first + phrases[-1][1] + 1


def _talker_runs(
    speech: list[bool],
    levels: list[float],
    range_db: float,
    bridge: int,
    onset: int,
    phrase_range_db: float | None,
) -> tuple[int, list[tuple[int, int]]]:
    """The talker's first frame and their phrases (frame indices from that first frame)."""
    flags = np.asarray(speech, dtype=bool)
    if not flags.any():
        return 0, []
    level = np.asarray(levels, dtype=np.float64)
    first = max(int(np.argmax(flags & (level >= level[flags].max() - range_db))) - onset, 0)
    phrases = _runs(flags[first:], bridge)
    if phrase_range_db is not None and phrases:
        tail = level[first:]
        peaks = [float(tail[s : e + 1].max()) for s, e in phrases]
        loudest = max(peaks)
        phrases = [p for p, peak in zip(phrases, peaks, strict=True) if peak >= loudest - phrase_range_db]
    return first, phrases


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


def measure(
    speech: list[bool],
    levels: list[float],
    pitch: list[float],
    frames: list[np.ndarray | None] | None = None,
) -> Cadence | None:
    """Describe the cadence of an utterance.

    Args:
        speech: per-frame speech flags from the utterance's first frame to now.
        levels: per-frame levels (dBFS) over the same frames.
        pitch: per-frame pitch (`frame_pitch`, NaN when unvoiced or not speech), same frames.
        frames: the samples of each speech frame (None for other frames), same frames, for
            `repetition`; without them the repetition is `NO_REPETITION` (the cheaper measure the
            rules before the deadline use).

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
    lengths = [(e - s + 1) * FRAME_MS for s, e in phrases]
    pause_ms = [p * FRAME_MS for p in pauses]
    voiced = int(np.count_nonzero(flags & ~np.isnan(pitches)))
    return Cadence(
        span_ms=(len(flags) - first) * FRAME_MS,
        speech_ratio=float(flags[first:].mean()),
        turn_pauses=sum(p >= TURN_PAUSE_FRAMES for p in pauses),
        mean_burst_ms=float(np.mean([e - s + 1 for s, e in bursts])) * FRAME_MS,
        longest_phrase_ms=max(lengths),
        tail_silence_ms=(len(flags) - 1 - bursts[-1][1]) * FRAME_MS,
        level_swing_db=float(high - low),
        end_rise=max(slopes, default=0.0),
        last_rise=slope,
        phrases=len(phrases),
        speech_ms=sum(lengths),
        mean_phrase_ms=float(np.mean(lengths)),
        shortest_phrase_ms=min(lengths),
        first_phrase_ms=lengths[0],
        last_phrase_ms=lengths[-1],
        mean_pause_ms=float(np.mean(pause_ms)) if pause_ms else 0.0,
        longest_pause_ms=max(pause_ms, default=0),
        shortest_pause_ms=min(pause_ms, default=0),
        end_fall=min(slopes, default=0.0),
        mean_end_slope=float(np.mean(slopes)) if slopes else 0.0,
        rising_ends=sum(x >= RISING_END_ST_PER_S for x in slopes),
        voiced_ratio=voiced / max(int(np.count_nonzero(flags)), 1),
        repetition=NO_REPETITION if frames is None else repetition(frames, phrases),
    )


def frame_spectrum(samples: np.ndarray) -> np.ndarray:
    """Log energies of one 20 ms frame in 16 bands from 125 Hz to 3.4 kHz, their mean removed.

    Removing the mean makes the shape independent of the level, so "Hello?" said louder the
    second time still matches the first. About 10 µs.
    """
    power = np.abs(np.fft.rfft(samples * _HANN, _SPECTRUM_FFT)) ** 2
    bands = np.log(np.add.reduceat(power[: _BAND_EDGES[-1] + 1], _BAND_EDGES[:-1]) + 1e-3)
    return (bands - bands.mean()).astype(np.float32)


def _dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean frame distance along the best time alignment of two phrases (dynamic time warping)."""
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)).tolist()
    m = len(cost[0])
    previous = [0.0] + [math.inf] * m
    for row in cost:
        current = [math.inf] * (m + 1)
        for j in range(m):
            current[j + 1] = row[j] + min(previous[j + 1], previous[j], current[j])
        previous = current
    return previous[m] / (len(cost) + m)


def repetition(frames: list[np.ndarray | None], phrases: list[tuple[int, int]]) -> float:
    """The smallest time-aligned spectral distance between two phrases of similar length.

    Only phrases of 200 ms or more whose lengths differ by less than 1.67 times are compared: a
    repeated "Hello?" keeps its length roughly. Each frame is described by its band spectrum
    (`frame_spectrum`; a dip inside a phrase, None, by a flat one). This runs once per call, at
    the deadline: the spectra of the compared phrases and a few pairs aligned in pure Python
    cost a few milliseconds.

    Args:
        frames: the samples of each speech frame of the utterance, None for other frames.
        phrases: (first, last) frame index of each phrase.

    Returns:
        The distance (lower is more alike: on the generated sets a phrase said again by the same
        voice measures 1-2, different words 3.5-6), or `NO_REPETITION`.
    """
    shapes = [
        np.stack([_FLAT if f is None else frame_spectrum(f) for f in frames[start : end + 1]])
        for start, end in phrases
        if end - start + 1 >= _MIN_REPEAT_FRAMES
    ]
    best = NO_REPETITION
    for a, b in itertools.combinations(shapes, 2):
        if max(len(a), len(b)) < _REPEAT_LENGTH_RATIO * min(len(a), len(b)):
            best = min(best, _dtw_distance(a, b))
    return best
