"""The one small interface every AI adapter implements, and the events adapters hand to the bridge.

An adapter owns one WebSocket and one wire protocol. It converts the caller's PCM16 8 kHz frames to what
the AI takes and the AI's audio back to PCM16 8 kHz, and reports what happened as `AdapterEvent`s through
the ``emit`` callback (called on the event loop, in message order). It never paces audio and never touches
the playout buffer: the bridge does, because only the bridge knows what was actually played.

Failures are `AdapterError` with a ``kind`` (``refused``, ``timeout``, ``rejected``, ``dropped``,
``bad_events``, ``config``; the bridge adds ``internal`` for its own errors) and a reason in words, which
ends up on the attempt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.endpoints import EndpointRefused, check_key_env, check_url

logger = logging.getLogger(__name__)


# F20: what one AI connection may hold in the UA's memory before the bridge reads it. Audio deltas are a few KB
# (OpenAI's about 0.1-0.5 s, Gemini's 40 ms-1 s, Twilio's 20 ms); 1 MiB is about 90 s of mu-law as base64.
MAX_MESSAGE_BYTES = 2**20
MAX_QUEUED_MESSAGES = 16


class AdapterError(Exception):
    """The AI connection failed; the call gets the fallback message and ends as ``ai_error``.

    Attributes:
        kind: ``refused``, ``timeout``, ``rejected``, ``dropped``, ``bad_events``, ``config``, ``overflow`` (too
            much audio queued) or ``stalled`` (silent after the caller spoke); the last two from `media.bridge.guards`.
        reason: what happened, in words (stored on the attempt).
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


class ProtocolError(Exception):
    """One malformed message from the AI (counted; too many fail the call)."""


# ---- events (adapter -> bridge) ------------------------------------------------------------------------------


@dataclass(slots=True)
class AgentAudio:
    """Agent audio, already PCM16 LE mono 8 kHz, for agent turn ``turn``; ``received_ns`` is when the
    message carrying it was read from the socket (``time.perf_counter_ns``)."""

    pcm: bytes
    turn: str
    received_ns: int = 0


@dataclass(slots=True)
class AgentAudioDone:
    """No more audio will come for ``turn`` (the bridge pads its last partial frame)."""

    turn: str


@dataclass(slots=True)
class CallerSpeechStarted:
    """The AI heard the caller start speaking: barge-in. ``audio_ms`` is on the AI's input-audio clock."""

    audio_ms: int | None = None
    item_id: str = ""


@dataclass(slots=True)
class CallerSpeechStopped:
    """The AI heard the caller stop speaking (``audio_ms`` on the AI's input-audio clock)."""

    audio_ms: int | None = None
    item_id: str = ""


@dataclass(slots=True)
class PlayoutCleared:
    """The agent asked to drop queued audio (Twilio ``clear``, Gemini ``interrupted``)."""


@dataclass(slots=True)
class CallerTranscript:
    """What the caller said; ``item_id`` ties it to the speech events (times on the input-audio clock)."""

    text: str
    item_id: str = ""


@dataclass(slots=True)
class AgentTranscript:
    """What the agent said in ``turn``."""

    text: str
    turn: str


@dataclass(slots=True)
class ToolCall:
    """The agent called a function. ``arguments`` is None when ``raw`` was not a JSON object."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    raw: str


@dataclass(slots=True)
class Mark:
    """A Twilio ``mark``: echo it once the audio queued before it has been played."""

    name: str


@dataclass(slots=True)
class Usage:
    """Token or other usage the provider reported (numbers are summed per key over the call)."""

    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AgentHangup:
    """The agent ended the conversation itself (a Twilio-style agent closing its socket cleanly)."""

    reason: str = "agent closed the stream"


AdapterEvent = (
    AgentAudio
    | AgentAudioDone
    | CallerSpeechStarted
    | CallerSpeechStopped
    | PlayoutCleared
    | CallerTranscript
    | AgentTranscript
    | ToolCall
    | Mark
    | Usage
    | AgentHangup
)


# ---- the interface -------------------------------------------------------------------------------------------


class AgentAdapter(ABC):
    """One AI conversation over one WebSocket.

    Lifecycle (all on the bridge's event loop): `connect` (open and configure; the bridge bounds it with
    ``session_timeout_s``) -> `run` (read until closed; raises `AdapterError` when the AI drops or misbehaves)
    with `send_audio` and the other senders called concurrently -> `close`.

    Args:
        agent: what to talk to and what to tell it.
        bridge: bridge settings (timeouts, tolerance of malformed messages).
        call: the call (variables, ids).
        emit: called with each `AdapterEvent`, in order, on the event loop.
    """

    provider = ""
    #: True when the AI reports caller speech itself (barge-in and transcript times come from it).
    reports_speech = False

    def __init__(
        self, agent: AgentConfig, bridge: BridgeConfig, call: CallContext, emit: Callable[[AdapterEvent], None]
    ) -> None:
        self.agent = agent
        self.bridge = bridge
        self.call = call
        self.emit = emit
        self.ws: ClientConnection | None = None
        self.bad_events = 0
        self.closing = False

    # -- to implement --

    @abstractmethod
    async def connect(self) -> None:
        """Open the socket and configure the session; return once the AI confirmed it."""

    @abstractmethod
    async def send_audio(self, pcm: bytes) -> None:
        """Send one caller frame (PCM16 LE mono 8 kHz, 20 ms)."""

    @abstractmethod
    async def handle(self, message: dict[str, Any], received_ns: int) -> None:
        """Handle one parsed message from the AI (raise `ProtocolError` when it is malformed)."""

    async def send_tool_result(self, call: ToolCall, output: dict[str, Any], *, respond: bool) -> None:
        """Answer a tool call; ``respond`` asks the model to go on speaking."""
        return  # optional: protocols without this message ignore it

    async def truncate(self, turn: str, played_ms: int) -> None:
        """Tell the AI that only ``played_ms`` of ``turn`` was heard (after a barge-in flush)."""
        return  # optional: protocols without this message ignore it

    async def send_note(self, text: str) -> None:
        """Tell the model something that happened on the call (a failed transfer), and let it go on speaking."""
        return  # optional: protocols without a text channel (Twilio Media Streams) ignore it

    async def mark_played(self, name: str) -> None:
        """Audio queued before mark ``name`` has been played (or dropped by a clear)."""
        return  # optional: protocols without this message ignore it

    async def send_dtmf(self, digit: str) -> None:
        """The caller pressed a key."""
        return  # optional: protocols without this message ignore it

    async def stop(self) -> None:
        """Say goodbye on the protocol before closing (Twilio ``stop``)."""
        return  # optional: protocols without this message ignore it

    # -- shared machinery --

    def api_key(self, *, required: bool) -> str:
        """Read the API key from the environment variable the profile names.

        Raises:
            AdapterError: (``config``) when the policy does not allow the variable, or when required and the
                variable is unset or empty.
        """
        env = self.agent.resolved_key_env
        try:
            # F1: re-checked at the moment the value is read, whatever built this config.
            check_key_env(self.agent.provider, env, self.agent.policy)
        except EndpointRefused as exc:
            raise AdapterError("config", str(exc)) from None
        key = os.environ.get(env, "") if env else ""
        if required and not key:
            raise AdapterError("config", f"API key environment variable {env or '(none)'} is not set")
        return key

    async def open_socket(self, url: str, headers: dict[str, str] | None = None) -> ClientConnection:
        """Open the WebSocket, mapping failures to `AdapterError` kinds.

        What the remote sent is not copied into the reason beyond an HTTP status code (F7): a reason lands on the
        attempt, and an agent URL pointed at an internal service must not turn the ledger into a way to read it.
        """
        try:
            # F1/F7: the URL actually opened (query added, resumption...) must pass the same policy as the profile.
            check_url(self.agent.provider, url, self.agent.policy, token=bool(self.agent.token))
        except EndpointRefused as exc:
            raise AdapterError("config", str(exc)) from None
        try:
            # No permessage-deflate: base64 audio barely compresses and deflate costs CPU on every frame.
            ws = await connect(
                url,
                additional_headers=headers or {},
                compression=None,
                max_size=MAX_MESSAGE_BYTES,
                max_queue=MAX_QUEUED_MESSAGES,
                open_timeout=None,
                close_timeout=self.bridge.close_timeout_s / 2,
            )
        except InvalidStatus as exc:
            raise AdapterError("rejected", f"AI server refused the WebSocket: HTTP {exc.response.status_code}") from exc
        except (OSError, InvalidHandshake) as exc:
            # The exception's class only: its text may quote the remote's headers or body.
            raise AdapterError("refused", f"cannot connect to the AI at {_redact(url)}: {type(exc).__name__}") from exc
        self.ws = ws
        return ws

    async def send_json(self, message: dict[str, Any] | str) -> None:
        """Send one JSON text frame (a pre-serialised string is sent as is)."""
        ws = self.ws
        if ws is None:
            return
        try:
            await ws.send(message if isinstance(message, str) else json.dumps(message, separators=(",", ":")))
        except ConnectionClosed:
            if not self.closing:
                raise

    async def recv_json(self) -> tuple[dict[str, Any], int]:
        """Read one message during setup (malformed ones are counted and skipped)."""
        assert self.ws is not None  # noqa: S101 - connect() sets it first
        while True:
            try:
                raw = await self.ws.recv()
            except ConnectionClosed as exc:
                raise AdapterError("dropped", f"AI closed the connection during setup ({_close_text(exc)})") from exc
            try:
                return self.parse(raw), time.perf_counter_ns()
            except ProtocolError as exc:
                self.count_bad(str(exc))

    def parse(self, raw: str | bytes) -> dict[str, Any]:
        """Parse one frame as a JSON object.

        Raises:
            ProtocolError: binary frame, not JSON, or not an object.
        """
        if isinstance(raw, bytes):
            raise ProtocolError(f"unexpected binary frame of {len(raw)} bytes")
        try:
            message = json.loads(raw)
        except ValueError:
            raise ProtocolError(f"not JSON ({len(raw)} characters)") from None
        if not isinstance(message, dict):
            # F23: the type only, never the content: a frame may carry what the caller said.
            raise ProtocolError(f"not a JSON object ({type(message).__name__})")
        return message

    def count_bad(self, problem: str) -> None:
        """Count a malformed message; past ``max_bad_events`` the call fails.

        Raises:
            AdapterError: (``bad_events``) when the tolerance is exceeded.
        """
        self.bad_events += 1
        logger.warning("attempt %s: bad event from %s: %s", self.call.attempt_id, self.provider, problem)
        if self.bad_events >= self.bridge.max_bad_events:
            raise AdapterError("bad_events", f"AI sent malformed events ({problem})")

    async def run(self) -> None:
        """Read messages until the connection ends.

        Raises:
            AdapterError: ``dropped`` when the AI closes the connection (unless we are closing),
                ``bad_events`` when it sends too many malformed messages.
        """
        ws = self.ws
        assert ws is not None  # noqa: S101 - connect() sets it first
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed as exc:
                if self.closing:
                    return
                if self.ws is not None and self.ws is not ws:  # moved to a resumed connection meanwhile
                    ws = self.ws
                    continue
                if await self.on_closed(exc, clean=isinstance(exc, ConnectionClosedOK)):
                    ws = self.ws
                    assert ws is not None  # noqa: S101 - on_closed returned True: it opened a new one
                    continue
                return
            received = time.perf_counter_ns()
            try:
                await self.handle(self.parse(raw), received)
            except ProtocolError as exc:
                self.count_bad(str(exc))

    async def on_closed(self, exc: ConnectionClosed, *, clean: bool) -> bool:
        """The AI closed the socket while the call was live: by default the call failed.

        Returns:
            True when the adapter reconnected (`run` goes on with ``self.ws``); False to end `run` quietly.

        Raises:
            AdapterError: ``dropped``.
        """
        raise AdapterError("dropped", f"AI closed the connection mid-call ({_close_text(exc)})")

    async def close(self) -> None:
        """Close the socket (idempotent)."""
        self.closing = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(OSError, ConnectionClosed):  # already gone: nothing left to close
                await ws.close()


def _close_text(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}{': ' + frame.reason if frame.reason else ''}"


def _redact(url: str) -> str:
    """Drop a query string (it may carry a key) from a URL before it reaches a log line or the ledger."""
    return url.split("?", 1)[0]


def require(message: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Return ``message[key]`` when it has the expected type.

    Raises:
        ProtocolError: when missing or of another type.
    """
    value = message.get(key)
    if not isinstance(value, kind):
        raise ProtocolError(
            f"{message.get('type') or message.get('event') or 'message'}: field {key!r} missing or malformed"
        )
    return value
