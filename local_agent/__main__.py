"""``python -m local_agent --port 8765``: serve the local agent (the Procfile's ``agent``) until SIGTERM.

A process of its own with no Django: the media library stays a plain library. Off loopback (``--host``) it needs
a shared token: ``LOCAL_AGENT_TOKEN`` in the environment (preferred: a command line is visible to every local user
in ``ps``) or ``--token``; the UA pool sends the same ``LOCAL_AGENT_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from local_agent.config import LocalAgentConfig
from local_agent.server import LocalAgentServer


def build_parser() -> argparse.ArgumentParser:
    """Command-line options: --host, --port, --pace, --workers, --token and --max-sessions."""
    defaults = LocalAgentConfig()
    parser = argparse.ArgumentParser(
        prog="python -m local_agent",
        description="Serve the local AI agent (OpenAI Realtime GA protocol subset) on a WebSocket port.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    parser.add_argument("--pace", type=float, default=defaults.pace, help="send audio N times real time")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="recognition and synthesis threads")
    parser.add_argument("--token", default=os.environ.get("LOCAL_AGENT_TOKEN", ""),
                        help="shared bearer token clients must send; required off loopback "
                             "(default: $LOCAL_AGENT_TOKEN)")
    parser.add_argument("--max-sessions", type=int, default=defaults.max_sessions,
                        help=f"most sessions at once (default {defaults.max_sessions})")
    return parser


async def serve(host: str, port: int, config: LocalAgentConfig) -> None:
    """Serve until SIGINT or SIGTERM, then print the recogniser's totals."""
    agent = LocalAgentServer(config)
    server = await agent.serve(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"Local agent listening on ws://{host}:{port}/v1/realtime", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    agent.shutdown()
    stats = agent.asr_stats
    print(f"Recognised {stats.turns} turns, {stats.audio_seconds:.1f} s of audio, "
          f"{stats.cpu_per_audio_second:.3f} CPU s per audio s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = LocalAgentConfig(pace=args.pace, workers=args.workers, token=args.token,
                                  max_sessions=args.max_sessions)
        asyncio.run(serve(args.host, args.port, config))
    except ValueError as exc:  # a setting refused before anything listens (no token off loopback...)
        print(f"local agent: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
