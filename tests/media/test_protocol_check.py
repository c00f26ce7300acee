"""The scripted servers' protocol checks can fail: a broken event, in either direction and in each of the three
protocols, makes `WsServer` raise; so does a failed assert inside a scripted handler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.sync.client import connect

from media.bridge.config import AgentConfig, CallContext
from media.bridge.session import BridgeSession
from tests.media import realtime_events as ev
from tests.media.bridge_harness import TEST_POLICY, RecordingControls, WsServer, media_loop, run_bridged
from tests.media.protocol_check import (
    GEMINI_LIVE,
    OPENAI_REALTIME,
    TWILIO_MEDIA_STREAMS,
    Protocol,
    ProtocolViolation,
    openai_client_event,
    openai_server_event,
)

SID = "MZ" + "0123456789abcdef" * 2
ACCOUNT = "AC" + "0" * 32
CALL = "CA" + "1" * 32


def _without(message: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != key}


def _twilio_start() -> dict[str, Any]:
    return {"event": "start", "sequenceNumber": "1", "streamSid": SID,
            "start": {"streamSid": SID, "accountSid": ACCOUNT, "callSid": CALL, "tracks": ["inbound"],
                      "customParameters": {"first_name": "Ada"},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}


# (protocol, a valid server message, the same broken, what the violation names)
SERVER_CASES = [
    pytest.param(OPENAI_REALTIME, ev.audio_delta("a1", "AAAA"), _without(ev.audio_delta("a1", "AAAA"), "response_id"),
                 "response_id", id="openai-missing-response_id"),
    pytest.param(OPENAI_REALTIME, ev.session_updated(), _without(ev.session_updated(), "event_id"), "event_id",
                 id="openai-missing-event_id"),
    pytest.param(GEMINI_LIVE, {"serverContent": {"turnComplete": True}}, {"serverContent": {"turn_complete": True}},
                 "turn_complete", id="gemini-snake-case-field"),
    pytest.param(TWILIO_MEDIA_STREAMS, {"event": "media", "streamSid": SID, "media": {"payload": "AAAA"}},
                 {"event": "media", "streamSid": SID}, "media", id="twilio-media-without-media"),
]
# (protocol, a valid client message, the same broken, what the violation names)
CLIENT_CASES = [
    pytest.param(OPENAI_REALTIME, {"type": "input_audio_buffer.append", "audio": "AAAA"},
                 {"type": "input_audio_buffer.append"}, "audio", id="openai-append-without-audio"),
    pytest.param(GEMINI_LIVE, {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "AAAA"}}},
                 {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "%%%"}}}, "base64",
                 id="gemini-audio-not-base64"),
    pytest.param(TWILIO_MEDIA_STREAMS, _twilio_start(),
                 {**_twilio_start(), "start": _without(_twilio_start()["start"], "callSid")}, "callSid",
                 id="twilio-start-without-callSid"),
]


def _serve_one(protocol: Protocol, message: dict[str, Any]) -> None:
    """A scripted server sends ``message``; a plain client connects, takes it and leaves."""

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, message)
        await server.read(ws)  # until the client leaves

    with WsServer(handler, protocol) as server, connect(server.url) as client:
        client.recv(timeout=5)


def _read_one(protocol: Protocol, message: dict[str, Any]) -> WsServer:
    """A plain client sends ``message`` to a scripted server that reads it."""

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)

    with WsServer(handler, protocol) as server, connect(server.url) as client:
        client.send(json.dumps(message))
    return server


@pytest.mark.parametrize(("protocol", "valid", "broken", "field"), SERVER_CASES)
def test_a_broken_scripted_event_makes_the_harness_raise(protocol: Protocol, valid: dict[str, Any],
                                                         broken: dict[str, Any], field: str) -> None:
    _serve_one(protocol, valid)  # the same event, whole, goes through
    with pytest.raises(ProtocolViolation, match=field):
        _serve_one(protocol, broken)


@pytest.mark.parametrize(("protocol", "valid", "broken", "field"), CLIENT_CASES)
def test_a_broken_message_from_the_adapter_makes_the_harness_raise(protocol: Protocol, valid: dict[str, Any],
                                                                   broken: dict[str, Any], field: str) -> None:
    assert _read_one(protocol, valid).received.messages[0][1] == valid
    with pytest.raises(ProtocolViolation, match=field):
        _read_one(protocol, broken)


def _bridged_call(handler: Any) -> None:
    """One call through the real OpenAI adapter to a scripted server, until the bridge hangs up."""
    controls = RecordingControls()
    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        agent = AgentConfig(provider="openai_realtime", url=server.url, policy=TEST_POLICY)
        session = BridgeSession(agent, CallContext(90, {}), controls=controls)
        run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False, timeout=15)


def test_a_broken_session_event_fails_a_bridged_call_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a scripted OpenAI server whose session.updated lacks its event_id, talking to the real adapter
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        update = await server.read(ws)
        await server.send(ws, _without(ev.session_updated(update["session"]), "event_id"))

    # then the test fails with the violation, whatever the call did meanwhile
    with pytest.raises(ProtocolViolation, match="event_id"):
        _bridged_call(handler)


def test_an_assert_inside_a_scripted_handler_fails_the_test() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        message = await server.read(ws)
        assert message["type"] == "session.update", "the scripted server's own check"

    with (pytest.raises(AssertionError, match="the scripted server's own check"),
          WsServer(handler, OPENAI_REALTIME) as server, connect(server.url) as client):
        client.send(json.dumps({"type": "response.create"}))


def test_the_client_leaving_is_not_a_handler_error() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        while True:
            await server.read(ws)  # raises ConnectionClosed when the client leaves: the normal end

    with WsServer(handler, OPENAI_REALTIME) as server, connect(server.url) as client:
        client.send(json.dumps({"type": "response.create"}))
    assert server.errors == []  # and leaving the block raised nothing


def test_send_malformed_refuses_a_valid_message() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send_malformed(ws, json.dumps(ev.session_created()))

    with (pytest.raises(AssertionError, match="not malformed"),
          WsServer(handler, OPENAI_REALTIME) as server, connect(server.url) as client):
        client.recv(timeout=5)


def test_openai_fields_the_sdk_does_not_define_are_violations() -> None:
    # The SDK's models accept unknown fields silently; the check does not.
    with pytest.raises(ProtocolViolation, match=r"\$\.error\.hint"):
        openai_server_event(json.dumps({**ev.error("x", "y"), "error": {"type": "t", "message": "m", "hint": 1}}))
    with pytest.raises(ProtocolViolation, match=r"\$\.session\.voice"):
        openai_client_event(json.dumps({"type": "session.update", "session": {"type": "realtime", "voice": "x"}}))
    # and the server's own session fields (typed by the SDK's RealtimeSessionCreateResponse) are not unknown
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1", "expires_at": 0}
    openai_server_event(json.dumps(ev.session_created(session)))
    with pytest.raises(ProtocolViolation, match="object"):
        openai_server_event(json.dumps(ev.session_created({**session, "object": "realtime.thing"})))


def test_openai_audio_must_be_base64() -> None:
    with pytest.raises(ProtocolViolation, match="delta is not base64"):
        openai_server_event(json.dumps(ev.audio_delta("a1", "%%%")))
    with pytest.raises(ProtocolViolation, match="audio is not base64"):
        openai_client_event(json.dumps({"type": "input_audio_buffer.append", "audio": "not base64!"}))
