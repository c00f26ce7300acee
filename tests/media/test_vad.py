"""Energy VAD: turn start with prefix padding, stop after the hangover, thresholds, rates."""

from __future__ import annotations

import numpy as np
import pytest

from media.audio.vad import EnergyVad, VadConfig, VadEvent, VadEventKind
from media.speech import tts

STARTED = VadEventKind.SPEECH_STARTED
STOPPED = VadEventKind.SPEECH_STOPPED


def _noise(ms: int, rate: int, dbfs: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(rate * ms // 1000) * 32768 * 10 ** (dbfs / 20)


def _voice(ms: int, rate: int, dbfs: float) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    wave = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 720 * t)
    return wave / np.sqrt(np.mean(wave**2)) * 32768 * 10 ** (dbfs / 20)


def _pcm(*parts: np.ndarray) -> bytes:
    return np.clip(np.concatenate(parts), -32768, 32767).astype("<i2").tobytes()


def _run(vad: EnergyVad, pcm: bytes, chunk_ms: int = 20) -> list[VadEvent]:
    step = vad.sample_rate * chunk_ms // 1000 * 2
    events: list[VadEvent] = []
    for i in range(0, len(pcm), step):
        events += vad.feed(pcm[i : i + step])
    return events


@pytest.mark.parametrize("rate", [8000, 24000])
def test_turn_start_includes_prefix_padding_and_stop_includes_hangover(rate: int) -> None:
    # given 1 s of line noise, 0.8 s of voice, 1 s of noise
    pcm = _pcm(_noise(1000, rate, -60), _voice(800, rate, -20), _noise(1000, rate, -60, seed=2))
    vad = EnergyVad(rate, VadConfig(prefix_padding_ms=300, silence_duration_ms=500))
    # when fed in 20 ms frames
    events = _run(vad, pcm)
    # then one turn: start 300 ms before the voice, stop 500 ms after it
    assert [e.kind for e in events] == [STARTED, STOPPED]
    assert abs(events[0].ms - 700) <= 20
    assert abs(events[1].ms - 2300) <= 40


def test_odd_chunk_sizes_give_the_same_events() -> None:
    pcm = _pcm(_noise(500, 8000, -60), _voice(600, 8000, -20), _noise(800, 8000, -60))
    whole = _run(EnergyVad(8000), pcm, chunk_ms=20)
    odd = EnergyVad(8000)
    events: list[VadEvent] = []
    for i in range(0, len(pcm), 338):  # not a multiple of a frame, not even of a sample pair
        events += odd.feed(pcm[i : i + 338])
    assert events == whole


def test_a_pause_shorter_than_the_hangover_keeps_one_turn() -> None:
    pcm = _pcm(_noise(500, 8000, -60), _voice(400, 8000, -20), _noise(300, 8000, -60), _voice(400, 8000, -20),
               _noise(800, 8000, -60))  # fmt: skip
    events = _run(EnergyVad(8000, VadConfig(silence_duration_ms=500)), pcm)
    assert [e.kind for e in events] == [STARTED, STOPPED]


def test_a_pause_longer_than_the_hangover_splits_turns() -> None:
    pcm = _pcm(_noise(500, 8000, -60), _voice(400, 8000, -20), _noise(900, 8000, -60), _voice(400, 8000, -20),
               _noise(800, 8000, -60))  # fmt: skip
    events = _run(EnergyVad(8000, VadConfig(silence_duration_ms=500)), pcm)
    assert [e.kind for e in events] == [STARTED, STOPPED, STARTED, STOPPED]


def test_a_click_is_not_speech() -> None:
    pcm = _pcm(_noise(500, 8000, -60), _voice(20, 8000, -10), _noise(800, 8000, -60))
    assert _run(EnergyVad(8000), pcm) == []


def test_threshold_sets_how_loud_speech_must_be() -> None:
    # given quiet speech at -40 dBFS over a -70 dBFS line
    pcm = _pcm(_noise(500, 8000, -70), _voice(600, 8000, -40), _noise(800, 8000, -70))
    # then a sensitive detector hears it and a deaf one does not
    assert len(_run(EnergyVad(8000, VadConfig(threshold=0.3)), pcm)) == 2
    assert _run(EnergyVad(8000, VadConfig(threshold=0.9)), pcm) == []


def test_speech_must_stand_out_from_a_noisy_line() -> None:
    # given a line whose noise is at -35 dBFS, and a voice only 6 dB above it
    pcm = _pcm(_noise(2000, 8000, -35), _voice(600, 8000, -29) + _noise(600, 8000, -35, seed=3),
               _noise(800, 8000, -35, seed=4))  # fmt: skip
    vad = EnergyVad(8000)
    # then the tracked floor rises to the noise: at most a short phantom turn at the very start,
    # and the weak voice at 2 s is not a turn
    events = _run(vad, pcm)
    assert all(e.ms < 1000 for e in events)
    assert vad.noise_floor_dbfs > -40


def test_real_speech_makes_one_turn() -> None:
    speech = np.frombuffer(tts.synthesize("yes I am interested", 8000), dtype="<i2").astype(float)
    pcm = _pcm(_noise(400, 8000, -60), speech, _noise(1000, 8000, -60))
    events = _run(EnergyVad(8000), pcm)
    assert [e.kind for e in events] == [STARTED, STOPPED]
    assert events[1].ms - events[0].ms > 1000


def test_speech_from_the_first_frame_is_heard() -> None:
    speech = np.frombuffer(tts.synthesize("yes I am interested", 8000), dtype="<i2").astype(float)
    events = _run(EnergyVad(8000), _pcm(speech, _noise(1000, 8000, -60)))
    assert [e.kind for e in events] == [STARTED, STOPPED]
    assert events[0].ms == 0


def test_reset_drops_a_turn_in_progress() -> None:
    vad = EnergyVad(8000)
    _run(vad, _pcm(_noise(300, 8000, -60), _voice(300, 8000, -20)))
    assert vad.in_speech
    vad.reset()
    assert not vad.in_speech
    assert vad.position_ms == 600


def test_bad_settings_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="threshold"):
        VadConfig(threshold=2)
    with pytest.raises(ValueError, match="silence_duration_ms"):
        VadConfig(silence_duration_ms=0)
    with pytest.raises(ValueError, match="sample_rate"):
        EnergyVad(8001)
