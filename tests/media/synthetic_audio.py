"""Small synthetic telephone signals for AMD tests: silence, noise, beeps and speech-like voicing."""

from __future__ import annotations

import numpy as np

RATE = 8000


def silence(seconds: float) -> np.ndarray:
    """Digital silence."""
    return np.zeros(int(seconds * RATE))


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """White noise at an RMS level in dBFS."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(seconds * RATE)) * 32768 * 10 ** (dbfs / 20)


def tone(freq_hz: float, seconds: float, dbfs: float = -15.0) -> np.ndarray:
    """A sine beep with 5 ms ramps, RMS level in dBFS."""
    t = np.arange(int(seconds * RATE)) / RATE
    ramp = int(0.005 * RATE)
    envelope = np.ones_like(t)
    envelope[:ramp] = np.linspace(0, 1, ramp)
    envelope[-ramp:] = np.linspace(1, 0, ramp)
    return np.sin(2 * np.pi * freq_hz * t) * envelope * np.sqrt(2) * 32768 * 10 ** (dbfs / 20)


def syllable(seconds: float, f0_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced syllable: harmonics of a gliding pitch shaped by a random vowel, under a smooth envelope.

    The vowel's two formants (F1 300-800 Hz, F2 900-2500 Hz) change from syllable to syllable, as
    words do, so different stretches of speech do not sound alike.
    """
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    glide = rng.uniform(-0.15, 0.15)
    f0 = f0_hz * (1 + glide * t / seconds + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formants = (rng.uniform(300, 800), rng.uniform(900, 2500))

    def gain(freq: float) -> float:
        return 0.1 + sum(1.0 / (1.0 + ((freq - f) / 120.0) ** 2) for f in formants)

    voice = sum(np.sin(k * phase) * gain(k * f0_hz) / k**0.7 for k in range(1, int(3400 / f0_hz)))
    return voice * np.hanning(n) ** 0.5


def speech(seconds: float, dbfs: float = -20.0, seed: int = 0, f0_hz: float = 140.0) -> np.ndarray:
    """Continuous speech-like audio: syllables of 120-260 ms with 30-120 ms dips between them."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * RATE:
        parts.append(syllable(rng.uniform(0.12, 0.26), f0_hz * rng.uniform(0.9, 1.1), rng))
        parts.append(silence(rng.uniform(0.03, 0.12)))
        total += len(parts[-1]) + len(parts[-2])
    signal = np.concatenate(parts)[: int(seconds * RATE)]
    active = signal[np.abs(signal) > 0]
    rms = np.sqrt(np.mean(active**2)) if len(active) else 1.0
    return signal / rms * 32768 * 10 ** (dbfs / 20)


def sentences(durations: list[float], pause_s: float, dbfs: float = -20.0, seed: int = 0) -> np.ndarray:
    """Several stretches of speech separated by pauses, like a recorded greeting."""
    parts: list[np.ndarray] = []
    for i, seconds in enumerate(durations):
        parts += [speech(seconds, dbfs, seed + i), silence(pause_s)]
    return np.concatenate(parts)


def frames(signal: np.ndarray) -> list[np.ndarray]:
    """Cut into 20 ms frames as int16 samples, as the call path delivers them."""
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    return [pcm[i : i + 160] for i in range(0, len(pcm) - 159, 160)]
