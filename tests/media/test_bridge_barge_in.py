"""Barge-in: the caller speaks over the agent; playout is cut within 40 ms and the model is told what was heard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, CallContext
from media.bridge.session import BridgeSession
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    SILENCE,
    TEST_POLICY,
    WsServer,
    media_loop,
    rms,
    run_bridged,
    sine,
    ulaw_b64,
    ulaw_b64_to_pcm,
)
from tests.media.protocol_check import OPENAI_REALTIME

BARGE_TICK = 40  # the caller starts speaking at this tick, while the agent is mid-sentence


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def test_caller_speech_cuts_agent_within_40_ms_and_truncate_carries_played_ms() -> None:
    long_reply = sine(440, 3.0)  # three seconds: still playing at BARGE_TICK
    late_delta = sine(440, 0.2, dbfs=-6)  # of the interrupted item, already in flight
    next_reply = sine(880, 0.2)
    state: dict[str, Any] = {}

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        update = await server.read(ws)
        await server.send(ws, ev.session_updated(update["session"]))
        await server.read(ws)  # first caller frame
        for i in range(0, len(long_reply), 3200):  # the model streams faster than real time
            await server.send(ws, ev.audio_delta("a1", ulaw_b64(long_reply[i:i + 3200])))
        frames = 1
        while True:
            message = await server.read(ws)
            if message["type"] == "input_audio_buffer.append":
                frames += 1
                # The server's VAD: the first loud frame starts speech (no minimum duration, for the test).
                if "speech_at" not in state and rms(ulaw_b64_to_pcm(message["audio"])) > 1000:
                    state["speech_at"] = frames
                    await server.send(ws, ev.speech_started((frames - 1) * 20, "u1"))
            elif message["type"] == "conversation.item.truncate":
                await server.send(ws, ev.audio_delta("a1", ulaw_b64(late_delta)))
                await server.send(ws, ev.item_truncated("a1", message["audio_end_ms"]))
                await asyncio.sleep(0.2)  # the next reply comes once the caller has finished
                await server.send(ws, ev.audio_delta("a2", ulaw_b64(next_reply), response_id="resp_2"))
                await server.send(ws, ev.audio_done("a2", response_id="resp_2"))

    def caller(tick: int) -> bytes:
        return sine(300, 0.02, dbfs=-10) if tick >= BARGE_TICK else SILENCE

    expected_a1 = ulaw_b64_to_pcm(ulaw_b64(long_reply))
    expected_a2 = ulaw_b64_to_pcm(ulaw_b64(next_reply))

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        agent = AgentConfig(provider="openai_realtime", url=server.url, policy=TEST_POLICY)
        session = BridgeSession(agent, CallContext(20, {}))
        result, clock = run_bridged(
            loop, session, caller,
            until=lambda c: sum(1 for f in c.pulled if f[2] in _frames(expected_a2)) >= 10
            and c.ticks > BARGE_TICK + 30)

    pulled = clock.pulled
    first_a1 = next(i for i, (_, _, frame) in enumerate(pulled) if frame != SILENCE)
    cut = next(i for i in range(BARGE_TICK, len(pulled)) if pulled[i][2] == SILENCE)
    # then the agent's audio stopped within 40 ms of the caller's first loud frame: counted on the media
    # clock (what the caller hears), at most two 20 ms frames were played from the tick the caller spoke
    assert cut - BARGE_TICK <= 2, cut - BARGE_TICK
    # and what was played up to the cut is exactly the head of the reply
    heard = b"".join(frame for _, _, frame in pulled[first_a1:cut])
    assert heard == expected_a1[: len(heard)]
    # and the truncate tells the model exactly that many milliseconds were heard
    truncates = server.received.of("type", "conversation.item.truncate")
    assert truncates == [{"type": "conversation.item.truncate", "item_id": "a1", "content_index": 0,
                          "audio_end_ms": (cut - first_a1) * 20}]
    # and audio of the interrupted item still in flight is never played; the next reply is, whole
    after = [frame for _, _, frame in pulled[cut:] if frame != SILENCE]
    assert b"".join(after) == expected_a2
    assert result.disposition is None


def _frames(pcm: bytes) -> set[bytes]:
    return {pcm[i:i + 320] for i in range(0, len(pcm), 320)}
