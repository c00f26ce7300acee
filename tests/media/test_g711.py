"""G.711 helpers: sizes, silence codes, and round trips within the companding error."""

from __future__ import annotations

import numpy as np
import pytest

from media.audio import g711


def _sine(samples: int = 800, amplitude: int = 12000) -> bytes:
    t = np.arange(samples) / g711.SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def test_ulaw_round_trip_stays_within_companding_error() -> None:
    pcm = _sine()
    coded = g711.pcm16_to_ulaw(pcm)
    back = np.frombuffer(g711.ulaw_to_pcm16(coded), dtype="<i2").astype(int)
    original = np.frombuffer(pcm, dtype="<i2").astype(int)
    assert len(coded) == len(pcm) // 2
    # mu-law keeps about 3% relative precision at this level
    assert np.max(np.abs(back - original)) <= 0.04 * 12000


def test_alaw_round_trip_stays_within_companding_error() -> None:
    pcm = _sine()
    back = np.frombuffer(g711.alaw_to_pcm16(g711.pcm16_to_alaw(pcm)), dtype="<i2").astype(int)
    assert np.max(np.abs(back - np.frombuffer(pcm, dtype="<i2").astype(int))) <= 0.04 * 12000


def test_silence_codes_decode_to_near_zero() -> None:
    assert g711.silence("pcmu") == b"\xff" * 160
    assert g711.silence("pcma", 80) == b"\xd5" * 80
    assert max(abs(s) for s in np.frombuffer(g711.ulaw_to_pcm16(g711.silence("pcmu")), dtype="<i2")) == 0
    assert max(abs(s) for s in np.frombuffer(g711.alaw_to_pcm16(g711.silence("pcma")), dtype="<i2")) <= 8


def test_transcoding_between_laws_keeps_the_signal() -> None:
    ulaw = g711.pcm16_to_ulaw(_sine())
    via_alaw = g711.alaw_to_ulaw(g711.ulaw_to_alaw(ulaw))
    a = np.frombuffer(g711.ulaw_to_pcm16(ulaw), dtype="<i2").astype(int)
    b = np.frombuffer(g711.ulaw_to_pcm16(via_alaw), dtype="<i2").astype(int)
    assert np.max(np.abs(a - b)) <= 0.05 * 12000


def test_odd_pcm_length_is_refused() -> None:
    with pytest.raises(ValueError, match="even number"):
        g711.pcm16_to_ulaw(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="codec"):
        g711.silence("opus")
