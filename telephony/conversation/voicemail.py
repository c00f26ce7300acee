"""The machine's beep: heard after an undecided call was connected (`watch_for_late_beep`), and waited for
before a voicemail drop (`wait_for_beep`: the machine is ready to record once its beep or greeting ended)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from media.amd import AmdConfig, AmdDecision, LateBeepWatch, frame_dbfs
from media.audio.tones import ToneDetector
from media.bridge.config import FRAME_MS

# The longest wait for the beep after the machine decision; silence that ends a greeting without beep.
BEEP_WAIT_MAX_S = 20.0
GREETING_END_SILENCE_MS = 1500
QUIET_DBFS = -45.0  # below this a frame is silence (end of the beep, end of the greeting)


async def wait_for_beep(rx: deque[bytes], amd: AmdConfig, decision: AmdDecision) -> str:
    """Consume received frames from `rx` until the machine records: "beep", "greeting" or "timeout"."""
    tones = ToneDetector(min_hz=amd.beep_min_hz, max_hz=amd.beep_max_hz, min_ms=amd.beep_min_ms,
                         min_purity=amd.beep_min_purity)
    in_beep = decision.reason == "beep"
    quiet_ms = 0
    deadline = time.monotonic() + BEEP_WAIT_MAX_S
    while time.monotonic() < deadline:
        while rx:
            samples = np.frombuffer(rx.popleft(), dtype="<i2").astype(np.float64)
            dbfs = frame_dbfs(samples)
            quiet_ms = quiet_ms + FRAME_MS if dbfs < QUIET_DBFS else 0
            if in_beep:
                if quiet_ms >= 2 * FRAME_MS:
                    return "beep"
                continue
            if tones.feed(samples, dbfs) is not None:
                in_beep, quiet_ms = True, 0
            elif quiet_ms >= GREETING_END_SILENCE_MS:
                return "greeting"
        await asyncio.sleep(FRAME_MS / 1000)
    return "timeout"


async def watch_for_late_beep(
    rx: deque[bytes], amd: AmdConfig, decision: AmdDecision, talker_dbfs: float | None, stopped: Callable[[], bool]
) -> AmdDecision | None:
    """After an UNKNOWN decision, the MACHINE decision of a machine that beeps (`media.amd.late_beep`), else None.

    Consumes received frames from `rx` until the watch decides or ends (the far end listens, its window
    passed) or `stopped()` (the call ended, hung up, opted out or is being transferred).
    """
    watch = LateBeepWatch(amd, decision.decided_ms, decision.first_speech_ms, talker_dbfs)
    while watch.ended is None and not stopped():
        while rx:
            late = watch.feed(rx.popleft())
            if late is not None:
                return late
        await asyncio.sleep(FRAME_MS / 1000)
    return None
