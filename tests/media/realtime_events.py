"""Complete OpenAI Realtime (GA) server events for scripted test servers.

Each builder returns every field the protocol requires (``event_id``, ``response_id``, ``output_index``,
``content_index`` ...), so a script reads as the conversation it plays. The shapes come from the project's
own builders (`media.adapters.realtime_events`, which the local agent sends too); `WsServer.send` checks each
event against the SDK's types anyway (`tests.media.protocol_check`), so a builder that drifted fails there.
"""

from __future__ import annotations

import itertools
from typing import Any

from media.adapters import realtime_events as rt

_event_ids = itertools.count(1)


def _event(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "event_id": f"event_{next(_event_ids)}"}


def session_created(session: dict[str, Any] | None = None) -> dict[str, Any]:
    """``session.created`` (the first event of a connection)."""
    return _event(rt.session_created(session or {"type": "realtime"}))


def session_updated(session: dict[str, Any] | None = None) -> dict[str, Any]:
    """``session.updated``: the session after a ``session.update`` (pass the client's ``session`` to echo it)."""
    return _event(rt.session_updated(session or {"type": "realtime"}))


def audio_delta(item_id: str, delta: str, *, response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio.delta``: base64 audio of an assistant item."""
    return _event(rt.output_audio_delta(rt.ItemRef(response_id, item_id, output_index), delta))


def audio_done(item_id: str, *, response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio.done``: no more audio for the item."""
    return _event(rt.output_audio_done(rt.ItemRef(response_id, item_id, output_index)))


def audio_transcript_done(item_id: str, transcript: str, *, response_id: str = "resp_1",
                          output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio_transcript.done``: what the assistant said in the item."""
    return _event(rt.output_audio_transcript_done(rt.ItemRef(response_id, item_id, output_index), transcript))


def speech_started(audio_start_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_started`` (server VAD heard the caller start)."""
    return _event(rt.speech_started(audio_start_ms, item_id))


def speech_stopped(audio_end_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_stopped`` (server VAD heard the caller stop)."""
    return _event(rt.speech_stopped(audio_end_ms, item_id))


def transcription_completed(item_id: str, transcript: str, *, input_tokens: int = 0,
                            output_tokens: int = 0) -> dict[str, Any]:
    """``conversation.item.input_audio_transcription.completed`` with its token usage."""
    usage = {"type": "tokens", "input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    return _event(rt.transcription_completed(item_id, transcript, usage))


def function_call_done(call_id: str, name: str, arguments: str, *, item_id: str = "item_fc",
                       response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.function_call_arguments.done``: the model called a function."""
    ref = rt.ItemRef(response_id, item_id, output_index, call_id)
    return _event(rt.function_call_arguments_done(ref, name, arguments))


def response_done(usage: dict[str, Any] | None = None, *, response_id: str = "resp_1",
                  status: str = "completed") -> dict[str, Any]:
    """``response.done`` (with the response's token usage when given)."""
    response: dict[str, Any] = {"object": "realtime.response", "id": response_id, "status": status, "output": []}
    if usage is not None:
        response["usage"] = usage
    return _event(rt.response_done(response))


def item_truncated(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    """``conversation.item.truncated``: the server cut the assistant item's audio as asked."""
    return _event(rt.item_truncated(item_id, audio_end_ms))


def error(code: str, message: str, *, kind: str = "invalid_request_error") -> dict[str, Any]:
    """``error``: a request failed (the connection stays open)."""
    return _event(rt.error(code, message, kind=kind))
