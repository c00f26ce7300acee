"""Twilio Media Streams adapter: the bridge plays Twilio towards an in-test agent server speaking the protocol
(connected, start with customParameters, media every 20 ms, mark echoes after playout, clear, dtmf, stop)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import statistics
import time
from typing import Any

from websockets.asyncio.server import ServerConnection

from media.audio.g711 import pcm16_to_ulaw
from media.bridge.config import AgentConfig, CallContext
from media.bridge.session import BridgeSession
from tests.media.bridge_harness import (
    SILENCE,
    Clock,
    RecordingControls,
    WsServer,
    media_loop,
    run_bridged,
    sine,
    ulaw_b64,
    ulaw_b64_to_pcm,
    wait_for,
)
from tests.media.protocol_check import TWILIO_MEDIA_STREAMS


def _agent(url: str) -> AgentConfig:
    return AgentConfig(provider="twilio_stream", url=url)


def _caller(tick: int) -> bytes:
    return sine(200 + 10 * (tick % 40), 0.02, dbfs=-20)


def test_stream_messages_marks_clear_dtmf_and_stop() -> None:
    first_reply = sine(440, 0.6)
    second_reply = sine(660, 2.0)
    times: dict[str, int] = {}

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)  # connected
        start = await server.read(ws)
        sid = start["streamSid"]
        media = 0
        while media < 10:
            if (await server.read(ws))["event"] == "media":
                media += 1
        for i in range(0, len(first_reply), 320):  # 20 ms chunks, all at once
            await server.send(ws, {"event": "media", "streamSid": sid,
                                   "media": {"payload": ulaw_b64(first_reply[i:i + 320])}})
        await server.send(ws, {"event": "mark", "streamSid": sid, "mark": {"name": "m1"}})
        while True:
            message = await server.read(ws)
            if message["event"] == "mark" and message["mark"]["name"] == "m1":
                times["m1_echo"] = time.perf_counter_ns()
                break
        await server.send(ws, {"event": "media", "streamSid": sid, "media": {"payload": ulaw_b64(second_reply)}})
        await server.send(ws, {"event": "mark", "streamSid": sid, "mark": {"name": "m2"}})
        await asyncio.sleep(0.3)
        times["clear"] = time.perf_counter_ns()
        await server.send(ws, {"event": "clear", "streamSid": sid})
        while True:
            message = await server.read(ws)
            if message["event"] == "mark":
                times["m2_echo"] = time.perf_counter_ns()
            if message["event"] == "stop":
                break

    variables = {"first_name": "Ada", "balance": 12.5}
    with WsServer(handler, TWILIO_MEDIA_STREAMS) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(50, variables))
        clock = Clock(session, _caller).start()
        future = loop.submit(session)
        try:
            assert wait_for(lambda: "m2_echo" in times, 10)
            ticks = clock.ticks
            assert wait_for(lambda: clock.ticks >= ticks + 5)
            session.push_dtmf("5")
            assert wait_for(lambda: server.received.of("event", "dtmf"), 5)
            session.request_stop("caller hung up")
            result = future.result(10)
        finally:
            clock.stop()

    messages = [m for _, m in server.received.messages]
    adapter = session.adapter
    assert adapter is not None
    sid = adapter.stream_sid  # type: ignore[attr-defined]
    # connected, then start with the contact's variables as customParameters
    assert messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert messages[1] == {
        "event": "start", "sequenceNumber": "1", "streamSid": sid,
        "start": {"streamSid": sid, "accountSid": adapter.account_sid,  # type: ignore[attr-defined]
                  "callSid": adapter.call_sid, "tracks": ["inbound"],  # type: ignore[attr-defined]
                  "customParameters": {"first_name": "Ada", "balance": "12.5"},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    }
    assert sid.startswith("MZ")
    # media: one 160-byte mu-law frame per 20 ms, chunk and timestamp counting up, sequence numbers in order
    media = [(t, m) for t, m in server.received.messages if m["event"] == "media"]
    for index, (_, m) in enumerate(media[:40], start=1):
        assert m["streamSid"] == sid
        assert m["media"]["track"] == "inbound"
        assert m["media"]["chunk"] == str(index)
        assert m["media"]["timestamp"] == str((index - 1) * 20)
        assert base64.b64decode(m["media"]["payload"]) == pcm16_to_ulaw(_caller(index - 1))
    gaps = [(b[0] - a[0]) / 1e6 for a, b in itertools.pairwise(media[10:41])]
    assert 18 <= statistics.median(gaps) <= 22
    assert [int(m["sequenceNumber"]) for m in messages[1:]] == list(range(1, len(messages)))
    # the agent's audio was played paced, and m1 was echoed only after its last frame had been played
    played = clock.agent_frames()
    first = [p for p in played if p[2] in _frames(first_reply)]
    assert len(first) == 30
    assert b"".join(f for _, _, f in first) == ulaw_b64_to_pcm(ulaw_b64(first_reply))
    assert first[-1][1] < times["m1_echo"] < first[-1][1] + 200_000_000
    # clear: playout stopped within 40 ms, m2 (whose audio was dropped) echoed at once
    # (counted in media ticks, the clock the caller hears: at most two 20 ms frames after the clear was sent)
    after_clear = [f for _, t, f in clock.pulled if t > times["clear"]]
    cut = after_clear.index(SILENCE)
    assert cut <= 2
    assert all(f == SILENCE for f in after_clear[cut:])
    assert times["m2_echo"] - times["clear"] < 500_000_000  # its audio would have needed 1.7 s more
    # dtmf and stop
    assert server.received.of("event", "dtmf") == [{"event": "dtmf", "streamSid": sid, "sequenceNumber": _seq(
        messages, "dtmf"), "dtmf": {"track": "inbound_track", "digit": "5"}}]
    assert messages[-1] == {"event": "stop", "sequenceNumber": str(len(messages) - 1), "streamSid": sid,
                            "stop": {"accountSid": adapter.account_sid,  # type: ignore[attr-defined]
                                     "callSid": adapter.call_sid}}  # type: ignore[attr-defined]
    assert result.disposition is None
    assert result.ended_by == "ua"


def _seq(messages: list[dict[str, Any]], event: str) -> str:
    return next(m["sequenceNumber"] for m in messages if m["event"] == event)


def _frames(pcm: bytes) -> set[bytes]:
    decoded = ulaw_b64_to_pcm(ulaw_b64(pcm))
    return {decoded[i:i + 320] for i in range(0, len(decoded), 320)}


def test_agent_closing_the_stream_cleanly_ends_the_call_after_playout() -> None:
    goodbye = sine(440, 0.3)

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        start = await server.read(ws)
        await server.send(ws, {"event": "media", "streamSid": start["streamSid"],
                               "media": {"payload": ulaw_b64(goodbye)}})
        await ws.close(1000)

    with WsServer(handler, TWILIO_MEDIA_STREAMS) as server, media_loop() as loop:
        controls = RecordingControls()
        session = BridgeSession(_agent(server.url), CallContext(51, {}), controls=controls)
        result, clock = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False)

    assert result.disposition is None
    assert result.ended_by == "agent"
    assert result.played_ms == 300
    assert len(clock.agent_frames()) == 15
    assert controls.hangups[0][0] >= clock.agent_frames()[-1][1]


def test_wrong_stream_sid_and_unknown_events_are_bad_events() -> None:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.read(ws)
        await server.read(ws)
        for message in ({"event": "media", "streamSid": "MZwrong", "media": {"payload": ""}},
                        {"event": "dance"}, {"event": "mark", "streamSid": "MZwrong", "mark": {"name": "x"}}):
            await server.send_malformed(ws, json.dumps(message))
        while True:
            await server.read(ws)

    with WsServer(handler, TWILIO_MEDIA_STREAMS) as server, media_loop() as loop:
        controls = RecordingControls()
        session = BridgeSession(_agent(server.url), CallContext(52, {}), controls=controls)
        result, _ = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False, timeout=15)

    assert result.disposition == "ai_error"
    assert result.reason.startswith("bad_events: ")
    assert "streamSid" in result.reason
