"""A WebSocket tap for bridged-call tests: forwards every message between a UA worker and the AI unchanged and
keeps the JSON events the UA sent, so a test can read what the bridge told the AI (`conversation.item.truncate`
and its `audio_end_ms`) without touching the product's code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class WsTap:
    """The events a tap saw from the UA side (thread-safe reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[dict[str, Any]] = []

    def record(self, message: str | bytes) -> None:
        """Keep one UA-to-AI message when it is a JSON object."""
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            event = json.loads(message)
            if isinstance(event, dict):
                with self._lock:
                    self._sent.append(event)

    def sent(self, event_type: str) -> list[dict[str, Any]]:
        """The events of one type the UA sent, in order."""
        with self._lock:
            return [e for e in self._sent if e.get("type") == event_type]


@contextlib.contextmanager
def ws_tap(port: int, upstream: str) -> Iterator[WsTap]:
    """Listen on 127.0.0.1:`port` and relay each connection to `upstream` + its request path.

    Args:
        port: where the UA connects (the campaign's agent URL points here).
        upstream: ``ws://host:port`` of the AI.
    """
    tap = WsTap()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: dict[str, asyncio.Event] = {}

    async def relay(client: ServerConnection) -> None:
        path = client.request.path if client.request is not None else "/"
        headers = (
            {k: v for k, v in client.request.headers.raw_items() if k.lower() in {"authorization", "openai-beta"}}
            if client.request is not None
            else {}
        )
        async with connect(upstream + path, additional_headers=headers, max_size=None) as server:

            async def up() -> None:
                async for message in client:
                    tap.record(message)
                    await server.send(message)
                await server.close()

            async def down() -> None:
                async for message in server:
                    await client.send(message)
                await client.close()

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            with contextlib.suppress(ConnectionClosed):
                await asyncio.gather(*tasks)

    async def main() -> None:
        stop["event"] = asyncio.Event()
        async with serve(relay, "127.0.0.1", port, max_size=None):
            started.set()
            await stop["event"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="ws-tap", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError(f"the WebSocket tap did not listen on {port}")
    try:
        yield tap
    finally:
        loop.call_soon_threadsafe(stop["event"].set)
        thread.join(timeout=10)
