"""The state and plumbing of one client connection of the local agent, shared by its parts.

`local_agent.session.RealtimeSession` is built from `audio_input.AudioInput` (the input audio buffer, turn
detection, recognition) and `responses.Responses` (what the agent says and calls); both work on the state
declared here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from local_agent import events as ev
from local_agent.config import LocalAgentConfig
from local_agent.script import Dialogue, ToolSet, parse_script
from media.adapters import realtime_events as rt
from media.audio import g711
from media.audio.vad import EnergyVad, VadConfig
from media.speech.asr import Transcriber, shared_transcriber

logger = logging.getLogger(__name__)


class Host(Protocol):
    """What a connection needs of the server that accepted it."""

    @property
    def config(self) -> LocalAgentConfig:
        """The server's settings."""

    @property
    def executor(self) -> Executor:
        """Recognition and synthesis threads, shared by all connections."""

    def record_asr(self, audio_seconds: float, cpu_seconds: float) -> None:
        """Add one recognised turn to the statistics."""


@dataclass
class AssistantAudio:
    """What of an assistant audio item the caller heard (shortened by ``conversation.item.truncate``)."""

    transcript: str
    audio_ms: int
    said: str = ""  # the whole text the agent meant to say
    truncated: bool = False  # the client reported what was heard: later streaming must not overwrite it


class ActiveResponse:
    """One response being generated."""

    def __init__(self, response_id: str, conversation: bool) -> None:
        self.id = response_id
        self.conversation = conversation
        self.cancel_reason: str | None = None
        self.output: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None


def rate_of(fmt: dict[str, Any]) -> int:
    """Sample rate of a session audio format."""
    return rt.PCM_RATE if fmt["type"] == "audio/pcm" else g711.SAMPLE_RATE


class Connection:
    """One client connection speaking the Realtime protocol: its state and the means to answer.

    Args:
        connection: the WebSocket.
        model: the model named in the URL.
        server: the owning server (thread pool, statistics).
    """

    def __init__(self, connection: ServerConnection, model: str, server: Host) -> None:
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
        self._assistant_audio: dict[str, AssistantAudio] = {}
        self._latest_said: str | None = None  # the id of the latest assistant audio item: what a cut-off is about
        self._calls: dict[str, str] = {}  # call_id -> function name
        self._response: ActiveResponse | None = None
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
        await self.send(rt.error(code, message, param=param, event_id=event_id))

    def _spawn(self, coro: Coroutine[Any, Any, None], bucket: set[asyncio.Task[None]]) -> asyncio.Task[None]:
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
        return samples * 1000.0 / rate_of(self._input_format)

    def _reset_audio_pipeline(self) -> None:
        td = self._turn_detection
        rate = rate_of(self._input_format)
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

    def _start_response(self, *, conversation: bool) -> None:
        """Start generating a response (`responses.Responses`)."""
        raise NotImplementedError

    async def _commit(self, item_id: str, pcm: bytes, *, auto_response: bool) -> None:
        """Add a user audio item, recognise it and answer it (`audio_input.AudioInput`)."""
        raise NotImplementedError
