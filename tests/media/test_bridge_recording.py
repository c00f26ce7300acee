"""Stereo recording on the media clock: caller left, agent right, aligned sample for sample."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from media.audio.recording import StereoRecorder


def _frame(value: int) -> bytes:
    return np.full(160, value, dtype="<i2").tobytes()


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)


def test_missing_caller_frames_become_silence_so_both_channels_stay_aligned(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "a" / "call.wav")
    # given ticks 0..5 where pjmedia delivered no caller frame at ticks 2 and 3
    for tick in range(6):
        if tick not in (2, 3):
            recorder.add_caller(_frame(100 + tick), tick)
        recorder.add_agent(_frame(-(100 + tick)))
        if tick == 3:
            recorder.flush()  # a flush in the middle changes nothing
    recorder.close()

    frames = _read(tmp_path / "a" / "call.wav")
    assert frames.shape == (6 * 160, 2)
    left = frames[:, 0].reshape(6, 160)[:, 0].tolist()
    right = frames[:, 1].reshape(6, 160)[:, 0].tolist()
    assert left == [100, 101, 0, 0, 104, 105]
    assert right == [-100, -101, -102, -103, -104, -105]


def test_a_flush_after_close_does_not_touch_the_finished_file(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "call.wav")
    recorder.add_caller(_frame(1), 0)
    recorder.add_agent(_frame(2))
    recorder.add_agent(_frame(3))  # the agent channel is one tick ahead: padded on close
    recorder.close()
    size = (tmp_path / "call.wav").stat().st_size
    recorder.add_caller(_frame(9), 5)
    recorder.flush()
    recorder.close()

    assert (tmp_path / "call.wav").stat().st_size == size
    frames = _read(tmp_path / "call.wav")
    assert frames[:, 0].reshape(2, 160)[:, 0].tolist() == [1, 0]
    assert frames[:, 1].reshape(2, 160)[:, 0].tolist() == [2, 3]
