"""Limits on what the AI can do to a call (audit F20): too much audio queued, or silence after the caller spoke.

An AI endpoint that sends audio faster than real time, whether misbehaving or hostile, would grow the UA process's
memory until the call's time limit, and an out-of-memory kill ends every call of the process. One that stalls with
its socket open leaves the callee in silence until that limit. Both end the call as ``ai_error``: the bridge
then speaks its fallback message, hangs up, and keeps the transcript so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from media.adapters.base import AdapterError
from media.audio.frames import FRAME_MS
from media.bridge.config import BridgeConfig
from media.bridge.inbound import Inbound
from media.bridge.playout import BYTES_PER_MS, Playout

OVERFLOW = "overflow"  # AdapterError kind: more agent audio queued than the cap
STALLED = "stalled"  # AdapterError kind: the AI said nothing for too long after the caller spoke


def playout_overflow(playout: Playout, config: BridgeConfig, incoming_bytes: int) -> AdapterError | None:
    """The failure to raise if ``incoming_bytes`` more of agent audio (PCM16, 8 kHz) would pass the playout cap.

    Checked before the audio is queued, so the queue never holds more than ``config.max_playout_ms``. Why a cap:
    models send a turn's audio ahead of playback, seconds at a time; half a minute queued is far more than any
    turn needs, and beyond it the queue only grows (F20).

    Returns:
        None when the audio fits.
    """
    queued = playout.queued_ms + incoming_bytes // BYTES_PER_MS
    if queued <= config.max_playout_ms:
        return None
    cap_s = config.max_playout_ms / 1000
    return AdapterError(OVERFLOW, f"the AI sent audio faster than real time: over {cap_s:g} s queued")


async def watch_ai_silence(
    playout: Playout, inbound: Inbound, config: BridgeConfig, paused: Callable[[], bool]
) -> None:
    """Raise `AdapterError` (``stalled``) once the AI has been silent ``config.ai_silence_timeout_s`` after the
    caller's last speech.

    Silent means: no agent audio queued since the caller's last voiced frame and nothing left to play. Measured
    on the call's media clock (20 ms ticks). Runs until cancelled.

    Args:
        playout: the call's playout (its clock and the tick of the last agent audio).
        inbound: the caller's side (the tick of the last voiced frame).
        config: the timeout.
        paused: True while silence is expected (the call is being transferred or is ending).
    """
    limit_ticks = int(config.ai_silence_timeout_s * 1000) // FRAME_MS
    while True:
        await asyncio.sleep(FRAME_MS * 5 / 1000)
        voiced = inbound.last_voiced_tick
        if paused() or voiced < 0 or playout.last_audio_tick >= voiced or not playout.empty:
            continue
        if playout.ticks - voiced >= limit_ticks:
            raise AdapterError(
                STALLED, f"the AI said nothing for {config.ai_silence_timeout_s:g} s after the caller spoke"
            )
