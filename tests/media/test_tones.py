"""Beep detection on generated tones, speech-like audio and noise."""

from __future__ import annotations

import numpy as np
import pytest

from media.amd import frame_dbfs
from media.audio.tones import ToneDetector, goertzel_power
from tests.media.synthetic_audio import frames, noise, silence, speech, tone


def run_tones(signal: np.ndarray, detector: ToneDetector | None = None) -> list:
    detector = detector or ToneDetector()
    beeps = []
    for frame in frames(signal):
        samples = frame.astype(np.float64)
        beep = detector.feed(samples, frame_dbfs(samples))
        if beep is not None:
            beeps.append(beep)
    return beeps


def test_goertzel_power_peaks_at_the_tone_frequency():
    block = tone(1000, 0.05)[:400]
    assert goertzel_power(block, 1000) > 100 * goertzel_power(block, 700)
    assert goertzel_power(block, 1000) > 100 * goertzel_power(block, 1400)


@pytest.mark.parametrize("freq_hz", [440, 850, 1000, 1400, 2000])
def test_beep_is_reported_with_its_frequency_and_start(freq_hz):
    # given: 500 ms of quiet line, then a 400 ms beep over faint noise
    signal = np.concatenate((silence(0.5), tone(freq_hz, 0.4), silence(0.3)))
    signal += noise(len(signal) / 8000, -60)

    # when
    beeps = run_tones(signal)

    # then
    assert len(beeps) == 1
    assert abs(beeps[0].freq_hz - freq_hz) < 10
    assert 480 <= beeps[0].start_ms <= 540


def test_beep_in_noise_at_10_db_snr_is_found():
    signal = np.concatenate((silence(0.3), tone(1000, 0.3, dbfs=-25), silence(0.2)))
    signal += noise(len(signal) / 8000, -35, seed=3)
    assert len(run_tones(signal)) == 1


def test_tone_shorter_than_the_minimum_is_not_a_beep():
    signal = np.concatenate((silence(0.3), tone(1000, 0.08), silence(0.3)))
    assert run_tones(signal) == []


def test_tone_outside_the_band_is_not_a_beep():
    signal = np.concatenate((silence(0.3), tone(3000, 0.5), silence(0.3)))
    assert run_tones(signal, ToneDetector(max_hz=2500)) == []


@pytest.mark.parametrize("f0_hz", [100, 140, 220])
def test_speech_is_not_a_beep(f0_hz):
    assert run_tones(speech(3.0, seed=f0_hz, f0_hz=f0_hz)) == []


def test_noise_is_not_a_beep():
    assert run_tones(noise(3.0, -25)) == []


@pytest.mark.parametrize(("low_hz", "high_hz"), [(440, 480), (400, 450)])
def test_ringback_dual_tone_is_not_a_beep(low_hz, high_hz):
    # two close tones fall in one spectral peak but beat, unlike a beep
    signal = tone(low_hz, 1.5) + tone(high_hz, 1.5)
    assert run_tones(signal) == []
