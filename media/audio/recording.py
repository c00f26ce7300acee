"""Stereo WAV recording of a call on one clock: caller on the left channel, agent on the right, 8 kHz PCM16.

The clock is the conference bridge tick: every `pull_frame_to_play` adds one agent frame (silence included)
and defines the time; a caller frame is placed at the tick it arrived in, with silence filling any gap
(pjmedia skips `onFrameReceived` when no RTP came). Both channels therefore line up sample for sample, and
a transcript segment's ``start_ms`` is its position in the file.

The media thread only appends to two byte buffers under a short lock; the file is written from the event
loop's worker threads (`flush` / `close`), never from the media thread.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np

from media.audio.frames import FRAME_BYTES, SAMPLE_RATE


class StereoRecorder:
    """Two aligned channels written incrementally to a WAV file.

    Args:
        path: the WAV file to create (its folder is created when missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._left = bytearray()
        self._right = bytearray()
        self._flushed = 0  # bytes per channel already handed to the file
        self._wav: wave.Wave_write | None = None
        self._write_lock = threading.Lock()
        self._closed = False
        self.frames_written = 0

    # ---- media thread -------------------------------------------------------------------------------------

    def add_caller(self, pcm: bytes, tick: int) -> None:
        """Record a caller frame heard during bridge tick ``tick`` (media thread; copy only)."""
        with self._lock:
            gap = tick * FRAME_BYTES - self._flushed - len(self._left)
            if gap > 0:  # frames pjmedia did not deliver (no RTP): silence keeps the channels aligned
                self._left.extend(bytes(gap))
            self._left.extend(pcm)

    def add_agent(self, pcm: bytes) -> None:
        """Record the frame played at this tick (media thread; copy only)."""
        with self._lock:
            self._right.extend(pcm)

    # ---- writer side (event loop worker thread) -----------------------------------------------------------

    def _take(self, *, final: bool) -> tuple[bytes, bytes]:
        with self._lock:
            if final:
                n = max(len(self._left), len(self._right))
                self._left.extend(bytes(n - len(self._left)))
                self._right.extend(bytes(n - len(self._right)))
            else:
                n = min(len(self._left), len(self._right))
            n -= n % 2
            left, right = bytes(self._left[:n]), bytes(self._right[:n])
            del self._left[:n]
            del self._right[:n]
            self._flushed += n
        return left, right

    def _write(self, left: bytes, right: bytes) -> None:
        # The caller holds _write_lock.
        if self._wav is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - kept open across flushes, closed in close()
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            self._wav = wav
        if left:
            samples = np.empty(len(left), dtype="<i2")  # len(left) bytes = 2 channels x len/2 samples
            samples[0::2] = np.frombuffer(left, dtype="<i2")
            samples[1::2] = np.frombuffer(right, dtype="<i2")
            self._wav.writeframes(samples.tobytes())
            self.frames_written += len(left) // 2

    def flush(self) -> None:
        """Write the aligned part recorded so far (blocking file I/O: call through ``asyncio.to_thread``)."""
        # Take and write under one lock: a flush still running when the call ends (its task was cancelled,
        # its thread was not) must neither reorder audio nor reopen the finished file.
        with self._write_lock:
            if self._closed:
                return
            self._write(*self._take(final=False))

    def close(self) -> None:
        """Write everything (padding the shorter channel with silence) and finish the WAV header."""
        with self._write_lock:
            if self._closed:
                return
            self._write(*self._take(final=True))
            self._closed = True
            if self._wav is not None:
                self._wav.close()
                self._wav = None
