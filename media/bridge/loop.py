"""The event loop of a UA process: one asyncio loop on its own thread hosting every call's `BridgeSession`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

from media.bridge.result import CallResult
from media.bridge.session import BridgeSession

logger = logging.getLogger(__name__)


class MediaLoop:
    """The asyncio event loop of one UA process, on its own thread, hosting every call's `BridgeSession`.

    One loop serves all calls of the process: sessions are independent tasks, and `BridgeSession.run`
    never raises, so one call's failure cannot reach another.
    """

    def __init__(self, name: str = "media-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._log_exception)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @staticmethod
    def _log_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        logger.error("media loop: %s", context.get("message"), exc_info=context.get("exception"))

    def start(self) -> MediaLoop:
        """Start the loop thread; returns self."""
        self._thread.start()
        return self

    def submit(self, session: BridgeSession) -> concurrent.futures.Future[CallResult]:
        """Run a session on the loop; the future resolves to its `CallResult` (any thread)."""
        return asyncio.run_coroutine_threadsafe(session.run(), self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and join its thread (call after the sessions ended)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
