"""An AI that floods audio or stalls with its socket open ends the call politely as ``ai_error`` (audit F20).

Scripted OpenAI Realtime servers (every event checked against the ``openai`` SDK's types): one sends two minutes
of audio as fast as the socket takes it, one answers the greeting and then says nothing after the caller speaks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    SILENCE,
    TEST_POLICY,
    Clock,
    RecordingControls,
    WsServer,
    media_loop,
    run_bridged,
    sine,
    ulaw_b64,
)
from tests.media.protocol_check import OPENAI_REALTIME

FLOOD_S = 120  # what the flooding server sends, in 1 s chunks, as fast as it can


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _agent(url: str) -> AgentConfig:
    return AgentConfig(provider="openai_realtime", url=url, fallback_message="Sorry, goodbye.", policy=TEST_POLICY)


async def _open(ws: ServerConnection, server: WsServer) -> None:
    await server.send(ws, ev.session_created())
    update = await server.read(ws)
    await server.send(ws, ev.session_updated(update["session"]))


async def _read_forever(ws: ServerConnection, server: WsServer) -> None:
    while True:
        await server.read(ws)


async def _flood(ws: ServerConnection, server: WsServer) -> None:
    await _open(ws, server)
    await server.send(ws, ev.transcription_completed("item_c1", "Hello?"))
    await server.send(ws, ev.audio_transcript_done("item_a1", "Hi, this is Acme."))
    second = ulaw_b64(sine(440, 1.0))
    for _ in range(FLOOD_S):
        await server.send(ws, ev.audio_delta("item_a1", second))
    await _read_forever(ws, server)


def _run_flood(config: BridgeConfig) -> tuple[Any, Clock, RecordingControls, int]:
    """Run one call against the flooding server; return its result, clock, controls and the peak queue (ms)."""
    controls = RecordingControls()
    peak = [0]
    with WsServer(_flood, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(70), config, controls)
        queue_audio = session.playout.queue_audio

        def measured(event: Any) -> None:
            queue_audio(event)
            peak[0] = max(peak[0], session.playout.queued_ms)

        session.playout.queue_audio = measured  # type: ignore[method-assign]
        received = lambda: len(server.received.messages)  # noqa: E731
        result, clock = run_bridged(
            loop,
            session,
            until=lambda _c: controls.hung_up.is_set() or peak[0] >= FLOOD_S * 1000 * 3 // 4,
            timeout=20,
        )
        assert received() >= 1
    return result, clock, controls, peak[0]


def test_an_ai_flooding_audio_ends_the_call_as_ai_error_with_the_queue_capped() -> None:
    # when the AI sends two minutes of audio at once, with a 30 s playout cap
    result, clock, controls, peak = _run_flood(BridgeConfig(max_playout_ms=30_000))

    # then the queue never held more than the cap, and the call ended as an AI failure
    assert peak <= 30_000
    assert result.disposition == "ai_error"
    assert result.reason.startswith("overflow: the AI sent audio faster than real time"), result.reason
    assert result.ended_by == "ai_error"
    # politely: the fallback message was played (after what had been queued was flushed), then the call hung up
    assert len(controls.hangups) == 1
    assert controls.hangups[0][1].startswith("AI failure: the AI sent audio faster")
    assert clock.pulled[-1][0] * 20 < 30_000  # long before the queued half minute could have been played
    # and the transcript so far is kept
    assert [(t["speaker"], t["text"]) for t in result.transcript] == [
        ("caller", "Hello?"),
        ("agent", "Hi, this is Acme."),
    ]


def test_without_a_cap_the_same_flood_is_all_queued() -> None:
    # (what the cap prevents: the whole flood in memory, played for two minutes)
    result, _, _, peak = _run_flood(BridgeConfig(max_playout_ms=FLOOD_S * 1000 + 60_000))
    assert peak >= FLOOD_S * 1000 * 3 // 4  # (less what was played while it arrived)
    assert result.disposition is None


def _stall_after_greeting(ws: ServerConnection, server: WsServer) -> Any:
    async def run() -> None:
        await _open(ws, server)
        await server.send(ws, ev.audio_delta("item_a1", ulaw_b64(sine(440, 0.5))))
        await server.send(ws, ev.audio_done("item_a1"))
        await server.send(ws, ev.audio_transcript_done("item_a1", "Hello, this is Acme."))
        await _read_forever(ws, server)  # the socket stays open; nothing more is ever said

    return run()


def _caller_speaks_at(start_s: float, seconds: float) -> Any:
    first, last = int(start_s * 50), int((start_s + seconds) * 50)
    return lambda tick: sine(300, 0.02, dbfs=-15) if first <= tick < last else SILENCE


def test_an_ai_silent_after_the_caller_spoke_ends_the_call_politely() -> None:
    controls = RecordingControls()
    config = BridgeConfig(ai_silence_timeout_s=1.5)
    # given an AI that greets, then stalls with its socket open, and a caller who answers at 1 s for 1 s
    with WsServer(_stall_after_greeting, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(71), config, controls)
        result, clock = run_bridged(
            loop,
            session,
            _caller_speaks_at(1.0, 1.0),
            until=lambda _c: controls.hung_up.is_set(),
            stop=False,
            timeout=20,
        )

    # then the call ended as an AI failure, once the AI had been silent 1.5 s after the caller's last word
    assert result.disposition == "ai_error"
    assert result.reason == "stalled: the AI said nothing for 1.5 s after the caller spoke"
    fallback_ticks = [tick for tick, _, frame in clock.pulled if frame != SILENCE and tick > 50]
    assert fallback_ticks, "the fallback message was played"
    assert 100 + 75 <= fallback_ticks[0] <= 100 + 75 + 100  # 2.0 s (last caller word) + 1.5 s, within 2 s
    assert len(controls.hangups) == 1
    assert controls.hangups[0][0] >= clock.pulled[fallback_ticks[-1]][1]
    # and the transcript so far is kept
    assert [t["text"] for t in result.transcript] == ["Hello, this is Acme."]


def test_an_ai_waiting_for_a_silent_caller_is_not_stalled() -> None:
    # given an AI that greets and waits, and a caller who says nothing for 2.5 s (more than the timeout)
    controls = RecordingControls()
    with WsServer(_stall_after_greeting, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(72), BridgeConfig(ai_silence_timeout_s=1.0), controls)
        result, _ = run_bridged(loop, session, until=lambda c: len(c.pulled) >= 125, timeout=20)

    # then it is the caller's turn, not an AI failure
    assert result.disposition is None
    assert controls.hangups == []


def test_an_ai_answering_in_time_is_not_stalled() -> None:
    async def answers(ws: ServerConnection, server: WsServer) -> None:
        await _open(ws, server)
        await asyncio.sleep(2.6)  # the caller speaks 1.0-2.0 s; the answer comes about 0.6 s after (< 3 s)
        await server.send(ws, ev.audio_delta("item_a2", ulaw_b64(sine(440, 2.0))))
        await _read_forever(ws, server)

    controls = RecordingControls()
    with WsServer(answers, OPENAI_REALTIME) as server, media_loop() as loop:
        session = BridgeSession(_agent(server.url), CallContext(73), BridgeConfig(ai_silence_timeout_s=3.0), controls)
        result, _ = run_bridged(
            loop, session, _caller_speaks_at(1.0, 1.0), until=lambda c: len(c.pulled) >= 250, timeout=20
        )

    assert result.disposition is None
    assert controls.hangups == []


def test_the_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_playout_ms"):
        BridgeConfig(max_playout_ms=500)
    with pytest.raises(ValueError, match="ai_silence_timeout_s"):
        BridgeConfig(ai_silence_timeout_s=0)
