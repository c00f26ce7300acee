"""Disclosures: spoken before the agent's first sentence, not cut by the caller speaking, in the recording, and
reported with their offsets on the call's clock."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection

from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from media.speech.tts import Voice, synthesize
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    SILENCE,
    TEST_POLICY,
    Handler,
    WsServer,
    media_loop,
    run_bridged,
    sine,
    ulaw_b64,
    ulaw_b64_to_pcm,
)
from tests.media.protocol_check import OPENAI_REALTIME

OPENING = "This is an automated call with an artificial voice, for Acme Dental."
NOTICE = "This call is recorded."
FRAME = 320


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def _frames(pcm: bytes) -> list[bytes]:
    pcm += bytes(-len(pcm) % FRAME)
    return [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]


def _greeting_server(greeting: bytes, *, barge_at_frame: int | None = None) -> Handler:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        update = await server.read(ws)
        await server.send(ws, ev.session_updated(update["session"]))
        # The model greets at once, as with amd_greet_immediately: its audio arrives during the disclosure.
        await server.send(ws, ev.audio_delta("a1", ulaw_b64(greeting)))
        await server.send(ws, ev.audio_done("a1"))
        frames = 0
        while True:
            message = await server.read(ws)
            if message["type"] == "input_audio_buffer.append":
                frames += 1
                if frames == barge_at_frame:
                    await server.send(ws, ev.speech_started(frames * 20, "u1"))

    return handler


def test_disclosures_play_first_whole_and_are_in_the_recording(tmp_path: Path) -> None:
    voice = Voice(name=BridgeConfig().fallback_voice)
    opening, notice = _frames(synthesize(OPENING, 8000, voice)), _frames(synthesize(NOTICE, 8000, voice))
    greeting = ulaw_b64_to_pcm(ulaw_b64(sine(440, 0.4)))
    # the caller talks over the disclosure (server VAD says so 0.5 s in): a disclosure is not interruptible
    with WsServer(_greeting_server(greeting, barge_at_frame=25), OPENAI_REALTIME) as server, media_loop() as loop:
        agent = AgentConfig(provider="openai_realtime", url=server.url, policy=TEST_POLICY)
        call = CallContext(31, {}, disclosures=(("opening", OPENING), ("recording_notice", NOTICE)))
        session = BridgeSession(agent, call, BridgeConfig(recordings_root=tmp_path))
        result, clock = run_bridged(loop, session, until=lambda c: c.ticks > len(opening) + len(notice) + 40,
                                    timeout=20)

    played = [frame for _, _, frame in clock.pulled if frame != SILENCE]
    # then the opening and the notice are played whole, in order, before any agent audio
    assert played[:len(opening)] == opening
    assert played[len(opening):len(opening) + len(notice)] == notice
    # and the agent's greeting was cut by the barge-in: nothing of it is played before the disclosures end
    assert not any(np.frombuffer(f, "<i2").any() and f in _frames(greeting) for f in played[:len(opening)])
    first = next(i for i, (_, _, frame) in enumerate(clock.pulled) if frame != SILENCE)
    assert result.disclosures == [
        {"kind": "opening", "text": OPENING, "offset_ms": first * 20, "duration_ms": len(opening) * 20},
        {"kind": "recording_notice", "text": NOTICE, "offset_ms": (first + len(opening)) * 20,
         "duration_ms": len(notice) * 20},
    ]
    assert result.results()["disclosures"] == result.disclosures
    # and the recording's agent channel (right) holds the opening where the result says
    with wave.open(str(tmp_path / result.recording), "rb") as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    right = stereo[1::2].tobytes()
    start = first * FRAME
    assert right[start:start + len(opening) * FRAME] == b"".join(opening)


def test_without_disclosures_the_greeting_plays_first() -> None:
    greeting = ulaw_b64_to_pcm(ulaw_b64(sine(440, 0.4)))
    with WsServer(_greeting_server(greeting), OPENAI_REALTIME) as server, media_loop() as loop:
        agent = AgentConfig(provider="openai_realtime", url=server.url, policy=TEST_POLICY)
        session = BridgeSession(agent, CallContext(32, {}))
        result, clock = run_bridged(loop, session, until=lambda c: len(c.agent_frames()) >= 10)
    assert clock.agent_frames()[0][2] == _frames(greeting)[0]
    assert result.disclosures == []
    assert "disclosures" not in result.results()
