"""The audio format every part of the media library exchanges: 20 ms frames of PCM16 LE mono at 8 kHz.

8 kHz is the conference bridge clock of the UA (the G.711 rate); frames in and out of a call are at this rate.
"""

from __future__ import annotations

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # PCM16 LE mono: 320 bytes per 20 ms


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut PCM16 into 20 ms frames, padding the last with silence."""
    out = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if out and len(out[-1]) < FRAME_BYTES:
        out[-1] = out[-1] + bytes(FRAME_BYTES - len(out[-1]))
    return out
