"""OpenAI Realtime (GA) adapter against an in-test WebSocket server speaking the GA protocol."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.prompts import CONTACT_DATA_RULES, GREETING_INSTRUCTIONS, OPEN_CALL_INSTRUCTIONS
from media.bridge.session import BridgeSession
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    FRAME,
    SILENCE,
    TEST_POLICY,
    RecordingControls,
    WsServer,
    media_loop,
    rms,
    run_bridged,
    sine,
    ulaw_b64,
    ulaw_b64_to_pcm,
    wait_for,
)
from tests.media.protocol_check import OPENAI_REALTIME

SCHEMA = [
    {"label": "callback", "description": "Wants a call back.",
     "fields": [{"name": "when", "type": "date", "required": True}, {"name": "attempts", "type": "integer"}]},
    {"label": "not_interested", "description": "Declined.", "fields": []},
]


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_REALTIME_KEY", "sk-test-123")


def _agent(url: str, **overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "provider": "openai_realtime", "url": url, "api_key_env": "ACME_REALTIME_KEY", "model": "gpt-realtime",
        "voice": "cedar", "prompt_template": "Call {{first_name}} about {{ product }}.",
        "greeting": "Hi {{first_name}}!", "outcome_schema": SCHEMA,
    }
    values.update(overrides)
    return AgentConfig(**values, policy=TEST_POLICY)


async def _open_session(ws: ServerConnection, server: WsServer) -> dict[str, Any]:
    await server.send(ws, ev.session_created())
    update = await server.read(ws)
    await server.send(ws, ev.session_updated(update["session"]))
    return update


async def _read_forever(ws: ServerConnection, server: WsServer) -> None:
    while True:
        await server.read(ws)


def _appends(server: WsServer) -> list[dict[str, Any]]:
    return server.received.of("type", "input_audio_buffer.append")


def _caller_sine(tick: int) -> bytes:
    # A different tone each tick, so the order of frames can be checked.
    return sine(300 + 7 * (tick % 100), 0.02)


EXPECTED_SESSION = {
    "type": "realtime",
    "instructions": (
        "Call [contact.first_name] about [contact.product].\n\n" + CONTACT_DATA_RULES
        + '\n<contact_data>\n{"first_name": "Ada", "product": "solar panels"}\n</contact_data>'
    ),
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                               "silence_duration_ms": 500, "create_response": True, "interrupt_response": True},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "cedar"},
    },
    "tools": [
        {"type": "function", "name": "record_outcome",
         "description": "Record the outcome of this call as soon as it is known, before ending the call.",
         "parameters": {
             "type": "object",
             "properties": {
                 "label": {"type": "string", "enum": ["callback", "not_interested"],
                           "description": "The outcome. callback: Wants a call back.; not_interested: Declined."},
                 "fields": {"type": "object", "additionalProperties": False,
                            "description": "Values recorded with the outcome.",
                            "properties": {
                                "when": {"type": "string", "format": "date",
                                         "description": "Used with: callback (required)."},
                                "attempts": {"type": "integer", "description": "Used with: callback."},
                            }},
             },
             "required": ["label"],
             "additionalProperties": False,
         }},
        {"type": "function", "name": "end_call", "description": "Hang up after your last sentence (say goodbye first).",
         "parameters": {"type": "object", "properties": {"reason": {"type": "string"}},
                        "additionalProperties": False}},
    ],
    "tool_choice": "auto",
}


def test_session_update_is_ga_shaped_and_caller_audio_goes_as_pcmu_frames() -> None:
    # given a GA server and a profile naming its key variable (ACME_REALTIME_KEY, set by the fixture)

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await _read_forever(ws, server)

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(7, {"first_name": "Ada", "product": "solar panels"}))
        # when the call runs for 30 frames
        _, clock = run_bridged(loop, session, _caller_sine, until=lambda _c: len(_appends(server)) >= 30)

    # then the connection is GA: model in the query, bearer key from the named variable, no beta header
    assert server.received.paths[0] == "/v1/realtime?model=gpt-realtime"
    headers = {k.lower(): v for k, v in server.received.headers[0].items()}
    assert headers["authorization"] == "Bearer sk-test-123"
    assert "openai-beta" not in headers
    # and the first message is exactly the expected session.update, then the greeting
    first = server.received.messages[0][1]
    assert first == {"type": "session.update", "session": EXPECTED_SESSION}
    assert server.received.messages[1][1] == {
        "type": "response.create",
        "response": {"instructions": GREETING_INSTRUCTIONS + '\n<greeting_text>\n"Hi Ada!"\n</greeting_text>'}}
    # and every caller frame went out once, in order, as 160 bytes of mu-law (8 kHz, 20 ms, no resampling)
    sent = [ulaw_b64_to_pcm(m["audio"]) for m in _appends(server)]
    assert all(len(ulaw) == FRAME for ulaw in sent)
    from media.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16

    expected = [ulaw_to_pcm16(pcm16_to_ulaw(_caller_sine(tick))) for tick, _ in clock.pushed[: len(sent)]]
    assert sent == expected


@pytest.mark.parametrize(("greeting", "open_call", "expected"), [
    ("", True, {"type": "response.create", "response": {"instructions": OPEN_CALL_INSTRUCTIONS}}),
    ("", False, None),
    ("Hi!", True, {"type": "response.create",
                   "response": {"instructions": GREETING_INSTRUCTIONS + '\n<greeting_text>\n"Hi!"\n</greeting_text>'}}),
])
def test_agent_opens_the_call_when_the_callee_already_spoke(greeting: str, open_call: bool,
                                                             expected: dict[str, Any] | None) -> None:
    # given an agent with or without a greeting, after AMD heard the callee (open_call) or not
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await _read_forever(ws, server)

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=greeting, open_call=open_call), CallContext(7, {}))
        # when the call runs for 10 frames
        run_bridged(loop, session, lambda _tick: SILENCE, until=lambda _c: len(_appends(server)) >= 10)

    # then the model is asked to speak first exactly when it has a greeting or the callee's words are spent
    creates = [m for _, m in server.received.messages if m.get("type") == "response.create"]
    assert creates == ([expected] if expected else [])


def test_agent_audio_sent_in_a_burst_is_paced_one_frame_per_tick_and_recorded(tmp_path: Path) -> None:
    # given a server that sends one second of agent audio in a single burst of five deltas
    agent_pcm = sine(440, 1.0)
    ulaw_chunks = [ulaw_b64(agent_pcm[i:i + 3200]) for i in range(0, len(agent_pcm), 3200)]

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await server.read(ws)  # the greeting request
        await server.read(ws)  # first caller frame
        for chunk in ulaw_chunks:
            await server.send(ws, ev.audio_delta("item_1", chunk))
        await server.send(ws, ev.audio_done("item_1"))
        await server.send(ws, ev.audio_transcript_done("item_1", "Hello there."))
        await _read_forever(ws, server)

    def caller(tick: int) -> bytes:
        return sine(700, 0.02, dbfs=-20) if 3 <= tick < 8 else SILENCE

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        config = BridgeConfig(recordings_root=tmp_path)
        session = BridgeSession(_agent(server.url, greeting="Hello"), CallContext(8, {}), config)
        result, clock = run_bridged(loop, session, caller, until=lambda c: len(c.agent_frames()) >= 50
                                    and c.ticks > c.agent_frames()[-1][0] + 5)

    # then exactly 50 frames of agent audio were played, one per tick, in consecutive ticks
    played = clock.agent_frames()
    ticks = [tick for tick, _, _ in played]
    assert len(played) == 50, result.reason
    assert ticks == list(range(ticks[0], ticks[0] + 50))
    # and their content is the model's audio, mu-law decoded (no resampling)
    expected = b"".join(ulaw_b64_to_pcm(c) for c in ulaw_chunks)
    assert b"".join(frame for _, _, frame in played) == expected
    assert result.played_ms == 1000
    # and the transcript segment of the agent spans the ticks it was played in
    assert result.transcript == [{"speaker": "agent", "text": "Hello there.", "start_ms": ticks[0] * 20,
                                  "end_ms": (ticks[-1] + 1) * 20}]
    # and the recording is stereo 8 kHz: caller left, agent right, on the same clock
    with wave.open(str(tmp_path / result.recording), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    voiced_left = np.flatnonzero(np.abs(left) > 0)
    assert voiced_left[0] // 160 == 3
    assert voiced_left[-1] // 160 == 7
    assert np.array_equal(right[ticks[0] * 160:(ticks[-1] + 1) * 160],
                          np.frombuffer(expected, dtype="<i2"))
    assert not right[: ticks[0] * 160].any()


def test_caller_and_agent_turns_give_timed_transcript_latency_and_summed_usage() -> None:
    # given a caller who speaks in ticks 10-34 and a server that reports it, then answers
    agent_pcm = sine(500, 0.4)

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        while len(_appends(server)) < 60:
            await server.read(ws)
        for event in (
            ev.speech_started(200, "u1"),
            ev.speech_stopped(700, "u1"),
            ev.transcription_completed("u1", "Hello, who is this?", input_tokens=7, output_tokens=2),
            ev.audio_delta("a1", ulaw_b64(agent_pcm)),
            ev.audio_done("a1"),
            ev.audio_transcript_done("a1", "It's Acme."),
            ev.response_done({"total_tokens": 100, "input_tokens": 60, "output_tokens": 40,
                              "input_token_details": {"audio_tokens": 50, "text_tokens": 10}}),
            ev.response_done({"total_tokens": 10, "input_tokens": 6, "output_tokens": 4,
                              "input_token_details": {"audio_tokens": 5, "text_tokens": 1}}, response_id="resp_2"),
        ):
            await server.send(ws, event)
        await _read_forever(ws, server)

    def caller(tick: int) -> bytes:
        return sine(300, 0.02, dbfs=-15) if 10 <= tick < 35 else SILENCE

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(9, {}))
        result, clock = run_bridged(loop, session, caller, until=lambda c: len(c.agent_frames()) >= 20
                                    and c.ticks > c.agent_frames()[-1][0] + 3)

    first_agent_tick = clock.agent_frames()[0][0]
    last_agent_tick = clock.agent_frames()[-1][0]
    # then the caller segment is on the call clock (input audio started at tick 0) and the agent's is where played
    assert result.transcript == [
        {"speaker": "caller", "text": "Hello, who is this?", "start_ms": 200, "end_ms": 700},
        {"speaker": "agent", "text": "It's Acme.", "start_ms": first_agent_tick * 20,
         "end_ms": (last_agent_tick + 1) * 20},
    ]
    # and the first-response latency runs from the end of caller speech (tick 35) to the first agent frame
    assert result.first_response_ms == [(first_agent_tick - 35) * 20]
    # and usage is summed per key, transcription usage kept apart
    assert result.usage == {"total_tokens": 110, "input_tokens": 66, "output_tokens": 44,
                            "input_token_details": {"audio_tokens": 55, "text_tokens": 11},
                            "transcription": {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}}


def _tool_server(calls: list[dict[str, Any]]) -> Any:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await server.read(ws)
        for call in calls:
            await server.send(ws, ev.function_call_done(**call))
            await asyncio.sleep(0.05)
        await _read_forever(ws, server)

    return handler


def _outputs(server: WsServer) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _, message in server.received.messages:
        if message.get("type") == "conversation.item.create":
            item = message["item"]
            assert item["type"] == "function_call_output"
            out.append((item["call_id"], json.loads(item["output"])))
        elif message.get("type") == "response.create" and "response" not in message:
            out.append(("response.create", {}))
    return out


def test_valid_outcome_is_recorded_and_end_call_hangs_up_without_a_new_response() -> None:
    # given a model that records a valid outcome, then ends the call
    calls = [
        {"call_id": "c1", "name": "record_outcome",
         "arguments": json.dumps({"label": "callback", "fields": {"when": "2026-12-01", "attempts": 2}})},
        {"call_id": "c2", "name": "end_call", "arguments": json.dumps({"reason": "done"})},
    ]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        controls = RecordingControls()
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(10, {}),
                                BridgeConfig(end_call_grace_ms=100), controls)
        result, _ = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False)

    # then the outcome is valid, the model was answered (and asked to go on only after record_outcome)
    assert (result.outcome, result.outcome_fields, result.outcome_error) == (
        "callback", {"when": "2026-12-01", "attempts": 2}, "")
    assert _outputs(server) == [("c1", {"ok": True, "errors": []}), ("response.create", {}), ("c2", {"ok": True})]
    # and the bridge hung up itself, as the agent asked
    assert [reason for _, reason in controls.hangups] == ["done"]
    assert result.ended_by == "agent"
    assert result.disposition is None
    assert result.results()["outcome"] == "callback"


def test_invalid_outcome_is_kept_for_review_and_not_stored_as_its_label() -> None:
    calls = [{"call_id": "c1", "name": "record_outcome",
              "arguments": json.dumps({"label": "callback", "fields": {"when": "tomorrow", "colour": "red"}})}]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(11, {}))
        result, _ = run_bridged(loop, session, until=lambda _c: len(_outputs(server)) >= 2)

    # (F13: a label with fields that do not fit is no "callback": reports and call-back rules never see it)
    assert result.outcome == ""
    assert result.outcome_fields == {"invalid_label": "callback",
                                     "invalid_fields": {"when": "tomorrow", "colour": "red"}}
    assert result.outcome_error == "unknown field 'colour'; field 'when': expected an ISO date, got 'tomorrow'"
    assert _outputs(server)[0] == ("c1", {"ok": False, "errors": result.outcome_error.split("; ")})
    assert result.results()["outcome_error"] == result.outcome_error
    assert result.results()["outcome"] == ""


def test_a_label_outside_the_schema_is_flagged_and_never_replaces_a_valid_outcome() -> None:
    # given a model that records a valid outcome, then one with a label the schema does not have
    calls = [{"call_id": "c1", "name": "record_outcome", "arguments": json.dumps({"label": "not_interested"})},
             {"call_id": "c2", "name": "record_outcome", "arguments": json.dumps({"label": "interested"})}]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(16, {}))
        result, _ = run_bridged(loop, session, until=lambda _c: "c2" in dict(_outputs(server)))

    # then the model is told the label is unknown, and the valid outcome stays
    assert dict(_outputs(server))["c2"] == {"ok": False, "errors": ["unknown outcome label 'interested'"]}
    assert (result.outcome, result.outcome_fields, result.outcome_error) == ("not_interested", {}, "")


def test_a_label_outside_the_schema_alone_is_kept_blank_with_the_error() -> None:
    calls = [{"call_id": "c1", "name": "record_outcome", "arguments": json.dumps({"label": "interested"})}]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(17, {}))
        result, _ = run_bridged(loop, session, until=lambda _c: len(_outputs(server)) >= 1)

    assert result.results()["outcome"] == ""
    assert result.outcome_fields == {"invalid_label": "interested", "invalid_fields": {}}
    assert result.outcome_error == "unknown outcome label 'interested'"


def test_outcome_arguments_that_are_not_json_are_kept_as_text() -> None:
    calls = [{"call_id": "c1", "name": "record_outcome", "arguments": "{label: callback"}]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(12, {}))
        result, _ = run_bridged(loop, session, until=lambda _c: len(_outputs(server)) >= 1)

    assert result.outcome == ""
    assert result.outcome_fields == {"raw_arguments": "{label: callback"}
    assert result.outcome_error == "record_outcome arguments are not a JSON object"


def test_transfer_is_asked_of_the_call_when_available() -> None:
    calls = [{"call_id": "t1", "name": "transfer_call", "arguments": json.dumps({"reason": "wants a human"})}]
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        controls = RecordingControls(transfer_ok=True)
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(13, {}),
                                BridgeConfig(transfer_available=True), controls)
        result, _ = run_bridged(loop, session, until=lambda _c: len(_outputs(server)) >= 1)

    assert controls.transfers == ["wants a human"]
    assert result.transfer_requested is True
    assert _outputs(server) == [("t1", {"ok": True})]


def _system_note_then_response(server: WsServer) -> int | None:
    """Index of the system message item when a ``response.create`` followed it, else None."""
    messages = [m for _, m in server.received.messages]
    notes = [i for i, m in enumerate(messages)
             if m.get("type") == "conversation.item.create" and m["item"].get("role") == "system"]
    if notes and any(m.get("type") == "response.create" for m in messages[notes[0] + 1:]):
        return notes[0]
    return None


def test_a_failed_transfer_is_told_to_the_model_as_a_system_message_and_it_answers() -> None:
    # given a call whose agent asked for a transfer (started)
    calls = [{"call_id": "t1", "name": "transfer_call", "arguments": json.dumps({"reason": "wants a human"})}]
    note = "Note from the phone system: the transfer to Sales did not work: the line was busy."
    with WsServer(_tool_server(calls), OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(18, {}),
                                BridgeConfig(transfer_available=True), RecordingControls(transfer_ok=True))
        told: list[bool] = []

        def told_and_answered(_clock: Any) -> bool:
            started = any(m.get("type") == "conversation.item.create" and m["item"]["type"] == "function_call_output"
                          for _, m in server.received.messages)
            if started and not told:  # the transfer started; now it fails and the call tells the agent
                told.append(True)
                loop.loop.call_soon_threadsafe(session.tell_agent, note)
            return _system_note_then_response(server) is not None

        run_bridged(loop, session, until=told_and_answered)

    # then the model got a system message (checked against the SDK's event types) and was asked to answer
    at = _system_note_then_response(server)
    assert at is not None, [m for _, m in server.received.messages]
    assert server.received.messages[at][1]["item"]["content"] == [{"type": "input_text", "text": note}]


def test_caller_audio_level_is_not_changed_by_the_bridge() -> None:
    # mu-law is lossy but level-preserving: a -12 dBFS tone arrives at the server at the same RMS (+-5 %)
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await _open_session(ws, server)
        await _read_forever(ws, server)

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(14, {}))
        run_bridged(loop, session, lambda _t: sine(1000, 0.02), until=lambda _c: len(_appends(server)) >= 10)
    assert wait_for(lambda: len(_appends(server)) >= 10)
    level = rms(ulaw_b64_to_pcm(_appends(server)[5]["audio"]))
    assert abs(level - rms(sine(1000, 0.02))) / rms(sine(1000, 0.02)) < 0.05


def test_caller_audio_during_setup_is_kept_up_to_the_inbound_buffer_then_streamed_in_order() -> None:
    # given a server that confirms the session only after 0.4 s, and a 100 ms inbound buffer
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        update = await server.read(ws)
        await asyncio.sleep(0.4)
        await server.send(ws, ev.session_updated(update["session"]))
        await _read_forever(ws, server)

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url, greeting=""), CallContext(15, {}),
                                BridgeConfig(inbound_buffer_ms=100))
        run_bridged(loop, session, _caller_sine, until=lambda _c: len(_appends(server)) >= 30)

    from media.audio.g711 import pcm16_to_ulaw

    tick_of = {pcm16_to_ulaw(_caller_sine(tick)): tick for tick in range(100)}  # distinct tone per tick
    ticks = [tick_of[base64.b64decode(m["audio"])] for m in _appends(server)[:30]]
    # then only the last 5 frames before the session (100 ms) were kept, and nothing after them was lost
    assert ticks[0] >= 15
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
