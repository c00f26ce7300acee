"""OpenAI Realtime (GA) events: the names and shapes of every event the two sides here exchange.

The adapter (`media.adapters.openai_realtime`) sends client events and reads server events; the local agent
(`local_agent`) reads client events and sends server events. Both name and build them here, so an event
type or a field name is written once. Shapes follow the GA types of the official ``openai`` SDK
(``openai.types.realtime``); the tests validate every event either side sends against that SDK's unions.

Builders return plain dicts ready for ``json.dumps``; the sender adds ``event_id`` where the protocol wants
one. `ItemRef` names the place of an output item in a response, which most response events carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PCM_RATE = 24000  # the rate of ``audio/pcm``; ``audio/pcmu`` and ``audio/pcma`` are 8 kHz


class ClientEvent(StrEnum):
    """Event types a client sends (the subset the adapter uses and the local agent serves)."""

    SESSION_UPDATE = "session.update"
    INPUT_AUDIO_APPEND = "input_audio_buffer.append"
    INPUT_AUDIO_COMMIT = "input_audio_buffer.commit"
    INPUT_AUDIO_CLEAR = "input_audio_buffer.clear"
    ITEM_CREATE = "conversation.item.create"
    ITEM_TRUNCATE = "conversation.item.truncate"
    ITEM_RETRIEVE = "conversation.item.retrieve"
    ITEM_DELETE = "conversation.item.delete"
    RESPONSE_CREATE = "response.create"
    RESPONSE_CANCEL = "response.cancel"


class ServerEvent(StrEnum):
    """Event types the server sends (those the local agent produces; the adapter reads some of them)."""

    ERROR = "error"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    SPEECH_STARTED = "input_audio_buffer.speech_started"
    SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
    COMMITTED = "input_audio_buffer.committed"
    CLEARED = "input_audio_buffer.cleared"
    TIMEOUT_TRIGGERED = "input_audio_buffer.timeout_triggered"
    ITEM_ADDED = "conversation.item.added"
    ITEM_DONE = "conversation.item.done"
    ITEM_TRUNCATED = "conversation.item.truncated"
    ITEM_RETRIEVED = "conversation.item.retrieved"
    ITEM_DELETED = "conversation.item.deleted"
    TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
    TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
    RESPONSE_CREATED = "response.created"
    RESPONSE_DONE = "response.done"
    OUTPUT_ITEM_ADDED = "response.output_item.added"
    OUTPUT_ITEM_DONE = "response.output_item.done"
    CONTENT_PART_ADDED = "response.content_part.added"
    CONTENT_PART_DONE = "response.content_part.done"
    OUTPUT_AUDIO_DELTA = "response.output_audio.delta"
    OUTPUT_AUDIO_DONE = "response.output_audio.done"
    OUTPUT_AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
    OUTPUT_AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
    OUTPUT_TEXT_DELTA = "response.output_text.delta"
    OUTPUT_TEXT_DONE = "response.output_text.done"
    FUNCTION_CALL_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
    FUNCTION_CALL_ARGUMENTS_DONE = "response.function_call_arguments.done"


# ---- client events ---------------------------------------------------------------------------------------

# ``input_audio_buffer.append`` up to its base64 payload: the adapter sends 50 a second per call and builds
# them by hand (base64 needs no JSON escaping): APPEND_HEAD + payload + APPEND_TAIL.
APPEND_HEAD = '{"type":"' + ClientEvent.INPUT_AUDIO_APPEND.value + '","audio":"'
APPEND_TAIL = '"}'


def session_update(session: dict[str, Any]) -> dict[str, Any]:
    """``session.update`` with the whole ``session`` object (``type`` ``realtime``)."""
    return {"type": ClientEvent.SESSION_UPDATE, "session": session}


def response_create(instructions: str | None = None) -> dict[str, Any]:
    """``response.create``, with per-response ``instructions`` when given."""
    if instructions is None:
        return {"type": ClientEvent.RESPONSE_CREATE}
    return {"type": ClientEvent.RESPONSE_CREATE, "response": {"instructions": instructions}}


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    """``conversation.item.create`` of a ``function_call_output`` item (the result of a tool call)."""
    return {
        "type": ClientEvent.ITEM_CREATE,
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def system_message(text: str) -> dict[str, Any]:
    """``conversation.item.create`` of a ``system`` message: what the call tells the model in the middle of it."""
    return {
        "type": ClientEvent.ITEM_CREATE,
        "item": {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]},
    }


def item_truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    """``conversation.item.truncate``: the assistant item's audio was heard up to ``audio_end_ms``."""
    return {"type": ClientEvent.ITEM_TRUNCATE, "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms}


# ---- server events: session, errors, input audio ---------------------------------------------------------


def error(
    code: str,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
    kind: str = "invalid_request_error",
) -> dict[str, Any]:
    """``error`` (non-fatal: the connection stays open, as with the real service)."""
    return {
        "type": ServerEvent.ERROR,
        "error": {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id},
    }


def session_created(session: dict[str, Any]) -> dict[str, Any]:
    """``session.created`` (the first event of a connection)."""
    return {"type": ServerEvent.SESSION_CREATED, "session": session}


def session_updated(session: dict[str, Any]) -> dict[str, Any]:
    """``session.updated``: the session after a ``session.update``."""
    return {"type": ServerEvent.SESSION_UPDATED, "session": session}


def speech_started(audio_start_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_started`` (the server's VAD heard the caller start)."""
    return {"type": ServerEvent.SPEECH_STARTED, "audio_start_ms": audio_start_ms, "item_id": item_id}


def speech_stopped(audio_end_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.speech_stopped`` (the server's VAD heard the caller stop)."""
    return {"type": ServerEvent.SPEECH_STOPPED, "audio_end_ms": audio_end_ms, "item_id": item_id}


def committed(item_id: str, previous_item_id: str | None) -> dict[str, Any]:
    """``input_audio_buffer.committed``: the buffer became a user item."""
    return {"type": ServerEvent.COMMITTED, "item_id": item_id, "previous_item_id": previous_item_id}


def cleared() -> dict[str, Any]:
    """``input_audio_buffer.cleared``."""
    return {"type": ServerEvent.CLEARED}


def timeout_triggered(audio_start_ms: int, audio_end_ms: int, item_id: str) -> dict[str, Any]:
    """``input_audio_buffer.timeout_triggered``: the caller stayed silent for ``idle_timeout_ms``."""
    return {
        "type": ServerEvent.TIMEOUT_TRIGGERED,
        "audio_start_ms": audio_start_ms,
        "audio_end_ms": audio_end_ms,
        "item_id": item_id,
    }


def transcription_completed(item_id: str, transcript: str, usage: dict[str, Any]) -> dict[str, Any]:
    """``conversation.item.input_audio_transcription.completed`` with the recogniser's usage."""
    return {
        "type": ServerEvent.TRANSCRIPTION_COMPLETED,
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
        "usage": usage,
    }


def transcription_failed(item_id: str, message: str) -> dict[str, Any]:
    """``conversation.item.input_audio_transcription.failed``."""
    return {
        "type": ServerEvent.TRANSCRIPTION_FAILED,
        "item_id": item_id,
        "content_index": 0,
        "error": {"type": "server_error", "code": "transcription_failed", "message": message},
    }


# ---- server events: conversation items -------------------------------------------------------------------


def item_added(item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    """``conversation.item.added``."""
    return {"type": ServerEvent.ITEM_ADDED, "item": item, "previous_item_id": previous_item_id}


def item_done(item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    """``conversation.item.done``."""
    return {"type": ServerEvent.ITEM_DONE, "item": item, "previous_item_id": previous_item_id}


def item_truncated(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    """``conversation.item.truncated``: the assistant item's audio was cut as asked."""
    return {"type": ServerEvent.ITEM_TRUNCATED, "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms}


def item_retrieved(item: dict[str, Any]) -> dict[str, Any]:
    """``conversation.item.retrieved``."""
    return {"type": ServerEvent.ITEM_RETRIEVED, "item": item}


def item_deleted(item_id: str) -> dict[str, Any]:
    """``conversation.item.deleted``."""
    return {"type": ServerEvent.ITEM_DELETED, "item_id": item_id}


# ---- server events: responses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRef:
    """Where an output item sits: its response, its id, its index in the response (and its call, if any)."""

    response_id: str
    item_id: str
    output_index: int
    call_id: str | None = None

    def fields(self) -> dict[str, Any]:
        """The reference as event fields."""
        out: dict[str, Any] = {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": self.output_index,
        }
        if self.call_id is not None:
            out["call_id"] = self.call_id
        return out


def response_created(response: dict[str, Any]) -> dict[str, Any]:
    """``response.created`` (``response`` is the ``realtime.response`` object, ``in_progress``)."""
    return {"type": ServerEvent.RESPONSE_CREATED, "response": response}


def response_done(response: dict[str, Any]) -> dict[str, Any]:
    """``response.done`` (``response`` completed, cancelled or failed, with its usage)."""
    return {"type": ServerEvent.RESPONSE_DONE, "response": response}


def output_item_added(ref: ItemRef, item: dict[str, Any]) -> dict[str, Any]:
    """``response.output_item.added``."""
    return {
        "type": ServerEvent.OUTPUT_ITEM_ADDED,
        "response_id": ref.response_id,
        "output_index": ref.output_index,
        "item": item,
    }


def output_item_done(ref: ItemRef, item: dict[str, Any]) -> dict[str, Any]:
    """``response.output_item.done``."""
    return {
        "type": ServerEvent.OUTPUT_ITEM_DONE,
        "response_id": ref.response_id,
        "output_index": ref.output_index,
        "item": item,
    }


def content_part_added(ref: ItemRef, part: dict[str, Any]) -> dict[str, Any]:
    """``response.content_part.added`` (content index 0)."""
    return {"type": ServerEvent.CONTENT_PART_ADDED, **ref.fields(), "content_index": 0, "part": part}


def content_part_done(ref: ItemRef, part: dict[str, Any]) -> dict[str, Any]:
    """``response.content_part.done`` (content index 0)."""
    return {"type": ServerEvent.CONTENT_PART_DONE, **ref.fields(), "content_index": 0, "part": part}


def output_audio_delta(ref: ItemRef, delta: str) -> dict[str, Any]:
    """``response.output_audio.delta``: base64 audio in the session's output format."""
    return {"type": ServerEvent.OUTPUT_AUDIO_DELTA, **ref.fields(), "content_index": 0, "delta": delta}


def output_audio_done(ref: ItemRef) -> dict[str, Any]:
    """``response.output_audio.done``: no more audio for the item."""
    return {"type": ServerEvent.OUTPUT_AUDIO_DONE, **ref.fields(), "content_index": 0}


def output_audio_transcript_delta(ref: ItemRef, delta: str) -> dict[str, Any]:
    """``response.output_audio_transcript.delta``."""
    return {"type": ServerEvent.OUTPUT_AUDIO_TRANSCRIPT_DELTA, **ref.fields(), "content_index": 0, "delta": delta}


def output_audio_transcript_done(ref: ItemRef, transcript: str) -> dict[str, Any]:
    """``response.output_audio_transcript.done``: what the assistant said in the item."""
    return {
        "type": ServerEvent.OUTPUT_AUDIO_TRANSCRIPT_DONE,
        **ref.fields(),
        "content_index": 0,
        "transcript": transcript,
    }


def output_text_delta(ref: ItemRef, delta: str) -> dict[str, Any]:
    """``response.output_text.delta``."""
    return {"type": ServerEvent.OUTPUT_TEXT_DELTA, **ref.fields(), "content_index": 0, "delta": delta}


def output_text_done(ref: ItemRef, text: str) -> dict[str, Any]:
    """``response.output_text.done``."""
    return {"type": ServerEvent.OUTPUT_TEXT_DONE, **ref.fields(), "content_index": 0, "text": text}


def function_call_arguments_delta(ref: ItemRef, delta: str) -> dict[str, Any]:
    """``response.function_call_arguments.delta`` (``ref`` carries the ``call_id``)."""
    return {"type": ServerEvent.FUNCTION_CALL_ARGUMENTS_DELTA, **ref.fields(), "delta": delta}


def function_call_arguments_done(ref: ItemRef, name: str, arguments: str) -> dict[str, Any]:
    """``response.function_call_arguments.done``: the model called ``name`` with JSON ``arguments``."""
    return {"type": ServerEvent.FUNCTION_CALL_ARGUMENTS_DONE, **ref.fields(), "name": name, "arguments": arguments}


def usage(input_text: int, input_audio: int, output_text: int, output_audio: int) -> dict[str, Any]:
    """A ``response.done`` usage block from token counts."""
    inp = input_text + input_audio
    out = output_text + output_audio
    return {
        "total_tokens": inp + out,
        "input_tokens": inp,
        "output_tokens": out,
        "input_token_details": {"cached_tokens": 0, "text_tokens": input_text, "audio_tokens": input_audio},
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }
