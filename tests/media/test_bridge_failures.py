"""AI failures: refused, slow, dropped mid-call, bad events. The caller hears the fallback message, the call
ends as ai_error with the reason, the transcript so far is kept, and other calls on the same loop go on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from media.speech.tts import Voice, synthesize
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    SILENCE,
    TEST_POLICY,
    Clock,
    RecordingControls,
    WsServer,
    free_port,
    media_loop,
    rms,
    run_bridged,
    sine,
    ulaw_b64,
    wait_for,
)
from tests.media.protocol_check import OPENAI_REALTIME

FALLBACK = "Sorry {{first_name}}, we will call you back."
CONFIG = BridgeConfig(session_timeout_s=0.5)


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _agent(url: str) -> AgentConfig:
    return AgentConfig(provider="openai_realtime", url=url, fallback_message=FALLBACK, policy=TEST_POLICY)


def _expected_fallback() -> bytes:
    audio = synthesize("Sorry Ada, we will call you back.", 8000, Voice(name="en-us"))
    return audio + bytes(-len(audio) % 320)


def _run_failing(url: str) -> tuple[Any, Clock, RecordingControls]:
    controls = RecordingControls()
    with media_loop() as loop:
        session = BridgeSession(_agent(url), CallContext(30, {"first_name": "Ada"}), CONFIG, controls)
        result, clock = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False,
                                    timeout=15)
    return result, clock, controls


def _assert_fallback_then_hangup(result: Any, clock: Clock, controls: RecordingControls, kind: str) -> None:
    assert result.disposition == "ai_error"
    assert result.reason.startswith(f"{kind}: "), result.reason
    assert result.ended_by == "ai_error"
    # the caller heard the whole fallback message, then the call was hung up
    played = b"".join(frame for _, _, frame in clock.pulled if frame != SILENCE)
    # (a text rendered from the contact's variables is synthesised afresh, not cached (F21), and eSpeak NG varies
    # its samples from one rendering to the next: the same text gives the same length and a similar level)
    expected = _expected_fallback()
    assert len(played) == len(expected)
    assert abs(rms(played) - rms(expected)) < 0.2 * rms(expected)
    last_played_ns = max(t for _, t, frame in clock.pulled if frame != SILENCE)
    assert len(controls.hangups) == 1
    assert controls.hangups[0][0] >= last_played_ns
    assert controls.hangups[0][1] == f"AI failure: {result.reason.split(': ', 1)[1]}"
    assert result.finish_fields()["disposition"] == "ai_error"


async def _open_session(ws: ServerConnection, server: WsServer) -> None:
    await server.send(ws, ev.session_created())
    update = await server.read(ws)
    await server.send(ws, ev.session_updated(update["session"]))


async def _read_forever(ws: ServerConnection, server: WsServer) -> None:
    while True:
        await server.read(ws)


def _ga_server(after_session: Callable[[ServerConnection, WsServer], Awaitable[None]]) -> Any:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await after_session(ws, server)

    return handler


def test_connection_refused() -> None:
    url = f"ws://127.0.0.1:{free_port()}/v1/realtime"  # nothing listens there
    result, clock, controls = _run_failing(url)
    _assert_fallback_then_hangup(result, clock, controls, "refused")


def test_no_session_within_the_configured_time() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        await _read_forever(ws, server)  # session.update, never answered

    with WsServer(handler, OPENAI_REALTIME) as server:
        started = time.monotonic()
        result, clock, controls = _run_failing(server.url)
    _assert_fallback_then_hangup(result, clock, controls, "timeout")
    assert result.reason == "timeout: no AI session within 0.5 s"
    assert started + 0.5 <= time.monotonic()


def test_dropped_mid_call_keeps_the_transcript_so_far() -> None:
    async def after_session(ws: ServerConnection, server: WsServer) -> None:
        for _ in range(10):
            await server.read(ws)
        for event in (
            ev.speech_started(40, "u1"),
            ev.speech_stopped(160, "u1"),
            ev.transcription_completed("u1", "Yes, speaking."),
        ):
            await server.send(ws, event)
        await asyncio.sleep(0.1)
        await ws.close(code=1011, reason="internal error")

    with WsServer(_ga_server(after_session), OPENAI_REALTIME) as server:
        result, clock, controls = _run_failing(server.url)
    _assert_fallback_then_hangup(result, clock, controls, "dropped")
    assert "code 1011" in result.reason
    assert result.transcript == [{"speaker": "caller", "text": "Yes, speaking.", "start_ms": 40, "end_ms": 160}]
    assert result.results()["transcript"] == result.transcript


def test_bad_events() -> None:
    async def after_session(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        for garbage in ("not json", "[1, 2]", json.dumps(ev.audio_delta("a1", "%%%"))):
            await server.send_malformed(ws, garbage)
        await _read_forever(ws, server)

    with WsServer(_ga_server(after_session), OPENAI_REALTIME) as server:
        result, clock, controls = _run_failing(server.url)
    _assert_fallback_then_hangup(result, clock, controls, "bad_events")


def test_session_rejected_with_an_error_event() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        await server.read(ws)
        await server.send(ws, ev.error("unknown_parameter", "Unknown parameter: 'session.audio'."))
        await _read_forever(ws, server)

    with WsServer(handler, OPENAI_REALTIME) as server:
        result, clock, controls = _run_failing(server.url)
    _assert_fallback_then_hangup(result, clock, controls, "rejected")
    assert "unknown_parameter" in result.reason


def test_missing_api_key_is_an_ai_error_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    result, clock, controls = _run_failing(f"ws://127.0.0.1:{free_port()}/v1/realtime")
    _assert_fallback_then_hangup(result, clock, controls, "config")
    assert "OPENAI_API_KEY" in result.reason


def test_one_call_failing_leaves_the_other_calls_of_the_loop_alone() -> None:
    reply = sine(440, 0.4)

    async def dropping(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await server.read(ws)
        await ws.close(code=1011)

    async def healthy(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        for _ in range(25):
            await server.read(ws)
        await server.send(ws, ev.audio_delta("a", ulaw_b64(reply)))
        await _read_forever(ws, server)

    with (WsServer(dropping, OPENAI_REALTIME) as bad_server, WsServer(healthy, OPENAI_REALTIME) as good_server,
          media_loop() as loop):
        bad_controls, good_controls = RecordingControls(), RecordingControls()
        bad = BridgeSession(_agent(bad_server.url), CallContext(31, {"first_name": "Ada"}), CONFIG, bad_controls)
        good = BridgeSession(_agent(good_server.url), CallContext(32, {}), CONFIG, good_controls)
        bad_clock, good_clock = Clock(bad).start(), Clock(good).start()
        bad_future, good_future = loop.submit(bad), loop.submit(good)
        try:
            assert wait_for(bad_controls.hung_up.is_set, 15)
            bad_result = bad_future.result(5)
            # the healthy call is still running and still playing its agent's audio
            assert not good_future.done()
            assert wait_for(lambda: len(good_clock.agent_frames()) >= 20, 5)
            frames_before = len([m for m in good_server.received.messages
                                 if m[1].get("type") == "input_audio_buffer.append"])
            time.sleep(0.2)
            frames_after = len([m for m in good_server.received.messages
                                if m[1].get("type") == "input_audio_buffer.append"])
            good.request_stop("caller hung up")
            good_result = good_future.result(5)
        finally:
            bad_clock.stop()
            good_clock.stop()

    assert bad_result.disposition == "ai_error"
    assert frames_after >= frames_before + 5  # caller audio kept flowing to the healthy agent
    assert good_result.disposition is None
    assert good_result.played_ms == 400
    assert good_controls.hangups == []


def test_error_events_mid_call_are_not_failures() -> None:
    # The Realtime API keeps the socket open after an `error` event (e.g. a cancel with no active response).
    reply = sine(440, 0.2)

    async def after_session(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        await server.send(ws, ev.error("response_cancel_not_active", "no active response"))
        await server.send(ws, ev.audio_delta("a", ulaw_b64(reply)))
        await _read_forever(ws, server)

    with WsServer(_ga_server(after_session), OPENAI_REALTIME) as server, media_loop() as loop:
        controls = RecordingControls()
        session = BridgeSession(_agent(server.url), CallContext(33, {}), CONFIG, controls)
        result, clock = run_bridged(loop, session, until=lambda c: len(c.agent_frames()) >= 10)

    assert result.disposition is None
    assert result.played_ms == 200
    assert controls.hangups == []
    assert len(clock.agent_frames()) == 10


def test_a_fallback_rendered_with_the_contacts_name_is_not_cached() -> None:
    # given an empty synthesis cache
    from media.speech import tts

    tts.cache().clear()
    # when a call fails and the fallback "Sorry {{first_name}}, ..." is spoken for Ada
    url = f"ws://127.0.0.1:{free_port()}/v1/realtime"
    result, _, _ = _run_failing(url)
    # then the rendered text was spoken but not kept (F21: unique per contact)
    assert result.disposition == "ai_error"
    assert tts.cache().get(("Sorry Ada, we will call you back.", 8000, Voice(name="en-us"), False)) is None
