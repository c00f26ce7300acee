"""The local agent's WebSocket server: one `local_agent.session.RealtimeSession` per connection.

A client (the bridge, or the official ``openai`` SDK with ``websocket_base_url="ws://HOST:PORT/v1"``)
connects to ``/v1/realtime?model=...``. On loopback no key is checked; off loopback the server needs a shared
token and checks it on every connection (:mod:`local_agent.access`). Sessions are capped and pinged.
Nothing leaves the machine. `start_in_thread` runs one in a background thread (tests, the demo).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from local_agent.access import BUSY, UNAUTHORIZED, SessionSlots, authorized, check_bind
from local_agent.config import AsrStats, LocalAgentConfig
from local_agent.script import parse_script
from local_agent.session import RealtimeSession
from media.audio import g711
from media.speech import tts
from media.speech.asr import shared_transcriber

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "local-agent"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # input_audio_buffer.append may carry up to 15 MiB


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
