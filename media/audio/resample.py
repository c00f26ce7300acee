"""Sample-rate conversion of PCM16 LE mono (soxr): speech synthesis, the recogniser and the adapters meet at
different rates than the call's 8 kHz."""

from __future__ import annotations

import numpy as np
import soxr


def resample_pcm16(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """Resample PCM16 LE mono between rates with soxr (high quality, anti-aliased).

    Args:
        pcm: PCM16 LE samples.
        rate_in: their sample rate in Hz.
        rate_out: the wanted sample rate in Hz.

    Returns:
        PCM16 LE samples at ``rate_out``.
    """
    if rate_in == rate_out or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(samples, rate_in, rate_out, quality="HQ")
    return np.asarray(out, dtype="<i2").tobytes()
