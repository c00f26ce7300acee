"""Frame levels and the line's noise floor, the AMD speech gate's two measures."""

from __future__ import annotations

import math

import numpy as np


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
