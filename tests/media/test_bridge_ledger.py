"""What a bridged call leaves behind fits the ledger: `CallResult` goes through `finish_attempt` into Postgres."""

from __future__ import annotations

import dataclasses
import json
import wave

import pytest
from django.conf import settings
from django.utils import timezone
from websockets.asyncio.server import ServerConnection

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.dialer.attempts import RESULT_FIELDS, finish_attempt
from campaigns.models import CallAttempt
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from tests.factories import ContactFactory
from tests.media import realtime_events as ev
from tests.media.bridge_harness import (
    TEST_POLICY,
    RecordingControls,
    WsServer,
    free_port,
    media_loop,
    run_bridged,
    sine,
    ulaw_b64,
)
from tests.media.protocol_check import OPENAI_REALTIME

pytestmark = pytest.mark.django_db


def _attempt() -> CallAttempt:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS)
    return CallAttempt.objects.create(
        campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk, state=AttemptState.BRIDGED,
        attempt_number=1, originated_at=timezone.now(), answered_at=timezone.now())


def test_a_bridged_call_is_written_to_its_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    attempt = _attempt()

    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        update = await server.read(ws)
        await server.send(ws, ev.session_updated(update["session"]))
        await server.read(ws)
        for event in (
            ev.audio_delta("a1", ulaw_b64(sine(440, 0.2))),
            ev.audio_done("a1"),
            ev.audio_transcript_done("a1", "Hello."),
            ev.function_call_done("c1", "record_outcome", json.dumps({"label": "interested"}), output_index=1),
            ev.response_done({"total_tokens": 12}),
        ):
            await server.send(ws, event)
        while True:
            await server.read(ws)

    with WsServer(handler, OPENAI_REALTIME) as server, media_loop() as loop:
        agent = AgentConfig.from_profile(attempt.campaign.agent)
        agent = dataclasses.replace(agent, provider="openai_realtime", url=server.url, policy=TEST_POLICY)
        config = BridgeConfig(recordings_root=settings.RECORDINGS_ROOT)
        session = BridgeSession(agent, CallContext(attempt.pk, {}), config)
        result, _ = run_bridged(loop, session, until=lambda c: len(c.agent_frames()) >= 10 and result_ready(session))

    fields = result.finish_fields()
    assert set(fields["results"]) <= RESULT_FIELDS
    assert "disposition" not in fields  # a working call: the UA decides the disposition
    assert finish_attempt(attempt.pk, disposition=Disposition.HUMAN, results=fields["results"])
    attempt.refresh_from_db()
    assert attempt.outcome == "interested"
    assert attempt.outcome_error == ""
    assert attempt.transcript == result.transcript
    assert attempt.transcript[0]["text"] == "Hello."
    assert attempt.usage == {"total_tokens": 12}
    with wave.open(str(settings.RECORDINGS_ROOT / attempt.recording), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        assert wav.getnframes() >= 10 * 160


def result_ready(session: BridgeSession) -> bool:
    """The outcome arrived."""
    return session.outcome != ""


def test_an_ai_failure_ends_the_attempt_as_ai_error_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    attempt = _attempt()
    controls = RecordingControls()
    with media_loop() as loop:
        agent = AgentConfig(provider="openai_realtime", url=f"ws://127.0.0.1:{free_port()}/v1/realtime",
                            policy=TEST_POLICY)
        session = BridgeSession(agent, CallContext(attempt.pk, {}), BridgeConfig(), controls)
        result, _ = run_bridged(loop, session, until=lambda _c: controls.hung_up.is_set(), stop=False, timeout=15)

    fields = result.finish_fields()
    assert finish_attempt(attempt.pk, disposition=fields["disposition"], reason=fields["reason"],
                          results=fields["results"])
    attempt.refresh_from_db()
    assert attempt.disposition == Disposition.AI_ERROR
    assert attempt.reason.startswith("refused: cannot connect to the AI at ws://127.0.0.1:")
    assert attempt.transcript == []
