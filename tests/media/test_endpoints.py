"""Where an agent may be reached and which variable may hold its key (audit F1, F7): the policy itself, the
per-call `AgentConfig` check, and the adapters' check at the moment they read the key and open the socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from media.adapters.base import AdapterError
from media.adapters.factory import make_adapter
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from media.endpoints import EndpointPolicy, EndpointRefused, check_key_env, check_url, is_loopback_host
from tests.media.bridge_harness import RecordingControls, media_loop, run_bridged

STRICT = EndpointPolicy()


@pytest.mark.parametrize("name", ["DATABASE_URL", "DJANGO_SECRET_KEY", "UA_COMMAND_KEY", "AWS_SECRET_ACCESS_KEY"])
def test_a_key_variable_off_the_allow_list_is_refused(name: str) -> None:
    with pytest.raises(EndpointRefused, match="not an allowed API key variable") as refused:
        check_key_env("openai_realtime", name, STRICT)
    assert refused.value.field == "api_key_env"


def test_the_allow_list_is_the_deployments() -> None:
    policy = EndpointPolicy(key_envs=frozenset({"ACME_KEY"}))
    check_key_env("twilio_stream", "ACME_KEY", policy)
    with pytest.raises(EndpointRefused):
        check_key_env("openai_realtime", "OPENAI_API_KEY", policy)


def test_a_cloud_providers_own_key_goes_to_that_provider_only() -> None:
    check_key_env("openai_realtime", "OPENAI_API_KEY", STRICT)
    check_key_env("gemini_live", "GEMINI_API_KEY", STRICT)
    check_key_env("twilio_stream", "AGENT_API_KEY", STRICT)
    for provider, name in [("twilio_stream", "OPENAI_API_KEY"), ("gemini_live", "OPENAI_API_KEY"),
                           ("openai_realtime", "GOOGLE_API_KEY")]:
        with pytest.raises(EndpointRefused, match="sent to that provider only"):
            check_key_env(provider, name, STRICT)


def test_the_local_agent_takes_no_api_key() -> None:
    with pytest.raises(EndpointRefused, match="LOCAL_AGENT_TOKEN"):
        check_key_env("local", "AGENT_API_KEY", STRICT)


@pytest.mark.parametrize(("provider", "url"), [
    ("openai_realtime", "wss://api.openai.com/v1/realtime"),
    ("openai_realtime", "wss://API.OpenAI.com./v1/realtime"),
    ("gemini_live", "wss://generativelanguage.googleapis.com/ws/x"),
    ("twilio_stream", "wss://agents.example.com/stream"),
    ("twilio_stream", "ws://127.0.0.1:9000/stream"),
    ("twilio_stream", "ws://localhost:9000/stream"),
    ("local", "ws://127.0.0.1:8765/v1/realtime"),
    ("local", "ws://[::1]:8765/v1/realtime"),
])
def test_allowed_urls(provider: str, url: str) -> None:
    check_url(provider, url, STRICT)


@pytest.mark.parametrize(("provider", "url", "why"), [
    ("openai_realtime", "ws://api.openai.com/v1/realtime", "wss://"),
    ("openai_realtime", "wss://attacker.example/v1/realtime", "not an allowed openai_realtime host"),
    ("openai_realtime", "ws://127.0.0.1:8080/anything", "wss://"),
    ("gemini_live", "wss://api.openai.com/v1/realtime", "not an allowed gemini_live host"),
    ("openai_realtime", "https://api.openai.com/v1/realtime", "ws:// or wss://"),
    ("openai_realtime", "wss://user:pw@api.openai.com/v1/realtime", "credentials"),
    ("twilio_stream", "ws://agents.example.com/stream", "wss://"),
    ("twilio_stream", "wss://169.254.169.254/latest/meta-data", "link-local"),
    ("twilio_stream", "wss://[::ffff:169.254.169.254]/", "link-local"),
    ("twilio_stream", "wss://0.0.0.0:9000/", "unspecified"),
    ("local", "ws://10.0.0.5:8765/v1/realtime", "loopback or at the host of LOCAL_AGENT_URL"),
    ("local", "wss://attacker.example/v1/realtime", "loopback or at the host of LOCAL_AGENT_URL"),
])
def test_refused_urls(provider: str, url: str, why: str) -> None:
    with pytest.raises(EndpointRefused, match=why) as refused:
        check_url(provider, url, STRICT)
    assert refused.value.field == "url"


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.10", "127.0.0.1", "[::1]", "[fd00::1]", "100.64.0.1",
                                  "[::ffff:10.0.0.1]"])
def test_cloud_providers_refuse_non_global_ip_literals_even_when_allow_listed(host: str) -> None:
    policy = EndpointPolicy(hosts={"openai_realtime": frozenset({host.strip("[]")})})
    with pytest.raises(EndpointRefused, match="private, loopback or reserved"):
        check_url("openai_realtime", f"wss://{host}/v1/realtime", policy)


def test_a_twilio_stream_host_allow_list_applies_when_set() -> None:
    policy = EndpointPolicy(hosts={"twilio_stream": frozenset({"agents.example.com"})})
    check_url("twilio_stream", "wss://agents.example.com/stream", policy)
    with pytest.raises(EndpointRefused, match="not an allowed twilio_stream host"):
        check_url("twilio_stream", "wss://elsewhere.example.com/stream", policy)


def test_a_local_agent_off_loopback_needs_its_configured_host_and_the_token() -> None:
    policy = EndpointPolicy(hosts={"local": frozenset({"agent.internal"})})
    with pytest.raises(EndpointRefused, match="LOCAL_AGENT_TOKEN"):
        check_url("local", "ws://agent.internal:8765/v1/realtime", policy)
    check_url("local", "ws://agent.internal:8765/v1/realtime", policy, token=True)
    with pytest.raises(EndpointRefused, match="host of LOCAL_AGENT_URL"):
        check_url("local", "ws://other.internal:8765/v1/realtime", policy, token=True)


def test_loopback_test_doubles_need_the_deployment_to_allow_them() -> None:
    check_url("openai_realtime", "ws://127.0.0.1:8080/v1/realtime", EndpointPolicy(allow_loopback=True))
    with pytest.raises(EndpointRefused):
        check_url("openai_realtime", "ws://127.0.0.1:8080/v1/realtime", STRICT)


def test_loopback_hosts() -> None:
    assert all(map(is_loopback_host, ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]", "a.localhost"]))
    assert not any(map(is_loopback_host, ["0.0.0.0", "10.0.0.1", "localhost.example.com", "::", ""]))  # noqa: S104


def test_an_agent_config_naming_another_secret_is_refused_when_the_call_is_built() -> None:
    # E2 of the audit: a profile naming DATABASE_URL, pointed at a listener of the operator's choosing
    with pytest.raises(ValueError, match="url"):
        AgentConfig(provider="openai_realtime", url="ws://127.0.0.1:9/anything", api_key_env="DATABASE_URL")
    with pytest.raises(ValueError, match="api_key_env"):
        AgentConfig(provider="openai_realtime", api_key_env="DATABASE_URL")
    with pytest.raises(ValueError, match="api_key_env"):
        AgentConfig(provider="twilio_stream", url="wss://agents.example.com/s", api_key_env="OPENAI_API_KEY")


def test_the_adapter_checks_the_key_variable_again_when_it_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a config that passed, then changed behind the dataclass's back
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pg-SECRET-123@db.internal/prod")
    agent = AgentConfig(provider="openai_realtime", api_key_env="OPENAI_API_KEY")
    object.__setattr__(agent, "api_key_env", "DATABASE_URL")
    adapter = make_adapter(agent, BridgeConfig(), CallContext(1), lambda _e: None)
    # when the adapter reads the key, then it refuses and the value is not read
    with pytest.raises(AdapterError, match="not an allowed API key variable") as refused:
        adapter.api_key(required=True)
    assert refused.value.kind == "config"
    assert "SECRET" not in str(refused.value)


def test_the_adapter_checks_the_url_it_opens() -> None:
    agent = AgentConfig(provider="openai_realtime", url="wss://api.openai.com/v1/realtime")
    object.__setattr__(agent, "url", "ws://127.0.0.1:9/v1/realtime")
    adapter = make_adapter(agent, BridgeConfig(), CallContext(1), lambda _e: None)
    with pytest.raises(AdapterError, match="wss://") as refused:
        asyncio.run(adapter.open_socket(agent.url))
    assert refused.value.kind == "config"


@contextlib.contextmanager
def _raw_http_server(reply: bytes) -> Iterator[int]:
    """A loopback TCP server answering every connection with ``reply`` (a fake internal service)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(("reply", "reason"), [
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Accept: internal-SECRET-token\r\n\r\n", "refused: cannot connect to the AI at "),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 22\r\nX-Internal: SECRET\r\n\r\ninternal SECRET body..",
     "rejected: AI server refused the WebSocket: HTTP 403"),
])
def test_what_the_remote_sent_is_not_copied_into_the_reason(reply: bytes, reason: str) -> None:
    # given an agent URL that reaches a service answering with its own headers and body
    controls = RecordingControls()
    with _raw_http_server(reply) as port, media_loop() as loop:
        agent = AgentConfig(provider="twilio_stream", url=f"ws://127.0.0.1:{port}/stream")
        session = BridgeSession(agent, CallContext(5, {}), BridgeConfig(session_timeout_s=2), controls)
        result, _ = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False, timeout=15)
    # then the attempt's reason says what kind of failure it was, and nothing the remote wrote
    assert result.reason.startswith(reason), result.reason
    assert "SECRET" not in result.reason
