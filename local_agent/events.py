"""The local agent's Realtime session object: the session a connection starts with, and ``session.update``.

Field names and shapes follow the GA types of the official ``openai`` SDK (``openai.types.realtime``); the
events themselves are built by `media.adapters.realtime_events`, shared with the bridge's adapter.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from media.adapters.realtime_events import PCM_RATE

SESSION_LIFETIME_S = 3600  # the GA service's 60-minute session
AUDIO_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
SESSION_KEYS = frozenset(
    {
        "type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice",
        "max_output_tokens", "tracing", "truncation", "prompt", "include", "id", "object", "expires_at",
    }
)  # fmt: skip


def new_id(prefix: str) -> str:
    """A server-side id such as ``item_1f3a...`` (prefixes as the real service uses them)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def default_session(model: str) -> dict[str, Any]:
    """The session a new connection starts with (what ``session.created`` carries)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": PCM_RATE},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "voice": "marin", "speed": 1.0},
        },
    }


class SessionUpdateError(ValueError):
    """A ``session.update`` the agent refuses; carries the Realtime error code and param."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


def _check_format(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in AUDIO_FORMATS:
        raise SessionUpdateError("invalid_value", f"{param}.type must be one of {', '.join(AUDIO_FORMATS)}", param)
    if value["type"] == "audio/pcm":
        if value.get("rate", PCM_RATE) != PCM_RATE:
            raise SessionUpdateError("invalid_value", f"{param}.rate must be {PCM_RATE}", f"{param}.rate")
        return {"type": "audio/pcm", "rate": PCM_RATE}
    return {"type": value["type"]}


def merge_session(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """Apply a ``session.update`` payload to a session; only the fields present change.

    Args:
        current: the session now.
        update: the ``session`` object of the client event.

    Returns:
        The new session (``current`` is not modified).

    Raises:
        SessionUpdateError: when the update is invalid; nothing is applied then.
    """
    if not isinstance(update, dict):
        raise SessionUpdateError("invalid_type", "session must be an object", "session")
    if "type" not in update:
        raise SessionUpdateError(
            "missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type"
        )
    if update["type"] != "realtime":
        raise SessionUpdateError("invalid_value", "Only realtime sessions are supported.", "session.type")
    unknown = sorted(set(update) - SESSION_KEYS)
    if unknown:
        raise SessionUpdateError(
            "unknown_parameter", f"Unknown parameter: 'session.{unknown[0]}'.", f"session.{unknown[0]}"
        )
    session = copy.deepcopy(current)
    for key in (
        "model",
        "instructions",
        "tool_choice",
        "max_output_tokens",
        "tracing",
        "truncation",
        "prompt",
        "include",
    ):
        if key in update:
            session[key] = update[key]
    if "instructions" in update and not isinstance(update["instructions"], str):
        raise SessionUpdateError("invalid_type", "instructions must be a string", "session.instructions")
    if "output_modalities" in update:
        if update["output_modalities"] not in (["audio"], ["text"]):
            raise SessionUpdateError(
                "invalid_value", 'output_modalities must be ["audio"] or ["text"]', "session.output_modalities"
            )
        session["output_modalities"] = list(update["output_modalities"])
    if "tools" in update:
        tools = update["tools"]
        if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("name") for t in tools):
            raise SessionUpdateError("invalid_value", "tools must be a list of named tools", "session.tools")
        session["tools"] = copy.deepcopy(tools)
    audio = update.get("audio")
    if audio is not None:
        if not isinstance(audio, dict):
            raise SessionUpdateError("invalid_type", "audio must be an object", "session.audio")
        _merge_audio_input(session["audio"]["input"], audio.get("input"))
        _merge_audio_output(session["audio"]["output"], audio.get("output"))
    return session


def _merge_audio_input(target: dict[str, Any], update: Any) -> None:
    if update is None:
        return
    if not isinstance(update, dict):
        raise SessionUpdateError("invalid_type", "audio.input must be an object", "session.audio.input")
    if "format" in update:
        target["format"] = _check_format(update["format"], "session.audio.input.format")
    if "transcription" in update:
        target["transcription"] = update["transcription"]
    if "noise_reduction" in update:
        target["noise_reduction"] = update["noise_reduction"]
    if "turn_detection" in update:
        td = update["turn_detection"]
        if td is None:
            target["turn_detection"] = None
        elif not isinstance(td, dict) or td.get("type") not in ("server_vad", "semantic_vad"):
            raise SessionUpdateError(
                "invalid_value",
                "turn_detection.type must be server_vad or semantic_vad",
                "session.audio.input.turn_detection.type",
            )
        else:
            merged = dict(default_session("")["audio"]["input"]["turn_detection"])
            if td["type"] == "semantic_vad":
                # The local agent has no semantic model: semantic_vad runs as server_vad with its defaults.
                merged = {"type": "semantic_vad", "eagerness": td.get("eagerness", "auto"),
                          "create_response": True, "interrupt_response": True}  # fmt: skip
            merged.update(td)
            threshold = merged.get("threshold", 0.5)
            if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
                raise SessionUpdateError(
                    "invalid_value", "threshold must be 0-1", "session.audio.input.turn_detection.threshold"
                )
            target["turn_detection"] = merged


def _merge_audio_output(target: dict[str, Any], update: Any) -> None:
    if update is None:
        return
    if not isinstance(update, dict):
        raise SessionUpdateError("invalid_type", "audio.output must be an object", "session.audio.output")
    if "format" in update:
        target["format"] = _check_format(update["format"], "session.audio.output.format")
    if "voice" in update:
        target["voice"] = update["voice"]
    if "speed" in update:
        speed = update["speed"]
        if not isinstance(speed, int | float) or not 0.25 <= speed <= 1.5:
            raise SessionUpdateError("invalid_value", "speed must be 0.25-1.5", "session.audio.output.speed")
        target["speed"] = speed
