"""``python manage.py run_local_agent --port 8765``: serve the local agent (the Procfile's ``agent``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from media.local_agent.server import LocalAgentConfig, LocalAgentServer


class Command(BaseCommand):
    """Run the OpenAI-Realtime-compatible local agent until interrupted."""

    help = "Serve the local AI agent (OpenAI Realtime GA protocol subset) on a WebSocket port."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare --host, --port, --pace and --workers."""
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
        defaults = LocalAgentConfig()
        parser.add_argument("--pace", type=float, default=defaults.pace, help="send audio N times real time")
        parser.add_argument("--workers", type=int, default=defaults.workers, help="recognition and synthesis threads")

    def handle(self, *args: Any, **options: Any) -> None:
        """Serve until SIGINT or SIGTERM."""
        config = LocalAgentConfig(pace=options["pace"], workers=options["workers"])
        asyncio.run(self._serve(options["host"], options["port"], config))

    async def _serve(self, host: str, port: int, config: LocalAgentConfig) -> None:
        agent = LocalAgentServer(config)
        server = await agent.serve(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        self.stdout.write(f"Local agent listening on ws://{host}:{port}/v1/realtime")
        await stop.wait()
        server.close()
        await server.wait_closed()
        agent.shutdown()
        stats = agent.asr_stats
        self.stdout.write(
            f"Recognised {stats.turns} turns, {stats.audio_seconds:.1f} s of audio, "
            f"{stats.cpu_per_audio_second:.3f} CPU s per audio s"
        )
