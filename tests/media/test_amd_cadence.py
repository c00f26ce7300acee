"""Cadence features for AMD: phrase rhythm, phrase-final pitch, and the deadline model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media.amd import AmdConfig, AmdLabel
from media.amd.cadence import NO_REPETITION, frame_pitch, frame_spectrum, measure, repetition, talker_phrases
from tests.media.synthetic_audio import RATE, noise, silence
from tests.media.test_amd import stream


def glide(seconds: float, f0_start: float, f0_end: float, dbfs: float = -20.0) -> np.ndarray:
    """One voiced stretch whose pitch moves linearly from f0_start to f0_end (a question or a statement end)."""
    n = int(seconds * RATE)
    f0 = np.linspace(f0_start, f0_end, n)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k**0.7 for k in range(1, 12))
    envelope = np.minimum(1.0, np.minimum(np.arange(n), n - 1 - np.arange(n)) / (0.03 * RATE))
    signal = voice * envelope
    return signal / np.sqrt(np.mean(signal**2)) * 32768 * 10 ** (dbfs / 20)


def on_line(signal: np.ndarray, seconds: float = 6.0) -> np.ndarray:
    padded = np.concatenate((signal, silence(max(seconds - len(signal) / RATE, 0))))
    return padded + noise(len(padded) / RATE, -60.0, seed=3)


def test_frame_pitch_reads_a_voiced_window_and_rejects_silence_and_noise():
    t = np.arange(320) / RATE
    assert frame_pitch(np.sin(2 * np.pi * 200 * t) * 3000) == pytest.approx(12.0, abs=0.3)
    assert math.isnan(frame_pitch(np.zeros(320)))
    assert math.isnan(frame_pitch(np.random.default_rng(1).standard_normal(320) * 3000))


def test_measure_counts_turn_pauses_and_phrase_lengths():
    # given: a 400 ms phrase, a 400 ms pause, a 500 ms phrase with a 100 ms dip inside, 60 ms of silence
    flags = [False] * 5 + [True] * 20 + [False] * 20 + [True] * 10 + [False] * 5 + [True] * 10 + [False] * 3
    levels = [-30.0 if f else -60.0 for f in flags]

    # when
    cadence = measure(flags, levels, [math.nan] * len(flags))

    # then
    assert cadence is not None
    assert cadence.turn_pauses == 1
    assert cadence.longest_phrase_ms == 500
    assert cadence.tail_silence_ms == 60
    assert cadence.span_ms == (len(flags) - 5) * 20
    assert cadence.end_rise == 0.0  # no pitch: no ending measured
    assert measure([False] * 10, [-60.0] * 10, [math.nan] * 10) is None


def test_measure_reads_the_pitch_slope_at_a_phrase_end():
    flags = [True] * 20 + [False] * 16 + [True] * 10
    rising = [float(i) / 10 for i in range(20)]  # 0.1 semitone per 20 ms frame: 5 semitones per second
    cadence = measure(flags, [-30.0] * len(flags), rising + [math.nan] * 16 + [0.0] * 10)
    assert cadence is not None
    assert cadence.end_rise == pytest.approx(5.0, abs=0.01)
    assert cadence.last_rise is None  # the last phrase is still going


def test_measure_reports_phrase_and_pause_lengths():
    # given: phrases of 400, 200 and 600 ms with pauses of 400 and 300 ms, then 100 ms of silence
    flags = [True] * 20 + [False] * 20 + [True] * 10 + [False] * 15 + [True] * 30 + [False] * 5
    cadence = measure(flags, [-30.0 if f else -60.0 for f in flags], [math.nan] * len(flags))
    assert cadence is not None
    assert (cadence.phrases, cadence.speech_ms) == (3, 1200)
    assert (cadence.first_phrase_ms, cadence.last_phrase_ms, cadence.shortest_phrase_ms) == (400, 600, 200)
    assert (cadence.mean_pause_ms, cadence.longest_pause_ms, cadence.shortest_pause_ms) == (350.0, 400, 300)
    assert cadence.voiced_ratio == 0.0  # no pitch was found
    assert cadence.repetition == NO_REPETITION  # no frames given


def frames_of(signal: np.ndarray) -> list[np.ndarray | None]:
    return [signal[i : i + 160] for i in range(0, len(signal) - 159, 160)]


def test_a_phrase_said_again_is_a_repetition_and_other_words_are_not():
    # given: "hello?" (a rising glide), a pause, the same "hello?" 6 dB louder, and a different
    # phrase (a falling glide with a brighter timbre) said with the same rhythm
    hello = glide(0.5, 130, 210)
    other = glide(0.5, 220, 120) + noise(0.5, -30.0, seed=5)
    gap = silence(0.4)
    said_again = on_line(np.concatenate((hello, gap, hello * 2.0)), seconds=1.4)
    said_otherwise = on_line(np.concatenate((hello, gap, other)), seconds=1.4)
    phrases = [(0, 24), (45, 69)]

    # when
    again = repetition(frames_of(said_again), phrases)
    otherwise = repetition(frames_of(said_otherwise), phrases)

    # then
    assert again < 2.0 < 3.5 < otherwise < NO_REPETITION
    assert repetition(frames_of(said_again), [(0, 24)]) == NO_REPETITION  # one phrase: nothing to compare
    assert repetition(frames_of(said_again), [(0, 24), (45, 50)]) == NO_REPETITION  # too short to compare


def test_question_then_silence_is_a_person_sooner_than_a_statement():
    # given: the same "hello?" once ending rising, once ending falling, then silence
    question = on_line(np.concatenate((silence(0.4), glide(0.25, 140, 140), silence(0.05), glide(0.35, 130, 200))))
    statement = on_line(np.concatenate((silence(0.4), glide(0.25, 140, 140), silence(0.05), glide(0.35, 170, 110))))

    # when: a campaign that turns the question rule on (600 ms; off by default)
    config = AmdConfig(question_silence_ms=600)
    asked = stream(question, config)
    stated = stream(statement, config)

    # then: both are people; the question is connected 300 ms sooner
    assert (asked.label, asked.reason) == (AmdLabel.HUMAN, "question")
    assert (stated.label, stated.reason) == (AmdLabel.HUMAN, "short_utterance")
    assert stated.decided_ms - asked.decided_ms == 300
    assert stream(question).reason == "short_utterance"


def test_talker_phrases_start_at_the_talkers_first_loud_frame():
    # given: 300 ms of quiet background let in as speech, then the talker (with a quieter
    # syllable inside) for 600 ms, a 300 ms pause and 400 ms more
    flags = [True] * 15 + [True] * 30 + [False] * 15 + [True] * 20
    levels = [-40.0] * 15 + [-22.0] * 10 + [-31.0] * 5 + [-22.0] * 15 + [-60.0] * 15 + [-24.0] * 20

    # when
    speech_ms, longest_ms = talker_phrases(flags, levels, range_db=12.0, bridge=10)

    # then: the background is left out; the talker's own quieter syllable is not
    assert (speech_ms, longest_ms) == (1000, 600)
    assert talker_phrases(flags, levels, range_db=60.0, bridge=10) == (1300, 900)
    assert talker_phrases(flags, levels, range_db=12.0, bridge=10, onset=5) == (1100, 700)
    assert talker_phrases([False] * 3, [-60.0] * 3, range_db=12.0, bridge=10) == (0, 0)


def test_frame_spectrum_has_the_same_shape_at_any_level():
    frame = glide(0.02, 150, 150)
    assert frame_spectrum(frame).shape == (16,)
    assert np.allclose(frame_spectrum(frame), frame_spectrum(frame * 4.0), atol=1e-3)
