"""Disclosures: spoken before any agent audio, not interruptible, reported with where they were played.

FCC 24-17 makes an AI voice an "artificial voice": the call must identify itself at its start; California AB 2905
requires saying the voice is artificial; all-party consent states require a recording notice. The control plane
decides which texts a call needs (``CallContext.disclosures``); the bridge speaks them first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from media.adapters.base import AdapterError, AgentAudio
from media.bridge.config import BridgeConfig, CallContext
from media.bridge.playout import DISCLOSURE, Playout
from media.bridge.prompts import referenced_variables, render_spoken


async def queue_disclosures(call: CallContext, config: BridgeConfig, playout: Playout) -> None:
    """Queue the call's disclosures ahead of any agent audio (a barge-in keeps them, see ``Playout.flush``).

    Raises:
        AdapterError: a disclosure could not be synthesised; the call must not go on without it.
    """
    if not call.disclosures:
        return
    from media.speech.tts import SpeechSynthesisError, Voice, synthesize

    for kind, text in call.disclosures:
        try:
            # F21: a text rendered from the contact's variables is unique per contact: not cached.
            audio = await asyncio.to_thread(
                synthesize, render_spoken(text, call.variables, config.prompt_variable_max_chars), 8000,
                Voice(name=config.fallback_voice), cache=not referenced_variables(text))
        except (SpeechSynthesisError, ValueError, OSError) as exc:
            raise AdapterError("internal", f"the {kind} disclosure could not be synthesised: {exc}") from exc
        playout.queue_audio(AgentAudio(audio, f"{DISCLOSURE}{kind}"))
        playout.end_turn(f"{DISCLOSURE}{kind}")


def played_disclosures(call: CallContext, playout: Playout) -> list[dict[str, Any]]:
    """``[{"kind", "text", "offset_ms", "duration_ms"}]`` of the disclosures played, on the call's clock."""
    texts = dict(call.disclosures)
    return [{"kind": kind, "text": texts.get(kind, ""), "offset_ms": offset, "duration_ms": duration}
            for kind, offset, duration in playout.played_disclosures()]
