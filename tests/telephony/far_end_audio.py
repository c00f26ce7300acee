"""Audio for independent far ends: speech from Flite (Debian package `flite`), a synthesiser the product does not
use, tones and silences built here, and reading what a baresip phone heard.

The product speaks and listens with eSpeak NG and its own VAD; the simulator does too. A far end that speaks with
another synthesiser, built without the product's audio code, cannot share a bug with it.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from tests.telephony.recordings import FRAME, VOICED_RMS, frame_rms

RATE = 8000  # Flite's `kal` voice speaks at 8 kHz: no resampling
FLITE_VOICE = "kal"


def flite_speech(text: str, workdir: Path, voice: str = FLITE_VOICE) -> np.ndarray:
    """`text` spoken by Flite as 8 kHz int16 samples (the voice must be an 8 kHz one, like `kal`)."""
    binary = shutil.which("flite")
    if binary is None:
        raise RuntimeError("flite is not installed (Debian package flite; see tests/peers.py)")
    out = workdir / "flite.wav"
    subprocess.run(  # noqa: S603 - Debian's flite with our text
        [binary, "-voice", voice, "-t", text, "-o", str(out)],
        check=True,
        capture_output=True,
    )
    with wave.open(str(out)) as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (RATE, 1, 2):
            raise ValueError(f"flite voice {voice!r} does not speak 8 kHz mono 16-bit")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy()


def silence(seconds: float) -> np.ndarray:
    """Digital silence."""
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def tone(hz: float, seconds: float, level: float = 8000.0) -> np.ndarray:
    """A pure tone (an answering machine's beep)."""
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def write_wav(path: Path, *parts: np.ndarray) -> Path:
    """Write the parts one after the other as an 8 kHz mono WAV (what a baresip phone says)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.concatenate(parts).astype("<i2").tobytes())
    return path


def seconds(*parts: np.ndarray) -> float:
    """How long the parts last together."""
    return sum(len(p) for p in parts) / RATE


def heard_by_phone(phone_dir: Path) -> np.ndarray:
    """What a baresip phone heard: the decoded stream it recorded (module sndfile), as float samples."""
    dumps = sorted(phone_dir.glob("dump-*-dec.wav"))
    if not dumps:
        raise AssertionError(f"the phone recorded nothing: {sorted(p.name for p in phone_dir.iterdir())}")
    with wave.open(str(dumps[0])) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)


def voiced_spans(samples: np.ndarray, max_gap_ms: int = 600) -> list[tuple[int, int]]:
    """The (start_ms, end_ms) of each stretch of speech louder than the voiced threshold; pauses shorter than
    `max_gap_ms` (between words) do not split a stretch."""
    voiced = np.flatnonzero(frame_rms(samples) >= VOICED_RMS)
    frame_ms = FRAME * 1000 // RATE
    spans: list[tuple[int, int]] = []
    for index in voiced:
        start, end = int(index) * frame_ms, (int(index) + 1) * frame_ms
        if spans and start - spans[-1][1] <= max_gap_ms:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
