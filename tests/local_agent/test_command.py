"""``python -m local_agent`` serves the Realtime protocol until SIGTERM (the Procfile's ``agent``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    for port in range(18790, 18800):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port in 18790-18799")


def _wait_listening(port: int, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the agent did not start listening")


def test_command_serves_a_session_and_stops_on_sigterm() -> None:
    # given the command running as its own process
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local_agent", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_listening(port, proc)

        # when a client opens a session and asks for the greeting
        async def talk() -> str:
            client = AsyncOpenAI(api_key="no-key-needed", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
            async with client.realtime.connect(model="gpt-realtime") as connection:
                await connection.session.update(session={"type": "realtime", "instructions": "Greeting: Hi there."})
                await connection.response.create()
                async for event in connection:
                    if event.type == "response.output_audio_transcript.done":
                        return event.transcript
            return ""

        transcript = asyncio.run(asyncio.wait_for(talk(), timeout=60))
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    # then it answered, and SIGTERM ended it cleanly
    assert transcript.startswith("Hi there.")
    assert proc.returncode == 0, output
    assert f"listening on ws://127.0.0.1:{port}/v1/realtime" in output
