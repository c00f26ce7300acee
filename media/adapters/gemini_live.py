"""Gemini Live (``BidiGenerateContent``) over WebSocket.

Caller audio goes up as PCM16 16 kHz (``audio/pcm;rate=16000``, resampled from 8 kHz with soxr); agent audio
comes down as PCM16 24 kHz and is resampled to 8 kHz. The first frame is ``setup`` (model, voice, system
instruction, tools from the outcome schema, input and output transcription, session resumption, context
window compression); audio flows once ``setupComplete`` arrives. Gemini has no truncate: on
``serverContent.interrupted`` the bridge only flushes its playout. Before the server closes a long session it
sends ``goAway``; the adapter then opens a new connection with the last ``sessionResumptionUpdate`` handle and
moves to it, and it does the same once when the connection drops unannounced while a handle is known.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from typing import Any

import numpy as np
import soxr
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from media.adapters.base import (
    AdapterError,
    AgentAdapter,
    AgentAudio,
    AgentAudioDone,
    AgentTranscript,
    CallerTranscript,
    PlayoutCleared,
    ProtocolError,
    ToolCall,
    Usage,
)
from media.audio.frames import SAMPLE_RATE
from media.bridge.prompts import (
    OPEN_CALL_INSTRUCTIONS,
    gemini_function_declarations,
    greeting_request,
    render_instructions,
    tool_definitions,
)

logger = logging.getLogger(__name__)

INPUT_RATE = 16000
OUTPUT_RATE = 24000
_AUDIO_HEAD = '{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"'
_RATE = re.compile(r"rate=(\d+)")
_KNOWN = (
    "setupComplete",
    "serverContent",
    "toolCall",
    "toolCallCancellation",
    "usageMetadata",
    "goAway",
    "sessionResumptionUpdate",
    "voiceActivity",
    "voiceActivityDetectionSignal",
)


class GeminiLiveAdapter(AgentAdapter):
    """The Gemini Live protocol (``provider`` ``gemini_live``)."""

    provider = "gemini_live"
    reports_speech = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Caller audio is real time: soxr's filtering qualities buffer about 100 ms before they output
        # anything (measured: nothing for 5 frames, then 1660 samples), which would delay Gemini's turn
        # detection by that much. "QQ" (cubic) is sample-in, sample-out; upsampling 8 -> 16 kHz has no content
        # above the source's 4 kHz to alias, so the anti-alias filter is not needed on this side.
        self._up = soxr.ResampleStream(SAMPLE_RATE, INPUT_RATE, 1, dtype="int16", quality="QQ")
        self._down: soxr.ResampleStream | None = None
        self._down_rate = 0
        self._turn_no = 1
        self._caller_text: list[str] = []
        self._agent_text: list[str] = []
        self._cancelled: set[str] = set()
        self.resume_handle: str | None = None
        self.resumptions = 0
        self._resume_task: asyncio.Task[None] | None = None
        self._closing_old: asyncio.Task[None] | None = None  # the superseded connection, closing

    @property
    def turn(self) -> str:
        """The bridge's key of the agent turn being received."""
        return f"turn-{self._turn_no}"

    def setup_message(self, handle: str | None = None) -> dict[str, Any]:
        """The ``setup`` frame (with ``sessionResumption.handle`` when resuming)."""
        model = self.agent.resolved_model
        tools = tool_definitions(self.agent.outcome_schema, transfer_available=self.bridge.transfer_available)
        setup: dict[str, Any] = {
            "model": model if model.startswith("models/") else f"models/{model}",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": self.agent.resolved_voice}}},
            },
            "systemInstruction": {
                # F13: contact values only inside the quoted data section, never in the instruction text.
                "parts": [
                    {
                        "text": render_instructions(
                            self.agent.prompt_template, self.call.variables, self.bridge.prompt_variable_max_chars
                        )
                    }
                ]
            },
            "tools": [{"functionDeclarations": gemini_function_declarations(tools)}],
            "realtimeInputConfig": {
                "automaticActivityDetection": {"disabled": False},
                "activityHandling": "START_OF_ACTIVITY_INTERRUPTS",
            },
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
            "sessionResumption": {"handle": handle} if handle else {},
            "contextWindowCompression": {"slidingWindow": {}},
        }
        return {"setup": setup}

    async def _open_session(self, handle: str | None) -> ClientConnection:
        key = self.api_key(required=True)
        previous = self.ws
        ws = await self.open_socket(self.agent.resolved_url, {"x-goog-api-key": key})
        self.ws = previous  # the caller decides when to move to the new socket
        await ws.send(json.dumps(self.setup_message(handle), separators=(",", ":")))
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed as exc:
                frame = exc.rcvd
                detail = f"code {frame.code}: {frame.reason}" if frame else "no close frame"
                raise AdapterError("rejected", f"AI closed the connection during setup ({detail})") from exc
            try:
                message = self.parse(raw)
            except ProtocolError as exc:
                self.count_bad(str(exc))
                continue
            if "setupComplete" in message:
                return ws
            await self.handle(message, 0)

    async def connect(self) -> None:
        """Send ``setup``, wait for ``setupComplete``, then ask for the greeting.

        Raises:
            AdapterError: no key (``config``), cannot connect (``refused``/``rejected``), setup refused or
                connection closed during setup (``rejected``).
        """
        self.ws = await self._open_session(None)
        greeting = greeting_request(self.agent.greeting, self.call.variables, self.bridge.prompt_variable_max_chars)
        if greeting:
            await self.send_json(
                {
                    "clientContent": {
                        # F13: fixed words and the rendered greeting, quoted; never an instruction made of values.
                        "turns": [{"role": "user", "parts": [{"text": greeting}]}],
                        "turnComplete": True,
                    }
                }
            )
        elif self.agent.open_call:
            await self.send_json(
                {
                    "clientContent": {
                        "turns": [{"role": "user", "parts": [{"text": OPEN_CALL_INSTRUCTIONS}]}],
                        "turnComplete": True,
                    }
                }
            )

    async def send_audio(self, pcm: bytes) -> None:
        """Resample one caller frame to 16 kHz and send it as ``realtimeInput.audio``."""
        ws = self.ws
        if ws is None or self.closing:
            return
        up = self._up.resample_chunk(np.frombuffer(pcm, dtype="<i2"))
        if not len(up):
            return  # the resampler's start-up delay: samples come out with the next frame
        try:
            await ws.send(_AUDIO_HEAD + base64.b64encode(up.astype("<i2").tobytes()).decode("ascii") + '"}}}')
        except ConnectionClosed:
            if self.ws is ws and not self.closing and self._resume_task is None:
                raise
            # mid-resumption: the frame is lost, the new connection takes the next one

    def _down_sample(self, pcm: bytes, rate: int, *, last: bool = False) -> bytes:
        if rate == SAMPLE_RATE:
            return pcm
        if self._down is None or self._down_rate != rate:
            # Downsampling 24 -> 8 kHz needs the anti-alias filter ("HQ"). Its block buffering costs nothing
            # audible here: the model sends faster than real time, and the turn's tail is flushed at its end.
            self._down = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16", quality="HQ")
            self._down_rate = rate
        out = self._down.resample_chunk(np.frombuffer(pcm, dtype="<i2"), last=last)
        if last:
            self._down = None
        return np.asarray(out, dtype="<i2").tobytes()

    def _end_turn(self, received_ns: int, *, interrupted: bool) -> None:
        if self._down is not None and not interrupted:
            tail = self._down_sample(b"", self._down_rate, last=True)
            if tail:
                self.emit(AgentAudio(tail, self.turn, received_ns))
        self._down = None
        text = "".join(self._agent_text).strip()
        self._agent_text.clear()
        if text:
            self.emit(AgentTranscript(text, self.turn))
        self.emit(AgentAudioDone(self.turn))
        self._turn_no += 1

    def _flush_caller_text(self) -> None:
        text = "".join(self._caller_text).strip()
        self._caller_text.clear()
        if text:
            self.emit(CallerTranscript(text))

    async def handle(self, message: dict[str, Any], received_ns: int) -> None:
        """Turn one server message into bridge events.

        Raises:
            ProtocolError: a message with none of the documented members, or malformed members.
        """
        if not any(key in message for key in _KNOWN):
            raise ProtocolError(f"unknown message with keys {sorted(message)[:5]}")
        content = message.get("serverContent")
        if content is not None:
            if not isinstance(content, dict):
                raise ProtocolError("serverContent is not an object")
            self._server_content(content, received_ns)
        if "toolCall" in message:
            calls = (message["toolCall"] or {}).get("functionCalls") if isinstance(message["toolCall"], dict) else None
            if not isinstance(calls, list):
                raise ProtocolError("toolCall without functionCalls")
            for call in calls:
                if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                    raise ProtocolError("toolCall.functionCalls entry without a name")
                args = call.get("args") if isinstance(call.get("args"), dict) else None
                call_id = str(call.get("id") or "")
                if call_id in self._cancelled:
                    continue
                self.emit(ToolCall(call_id, call["name"], args, json.dumps(call.get("args"))))
        cancellation = message.get("toolCallCancellation")
        if isinstance(cancellation, dict):
            self._cancelled.update(str(i) for i in cancellation.get("ids") or [])
        usage = message.get("usageMetadata")
        if isinstance(usage, dict):
            self.emit(Usage(usage))
        update = message.get("sessionResumptionUpdate")
        if isinstance(update, dict) and update.get("resumable") and update.get("newHandle"):
            self.resume_handle = str(update["newHandle"])
        if "goAway" in message and self._resume_task is None and not self.closing:
            logger.info(
                "attempt %s: Gemini goAway (%s left); resuming",
                self.call.attempt_id,
                (message.get("goAway") or {}).get("timeLeft"),
            )
            self._resume_task = asyncio.create_task(self._resume_quietly())

    def _server_content(self, content: dict[str, Any], received_ns: int) -> None:
        if content.get("interrupted"):
            # The caller spoke over the agent: Gemini assumes real-time playout and has no truncate.
            self.emit(PlayoutCleared())
            self._end_turn(received_ns, interrupted=True)
        model_turn = content.get("modelTurn")
        if model_turn is not None:
            parts = model_turn.get("parts") if isinstance(model_turn, dict) else None
            if not isinstance(parts, list):
                raise ProtocolError("modelTurn without parts")
            for part in parts:
                inline = part.get("inlineData") if isinstance(part, dict) else None
                if not isinstance(inline, dict):
                    continue
                mime = str(inline.get("mimeType") or "")
                if not mime.startswith("audio/pcm"):
                    continue
                match = _RATE.search(mime)
                try:
                    pcm = binascii.a2b_base64(str(inline.get("data") or ""), strict_mode=True)
                except binascii.Error as exc:
                    raise ProtocolError("inlineData.data is not base64") from exc
                audio = self._down_sample(pcm, int(match.group(1)) if match else OUTPUT_RATE)
                if audio:
                    self.emit(AgentAudio(audio, self.turn, received_ns))
        heard = content.get("inputTranscription")
        if isinstance(heard, dict):
            self._caller_text.append(str(heard.get("text") or ""))
            if heard.get("finished"):
                self._flush_caller_text()
        said = content.get("outputTranscription")
        if isinstance(said, dict):
            self._agent_text.append(str(said.get("text") or ""))
        if content.get("turnComplete"):
            self._flush_caller_text()
            self._end_turn(received_ns, interrupted=False)

    async def send_note(self, text: str) -> None:
        """A ``clientContent`` turn with the note; ``turnComplete`` lets the model answer the caller."""
        await self.send_json({"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}],
                                                "turnComplete": True}})

    async def send_tool_result(self, call: ToolCall, output: dict[str, Any], *, respond: bool) -> None:
        """``toolResponse.functionResponses`` (blocking calls: the model goes on by itself)."""
        if call.call_id in self._cancelled:
            return
        await self.send_json(
            {"toolResponse": {"functionResponses": [{"id": call.call_id, "name": call.name, "response": output}]}}
        )

    async def _resume(self) -> None:
        handle = self.resume_handle
        if not handle:
            raise AdapterError("dropped", "Gemini session ended and no resumption handle was received")
        new = await asyncio.wait_for(self._open_session(handle), self.bridge.session_timeout_s)
        old, self.ws = self.ws, new
        self.resumptions += 1
        logger.info("attempt %s: Gemini session resumed (%d)", self.call.attempt_id, self.resumptions)
        if old is not None:
            self._closing_old = asyncio.create_task(old.close())

    async def _resume_quietly(self) -> None:
        try:
            await self._resume()
        except (AdapterError, TimeoutError, OSError) as exc:  # the drop that follows fails the call
            logger.warning("attempt %s: Gemini resumption after goAway failed: %s", self.call.attempt_id, exc)
        finally:
            self._resume_task = None

    async def on_closed(self, exc: ConnectionClosed, *, clean: bool) -> bool:
        """An unannounced close: resume once with the last handle, else the call failed."""
        if self._resume_task is not None:
            await asyncio.shield(self._resume_task)
            return self.ws is not None and self.ws.close_code is None
        if self.resume_handle:
            try:
                await self._resume()
            except (AdapterError, TimeoutError, OSError) as error:
                raise AdapterError(
                    "dropped", f"AI closed the connection mid-call and resumption failed: {error}"
                ) from exc
            return True
        return await super().on_closed(exc, clean=clean)
