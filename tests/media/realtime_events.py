"""Complete OpenAI Realtime (GA) server events for scripted test servers.

Each builder returns every field the protocol requires (``event_id``, ``response_id``, ``output_index``,
``content_index`` ...), so a script reads as the conversation it plays. `WsServer.send` checks each event
against the SDK's types anyway (`tests.media.protocol_check`): a builder that drifted would fail there.
"""

from __future__ import annotations

import itertools
from typing import Any

_event_ids = itertools.count(1)


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"event_{next(_event_ids)}", **fields}


def session_created(session: dict[str, Any] | None = None) -> dict[str, Any]:
    """``session.created`` (the first event of a connection)."""
    return _event("session.created", session=session or {"type": "realtime"})


def session_updated(session: dict[str, Any] | None = None) -> dict[str, Any]:
    """``session.updated``: the session after a ``session.update`` (pass the client's ``session`` to echo it)."""
    return _event("session.updated", session=session or {"type": "realtime"})


def audio_delta(item_id: str, delta: str, *, response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio.delta``: base64 audio of an assistant item."""
    return _event("response.output_audio.delta", response_id=response_id, item_id=item_id,
                  output_index=output_index, content_index=0, delta=delta)


def audio_done(item_id: str, *, response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio.done``: no more audio for the item."""
    return _event("response.output_audio.done", response_id=response_id, item_id=item_id,
                  output_index=output_index, content_index=0)


def audio_transcript_done(item_id: str, transcript: str, *, response_id: str = "resp_1",
                          output_index: int = 0) -> dict[str, Any]:
    """``response.output_audio_transcript.done``: what the assistant said in the item."""
    return _event("response.output_audio_transcript.done", response_id=response_id, item_id=item_id,
                  output_index=output_index, content_index=0, transcript=transcript)


def speech_started(audio_start_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_started`` (server VAD heard the caller start)."""
    return _event("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=item_id)


def speech_stopped(audio_end_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_stopped`` (server VAD heard the caller stop)."""
    return _event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item_id)


def transcription_completed(item_id: str, transcript: str, *, input_tokens: int = 0,
                            output_tokens: int = 0) -> dict[str, Any]:
    """``conversation.item.input_audio_transcription.completed`` with its token usage."""
    usage = {"type": "tokens", "input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    return _event("conversation.item.input_audio_transcription.completed", item_id=item_id, content_index=0,
                  transcript=transcript, usage=usage)


def function_call_done(call_id: str, name: str, arguments: str, *, item_id: str = "item_fc",
                       response_id: str = "resp_1", output_index: int = 0) -> dict[str, Any]:
    """``response.function_call_arguments.done``: the model called a function."""
    return _event("response.function_call_arguments.done", response_id=response_id, item_id=item_id,
                  output_index=output_index, call_id=call_id, name=name, arguments=arguments)


def response_done(usage: dict[str, Any] | None = None, *, response_id: str = "resp_1",
                  status: str = "completed") -> dict[str, Any]:
    """``response.done`` (with the response's token usage when given)."""
    response: dict[str, Any] = {"object": "realtime.response", "id": response_id, "status": status, "output": []}
    if usage is not None:
        response["usage"] = usage
    return _event("response.done", response=response)


def item_truncated(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    """``conversation.item.truncated``: the server cut the assistant item's audio as asked."""
    return _event("conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms)


def error(code: str, message: str, *, kind: str = "invalid_request_error") -> dict[str, Any]:
    """``error``: a request failed (the connection stays open)."""
    return _event("error", error={"type": kind, "code": code, "message": message})
