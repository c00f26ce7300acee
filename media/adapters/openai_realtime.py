"""OpenAI Realtime (GA shape) over WebSocket, also used for the embedded local agent.

Audio is G.711 mu-law both ways (``audio/pcmu``): the caller's frames are companded with ``audioop`` and sent
as base64, the model's deltas are expanded back to PCM16 8 kHz; nothing is resampled. Turn detection is the
server's VAD with ``interrupt_response``; on barge-in the bridge flushes playout and this adapter sends
``conversation.item.truncate`` with the milliseconds actually played. The session is GA-shaped
(``session.type = "realtime"``, nested ``audio.input``/``audio.output``) and no ``OpenAI-Beta`` header is
sent: that header would turn the session into the beta shape and reject these fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from media.adapters import realtime_events as rt
from media.adapters.base import (
    AdapterError,
    AgentAdapter,
    AgentAudio,
    AgentAudioDone,
    AgentTranscript,
    CallerSpeechStarted,
    CallerSpeechStopped,
    CallerTranscript,
    ProtocolError,
    ToolCall,
    Usage,
    require,
)
from media.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from media.bridge.prompts import OPEN_CALL_INSTRUCTIONS, greeting_request, render_instructions, tool_definitions

logger = logging.getLogger(__name__)


class OpenAIRealtimeAdapter(AgentAdapter):
    """The OpenAI Realtime GA protocol (``provider`` ``openai_realtime`` or ``local``)."""

    provider = "openai_realtime"
    reports_speech = True

    def url(self) -> str:
        """The WebSocket URL with ``model=`` in the query (added when the configured URL has none)."""
        parts = urlsplit(self.agent.resolved_url)
        query = parse_qs(parts.query)
        if "model" not in query:
            extra = urlencode({"model": self.agent.resolved_model})
            parts = parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra)
        return urlunsplit(parts)

    def session_update(self) -> dict[str, Any]:
        """The ``session.update`` event configuring the whole session."""
        variables = self.call.variables
        transcription: dict[str, Any] = {"model": self.bridge.transcription_model}
        if self.agent.language:
            transcription["language"] = self.agent.language
        return rt.session_update(
            {
                "type": "realtime",
                # F13: contact values only inside the quoted data section, never in the instruction text.
                "instructions": render_instructions(
                    self.agent.prompt_template, variables, self.bridge.prompt_variable_max_chars
                ),
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": transcription,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": self.agent.resolved_voice},
                },
                "tools": tool_definitions(self.agent.outcome_schema, transfer_available=self.bridge.transfer_available),
                "tool_choice": "auto",
            }
        )

    async def connect(self) -> None:
        """Open the socket, send ``session.update``, wait for ``session.updated``, then ask for the greeting.

        Raises:
            AdapterError: no key (``config``), cannot connect (``refused``/``rejected``), the session was
                refused with an ``error`` event (``rejected``), or the socket closed (``dropped``).
        """
        # The local agent takes the shared token (LOCAL_AGENT_TOKEN), never an API key; without a token it listens
        # on loopback only and accepts any bearer.
        local = self.agent.provider == "local"
        bearer = (self.agent.token or "local") if local else self.api_key(required=True)
        await self.open_socket(self.url(), {"Authorization": f"Bearer {bearer}"})
        await self.send_json(self.session_update())
        while True:
            message, _ = await self.recv_json()
            kind = message.get("type")
            if kind == rt.ServerEvent.SESSION_UPDATED:
                break
            if kind == rt.ServerEvent.ERROR:
                error = message.get("error") or {}
                raise AdapterError(
                    "rejected",
                    f"AI rejected the session: {error.get('code') or ''} {error.get('message') or ''}".strip(),
                )
        greeting = greeting_request(self.agent.greeting, self.call.variables, self.bridge.prompt_variable_max_chars)
        if greeting:
            await self.send_json(rt.response_create(greeting))
        elif self.agent.open_call:
            await self.send_json(rt.response_create(OPEN_CALL_INSTRUCTIONS))

    async def send_audio(self, pcm: bytes) -> None:
        """Send one caller frame as ``input_audio_buffer.append`` (mu-law, base64)."""
        ws = self.ws
        if ws is None or self.closing:
            return
        # Built by hand: base64 needs no JSON escaping, and this runs 50 times a second per call.
        await ws.send(rt.APPEND_HEAD + base64.b64encode(pcm16_to_ulaw(pcm)).decode("ascii") + rt.APPEND_TAIL)

    async def handle(self, message: dict[str, Any], received_ns: int) -> None:
        """Turn one server event into bridge events (unknown event types are ignored, as the SDK does)."""
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ProtocolError("event without a type")
        if kind == rt.ServerEvent.OUTPUT_AUDIO_DELTA:
            delta = require(message, "delta", str)
            try:
                ulaw = binascii.a2b_base64(delta, strict_mode=True)
            except binascii.Error as exc:
                raise ProtocolError("response.output_audio.delta: delta is not base64") from exc
            self.emit(AgentAudio(ulaw_to_pcm16(ulaw), str(message.get("item_id") or ""), received_ns))
        elif kind == rt.ServerEvent.OUTPUT_AUDIO_DONE:
            self.emit(AgentAudioDone(str(message.get("item_id") or "")))
        elif kind == rt.ServerEvent.SPEECH_STARTED:
            self.emit(
                CallerSpeechStarted(_int_or_none(message.get("audio_start_ms")), str(message.get("item_id") or ""))
            )
        elif kind == rt.ServerEvent.SPEECH_STOPPED:
            self.emit(CallerSpeechStopped(_int_or_none(message.get("audio_end_ms")), str(message.get("item_id") or "")))
        elif kind == rt.ServerEvent.TRANSCRIPTION_COMPLETED:
            self.emit(CallerTranscript(str(require(message, "transcript", str)), str(message.get("item_id") or "")))
            if isinstance(message.get("usage"), dict):
                self.emit(Usage({"transcription": message["usage"]}))
        elif kind == rt.ServerEvent.OUTPUT_AUDIO_TRANSCRIPT_DONE:
            self.emit(AgentTranscript(str(require(message, "transcript", str)), str(message.get("item_id") or "")))
        elif kind == rt.ServerEvent.FUNCTION_CALL_ARGUMENTS_DONE:
            raw = require(message, "arguments", str)
            try:
                arguments = json.loads(raw)
            except ValueError:
                arguments = None
            self.emit(
                ToolCall(
                    str(require(message, "call_id", str)),
                    str(require(message, "name", str)),
                    arguments if isinstance(arguments, dict) else None,
                    raw,
                )
            )
        elif kind == rt.ServerEvent.RESPONSE_DONE:
            response = require(message, "response", dict)
            if isinstance(response.get("usage"), dict):
                self.emit(Usage(response["usage"]))
        elif kind == rt.ServerEvent.ERROR:
            # Error events are usually non-fatal (the socket stays open): log and go on.
            raw_error = message.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            logger.warning(
                "attempt %s: AI error event: %s %s", self.call.attempt_id, error.get("code"), error.get("message")
            )

    async def send_tool_result(self, call: ToolCall, output: dict[str, Any], *, respond: bool) -> None:
        """Return a ``function_call_output`` item, then ``response.create`` when the model should go on."""
        await self.send_json(rt.function_call_output(call.call_id, json.dumps(output)))
        if respond:
            # Adding the output does not trigger a reply by itself.
            await self.send_json(rt.response_create())

    async def send_note(self, text: str) -> None:
        """A ``system`` message item, then ``response.create`` so the model answers the caller."""
        await self.send_json(rt.system_message(text))
        await self.send_json(rt.response_create())

    async def truncate(self, turn: str, played_ms: int) -> None:
        """``conversation.item.truncate`` of the assistant item to what the caller heard."""
        if turn:
            await self.send_json(rt.item_truncate(turn, played_ms))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
