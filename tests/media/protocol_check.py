"""Checks that a WebSocket text frame is a valid message of a real wire protocol, so no fake server (and no
adapter under test) can drift from the protocol it stands in for.

Three protocols, each checked in both directions (``server``: what the AI side sends; ``client``: what our
adapter, the connecting side, sends):

- OpenAI Realtime (GA): the ``openai`` SDK's own pydantic types, ``RealtimeServerEvent`` and
  ``RealtimeClientEvent``, picked by ``type``. Validation is strict (no coercion of ``"1"`` to ``1``) and a
  field the SDK does not know is a violation too (the SDK's models accept extra fields silently).
- Gemini Live (``BidiGenerateContent``): the ``google-genai`` SDK's ``LiveServerMessage`` and
  ``LiveClientMessage``, by their wire (camelCase) names only; unknown fields are refused by the SDK's models.
- Twilio Media Streams: no SDK exists, so a small explicit schema of the documented messages
  (https://www.twilio.com/docs/voice/media-streams/websocket-messages): ``connected``, ``start``, ``media``,
  ``mark``, ``dtmf``, ``stop`` from Twilio; ``media``, ``mark``, ``clear`` to Twilio.

A violation raises `ProtocolViolation` (an ``AssertionError``, so pytest reports it as a failed check).
"""

from __future__ import annotations

import binascii
import json
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from google.genai import types as genai
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent, RealtimeSessionCreateResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class ProtocolViolation(AssertionError):
    """A message that is not valid in its protocol."""


# ---- shared ---------------------------------------------------------------------------------------------------


def _json_object(protocol: str, raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise ProtocolViolation(f"{protocol}: binary frame of {len(raw)} bytes (the protocol is JSON text)")
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise ProtocolViolation(f"{protocol}: not JSON: {raw[:80]!r}") from exc
    if not isinstance(message, dict):
        raise ProtocolViolation(f"{protocol}: not a JSON object: {raw[:80]!r}")
    return message


def _violation(protocol: str, what: str, exc: ValidationError) -> ProtocolViolation:
    return ProtocolViolation(f"{protocol}: {what} breaks the protocol:\n{exc}")


def _extra_fields(value: Any, path: str) -> Iterator[str]:
    """Paths of fields a model accepted without declaring them (``extra="allow"`` models), depth first."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}.{key}"
        for name in type(value).model_fields:
            yield from _extra_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _extra_fields(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _extra_fields(item, f"{path}.{key}")


# ---- OpenAI Realtime (GA) -------------------------------------------------------------------------------------


def _by_type(union: Any) -> dict[str, type[BaseModel]]:
    """The members of one of the SDK's ``Annotated[Union[...], PropertyInfo(discriminator="type")]`` by type."""
    table: dict[str, type[BaseModel]] = {}
    for cls in typing.get_args(typing.get_args(union)[0]):
        for literal in typing.get_args(cls.model_fields["type"].annotation):
            table[literal] = cls
    return table


OPENAI_SERVER_EVENTS = _by_type(RealtimeServerEvent)
OPENAI_CLIENT_EVENTS = _by_type(RealtimeClientEvent)
# Audio the SDK types as plain ``str`` but the protocol documents as base64: checked here as well.
OPENAI_BASE64_FIELDS = {"response.output_audio.delta": "delta", "input_audio_buffer.append": "audio"}


# The SDK types the session of ``session.created``/``session.updated`` as the client's create request; the
# server fills in the rest of its session object (``id``, ``object``, ``expires_at``), typed by the SDK as
# ``RealtimeSessionCreateResponse``. Such a session is checked as that.
_SESSION_EVENTS = ("session.created", "session.updated")
_SERVER_SESSION_FIELDS = frozenset(RealtimeSessionCreateResponse.model_fields)


def _server_session(protocol: str, session: Any) -> None:
    try:
        parsed = RealtimeSessionCreateResponse.model_validate_json(json.dumps(session), strict=True)
    except ValidationError as exc:
        raise _violation(protocol, "session", exc) from exc
    unknown = list(_extra_fields(parsed, "$.session"))
    if unknown:
        raise ProtocolViolation(f"{protocol}: the session has fields the protocol does not define: {unknown}")


def _openai_event(raw: str | bytes, table: dict[str, type[BaseModel]], side: str) -> BaseModel:
    protocol = f"OpenAI Realtime {side} event"
    message = _json_object(protocol, raw)
    kind = message.get("type")
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolViolation(f"{protocol}: unknown type {kind!r}")
    try:
        event = cls.model_validate_json(json.dumps(message), strict=True)
    except ValidationError as exc:
        raise _violation(protocol, repr(kind), exc) from exc
    unknown = list(_extra_fields(event, "$"))
    if kind in _SESSION_EVENTS and any(path.startswith("$.session.") for path in unknown):
        _server_session(protocol, message["session"])  # a session as the server describes it
        unknown = [path for path in unknown if path.removeprefix("$.session.") not in _SERVER_SESSION_FIELDS]
    if unknown:
        raise ProtocolViolation(f"{protocol}: {kind!r} has fields the protocol does not define: {unknown}")
    audio = OPENAI_BASE64_FIELDS.get(kind)
    if audio is not None:
        try:
            binascii.a2b_base64(message[audio], strict_mode=True)
        except binascii.Error as exc:
            raise ProtocolViolation(f"{protocol}: {kind!r}: {audio} is not base64: {exc}") from exc
    return event


def openai_server_event(raw: str | bytes) -> BaseModel:
    """Validate one frame a Realtime server sends; return the SDK's model of it.

    Raises:
        ProtocolViolation: not a ``RealtimeServerEvent`` (unknown type, missing or mistyped or unknown field).
    """
    return _openai_event(raw, OPENAI_SERVER_EVENTS, "server")


def openai_client_event(raw: str | bytes) -> BaseModel:
    """Validate one frame a Realtime client sends; return the SDK's model of it.

    Raises:
        ProtocolViolation: not a ``RealtimeClientEvent``.
    """
    return _openai_event(raw, OPENAI_CLIENT_EVENTS, "client")


# ---- Gemini Live ----------------------------------------------------------------------------------------------


def gemini_server_message(raw: str | bytes) -> genai.LiveServerMessage:
    """Validate one frame the Live API sends (``BidiGenerateContentServerMessage``).

    Raises:
        ProtocolViolation: not a ``LiveServerMessage`` (unknown member or field, snake_case names, bad base64),
            or a message with no member at all.
    """
    protocol = "Gemini Live server message"
    message = _json_object(protocol, raw)
    try:
        # From JSON (bytes fields are base64 there) and lax: pydantic's strict mode refuses base64 text for
        # the SDK's bytes fields.
        parsed = genai.LiveServerMessage.model_validate_json(json.dumps(message), by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _violation(protocol, str(sorted(message)), exc) from exc
    if not parsed.model_fields_set:
        raise ProtocolViolation(f"{protocol}: a message with none of the protocol's members: {message!r}")
    return parsed


def gemini_client_message(raw: str | bytes) -> genai.LiveClientMessage:
    """Validate one frame a Live API client sends (``BidiGenerateContentClientMessage``: exactly one member).

    ``setup.realtimeInputConfig`` is on the wire but missing from the SDK's ``LiveClientSetup``: the SDK's own
    converter writes ``LiveConnectConfig.realtime_input_config`` there, so it is checked as the SDK's
    ``RealtimeInputConfig``.

    Raises:
        ProtocolViolation: not a ``LiveClientMessage``, or not exactly one member.
    """
    protocol = "Gemini Live client message"
    message = _json_object(protocol, raw)
    if len(message) != 1:
        raise ProtocolViolation(f"{protocol}: exactly one member expected, got {sorted(message)}")
    setup = message.get("setup")
    if isinstance(setup, dict) and "realtimeInputConfig" in setup:
        setup = dict(setup)
        config = json.dumps(setup.pop("realtimeInputConfig"))
        try:
            genai.RealtimeInputConfig.model_validate_json(config, by_alias=True, by_name=False)
        except ValidationError as exc:
            raise _violation(protocol, "setup.realtimeInputConfig", exc) from exc
        message = {"setup": setup}
    try:
        return genai.LiveClientMessage.model_validate_json(json.dumps(message), by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _violation(protocol, str(sorted(message)), exc) from exc


# ---- Twilio Media Streams -------------------------------------------------------------------------------------


def _base64(value: str) -> str:
    binascii.a2b_base64(value, strict_mode=True)  # raises binascii.Error (a ValueError): pydantic reports it
    return value


Base64 = Annotated[str, AfterValidator(_base64)]
Number = Annotated[str, Field(pattern=r"^[0-9]+$")]  # Twilio sends counters as decimal strings
StreamSid = Annotated[str, Field(pattern=r"^MZ[0-9a-f]{32}$")]
AccountSid = Annotated[str, Field(pattern=r"^AC[0-9a-f]{32}$")]
CallSid = Annotated[str, Field(pattern=r"^CA[0-9a-f]{32}$")]


class _Twilio(BaseModel):
    """Twilio messages: exactly the documented fields (camelCase, as on the wire), nothing coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _MediaFormat(_Twilio):
    encoding: Literal["audio/x-mulaw"]
    sampleRate: Literal[8000]
    channels: Literal[1]


class _StartBody(_Twilio):
    streamSid: StreamSid
    accountSid: AccountSid
    callSid: CallSid
    tracks: list[Literal["inbound", "outbound"]]
    customParameters: dict[str, str]
    mediaFormat: _MediaFormat


class _InboundMedia(_Twilio):
    track: Literal["inbound", "outbound"]
    chunk: Number
    timestamp: Number
    payload: Base64


class _MarkBody(_Twilio):
    name: str


class _DtmfBody(_Twilio):
    track: Literal["inbound_track"]
    digit: Annotated[str, Field(pattern=r"^[0-9A-D*#]$")]


class _StopBody(_Twilio):
    accountSid: AccountSid
    callSid: CallSid


class TwilioConnected(_Twilio):
    """``connected``: the first message, naming the protocol."""

    event: Literal["connected"]
    protocol: Literal["Call"]
    version: str


class TwilioStart(_Twilio):
    """``start``: the stream's metadata, once, right after ``connected``."""

    event: Literal["start"]
    sequenceNumber: Number
    streamSid: StreamSid
    start: _StartBody


class TwilioMedia(_Twilio):
    """``media`` from Twilio: one chunk of call audio."""

    event: Literal["media"]
    sequenceNumber: Number
    streamSid: StreamSid
    media: _InboundMedia


class TwilioMark(_Twilio):
    """``mark`` from Twilio: the audio sent before the mark of that name has been played."""

    event: Literal["mark"]
    sequenceNumber: Number
    streamSid: StreamSid
    mark: _MarkBody


class TwilioDtmf(_Twilio):
    """``dtmf``: the caller pressed a key (bidirectional streams)."""

    event: Literal["dtmf"]
    sequenceNumber: Number
    streamSid: StreamSid
    dtmf: _DtmfBody


class TwilioStop(_Twilio):
    """``stop``: the stream ended."""

    event: Literal["stop"]
    sequenceNumber: Number
    streamSid: StreamSid
    stop: _StopBody


class _OutboundMedia(_Twilio):
    payload: Base64


class AgentMedia(_Twilio):
    """``media`` to Twilio: audio to play (mu-law 8 kHz, base64)."""

    event: Literal["media"]
    streamSid: StreamSid
    media: _OutboundMedia


class AgentMark(_Twilio):
    """``mark`` to Twilio: tell me when the audio sent before this has been played."""

    event: Literal["mark"]
    streamSid: StreamSid
    mark: _MarkBody


class AgentClear(_Twilio):
    """``clear``: drop the audio queued for playout."""

    event: Literal["clear"]
    streamSid: StreamSid


FROM_TWILIO: TypeAdapter[Any] = TypeAdapter(
    Annotated[TwilioConnected | TwilioStart | TwilioMedia | TwilioMark | TwilioDtmf | TwilioStop,
              Field(discriminator="event")]
)
TO_TWILIO: TypeAdapter[Any] = TypeAdapter(Annotated[AgentMedia | AgentMark | AgentClear, Field(discriminator="event")])


def _twilio(raw: str | bytes, adapter: TypeAdapter[Any], side: str) -> BaseModel:
    protocol = f"Twilio Media Streams message {side}"
    message = _json_object(protocol, raw)
    try:
        return adapter.validate_json(json.dumps(message))
    except ValidationError as exc:
        raise _violation(protocol, repr(message.get("event")), exc) from exc


def twilio_to_agent(raw: str | bytes) -> BaseModel:
    """Validate one frame Twilio (here: the bridge) sends to the agent's WebSocket server.

    Raises:
        ProtocolViolation: not one of the documented messages from Twilio.
    """
    return _twilio(raw, FROM_TWILIO, "from Twilio")


def agent_to_twilio(raw: str | bytes) -> BaseModel:
    """Validate one frame the agent's WebSocket server sends to Twilio (a bidirectional stream).

    Raises:
        ProtocolViolation: not one of the documented messages to Twilio.
    """
    return _twilio(raw, TO_TWILIO, "to Twilio")


# ---- protocols ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """One wire protocol, checked in both directions of a WebSocket.

    Attributes:
        name: for messages.
        server: checks one frame the accepting side (the AI or agent server) sends; raises `ProtocolViolation`.
        client: checks one frame the connecting side (our adapter) sends; raises `ProtocolViolation`.
    """

    name: str
    server: Callable[[str | bytes], object]
    client: Callable[[str | bytes], object]


OPENAI_REALTIME = Protocol("OpenAI Realtime", openai_server_event, openai_client_event)
GEMINI_LIVE = Protocol("Gemini Live", gemini_server_message, gemini_client_message)
TWILIO_MEDIA_STREAMS = Protocol("Twilio Media Streams", agent_to_twilio, twilio_to_agent)
