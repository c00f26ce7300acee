"""What the bridged-call tests share: the agent's script and reading a call's two-channel recording."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

FRAME = 160  # samples per 20 ms at 8 kHz
VOICED_RMS = 300  # media.bridge.config.BridgeConfig.speech_rms_threshold

PROMPT = """You are Sam from Sunny Solar calling {{name}} about a free solar quote.
Greeting: Hello {{name}}, this is Sam from Sunny Solar.
Question: Would you like a free solar quote?
"""


def read_wav(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The caller and agent channels of a recording (stereo, 8 kHz, 16-bit)."""
    with wave.open(io.BytesIO(path.read_bytes())) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return samples[:, 0].astype(np.float64), samples[:, 1].astype(np.float64)


def frame_rms(channel: np.ndarray) -> np.ndarray:
    """The RMS level of each whole 20 ms frame of a channel."""
    n = len(channel) // FRAME
    return np.sqrt(np.mean(channel[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))


def voiced_frames(channel: np.ndarray) -> int:
    """How many 20 ms frames of a channel are louder than speech's threshold."""
    return int(np.sum(frame_rms(channel) >= VOICED_RMS))


def agent_turns(agent: np.ndarray, min_gap_ms: int = 400) -> list[tuple[int, int]]:
    """The (first, last + 1) sample of each agent turn on its recording channel: the channel is exact zeros
    between turns (and where the playout was flushed); a run of zeros shorter than `min_gap_ms` is a pause
    inside speech."""
    active = np.flatnonzero(agent != 0)
    turns: list[tuple[int, int]] = []
    for sample in active:
        if turns and sample - turns[-1][1] <= min_gap_ms * 8:
            turns[-1] = (turns[-1][0], int(sample) + 1)
        else:
            turns.append((int(sample), int(sample) + 1))
    return turns
