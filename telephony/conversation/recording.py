"""A campaign call's recording, from the answer to the hangup (D15).

The recording starts when the callee answers, not when the AI bridge starts: the person's first words while the
answering-machine detector listens are kept, and so is a voicemail drop (which never reaches the bridge). Its
clock is the call's media clock since the answer: one tick per frame the conference bridge asks the call for,
whatever plays (the agent, a local message, silence). The bridge session keeps its own clock from the bridge,
so its transcript and disclosure times are moved by the tick at which the bridge started: every time stored
on the attempt then counts from the answer and is a position in the file.

The media thread only appends to the recorder's buffers; the file is written on one writer thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from media.audio.frames import FRAME_MS
from media.audio.recording import StereoRecorder
from media.bridge.playout import SILENCE

logger = logging.getLogger(__name__)

# One writer thread for every call's file work, as the bridge session has: the default executor would convoy
# behind TTS synthesis on busy UAs.
_WRITER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="answer-recordings")


def recording_path(attempt_id: int, now: dt.datetime) -> str:
    """Where an attempt's recording goes, relative to the recordings root (the bridge session's naming)."""
    return f"{now:%Y/%m/%d}/attempt-{attempt_id}.wav"


class AnswerRecording:
    """The stereo recording of one call from its answer: the callee on the left, what we played on the right.

    Args:
        root: the recordings root.
        attempt_id: names the file.
        flush_s: how often recorded audio is written to disk.
    """

    def __init__(self, root: Path, attempt_id: int, flush_s: float = 1.0) -> None:
        self.path = recording_path(attempt_id, dt.datetime.now(dt.UTC))
        self.attempt_id = attempt_id
        self.flush_s = flush_s
        self._recorder: StereoRecorder | None = StereoRecorder(root / self.path)
        self.ticks = 0  # frames played since the answer: the recording's clock
        self.bridge_tick: int | None = None  # the tick at which the bridge session played its first frame
        self.written = False

    # ---- media clock thread: copy and return ------------------------------------------------------------

    def heard(self, pcm: bytes) -> None:
        """A frame from the callee, placed at the current tick."""
        recorder = self._recorder
        if recorder is not None:
            recorder.add_caller(pcm, self.ticks)

    def played(self, frame: bytes | None, *, from_bridge: bool) -> None:
        """The frame sent to the callee at this tick (None: silence); advances the clock."""
        recorder = self._recorder
        if recorder is None:
            return  # closed: the clock stops with the file
        if from_bridge and self.bridge_tick is None:
            self.bridge_tick = self.ticks
        recorder.add_agent(frame or SILENCE)
        self.ticks += 1

    @property
    def now_ms(self) -> int:
        """Milliseconds since the answer on the recording's clock."""
        return self.ticks * FRAME_MS

    # ---- media loop ---------------------------------------------------------------------------------------

    async def flush_forever(self) -> None:
        """Write what was recorded every ``flush_s`` until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.flush_s)
            recorder = self._recorder
            if recorder is None:
                return
            await loop.run_in_executor(_WRITER, recorder.flush)

    async def close(self) -> None:
        """Finish the file; frames the port still delivers afterwards are not recorded."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(_WRITER, recorder.close)
            self.written = recorder.frames_written > 0
        except OSError:
            logger.exception("attempt %s: recording could not be written", self.attempt_id)

    # ---- at the end -----------------------------------------------------------------------------------------

    def rebase(self, results: dict[str, Any]) -> None:
        """Move the bridge session's times (counted from the bridge) to the recording's clock (from the answer)."""
        offset = (self.bridge_tick or 0) * FRAME_MS
        if not offset:
            return
        for segment in results.get("transcript") or []:
            for key in ("start_ms", "end_ms"):
                if isinstance(segment.get(key), int):
                    segment[key] += offset
        for disclosure in results.get("disclosures") or []:
            if isinstance(disclosure.get("offset_ms"), int):
                disclosure["offset_ms"] += offset


def now_ms(recording: AnswerRecording | None) -> int:
    """Milliseconds since the answer on the recording's clock (0 when the call is not recorded)."""
    return recording.now_ms if recording is not None else 0


def add_recording_results(
    results: dict[str, Any], recording: AnswerRecording | None, voicemail: dict[str, Any]
) -> None:
    """Put the recording and a voicemail drop's transcript into a call's results, on the answer's clock.

    Args:
        results: the ``results`` of the call's end (the bridge session's, when it was bridged).
        recording: the call's recording, if any.
        voicemail: the drop, when one was played: ``text``, ``start_ms`` and (played to its end) ``end_ms``.
    """
    if recording is not None and recording.written:
        recording.rebase(results)  # bridge times count from the answer, as the file does
        results["recording"] = recording.path
    if voicemail.get("text"):
        # The drop's transcript is the message as played: to its end, or (cut short) until the hangup. It follows
        # what the agent said to the machine if it greeted at once (same clock: both from the answer).
        end_ms = voicemail.get("end_ms") or now_ms(recording)
        segment = {"speaker": "agent", "text": voicemail["text"], "start_ms": voicemail["start_ms"], "end_ms": end_ms}
        results["transcript"] = [*(results.get("transcript") or []), segment]
