"""G.711 companding (mu-law PCMU, A-law PCMA) over PCM16 little-endian mono, via stdlib ``audioop``.

Each G.711 byte is one 8 kHz sample, so decoding doubles the byte count (160 B -> 320 B per 20 ms).
``audioop`` is deprecated in Python 3.11/3.12 and gone in 3.13, where the ``audioop-lts`` package
re-provides the same module; the deprecation warning is silenced here, once, on import.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160 samples = 160 G.711 bytes = 320 PCM16 bytes
ULAW_SILENCE = 0xFF  # mu-law code of digital zero
ALAW_SILENCE = 0xD5  # A-law code of digital zero


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode mu-law bytes to PCM16 LE samples (same sample count, twice the bytes)."""
    return audioop.ulaw2lin(data, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 LE samples to mu-law bytes.

    Raises:
        ValueError: if ``pcm`` holds an odd number of bytes.
    """
    _check_pcm16(pcm)
    return audioop.lin2ulaw(pcm, 2)


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode A-law bytes to PCM16 LE samples (same sample count, twice the bytes)."""
    return audioop.alaw2lin(data, 2)


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """Encode PCM16 LE samples to A-law bytes.

    Raises:
        ValueError: if ``pcm`` holds an odd number of bytes.
    """
    _check_pcm16(pcm)
    return audioop.lin2alaw(pcm, 2)


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode mu-law to A-law (through PCM16; both tables are lossy, so the round trip is too)."""
    return audioop.lin2alaw(audioop.ulaw2lin(data, 2), 2)


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode A-law to mu-law (through PCM16)."""
    return audioop.lin2ulaw(audioop.alaw2lin(data, 2), 2)


def silence(codec: str, samples: int = FRAME_SAMPLES) -> bytes:
    """Return ``samples`` bytes of digital silence for ``codec`` ("pcmu" or "pcma").

    Raises:
        ValueError: for any other codec name.
    """
    if codec == "pcmu":
        return bytes([ULAW_SILENCE]) * samples
    if codec == "pcma":
        return bytes([ALAW_SILENCE]) * samples
    raise ValueError(f"codec must be 'pcmu' or 'pcma', got {codec!r}")


def _check_pcm16(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 needs an even number of bytes, got {len(pcm)}")
