"""The local agent's WebSocket server: the OpenAI Realtime GA protocol subset the media bridge uses.

A client (the bridge, or the official ``openai`` SDK with ``websocket_base_url="ws://HOST:PORT/v1"``)
connects to ``/v1/realtime?model=...``. On loopback no key is checked; off loopback the server needs a shared
token and checks it on every connection (:mod:`local_agent.access`). Sessions are capped and pinged.
Nothing leaves the machine. Per connection,
:class:`RealtimeSession` keeps the session config, a voice activity detector on the appended audio, the
conversation items and a :class:`~local_agent.script.Dialogue`.

Client events handled: ``session.update``, ``input_audio_buffer.append/commit/clear``,
``conversation.item.create`` (``function_call_output``, user ``input_text`` messages, other items stored),
``conversation.item.truncate``, ``conversation.item.retrieve``, ``conversation.item.delete``,
``response.create``, ``response.cancel``.
Anything else gets an ``error`` event, and the connection stays open, as with the real service.

Audio out is synthesised with eSpeak NG, encoded to the session's output format and streamed in 100 ms
``response.output_audio.delta`` chunks faster than real time (``LocalAgentConfig.pace``), like the real service:
the client paces playout and reports what was heard with ``conversation.item.truncate``. Recognition and
synthesis run in a thread pool, never on the event loop.

Turn detection: ``server_vad`` runs the energy VAD of :mod:`media.audio.vad` with the session's
threshold, padding and silence; ``semantic_vad`` is accepted and runs the same way; ``null`` means the
client commits turns and asks for responses. ``idle_timeout_ms`` is honoured on the clock of appended audio.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local_agent import events as ev
from local_agent.access import BUSY, UNAUTHORIZED, SessionSlots, authorized, check_bind
from local_agent.asr import Transcriber, shared_transcriber
from local_agent.script import Call, Dialogue, Say, ToolSet, parse_script
from media.audio import g711
from media.audio.vad import EnergyVad, VadConfig, VadEventKind
from media.speech import tts

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "local-agent"
CHUNK_MS = 100  # audio per response.output_audio.delta
MIN_COMMIT_MS = 100  # the real service refuses to commit less ("Expected at least 100ms")
MAX_BUFFER_MS = 300_000
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # input_audio_buffer.append may carry up to 15 MiB
_OPENAI_VOICES_FEMALE = {"marin", "coral", "shimmer", "sage", "ballad", "alloy"}


@dataclass(frozen=True)
class LocalAgentConfig:
    """Server settings.

    Attributes:
        pace: how much faster than real time audio deltas are sent (0 = as fast as possible).
        workers: threads for recognition and synthesis (shared by all connections).
        words_per_minute: eSpeak speaking rate at ``speed`` 1.0.
        token: shared bearer token every connection must present; required to listen off loopback.
        max_sessions: most sessions at once; more connections are refused with HTTP 503.
        ping_interval_s: how often each connection is pinged (a peer that stopped answering is dropped).
        ping_timeout_s: how long a ping may go unanswered.
    """

    pace: float = 4.0
    workers: int = 2
    words_per_minute: int = 165
    token: str = field(default="", repr=False)
    max_sessions: int = 16
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.pace < 0:
            raise ValueError(f"LocalAgentConfig.pace must be >= 0, got {self.pace}")
        if self.workers < 1:
            raise ValueError(f"LocalAgentConfig.workers must be >= 1, got {self.workers}")
        if not 80 <= self.words_per_minute <= 450:
            raise ValueError(f"LocalAgentConfig.words_per_minute must be 80-450, got {self.words_per_minute}")
        if self.max_sessions < 1:
            raise ValueError(f"LocalAgentConfig.max_sessions must be >= 1, got {self.max_sessions}")
        if self.ping_interval_s <= 0 or self.ping_timeout_s <= 0:
            raise ValueError("LocalAgentConfig.ping_interval_s and ping_timeout_s must be positive")


@dataclass
class AsrStats:
    """Recognition cost over the server's life (for the CPU-per-audio-second figure)."""

    turns: int = 0
    audio_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def cpu_per_audio_second(self) -> float:
        """CPU seconds spent per second of audio recognised."""
        return self.cpu_seconds / self.audio_seconds if self.audio_seconds else 0.0


@dataclass
class _AssistantAudio:
    transcript: str
    audio_ms: int


class _Response:
    """One response being generated."""

    def __init__(self, response_id: str, conversation: bool) -> None:
        self.id = response_id
        self.conversation = conversation
        self.cancel_reason: str | None = None
        self.output: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None


def _rate(fmt: dict[str, Any]) -> int:
    return ev.PCM_RATE if fmt["type"] == "audio/pcm" else g711.SAMPLE_RATE


def _decode_audio(fmt: dict[str, Any], data: bytes) -> bytes:
    if fmt["type"] == "audio/pcmu":
        return g711.ulaw_to_pcm16(data)
    if fmt["type"] == "audio/pcma":
        return g711.alaw_to_pcm16(data)
    return data[: len(data) - len(data) % 2]


def _encode_audio(fmt: dict[str, Any], pcm: bytes) -> bytes:
    if fmt["type"] == "audio/pcmu":
        return g711.pcm16_to_ulaw(pcm)
    if fmt["type"] == "audio/pcma":
        return g711.pcm16_to_alaw(pcm)
    return pcm


class RealtimeSession:
    """One client connection speaking the Realtime protocol.

    Args:
        connection: the WebSocket.
        model: the model named in the URL.
        server: the owning server (thread pool, statistics).
    """

    def __init__(self, connection: ServerConnection, model: str, server: LocalAgentServer) -> None:
        self.connection = connection
        self.server = server
        self.session = ev.default_session(model)
        self.dialogue = Dialogue(parse_script(""), ToolSet())
        self._transcriber: Transcriber | None = None
        self._vad: EnergyVad | None = None
        self._buffer = bytearray()  # uncommitted input audio, PCM16 at the input rate
        self._buffer_start_ms = 0.0  # where the buffer starts on the clock of all appended audio
        self._appended_samples = 0
        self._speech_item: str | None = None
        self._speech_start_ms = 0
        self._items: list[str] = []  # conversation item ids, in order
        self._store: dict[str, dict[str, Any]] = {}  # item id -> the item as last sent (for retrieve)
        self._assistant_audio: dict[str, _AssistantAudio] = {}
        self._calls: dict[str, str] = {}  # call_id -> function name
        self._response: _Response | None = None
        self._turn_tasks: set[asyncio.Task[None]] = set()
        self._pending_transcriptions: set[asyncio.Task[None]] = set()
        self._input_audio_tokens = 0
        self._input_text_tokens = 0
        self._idle_from_ms: float | None = None  # when the last response's audio finished playing
        self._reset_audio_pipeline()

    # ---- plumbing -------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send a server event, adding its ``event_id``."""
        event = {"event_id": ev.new_id("event"), **event}
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(json.dumps(event))

    async def send_error(
        self, code: str, message: str, *, param: str | None = None, event_id: str | None = None
    ) -> None:
        """Send an ``error`` event naming the offending client event."""
        logger.info("realtime error %s: %s", code, message)
        await self.send(ev.error(code, message, param=param, event_id=event_id))

    def _spawn(self, coro: Any, bucket: set[asyncio.Task[None]]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        bucket.add(task)  # keep a reference until done
        task.add_done_callback(bucket.discard)
        return task

    @property
    def _input_format(self) -> dict[str, Any]:
        return self.session["audio"]["input"]["format"]

    @property
    def _output_format(self) -> dict[str, Any]:
        return self.session["audio"]["output"]["format"]

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        return self.session["audio"]["input"]["turn_detection"]

    def _input_ms(self, samples: int) -> float:
        return samples * 1000.0 / _rate(self._input_format)

    def _reset_audio_pipeline(self) -> None:
        td = self._turn_detection
        rate = _rate(self._input_format)
        if td is None:
            self._vad = None
            return
        config = VadConfig(
            threshold=float(td.get("threshold", 0.5)),
            prefix_padding_ms=int(td.get("prefix_padding_ms", 300)),
            silence_duration_ms=max(int(td.get("silence_duration_ms", 500)), 20),
        )
        # Keep the clock, so audio_start_ms stays "since the start of all appended audio".
        self._vad = EnergyVad(rate, config, clock_ms=int(self._input_ms(self._appended_samples)))

    def _transcriber_for_script(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = shared_transcriber(self.dialogue.script.phrases())
        return self._transcriber

    # ---- the connection -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client closes it."""
        await self.send({"type": "session.created", "session": self.session})
        try:
            async for message in self.connection:
                await self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            if self._response is not None:
                self._response.cancel_reason = "client_cancelled"
            for task in [*self._turn_tasks, *self._pending_transcriptions]:
                task.cancel()

    async def _dispatch(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            await self.send_error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.send_error("invalid_event", "The event has no type.", param="type")
            return
        handler = self._handlers.get(event["type"])
        if handler is None:
            await self.send_error(
                "invalid_event",
                f"Unsupported event type {event['type']!r}.",
                param="type",
                event_id=event.get("event_id"),
            )
            return
        try:
            await handler(self, event)
        except Exception:
            # A bug in one handler must not drop the call: report it like the service's server_error and go on.
            logger.exception("failed to handle %s", event["type"])
            await self.send(
                {
                    "type": "error",
                    "error": {
                        "type": "server_error",
                        "code": "server_error",
                        "message": f"The local agent failed to handle {event['type']}.",
                        "param": None,
                        "event_id": event.get("event_id"),
                    },
                }
            )

    # ---- session ----------------------------------------------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        try:
            session = ev.merge_session(self.session, event.get("session"))
        except ev.SessionUpdateError as exc:
            await self.send_error(exc.code, str(exc), param=exc.param, event_id=event.get("event_id"))
            return
        old_input = (self._input_format, self._turn_detection)
        self.session = session
        script = parse_script(session.get("instructions") or "")
        self.dialogue.update(script, ToolSet.from_tools(session.get("tools") or []))
        self._transcriber = None  # the language model includes the script's questions
        if (self._input_format, self._turn_detection) != old_input:
            if self._input_format != old_input[0]:
                self._buffer.clear()
                self._buffer_start_ms = self._input_ms(self._appended_samples)
            self._reset_audio_pipeline()
        await self.send({"type": "session.updated", "session": self.session})

    # ---- input audio ------------------------------------------------------------------------------

    async def _on_append(self, event: dict[str, Any]) -> None:
        try:
            raw = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, TypeError):
            await self.send_error(
                "invalid_value", "audio must be base64.", param="audio", event_id=event.get("event_id")
            )
            return
        pcm = _decode_audio(self._input_format, raw)
        self._buffer += pcm
        self._appended_samples += len(pcm) // 2
        self._cap_buffer()
        if self._vad is None:
            return
        for vad_event in self._vad.feed(pcm):
            if vad_event.kind is VadEventKind.SPEECH_STARTED:
                await self._speech_started(vad_event.ms)
            else:
                await self._speech_stopped(vad_event.ms)
        if not self._vad.in_speech:
            self._trim_buffer()
            await self._check_idle_timeout()

    async def _check_idle_timeout(self) -> None:
        """``idle_timeout_ms``: prompt the caller when they stay silent after the agent's audio has played.

        Time is the clock of appended audio (a phone bridge streams continuously, silence included), and
        playback is assumed to start when the response is done, as the real service assumes.
        """
        td = self._turn_detection or {}
        timeout = td.get("idle_timeout_ms")
        if not timeout or self._idle_from_ms is None or self._response is not None:
            return
        now_ms = self._input_ms(self._appended_samples)
        if now_ms < self._idle_from_ms + timeout:
            return
        item_id = ev.new_id("item")
        await self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": int(self._idle_from_ms),
                "audio_end_ms": int(now_ms),
                "item_id": item_id,
            }
        )
        self._idle_from_ms = None
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = now_ms
        await self._commit(item_id, pcm, auto_response=True)

    def _trim_buffer(self) -> None:
        """Outside speech only the prefix padding can still become part of a turn."""
        td = self._turn_detection or {}
        keep_ms = int(td.get("prefix_padding_ms", 300)) + 200
        rate = _rate(self._input_format)
        keep_bytes = keep_ms * rate // 1000 * 2
        excess = len(self._buffer) - keep_bytes
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start_ms += self._input_ms(excess // 2)

    def _cap_buffer(self) -> None:
        """Bound memory: a client that never commits (or a turn that never ends) keeps the last 5 minutes."""
        limit = MAX_BUFFER_MS * _rate(self._input_format) // 1000 * 2
        excess = len(self._buffer) - limit
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start_ms += self._input_ms(excess // 2)

    def _cut_buffer(self, start_ms: float, end_ms: float) -> bytes:
        rate = _rate(self._input_format)
        start = max(0, int((start_ms - self._buffer_start_ms) * rate / 1000)) * 2
        end = max(0, int((end_ms - self._buffer_start_ms) * rate / 1000)) * 2
        segment = bytes(self._buffer[start:end])
        del self._buffer[:end]
        self._buffer_start_ms = max(self._buffer_start_ms, end_ms)
        return segment

    async def _speech_started(self, start_ms: int) -> None:
        self._idle_from_ms = None
        self._speech_item = ev.new_id("item")
        self._speech_start_ms = start_ms
        await self.send(
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": start_ms, "item_id": self._speech_item}
        )
        td = self._turn_detection or {}
        if self._response is not None and td.get("interrupt_response", True):
            self._response.cancel_reason = "turn_detected"

    async def _speech_stopped(self, end_ms: int) -> None:
        item_id = self._speech_item or ev.new_id("item")
        self._speech_item = None
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id})
        pcm = self._cut_buffer(self._speech_start_ms, end_ms)
        td = self._turn_detection or {}
        await self._commit(item_id, pcm, auto_response=bool(td.get("create_response", True)))

    async def _on_commit(self, event: dict[str, Any]) -> None:
        rate = _rate(self._input_format)
        if len(self._buffer) // 2 * 1000 < MIN_COMMIT_MS * rate:
            ms = len(self._buffer) // 2 * 1000 // rate
            await self.send_error(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms "
                f"of audio, but buffer only has {ms}ms of audio.",
                event_id=event.get("event_id"),
            )
            return
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms(self._appended_samples)
        item_id = self._speech_item or ev.new_id("item")
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        await self._commit(item_id, pcm, auto_response=False)

    async def _on_clear(self, event: dict[str, Any]) -> None:
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms(self._appended_samples)
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _commit(self, item_id: str, pcm: bytes, *, auto_response: bool) -> None:
        previous = self._items[-1] if self._items else None
        self._items.append(item_id)
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self.send({"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        await self.send({"type": "conversation.item.done", "item": item, "previous_item_id": previous})
        self._store[item_id] = item
        self._input_audio_tokens += int(self._input_ms(len(pcm) // 2) // 100)  # about 10 audio tokens/s in
        task = self._spawn(self._transcribe(item_id, pcm), self._pending_transcriptions)
        if auto_response:
            self._spawn(self._respond_after(task), self._turn_tasks)

    async def _transcribe(self, item_id: str, pcm: bytes) -> None:
        rate = _rate(self._input_format)
        transcriber = self._transcriber_for_script()
        loop = asyncio.get_running_loop()
        # Recognition is CPU-bound: it runs in the pool, so the loop keeps serving audio and other calls.
        try:
            result = await loop.run_in_executor(self.server.executor, transcriber.transcribe, pcm, rate)
        except (RuntimeError, ValueError, OSError) as exc:  # PocketSphinx reports its failures as RuntimeError
            logger.exception("transcription of %s failed", item_id)
            if self.session["audio"]["input"].get("transcription"):
                await self.send(
                    {
                        "type": "conversation.item.input_audio_transcription.failed",
                        "item_id": item_id,
                        "content_index": 0,
                        "error": {"type": "server_error", "code": "transcription_failed", "message": str(exc)},
                    }
                )
            return
        self.server.record_asr(result.audio_seconds, result.cpu_seconds)
        # F23: lengths only; what the caller said stays out of the log.
        logger.info("transcribed %.2f s of audio in %.3f s CPU (%d characters)", result.audio_seconds,
                    result.cpu_seconds, len(result.text))
        self.dialogue.user_said(result.text)
        if item_id in self._store:
            heard = [{"type": "input_audio", "transcript": result.text}]
            self._store[item_id] = {**self._store[item_id], "content": heard}
        if self.session["audio"]["input"].get("transcription"):
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": result.text,
                    "usage": {"type": "duration", "seconds": round(result.audio_seconds, 3)},
                }
            )

    async def _respond_after(self, transcription: asyncio.Task[None]) -> None:
        await asyncio.gather(transcription, return_exceptions=True)
        while self._response is not None and self._response.task is not None:
            # One response at a time: a turn that ends while the agent speaks is answered next.
            await asyncio.gather(self._response.task, return_exceptions=True)
        self._start_response(conversation=True)

    # ---- conversation items -----------------------------------------------------------------------

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            await self.send_error(
                "missing_required_parameter",
                "Missing required parameter: 'item'.",
                param="item",
                event_id=event.get("event_id"),
            )
            return
        item = {**item, "id": item.get("id") or ev.new_id("item"), "object": "realtime.item", "status": "completed"}
        kind = item["type"]
        if kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
                await self.send_error(
                    "invalid_value",
                    "function_call_output needs call_id and output strings.",
                    param="item",
                    event_id=event.get("event_id"),
                )
                return
            self.dialogue.tool_output(self._calls.get(item["call_id"], ""))
        elif kind == "message":
            if item.get("role") not in ("user", "assistant", "system"):
                await self.send_error(
                    "invalid_value", "Unknown message role.", param="item.role", event_id=event.get("event_id")
                )
                return
            if item["role"] == "user":
                text = " ".join(
                    str(part.get("text") or part.get("transcript") or "")
                    for part in item.get("content") or []
                    if isinstance(part, dict)
                )
                self.dialogue.user_said(text)
                self._input_text_tokens += len(text.split())
        elif kind != "function_call":
            await self.send_error(
                "invalid_value", f"Unsupported item type {kind!r}.", param="item.type", event_id=event.get("event_id")
            )
            return
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        await self.send({"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        await self.send({"type": "conversation.item.done", "item": item, "previous_item_id": previous})
        self._store[item["id"]] = item

    async def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        audio = self._assistant_audio.get(item_id) if isinstance(item_id, str) else None
        if audio is None:
            await self.send_error(
                "invalid_value",
                f"No assistant audio item with id {item_id!r}.",
                param="item_id",
                event_id=event.get("event_id"),
            )
            return
        end_ms = event.get("audio_end_ms")
        if event.get("content_index", 0) != 0 or not isinstance(end_ms, int) or not 0 <= end_ms <= audio.audio_ms:
            await self.send_error(
                "invalid_value",
                f"audio_end_ms must be 0-{audio.audio_ms} for content_index 0.",
                param="audio_end_ms",
                event_id=event.get("event_id"),
            )
            return
        words = audio.transcript.split()
        heard = words[: round(len(words) * end_ms / audio.audio_ms)] if audio.audio_ms else []
        self._assistant_audio[str(item_id)] = _AssistantAudio(" ".join(heard), end_ms)
        if item_id in self._store:
            content = [{"type": "output_audio", "transcript": " ".join(heard)}]
            self._store[item_id] = {**self._store[item_id], "content": content}
        await self.send(
            {"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0, "audio_end_ms": end_ms}
        )

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        item = self._store.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            message = f"No item with id {item_id!r}."
            await self.send_error("invalid_value", message, param="item_id", event_id=event.get("event_id"))
            return
        await self.send({"type": "conversation.item.retrieved", "item": item})

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            await self.send_error(
                "invalid_value", f"No item with id {item_id!r}.", param="item_id", event_id=event.get("event_id")
            )
            return
        self._items.remove(item_id)
        self._store.pop(item_id, None)
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    # ---- responses --------------------------------------------------------------------------------

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        if self._response is not None:
            await self.send_error(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self._response.id}. "
                "Wait until the response is finished before creating a new one.",
                event_id=event.get("event_id"),
            )
            return
        params = event.get("response") or {}
        self._start_response(conversation=params.get("conversation", "auto") != "none")

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted and wanted != self._response.id):
            await self.send_error(
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                event_id=event.get("event_id"),
            )
            return
        self._response.cancel_reason = "client_cancelled"

    def _start_response(self, *, conversation: bool) -> None:
        response = _Response(ev.new_id("resp"), conversation)
        self._response = response
        self._idle_from_ms = None
        response.task = self._spawn(self._run_response(response), self._turn_tasks)

    def _response_object(self, response: _Response, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        details = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": response.cancel_reason}
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": response.output,
            "conversation_id": "conv_local" if response.conversation else None,
            "output_modalities": self.session["output_modalities"],
            "max_output_tokens": self.session["max_output_tokens"],
            "audio": {"output": {"format": self._output_format, "voice": self.session["audio"]["output"]["voice"]}},
            "usage": usage,
            "metadata": None,
        }

    async def _run_response(self, response: _Response) -> None:
        await self.send({"type": "response.created", "response": self._response_object(response, "in_progress", None)})
        text_tokens = 0
        audio_tokens = 0
        audio_ms = 0
        try:
            # The plan needs the caller's last words: wait for turns still being recognised.
            await asyncio.gather(*self._pending_transcriptions, return_exceptions=True)
            actions = [] if response.cancel_reason else self.dialogue.next_response()
            for index, action in enumerate(actions):
                if response.cancel_reason:
                    break
                if isinstance(action, Say):
                    words, said_ms = await self._say(response, index, action.text)
                    text_tokens += words
                    audio_ms += said_ms
                    audio_tokens += said_ms // 50  # about 20 audio tokens/s out
                elif isinstance(action, Call):
                    text_tokens += await self._call(response, index, action)
        finally:
            status = "cancelled" if response.cancel_reason else "completed"
            usage = ev.usage(self._input_text_tokens, self._input_audio_tokens, text_tokens, audio_tokens)
            self._response = None
            if audio_ms and self._vad is not None and not self._vad.in_speech:
                self._idle_from_ms = self._input_ms(self._appended_samples) + audio_ms
            await self.send({"type": "response.done", "response": self._response_object(response, status, usage)})

    async def _say(self, response: _Response, index: int, text: str) -> tuple[int, int]:
        item_id = ev.new_id("item")
        audio_out = self.session["output_modalities"] == ["audio"]
        part_type = "audio" if audio_out else "text"
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        previous = self._items[-1] if self._items else None
        if response.conversation:
            self._items.append(item_id)
        where = {"response_id": response.id, "item_id": item_id, "output_index": index}
        await self.send(
            {"type": "response.output_item.added", "response_id": response.id, "output_index": index, "item": item}
        )
        if response.conversation:  # conversation "none": out-of-band, not added
            await self.send({"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        empty_part = {"type": part_type, "transcript": ""} if audio_out else {"type": "text", "text": ""}
        await self.send({"type": "response.content_part.added", **where, "content_index": 0, "part": empty_part})
        words = text.split()
        sent_words: list[str] = []
        audio_ms = 0
        if audio_out:
            audio_ms, sent_words = await self._stream_audio(response, where, words)
        else:
            for word in words:
                if response.cancel_reason:
                    break
                delta = word if not sent_words else f" {word}"
                sent_words.append(word)
                await self.send({"type": "response.output_text.delta", **where, "content_index": 0, "delta": delta})
        spoken = " ".join(sent_words)
        if audio_out:
            await self.send({"type": "response.output_audio.done", **where, "content_index": 0})
            await self.send(
                {"type": "response.output_audio_transcript.done", **where, "content_index": 0, "transcript": spoken}
            )
            part = {"type": "audio", "transcript": spoken}
            content = {"type": "output_audio", "transcript": spoken}
            self._assistant_audio[item_id] = _AssistantAudio(spoken, audio_ms)
        else:
            await self.send({"type": "response.output_text.done", **where, "content_index": 0, "text": spoken})
            part = {"type": "text", "text": spoken}
            content = {"type": "output_text", "text": spoken}
        await self.send({"type": "response.content_part.done", **where, "content_index": 0, "part": part})
        done_item = {**item, "status": "incomplete" if response.cancel_reason else "completed", "content": [content]}
        response.output.append(done_item)
        await self.send(
            {"type": "response.output_item.done", "response_id": response.id, "output_index": index, "item": done_item}
        )
        if response.conversation:
            await self.send({"type": "conversation.item.done", "item": done_item, "previous_item_id": previous})
            self._store[item_id] = done_item
        return len(sent_words), audio_ms

    async def _stream_audio(
        self, response: _Response, where: dict[str, Any], words: list[str]
    ) -> tuple[int, list[str]]:
        fmt = self._output_format
        rate = _rate(fmt)
        out = self.session["audio"]["output"]
        voice_name = "en-us+f3" if str(out.get("voice")) in _OPENAI_VOICES_FEMALE else "en-us"
        wpm = min(450, max(80, round(self.server.config.words_per_minute * float(out.get("speed", 1.0)))))
        voice = tts.Voice(voice_name, words_per_minute=wpm)
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(self.server.executor, tts.synthesize, " ".join(words), rate, voice)
        encoded = _encode_audio(fmt, pcm)
        bytes_per_ms = (rate // 1000) * (1 if fmt["type"] != "audio/pcm" else 2)
        chunk = CHUNK_MS * bytes_per_ms
        chunks = [encoded[i : i + chunk] for i in range(0, len(encoded), chunk)] or [b""]
        sent_words: list[str] = []
        sent_bytes = 0
        pace = self.server.config.pace
        for n, piece in enumerate(chunks, start=1):
            if response.cancel_reason:
                break
            # Transcript deltas keep pace with the audio: the words due by the end of this chunk.
            due = round(len(words) * n / len(chunks))
            for word in words[len(sent_words) : due]:
                delta = word if not sent_words else f" {word}"
                sent_words.append(word)
                await self.send(
                    {"type": "response.output_audio_transcript.delta", **where, "content_index": 0, "delta": delta}
                )
            if piece:
                await self.send(
                    {
                        "type": "response.output_audio.delta",
                        **where,
                        "content_index": 0,
                        "delta": base64.b64encode(piece).decode(),
                    }
                )
                sent_bytes += len(piece)
            if pace > 0:
                await asyncio.sleep(len(piece) / bytes_per_ms / 1000 / pace)
        return sent_bytes // bytes_per_ms, sent_words

    async def _call(self, response: _Response, index: int, action: Call) -> int:
        item_id = ev.new_id("item")
        call_id = ev.new_id("call")
        self._calls[call_id] = action.name
        arguments = json.dumps(action.arguments)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": action.name,
            "call_id": call_id,
            "arguments": "",
        }
        previous = self._items[-1] if self._items else None
        if response.conversation:
            self._items.append(item_id)
        where = {"response_id": response.id, "item_id": item_id, "output_index": index, "call_id": call_id}
        await self.send(
            {"type": "response.output_item.added", "response_id": response.id, "output_index": index, "item": item}
        )
        if response.conversation:  # conversation "none": out-of-band, not added
            await self.send({"type": "conversation.item.added", "item": item, "previous_item_id": previous})
        await self.send({"type": "response.function_call_arguments.delta", **where, "delta": arguments})
        await self.send(
            {"type": "response.function_call_arguments.done", **where, "name": action.name, "arguments": arguments}
        )
        done_item = {**item, "status": "completed", "arguments": arguments}
        response.output.append(done_item)
        await self.send(
            {"type": "response.output_item.done", "response_id": response.id, "output_index": index, "item": done_item}
        )
        if response.conversation:
            await self.send({"type": "conversation.item.done", "item": done_item, "previous_item_id": previous})
            self._store[item_id] = done_item
        return len(arguments) // 4

    _handlers: dict[str, Any] = {
        "session.update": _on_session_update,
        "input_audio_buffer.append": _on_append,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_clear,
        "conversation.item.create": _on_item_create,
        "conversation.item.truncate": _on_item_truncate,
        "conversation.item.delete": _on_item_delete,
        "conversation.item.retrieve": _on_item_retrieve,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
    }


class LocalAgentServer:
    """The WebSocket server: one :class:`RealtimeSession` per connection.

    Args:
        config: server settings.
    """

    def __init__(self, config: LocalAgentConfig | None = None) -> None:
        self.config = config or LocalAgentConfig()
        self.executor = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="local-agent")
        self.asr_stats = AsrStats()
        self._stats_lock = threading.Lock()
        self._warm_up_job: asyncio.Future[None] | None = None
        self.sessions = SessionSlots(self.config.max_sessions)

    def record_asr(self, audio_seconds: float, cpu_seconds: float) -> None:
        """Add one recognised turn to the statistics."""
        with self._stats_lock:
            self.asr_stats.turns += 1
            self.asr_stats.audio_seconds += audio_seconds
            self.asr_stats.cpu_seconds += cpu_seconds

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path.rstrip("/")
        if not path.endswith("/realtime"):
            return connection.respond(404, "The local agent serves /v1/realtime only.\n")
        if not authorized(request.headers.get("Authorization"), self.config.token):
            logger.warning("connection refused: no valid token")
            return connection.respond(UNAUTHORIZED, "A valid bearer token is required.\n")
        if self.sessions.full:
            return connection.respond(BUSY, "Too many sessions; try again later.\n")
        if "realtime=v1" in request.headers.get("OpenAI-Beta", ""):
            logger.warning("a client asked for the beta Realtime protocol; the local agent speaks GA only")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        model = query.get("model", [DEFAULT_MODEL])[0]
        # F22: the cap holds even when handshakes raced past the check in _process_request.
        if not self.sessions.take():
            await connection.close(1013, "too many sessions")
            return
        try:
            session = RealtimeSession(connection, model, self)
            logger.info("realtime session %s opened (model %s)", session.session["id"], model)
            await session.run()
            logger.info("realtime session %s closed", session.session["id"])
        finally:
            self.sessions.give_back()

    def _warm_up(self) -> None:
        """Load the recogniser and the synthesiser before the first call needs them."""
        shared_transcriber(parse_script("").phrases())
        tts.synthesize(parse_script("").greeting, g711.SAMPLE_RATE)

    async def serve(self, host: str, port: int) -> Server:
        """Start listening; returns the websockets server (``close()`` + ``wait_closed()`` to stop).

        Raises:
            ValueError: ``host`` is beyond loopback and the config has no token.
        """
        check_bind(host, self.config.token)
        self._warm_up_job = asyncio.get_running_loop().run_in_executor(self.executor, self._warm_up)
        return await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE_BYTES,
            # F22: a peer that vanished without closing (a killed UA, a cut network) must not hold a session.
            ping_interval=self.config.ping_interval_s,
            ping_timeout=self.config.ping_timeout_s,
        )

    def shutdown(self) -> None:
        """Stop the worker threads."""
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class RunningAgent:
    """A local agent running on its own event loop in a background thread (tests, the demo, the UA pool)."""

    host: str
    port: int
    server: LocalAgentServer
    _loop: asyncio.AbstractEventLoop
    _ws_server: Server
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The ``websocket_base_url`` to give the OpenAI SDK."""
        return f"ws://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread."""

        async def _close() -> None:
            self._ws_server.close()
            await self._ws_server.wait_closed()

        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self.server.shutdown()


def start_in_thread(host: str = "127.0.0.1", port: int = 0, config: LocalAgentConfig | None = None) -> RunningAgent:
    """Run a local agent in a daemon thread and return once it listens.

    Args:
        host: address to bind (beyond loopback only with a token in ``config``).
        port: TCP port; 0 picks a free one.
        config: server settings.

    Returns:
        A handle with the bound port and ``stop()``.
    """
    server = LocalAgentServer(config)
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def _run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready["server"] = loop.run_until_complete(server.serve(host, port))
        except (OSError, ValueError) as exc:
            ready["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=_run, name="local-agent", daemon=True)
    thread.start()
    started.wait(timeout=30)
    if "error" in ready:
        raise ready["error"]
    ws_server: Server = ready["server"]
    bound = next(iter(ws_server.sockets)).getsockname()[1]
    return RunningAgent(host, bound, server, loop, ws_server, thread)
