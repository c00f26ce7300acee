"""Who may talk to the local agent (audit F22): a shared token off loopback, a cap on sessions, pings that drop
a peer that went silent, and the UA's `local` adapter presenting the token."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local_agent.__main__ import main
from local_agent.access import authorized, check_bind
from local_agent.config import LocalAgentConfig
from local_agent.server import RunningAgent, start_in_thread
from media.adapters.base import AdapterError
from media.adapters.factory import make_adapter
from media.bridge.config import AgentConfig, BridgeConfig, CallContext

TOKEN = "s3cret-local-token"


@contextmanager
def _agent(**config: object) -> Iterator[RunningAgent]:
    running = start_in_thread("127.0.0.1", 0, LocalAgentConfig(**config))  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.stop()


async def _first_event(url: str, headers: dict[str, str] | None = None) -> str:
    async with connect(url, additional_headers=headers or {}, open_timeout=10) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]


def _status_of_refusal(url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(_first_event(url, headers))
    return refused.value.response.status_code


def test_the_agent_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    with pytest.raises(ValueError, match="LOCAL_AGENT_TOKEN"):
        start_in_thread("0.0.0.0", 0, LocalAgentConfig())  # noqa: S104 - refused before it binds
    check_bind("0.0.0.0", TOKEN)  # noqa: S104 - with a token it may
    check_bind("127.0.0.1", "")
    check_bind("::1", "")


def test_the_command_exits_with_a_message_beyond_loopback_without_a_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LOCAL_AGENT_TOKEN", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2  # noqa: S104 - refused before it binds
    assert "set a shared token" in capsys.readouterr().err


def test_with_a_token_every_connection_must_present_it() -> None:
    with _agent(token=TOKEN) as agent:
        url = f"{agent.url}/realtime"
        # E11 of the audit: a client without credentials got a session
        assert _status_of_refusal(url) == 401
        assert _status_of_refusal(url, {"Authorization": "Bearer wrong"}) == 401
        assert _status_of_refusal(url, {"Authorization": f"Basic {TOKEN}"}) == 401
        assert asyncio.run(_first_event(url, {"Authorization": f"Bearer {TOKEN}"})) == "session.created"


def test_the_bearer_check() -> None:
    assert authorized(None, "")
    assert authorized(f"Bearer {TOKEN}", TOKEN)
    assert authorized(f"bearer {TOKEN}", TOKEN)
    assert not authorized(None, TOKEN)
    assert not authorized(f"Bearer {TOKEN}x", TOKEN)


def test_sessions_beyond_the_cap_are_refused_until_one_ends() -> None:
    async def scenario(url: str) -> tuple[int, str]:
        async with connect(url) as first:
            assert json.loads(await first.recv())["type"] == "session.created"
            try:
                await _first_event(url)
                busy = 0
            except InvalidStatus as exc:
                busy = exc.response.status_code
        for _ in range(50):  # the server notices the close shortly after
            try:
                return busy, await _first_event(url)
            except InvalidStatus:
                await asyncio.sleep(0.05)
        return busy, "still busy"

    with _agent(max_sessions=1) as agent:
        busy, later = asyncio.run(scenario(f"{agent.url}/realtime"))
    assert busy == 503
    assert later == "session.created"


def test_a_peer_that_stops_answering_pings_is_dropped() -> None:
    # given a client that completes the handshake and then never reads again (a vanished UA)
    with _agent(ping_interval_s=0.2, ping_timeout_s=0.2) as agent, socket.create_connection(
            ("127.0.0.1", agent.port), timeout=10) as raw:
        raw.sendall(b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")
        # when it stays silent, then the server gives up on it within a few seconds
        deadline = time.monotonic() + 8
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                closed = raw.recv(65536) == b""
            except TimeoutError:
                break
    assert closed


def _adapter(url: str, token: str) -> object:
    agent = AgentConfig(provider="local", url=url, token=token)
    return make_adapter(agent, BridgeConfig(), CallContext(1), lambda _e: None)


def test_the_local_adapter_presents_the_shared_token() -> None:
    async def open_and_close(adapter: object) -> None:
        await adapter.connect()  # type: ignore[attr-defined]
        await adapter.close()  # type: ignore[attr-defined]

    with _agent(token=TOKEN) as agent:
        url = f"{agent.url}/realtime"
        asyncio.run(open_and_close(_adapter(url, TOKEN)))
        with pytest.raises(AdapterError, match="HTTP 401"):
            asyncio.run(open_and_close(_adapter(url, "")))


def test_only_the_local_agent_takes_the_token() -> None:
    with pytest.raises(ValueError, match="token"):
        AgentConfig(provider="openai_realtime", token=TOKEN)
    assert TOKEN not in repr(AgentConfig(provider="local", token=TOKEN))
    assert TOKEN not in repr(LocalAgentConfig(token=TOKEN))
