"""The campaign call's inputs and the ledger side of a bridged call, without processes: what the originate command
carries for the conversation, how the UA reads it, the opt-out entry the ledger thread writes, and which hooks a
worker installs."""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
import redis
from django.utils import timezone
from pytest_django.fixtures import Settings
from websockets.asyncio.server import ServerConnection

from campaigns.choices import ContactStatus, Disposition, DncSource, MachinePolicy
from campaigns.dialer.attempts import finish_attempt, mark_attempt_answered, mark_attempt_bridged
from campaigns.dialer.handoff import originate_attempt
from campaigns.dialer.ledger import CampaignLedger
from campaigns.models import AgentProfile, CallAttempt, Contact, DoNotCall
from media.amd import AmdConfig
from media.bridge.config import AgentConfig, BridgeConfig
from media.speech.tts import synthesize
from simulator.personas import VOICEMAIL_GREETING
from telephony.contract import CallEvent, OptedOut, OriginateCommand
from telephony.conversation import opt_out
from telephony.conversation.controller import CampaignCall
from telephony.conversation.plan import CallPlan, call_plan_from_settings
from telephony.ua.hooks import EndReport
from telephony.ua.settings import MEDIA_HOOKS, UaSettings
from telephony.ua_registry import pending_commands
from tests.campaigns.dialer_setup import MIDDAY, contacts, dialing_attempt, live_ua, running_campaign
from tests.factories import ContactFactory
from tests.media import realtime_events as ev
from tests.media.bridge_harness import TEST_POLICY, WsServer, sine, ulaw_b64
from tests.media.bridge_harness import media_loop as harness_media_loop
from tests.media.protocol_check import OPENAI_REALTIME

OUTCOMES = [{"label": "interested", "description": "", "fields": []},
            {"label": "opted_out", "description": "", "fields": []}]


def _command(**conversation: Any) -> OriginateCommand:
    return OriginateCommand.from_wire({
        "type": "originate", "attempt_id": 7, "destination": "+12025550100", "campaign_id": 3,
        "trunk": {"id": 1, "host": "127.0.0.1"}, "conversation": {"variables": {"name": "Ada"}, **conversation}})


@pytest.mark.django_db
def test_the_originate_command_carries_the_conversation(redis_client: redis.Redis) -> None:
    import time_machine

    from campaigns.dialer.claim import run_dispatch_tick

    live_ua(redis_client, "ua-1")
    campaign = running_campaign(machine_policy=MachinePolicy.LEAVE_MESSAGE, voicemail_message="Hi {{name}}.",
                                opt_out_digit="8", amd_max_decision_ms=2800, amd_greet_immediately=True,
                                amd_late_beep=False)
    AgentProfile.objects.filter(pk=campaign.agent_id).update(
        provider="local", greeting="Hello {{name}}", outcome_schema=OUTCOMES, fallback_message="Sorry.",
        voice="alloy")
    contacts(campaign, 1, name="Ada")
    with time_machine.travel(MIDDAY, tick=False):
        [attempt_id] = run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None).attempt_ids
        assert originate_attempt(attempt_id, r=redis_client, now=MIDDAY).outcome == "sent"
    [command] = pending_commands(redis_client, "ua-1")
    talk = command["conversation"]
    assert talk["voicemail_message"] == "Hi {{name}}."
    assert talk["machine_policy"] == MachinePolicy.LEAVE_MESSAGE
    assert talk["opt_out_digit"] == "8"
    agent = talk["agent"]
    assert agent["provider"] == "local"
    assert agent["greeting"] == "Hello {{name}}"
    assert agent["outcome_schema"] == OUTCOMES
    assert (agent["voice"], agent["fallback_message"]) == ("alloy", "Sorry.")
    assert agent["prompt_template"] == campaign.agent.prompt_template
    # and the UA reads it without the database
    plan = CallPlan.from_command(OriginateCommand.from_wire(command), "ws://127.0.0.1:8765/v1")
    assert plan.agent is not None
    assert plan.agent.resolved_url == "ws://127.0.0.1:8765/v1/realtime"
    assert (plan.machine_policy, plan.voicemail_message, plan.opt_out_digit) == (
        MachinePolicy.LEAVE_MESSAGE, "Hi {{name}}.", "8")
    assert plan.variables["name"] == "Ada"
    # the campaign's AMD deadline and "greet at once" reach the detector; its other settings stay default
    assert (talk["amd_max_decision_ms"], talk["amd_greet_immediately"]) == (2800, True)
    assert (plan.amd.max_decision_ms, plan.amd.greet_immediately) == (2800, True)
    assert plan.amd.greeting_max_ms == AmdConfig().greeting_max_ms
    # a campaign that does not listen for a late beep turns the watch off
    assert talk["amd_late_beep"] is False
    assert plan.amd.late_beep_window_ms == 0


def test_plan_keeps_an_explicit_agent_url_and_reads_amd_settings() -> None:
    request = _command(
        agent={"provider": "openai_realtime", "url": "wss://api.openai.com/v1/realtime", "outcome_schema": []},
        amd_enabled=False, amd_max_decision_ms=2000, amd_greet_immediately=True)
    plan = CallPlan.from_command(request, "ws://127.0.0.1:8765/v1")
    assert plan.agent is not None
    assert plan.agent.resolved_url == "wss://api.openai.com/v1/realtime"
    assert plan.amd_enabled is False
    assert (plan.amd.max_decision_ms, plan.amd.greet_immediately) == (2000, True)
    # a command without the setting (an older control plane) listens for a late beep, the default
    assert plan.amd.late_beep_window_ms == AmdConfig().late_beep_window_ms > 0


def test_plan_without_a_usable_agent_says_why() -> None:
    bad = CallPlan.from_command(_command(
        agent={"provider": "local", "outcome_schema": [{"label": ""}]}), "ws://127.0.0.1:8765/v1")
    assert bad.agent is None
    assert bad.agent_error.startswith("agent settings unusable")
    missing = CallPlan.from_command(_command(), "")
    assert missing.agent is None
    assert missing.agent_error == "no agent in the originate command"


def test_a_call_whose_agent_names_another_secret_never_reaches_the_agent(
        monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    # given (E2 of the audit) a command whose agent points at a listener and names DATABASE_URL as its key
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pg-SECRET-123@db.internal/prod")
    settings.AI_ALLOW_LOOPBACK_AGENTS = True  # even where test doubles on loopback are allowed
    command = _command(agent={"provider": "openai_realtime", "url": "ws://127.0.0.1:9/anything",
                              "api_key_env": "DATABASE_URL", "outcome_schema": []})
    # when the UA reads the call's plan with its settings
    plan = call_plan_from_settings(command, UaSettings.from_django(settings))
    # then there is no agent to connect to, and the reason names the field, not the value
    assert plan.agent is None
    assert "api_key_env: DATABASE_URL is not an allowed API key variable" in plan.agent_error
    assert "SECRET" not in plan.agent_error


def test_the_ua_gives_the_local_agent_token_to_the_local_agent_only(settings: Settings) -> None:
    # given a local agent on another host, reached with the shared token
    settings.LOCAL_AGENT_URL = "ws://agent.internal:8765/v1"
    settings.LOCAL_AGENT_TOKEN = "s3cret-local-token"
    # when the UA reads the plans of a local call and of a twilio_stream call
    local = call_plan_from_settings(_command(agent={"provider": "local"}), UaSettings.from_django(settings))
    other = call_plan_from_settings(_command(agent={
        "provider": "twilio_stream", "url": "wss://agents.example.com/stream"}), UaSettings.from_django(settings))
    # then only the local agent's config carries the token
    assert local.agent is not None
    assert (local.agent.resolved_url, local.agent.token) == ("ws://agent.internal:8765/v1/realtime",
                                                             "s3cret-local-token")
    assert other.agent is not None
    assert other.agent.token == ""
    # and without the token, a local agent off loopback is refused
    settings.LOCAL_AGENT_TOKEN = ""
    refused = call_plan_from_settings(_command(agent={"provider": "local"}), UaSettings.from_django(settings))
    assert refused.agent is None
    assert "LOCAL_AGENT_TOKEN" in refused.agent_error


def test_the_ua_checks_agents_against_the_deployments_allow_lists(settings: Settings) -> None:
    settings.AI_OPENAI_HOSTS = ["realtime-proxy.example.com"]
    default_host = call_plan_from_settings(_command(agent={"provider": "openai_realtime"}),
                                           UaSettings.from_django(settings))
    assert default_host.agent is None
    assert "api.openai.com is not an allowed openai_realtime host" in default_host.agent_error
    proxied = call_plan_from_settings(_command(agent={
        "provider": "openai_realtime", "url": "wss://realtime-proxy.example.com/v1/realtime"}),
        UaSettings.from_django(settings))
    assert proxied.agent is not None


def test_default_hooks_follow_the_settings(settings: Settings) -> None:
    settings.UA_CALL_HOOKS, settings.UA_MEDIA_BRIDGE = "", True
    assert UaSettings.from_django(settings).call_hooks == MEDIA_HOOKS
    settings.UA_MEDIA_BRIDGE = False
    assert UaSettings.from_django(settings).call_hooks == ""
    settings.UA_CALL_HOOKS = "x.y:z"
    assert UaSettings.from_django(settings).call_hooks == "x.y:z"


def _bridged_attempt() -> CallAttempt:
    attempt = dialing_attempt("+12025550133")
    assert mark_attempt_answered(attempt.pk)
    assert mark_attempt_bridged(attempt.pk)
    return attempt


@pytest.mark.django_db
def test_ledger_writes_the_opt_out_at_once_for_every_campaign() -> None:
    attempt = _bridged_attempt()
    elsewhere = ContactFactory(campaign=running_campaign(), phone_e164="+12025550133")
    CampaignLedger().record(OptedOut(attempt.pk, number="+12025550133", how="dtmf"))
    entry = DoNotCall.objects.get(phone_e164="+12025550133", campaign=None)
    assert entry.source == DncSource.OPT_OUT
    assert entry.note == f"attempt {attempt.pk}: dtmf"
    assert Contact.objects.get(pk=elsewhere.pk).status == ContactStatus.DNC
    assert CallAttempt.objects.get(pk=attempt.pk).state == "bridged"  # the call itself goes on


@pytest.mark.django_db
def test_finish_opted_out_marks_the_number_in_other_campaigns() -> None:
    attempt = _bridged_attempt()
    elsewhere = ContactFactory(campaign=running_campaign(), phone_e164="+12025550133")
    assert finish_attempt(attempt.pk, disposition=Disposition.OPTED_OUT, results={
        "amd_result": "human", "agent_first_audio_at": timezone.now()})
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.DNC
    assert Contact.objects.get(pk=elsewhere.pk).status == ContactStatus.DNC
    assert DoNotCall.objects.get(phone_e164="+12025550133", campaign=None).source == DncSource.OPT_OUT
    ended = CallAttempt.objects.get(pk=attempt.pk)
    assert ended.amd_result == "human"
    assert ended.agent_first_audio_at is not None


# ---- the hooks' own decisions, with a scripted AI and a 20 ms clock standing in for pjmedia ---------------------


class _Control:
    """The thread-safe `CallControl` side the hooks use: records hangups."""

    def __init__(self) -> None:
        self.hangups: list[str] = []
        self.hung_up = threading.Event()

    def hangup(self, reason: str = "") -> None:
        self.hangups.append(reason)
        self.hung_up.set()


class _Call:
    """What the hooks read from the pjsua call: its control and the manager's ledger queue."""

    def __init__(self) -> None:
        self.control = _Control()
        self.events: list[CallEvent] = []
        self.manager = types.SimpleNamespace(emit=self.events.append)


class _MediaClock(threading.Thread):
    """Every 20 ms: one received frame into the hooks' sink, one frame to play out of their source."""

    def __init__(self, hooks: CampaignCall, caller: bytes) -> None:
        super().__init__(daemon=True)
        self.hooks, self.caller = hooks, caller
        self.played: list[bytes] = []
        self.stop = threading.Event()

    def run(self) -> None:
        tick, next_at = 0, time.perf_counter()
        while not self.stop.is_set():
            frame = self.caller[tick * 320 : (tick + 1) * 320]
            self.hooks._sink(frame + bytes(320 - len(frame)))
            self.played.append(self.hooks._source() or bytes(320))
            tick += 1
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.perf_counter()))


def _scripted_agent(*events: dict[str, Any]) -> Callable[[ServerConnection, WsServer], Awaitable[None]]:
    async def handler(ws: ServerConnection, server: WsServer) -> None:
        await server.send(ws, ev.session_created())
        update = await server.read(ws)
        await server.send(ws, ev.session_updated(update["session"]))
        for event in events:
            await server.send(ws, event)
        while True:
            await server.read(ws)

    return handler


def _plan(url: str, **fields: Any) -> CallPlan:
    agent = AgentConfig(provider="openai_realtime", url=url, outcome_schema=OUTCOMES, policy=TEST_POLICY)
    return CallPlan(attempt_id=1, destination="+12025550133", campaign_id=1, agent=agent, **fields)


def _end(hooks: CampaignCall, call: _Call, clock: _MediaClock) -> EndReport:
    clock.stop.set()
    clock.join(5)
    event = EndReport(1, {"disposition": "human", "reason": "local hangup", "results": {}})
    hooks.on_ended(call, event)  # type: ignore[arg-type]
    return event


def test_an_opted_out_outcome_from_the_agent_opts_out_then_thanks_and_hangs_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(opt_out, "OPT_OUT_AGENT_GRACE_S", 0.5)  # the agent never says goodbye here
    server = WsServer(_scripted_agent(
        ev.function_call_done("c1", "record_outcome", json.dumps({"label": "opted_out"}))), OPENAI_REALTIME)
    with server, harness_media_loop() as loop:
        hooks = CampaignCall(_plan(server.url, amd_enabled=False), loop, BridgeConfig())
        call = _Call()
        hooks.attach_media(call, types.SimpleNamespace())  # type: ignore[arg-type]
        hooks.on_answered(call)  # type: ignore[arg-type]
        clock = _MediaClock(hooks, b"")
        clock.start()
        assert call.control.hung_up.wait(15)
        event = _end(hooks, call, clock)
    kinds = [e.kind for e in call.events]
    assert kinds == ["bridged", "opted_out"]
    assert call.events[1] == OptedOut(1, number="+12025550133", how="agent")
    assert call.control.hangups == ["opted out"]
    # the thank-you was played before the hangup
    thank_you_ms = len(synthesize(opt_out.THANK_YOU, 8000)) // 16
    voiced = sum(1 for frame in clock.played if frame != bytes(320)) * 20
    assert voiced >= 0.9 * thank_you_ms
    assert event.data["disposition"] == "opted_out"
    assert event.data["reason"] == "opted out (agent)"
    assert event.data["results"]["outcome"] == "opted_out"


def test_a_campaign_that_greets_at_once_stops_the_agent_for_a_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    greeting = synthesize(VOICEMAIL_GREETING, 8000)  # a long machine greeting
    server = WsServer(_scripted_agent(
        ev.audio_delta("a1", ulaw_b64(sine(440, 0.5))), ev.audio_done("a1")), OPENAI_REALTIME)
    with server, harness_media_loop() as loop:
        plan = _plan(server.url, amd=AmdConfig(greet_immediately=True))
        hooks = CampaignCall(plan, loop, BridgeConfig())
        call = _Call()
        hooks.attach_media(call, types.SimpleNamespace())  # type: ignore[arg-type]
        hooks.on_answered(call)  # type: ignore[arg-type]
        clock = _MediaClock(hooks, greeting)
        clock.start()
        assert call.control.hung_up.wait(15)
        event = _end(hooks, call, clock)
    # the agent spoke at once (before AMD decided), then the machine was hung up on
    assert [e.kind for e in call.events] == ["bridged"]
    assert any(frame != bytes(320) for frame in clock.played[:50])
    assert call.control.hangups == ["answering machine"]
    assert event.data["disposition"] == "machine"
    assert event.data["results"]["amd_result"] == "machine"
    assert event.data["results"]["agent_first_audio_at"] is not None


def test_the_opt_out_key_stops_a_voicemail_drop_that_a_late_beep_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    # given a greeting still going at a 1.5 s AMD deadline (unknown: bridged), then a beep and the quiet of a
    # machine recording, on a campaign that leaves a long message and opts out with key 9
    rate = 8000
    t = np.arange(rate // 2) / rate
    beep = (np.sin(2 * np.pi * 1000 * t) * 8000).astype("<i2").tobytes()
    greeting = synthesize(VOICEMAIL_GREETING, 8000)
    server = WsServer(_scripted_agent(), OPENAI_REALTIME)
    message = "Hi Ada. " + "This is a long message about your quote, with every detail of it. " * 4
    with server, harness_media_loop() as loop:
        plan = _plan(server.url, amd=AmdConfig(max_decision_ms=1500), machine_policy=MachinePolicy.LEAVE_MESSAGE,
                     voicemail_message=message, opt_out_digit="9")
        hooks = CampaignCall(plan, loop, BridgeConfig())
        call = _Call()
        hooks.attach_media(call, types.SimpleNamespace())  # type: ignore[arg-type]
        hooks.on_answered(call)  # type: ignore[arg-type]
        clock = _MediaClock(hooks, greeting + beep + bytes(8000 * 2 * 30))
        clock.start()
        deadline = time.monotonic() + 20 + len(greeting) / 16000
        while "start_ms" not in hooks.voicemail and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hooks.voicemail, "the late beep did not start the voicemail drop"
        time.sleep(1.0)
        # when the person presses the opt-out key a second into the message
        pressed_at = len(clock.played)
        hooks.on_dtmf(call, "9", "rfc2833")  # type: ignore[arg-type]
        assert call.control.hung_up.wait(15)
        event = _end(hooks, call, clock)
    # then the drop stopped there: opted out, the thank-you, not the rest of the message, and no voicemail left
    assert [e.kind for e in call.events] == ["bridged", "opted_out"]
    assert call.control.hangups == ["opted out"]
    assert event.data["disposition"] == "opted_out"
    assert event.data["reason"] == "opted out (dtmf)"
    assert event.data["results"]["amd_result"] == "machine"
    assert hooks.voicemail["delivered"] is False
    # what was played after the key: the whole thank-you, and not the rest of the message before it
    thank_you_ms = len(synthesize(opt_out.THANK_YOU, 8000)) // 16
    after_ms = sum(1 for frame in clock.played[pressed_at:] if frame != bytes(320)) * 20
    assert 0.9 * thank_you_ms <= after_ms <= thank_you_ms + 400, (after_ms, thank_you_ms)


def test_amd_decides_at_its_wall_clock_deadline_when_frames_stop_coming() -> None:
    # given a detector that heard a short "hello?" and then no more frames (the stream went away)
    from media.amd import AmdLabel, AnsweringMachineDetector
    from telephony.conversation.controller import _decide_at_deadline

    config = AmdConfig()
    detector = AnsweringMachineDetector(config)
    hello = synthesize("Hello?", 8000)
    assert detector.feed(hello) is None
    # when the wall-clock deadline passes, then the detector's own rule decides on the frames missing as silence
    decision = _decide_at_deadline(detector, config.max_decision_ms)
    assert decision.label == AmdLabel.HUMAN, decision
    assert decision.decided_ms <= config.max_decision_ms


@pytest.mark.parametrize("deadline_ms", [1000, 1500, 1600])
def test_a_short_amd_deadline_from_the_campaign_is_kept(deadline_ms: int) -> None:
    # a deadline at or below the detector's greeting_max_ms used to be refused, and the default used instead; now
    # it is kept as it is (the deadline decides before the long-greeting rule could fire)
    plan = CallPlan.from_command(_command(amd_max_decision_ms=deadline_ms), "ws://127.0.0.1:8765/v1")
    assert plan.amd.max_decision_ms == deadline_ms
    assert plan.amd.greeting_max_ms == AmdConfig().greeting_max_ms
