"""Frame levels and the line's noise floor, the AMD speech gate's two measures."""

from __future__ import annotations

import math

import numpy as np

TALKER_DECAY_DB = 0.02  # per 20 ms frame: the talker's peak level fades by 1 dB/s


def passes_speech_gate(dbfs: float, floor: float, min_speech_dbfs: float, speech_margin_db: float) -> bool:
    """The speech gate: loud enough in itself and `speech_margin_db` above the noise floor."""
    return dbfs >= min_speech_dbfs and dbfs >= floor + speech_margin_db


def follow_talker(talker_dbfs: float, dbfs: float, speech: bool) -> float:
    """The talker's peak level after one frame: up to a louder speech frame at once, else fading 1 dB/s."""
    return max(dbfs, talker_dbfs - TALKER_DECAY_DB) if speech else talker_dbfs - TALKER_DECAY_DB


def frame_dbfs(samples: np.ndarray) -> float:
    """Level of a frame in dB relative to PCM16 full scale (a full-scale square wave is 0 dBFS)."""
    mean_square = float(np.dot(samples, samples)) / max(len(samples), 1)
    return 10.0 * math.log10(mean_square / (32768.0 * 32768.0) + 1e-10)


class NoiseFloor:
    """Tracks the background level: follows quiet frames down at once, rises slowly.

    Why: a stationary noise (street, fan, a bad line) must not read as endless speech, which would
    make a person in a noisy place look like a long machine greeting. The floor is the minimum level
    over the last half second, allowed to rise at a capped rate so that a long greeting keeps its
    dips below the speech margin.
    """

    _WINDOW_FRAMES = 25  # 500 ms
    _RISE_DB = 0.5  # per frame, 25 dB/s

    def __init__(self, initial_dbfs: float) -> None:
        self.level = initial_dbfs
        self._recent: list[float] = []

    def update(self, dbfs: float) -> float:
        self._recent.append(dbfs)
        if len(self._recent) > self._WINDOW_FRAMES:
            self._recent.pop(0)
        target = min(self._recent)
        self.level = target if target <= self.level else min(target, self.level + self._RISE_DB)
        return self.level
