"""The recording from the answer (D15), without a network: its clock, its file, and bridge times moved onto it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from telephony.conversation.recording import AnswerRecording
from tests.telephony.recordings import frame_rms, read_wav

FRAME = 320  # bytes: 20 ms of PCM16 at 8 kHz
LOUD = (np.full(160, 3000, dtype="<i2")).tobytes()


def _record(root: Path) -> AnswerRecording:
    """50 ticks of AMD listening (the callee says something in ticks 10-29), then 25 ticks of the bridge."""
    recording = AnswerRecording(root, attempt_id=7, flush_s=60)
    for tick in range(75):
        recording.heard(LOUD if 10 <= tick < 30 else bytes(FRAME))
        bridged = tick >= 50
        recording.played(LOUD if tick >= 60 else None, from_bridge=bridged)
    asyncio.run(recording.close())
    return recording


def test_the_file_starts_at_the_answer_with_the_words_heard_during_detection(tmp_path: Path) -> None:
    recording = _record(tmp_path)

    caller, played = read_wav(tmp_path / recording.path)
    assert recording.written
    assert len(caller) == 75 * 160  # every tick since the answer: 1.5 s
    loud_caller = np.flatnonzero(frame_rms(caller) > 1000)
    assert (loud_caller[0], loud_caller[-1]) == (10, 29)  # the "hello?" AMD heard, at its place
    assert np.flatnonzero(frame_rms(played) > 1000)[0] == 60


def test_bridge_times_are_moved_to_the_answer_clock(tmp_path: Path) -> None:
    recording = _record(tmp_path)
    assert recording.bridge_tick == 50
    results = {
        "transcript": [{"speaker": "agent", "text": "Hi", "start_ms": 200, "end_ms": 500}],
        "disclosures": [{"kind": "ai", "offset_ms": 0, "duration_ms": 100}],
    }

    recording.rebase(results)

    # the agent's words at 200 ms after the bridge are 1.2 s into the file, where the agent channel is loud
    assert results["transcript"][0]["start_ms"] == 1200
    assert results["transcript"][0]["end_ms"] == 1500
    assert results["disclosures"][0]["offset_ms"] == 1000


def test_a_call_never_bridged_keeps_its_times(tmp_path: Path) -> None:
    recording = AnswerRecording(tmp_path, attempt_id=8)
    recording.played(None, from_bridge=False)
    results = {"transcript": [{"speaker": "agent", "text": "Message", "start_ms": 40, "end_ms": 900}]}
    recording.rebase(results)
    assert results["transcript"][0]["start_ms"] == 40
