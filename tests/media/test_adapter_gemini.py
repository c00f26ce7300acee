"""Gemini Live adapter against an in-test server implementing BidiGenerateContent as documented:
setup/setupComplete, 16 kHz PCM in, 24 kHz PCM out, transcriptions, tool calls, interruption, goAway and
session resumption."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, CallContext
from media.bridge.prompts import CONTACT_DATA_RULES, GREETING_INSTRUCTIONS
from media.bridge.session import BridgeSession
from tests.media.bridge_harness import (
    SILENCE,
    TEST_POLICY,
    WsServer,
    dominant_hz,
    media_loop,
    run_bridged,
    sine,
    wait_for,
)
from tests.media.protocol_check import GEMINI_LIVE

SCHEMA = [{"label": "interested", "description": "Wants more.",
           "fields": [{"name": "email", "type": "string", "required": True}]}]


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_TEST_KEY", "g-key-1")


def _agent(url: str, greeting: str = "") -> AgentConfig:
    return AgentConfig(provider="gemini_live", url=url, api_key_env="GEMINI_TEST_KEY", greeting=greeting,
                       model="gemini-live-2.5-flash-preview", voice="Kore",
                       prompt_template="You call {{name}}.", outcome_schema=SCHEMA, policy=TEST_POLICY)


EXPECTED_SETUP = {
    "model": "models/gemini-live-2.5-flash-preview",
    "generationConfig": {"responseModalities": ["AUDIO"],
                         "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}},
    "systemInstruction": {"parts": [{"text": "You call [contact.name].\n\n" + CONTACT_DATA_RULES
                                              + '\n<contact_data>\n{"name": "Ada"}\n</contact_data>'}]},
    "tools": [{"functionDeclarations": [
        {"name": "record_outcome",
         "description": "Record the outcome of this call as soon as it is known, before ending the call.",
         "parameters": {"type": "OBJECT", "required": ["label"], "properties": {
             "label": {"type": "STRING", "enum": ["interested"], "description": "The outcome. interested: Wants more."},
             "fields": {"type": "OBJECT", "description": "Values recorded with the outcome.", "properties": {
                 "email": {"type": "STRING", "description": "Used with: interested (required)."}}}}}},
        {"name": "end_call", "description": "Hang up after your last sentence (say goodbye first).",
         "parameters": {"type": "OBJECT", "properties": {"reason": {"type": "STRING"}}}},
    ]}],
    "realtimeInputConfig": {"automaticActivityDetection": {"disabled": False},
                            "activityHandling": "START_OF_ACTIVITY_INTERRUPTS"},
    "inputAudioTranscription": {},
    "outputAudioTranscription": {},
    "sessionResumption": {},
    "contextWindowCompression": {"slidingWindow": {}},
}


def _audio_in(server: WsServer, connection: int | None = None) -> list[dict[str, Any]]:
    return [m["realtimeInput"]["audio"] for _, m in server.received.messages if "realtimeInput" in m]


def _pcm24(pcm: bytes) -> dict[str, Any]:
    return {"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(pcm).decode()}}]}}}


async def _read_forever(ws: ServerConnection, server: WsServer) -> None:
    while True:
        await server.read(ws)


def test_setup_audio_rates_transcripts_and_tool_calls() -> None:
    agent_audio = sine(440, 1.0, rate=24000)

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)  # setup
        await server.send(ws, {"setupComplete": {"sessionId": "s1"}})
        while len(_audio_in(server)) < 50:
            await server.read(ws)
        await server.send(ws, {"serverContent": {"inputTranscription": {"text": "Hello"}}})
        await server.send(ws, {"serverContent": {"inputTranscription": {"text": " there", "finished": True}}})
        for i in range(0, len(agent_audio), 9600):  # 200 ms chunks, faster than real time
            await server.send(ws, _pcm24(agent_audio[i:i + 9600]))
        await server.send(ws, {"serverContent": {"outputTranscription": {"text": "Hi Ada, "}}})
        await server.send(ws, {"serverContent": {"outputTranscription": {"text": "this is Acme."}}})
        await server.send(ws, {"serverContent": {"generationComplete": True}})
        await server.send(ws, {"serverContent": {"turnComplete": True},
                               "usageMetadata": {"promptTokenCount": 30, "responseTokenCount": 20,
                                                 "totalTokenCount": 50}})
        await server.send(ws, {"toolCall": {"functionCalls": [
            {"id": "fc-1", "name": "record_outcome", "args": {"label": "interested",
                                                              "fields": {"email": "ada@example.com"}}}]}})
        await _read_forever(ws, server)

    def caller(tick: int) -> bytes:
        return sine(1000, 0.02, dbfs=-15) if tick < 40 else SILENCE

    with WsServer(handler, GEMINI_LIVE) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(40, {"name": "Ada"}))
        result, clock = run_bridged(
            loop, session, caller,
            until=lambda _c: any("toolResponse" in m for _, m in server.received.messages)
            and len(clock_frames(_c)) >= 49 and _c.ticks > clock_frames(_c)[-1][0] + 3)

    # then the key went in the documented header and the setup frame is exactly as expected
    assert {k.lower(): v for k, v in server.received.headers[0].items()}["x-goog-api-key"] == "g-key-1"
    assert server.received.messages[0][1] == {"setup": EXPECTED_SETUP}
    # and caller audio went up as 16 kHz PCM16 (twice the 8 kHz samples), the tone's pitch intact
    chunks = _audio_in(server)
    assert {c["mimeType"] for c in chunks} == {"audio/pcm;rate=16000"}
    sizes = [len(base64.b64decode(c["data"])) for c in chunks[:40]]
    assert sizes[1:] == [640] * 39  # 20 ms at 16 kHz PCM16, one message per caller frame
    up = b"".join(base64.b64decode(c["data"]) for c in chunks[:40])
    sent_samples = 40 * 160
    assert abs(len(up) // 2 - 2 * sent_samples) <= 2 * 160  # soxr's start-up delay is less than a frame
    assert abs(dominant_hz(up[2000:len(up) - 2000], 16000) - 1000) < 5
    # and the 24 kHz agent audio played at 8 kHz: one second, 440 Hz, one frame per tick
    played = clock.agent_frames()
    assert 49 <= len(played) <= 51
    assert [t for t, _, _ in played] == list(range(played[0][0], played[0][0] + len(played)))
    assert abs(dominant_hz(b"".join(f for _, _, f in played), 8000) - 440) < 5
    assert 980 <= result.played_ms <= 1020
    # and both sides are in the transcript, the tool call was answered with its id
    assert [(s["speaker"], s["text"]) for s in result.transcript] == [
        ("caller", "Hello there"), ("agent", "Hi Ada, this is Acme.")]
    agent_segment = result.transcript[1]
    assert agent_segment["start_ms"] == played[0][0] * 20
    assert agent_segment["end_ms"] == (played[-1][0] + 1) * 20
    caller_segment = result.transcript[0]
    assert (caller_segment["start_ms"], caller_segment["end_ms"]) == (0, 800)  # the bridge heard ticks 0-39
    responses = [m["toolResponse"] for _, m in server.received.messages if "toolResponse" in m]
    assert responses == [{"functionResponses": [{"id": "fc-1", "name": "record_outcome",
                                                 "response": {"ok": True, "errors": []}}]}]
    assert (result.outcome, result.outcome_fields) == ("interested", {"email": "ada@example.com"})
    assert result.usage == {"promptTokenCount": 30, "responseTokenCount": 20, "totalTokenCount": 50}


def clock_frames(clock: Any) -> list[Any]:
    """Non-silent frames played so far."""
    return clock.agent_frames()


def test_interrupted_flushes_playout_within_one_frame_and_sends_no_truncate() -> None:
    state: dict[str, int] = {}

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        import time

        await server.read(ws)
        await server.send(ws, {"setupComplete": {}})
        await server.read(ws)
        await server.send(ws, _pcm24(sine(440, 3.0, rate=24000)))
        await asyncio.sleep(0.6)
        state["interrupted_ns"] = time.perf_counter_ns()
        await server.send(ws, {"serverContent": {"interrupted": True}})
        await server.send(ws, {"serverContent": {"turnComplete": True}})
        await _read_forever(ws, server)

    with WsServer(handler, GEMINI_LIVE) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(41, {"name": "Ada"}))
        result, clock = run_bridged(loop, session, until=lambda _c: "interrupted_ns" in state and _c.ticks > 80)

    after = [f for _, t, f in clock.pulled if t > state["interrupted_ns"]]
    cut = after.index(SILENCE)
    assert cut <= 2  # media ticks after the server sent `interrupted`: within one frame plus delivery
    assert all(f == SILENCE for f in after[cut:])
    played = len(clock.agent_frames())
    assert 25 <= played <= 35  # about 0.6 s of the 3 s reply
    assert {next(iter(m)) for _, m in server.received.messages[1:]} == {"realtimeInput"}
    assert result.played_ms == played * 20


def test_a_note_from_the_call_goes_as_a_complete_client_turn() -> None:
    # given a Gemini Live session that is up
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        await server.send(ws, {"setupComplete": {}})
        await _read_forever(ws, server)

    note = "Note from the phone system: the transfer to Sales did not work: nobody answered in time."
    with WsServer(handler, GEMINI_LIVE) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(44, {"name": "Ada"}))
        told: list[bool] = []

        def told_and_sent(_clock: Any) -> bool:
            if session.streaming and not told:  # when the call tells the agent (a transfer failed)
                told.append(True)
                loop.loop.call_soon_threadsafe(session.tell_agent, note)
            return any("clientContent" in m for _, m in server.received.messages)

        run_bridged(loop, session, until=told_and_sent)

    # then it arrives as one user turn that completes (checked against google-genai's types): the model answers
    [turn] = [m["clientContent"] for _, m in server.received.messages if "clientContent" in m]
    assert turn == {"turns": [{"role": "user", "parts": [{"text": note}]}], "turnComplete": True}


def test_go_away_resumes_the_session_on_a_new_connection_with_the_last_handle() -> None:
    reply = sine(440, 0.4, rate=24000)

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        setup = await server.read(ws)
        await server.send(ws, {"setupComplete": {}})
        if server.connections == 1:
            await server.send(ws, {"sessionResumptionUpdate": {"newHandle": "h-1", "resumable": True}})
            await server.read(ws)
            await server.send(ws, {"sessionResumptionUpdate": {"newHandle": "h-2", "resumable": True}})
            await server.read(ws)
            await server.send(ws, {"goAway": {"timeLeft": "5s"}})
            await _read_forever(ws, server)
        else:
            assert setup["setup"]["sessionResumption"] == {"handle": "h-2"}
            await server.read(ws)
            await server.send(ws, _pcm24(reply))
            await server.send(ws, {"serverContent": {"turnComplete": True}})
            await _read_forever(ws, server)

    with WsServer(handler, GEMINI_LIVE) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting="Hello {{name}}"), CallContext(42, {"name": "Ada"}))
        result, _ = run_bridged(loop, session, until=lambda c: len(c.agent_frames()) >= 19
                                    and c.ticks > c.agent_frames()[-1][0] + 3)
        assert wait_for(lambda: server.connections == 2)

    setups = [m["setup"] for _, m in server.received.messages if "setup" in m]
    assert len(setups) == 2
    assert setups[1] == {**EXPECTED_SETUP, "sessionResumption": {"handle": "h-2"}}
    assert result.disposition is None
    assert 380 <= result.played_ms <= 420
    # the greeting was asked for once, on the first connection only
    assert [m["clientContent"] for _, m in server.received.messages if "clientContent" in m] == [
        {"turns": [{"role": "user",
                    "parts": [{"text": GREETING_INSTRUCTIONS + '\n<greeting_text>\n"Hello Ada"\n</greeting_text>'}]}],
         "turnComplete": True}]
    # the resumed connection carries the caller's audio
    assert np.sum([1 for _, m in server.received.messages if "realtimeInput" in m]) > 5


def test_unknown_messages_and_bad_audio_fail_the_call_as_bad_events() -> None:
    from tests.media.bridge_harness import RecordingControls

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        await server.send(ws, {"setupComplete": {}})
        for message in ({"surprise": True}, {"serverContent": "nope"},
                        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                            "mimeType": "audio/pcm;rate=24000", "data": "%%%"}}]}}}):
            await server.send_malformed(ws, json.dumps(message))
        await _read_forever(ws, server)

    with WsServer(handler, GEMINI_LIVE) as server, media_loop() as loop:
        controls = RecordingControls()
        session = BridgeSession(_agent(server.url), CallContext(43, {"name": "Ada"}), controls=controls)
        result, _ = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False, timeout=15)

    assert result.disposition == "ai_error"
    assert result.reason == "bad_events: AI sent malformed events (inlineData.data is not base64)"
