"""Bridged calls end to end: the dialer's originate, a real UA worker process with its default media hooks (AMD,
the AI bridge, voicemail, opt-out), the simulated phone network or SIPp as the far end, the local agent as the AI,
and the ledger.

Ports (loopback only): simulator SIP 17500-17502 and RTP 45000-45031, UA worker SIP 17600 and RTP 46000-46015,
SIPp 17700 and RTP 47000, local agent 18600 (18699 stays closed: the refused-connection case; 18601 accepts TCP
and never answers: the slow case; 18602 is a local agent stopped mid-call: the dropped case; 18603 is a tap that
relays to 18600 and keeps what the UA sent).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from django.conf import settings

from campaigns.choices import ContactStatus, Disposition, DncSource, MachinePolicy
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, DoNotCall
from campaigns.rules.windows import CallingWindow, zones_in_window
from compliance.disclosures import disclosures_for
from compliance.models import CampaignCompliance, DialEvidence
from local_agent.server import RunningAgent, start_in_thread
from media.speech.tts import synthesize
from simulator.calllog import find_call
from telephony.conversation.opt_out import THANK_YOU
from testing.sipp import SippRun
from tests.factories import ContactFactory, TrunkFactory
from tests.telephony.conftest import (
    PROJECT_ROOT,
    SCENARIOS,
    dialable_contact,
    hand_to_pool,
    media_bridge_worker,
    queue_attempt,
    running_simulator,
    wait_ended,
    wait_for,
)
from tests.telephony.recordings import PROMPT, VOICED_RMS, agent_turns, frame_rms, read_wav
from tests.telephony.ws_tap import ws_tap

pytestmark = [pytest.mark.django_db(transaction=True)]

SIM_PORT = 17500
SIM_RTP_BASE = 45000
UA_SIP_PORT = 17600
UA_RTP_PORT = 46000
SIPP_PORT = 17700
SIPP_RTP_PORT = 47000
AGENT_PORT = 18600
CLOSED_AGENT_PORT = 18699
SILENT_AGENT_PORT = 18601
DROPPING_AGENT_PORT = 18602
TAP_AGENT_PORT = 18603
# The far end hears the agent stop within this much of the person's first word: the local agent's VAD needs
# speech to start (about 200 ms), then the bridge flushes its playout at once; the simulator's own VAD adds its
# stop latency. Measured: see docs/testing.md (T7).
BARGE_IN_STOP_MS = 700
# The recording's agent channel is written per 20 ms frame as played; the truncate counts the same frames.
TRUNCATE_TOLERANCE_MS = 40
OUTCOMES = [
    {"label": "interested", "description": "Wants the quote.", "fields": []},
    {"label": "not_interested", "description": "Declined.", "fields": []},
    {"label": "callback", "description": "Call back later.", "fields": []},
    {"label": "opted_out", "description": "Asked not to be called again.", "fields": []},
]
VOICEMAIL = "Hi {{name}}, this is Sam from Sunny Solar. Please call us back. Goodbye."
FALLBACK = "Sorry {{name}}, our assistant is unavailable. We will call you back later. Goodbye."


# ---- processes ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_agent() -> Iterator[RunningAgent]:
    """The embedded local agent on its own thread (the AI of these calls)."""
    agent = start_in_thread("127.0.0.1", AGENT_PORT)
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """`manage.py simulate_pstn` (front + 2 workers) with short timings; yields its log and output paths."""
    with running_simulator(tmp_path_factory.mktemp("bridged-sim"), SIM_PORT, SIM_RTP_BASE,
                           "--ring", "0.3", "--final-wait", "4", "--no-speech-timeout", "4", "--hangup-delay", "0.3",
                           "--max-call", "40") as paths:
        yield paths


@pytest.fixture(scope="module")
def bridged_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, local_agent: RunningAgent
) -> Iterator[str]:
    """A UA worker process with the default hooks switched on (no `--hooks`): the media bridge."""
    log = tmp_path_factory.mktemp("bridged-ua") / "worker.log"
    with media_bridge_worker(f"test-bridged-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, log, local_agent.url) as name:
        yield name


# ---- helpers --------------------------------------------------------------------------------------------------


def _contact(number: str, *, port: int = SIM_PORT, agent_url: str = "", **campaign_fields: Any) -> Contact:
    """A dialable contact whose campaign talks through the local agent (a provider without URL: the setting)."""
    contact = dialable_contact(
        TrunkFactory(host="127.0.0.1", port=port), phone_e164=number, name="Ada", ring_timeout_s=10
    )
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
        provider="local",
        url=agent_url,
        prompt_template=PROMPT,
        greeting="Hello {{name}}, this is Sam.",
        outcome_schema=OUTCOMES,
        fallback_message=FALLBACK,
    )
    if campaign_fields:
        Campaign.objects.filter(pk=contact.campaign_id).update(**campaign_fields)
    return contact


def _call(registry: redis.Redis, contact: Contact, timeout_s: float = 40) -> CallAttempt:
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    return wait_ended(attempt, timeout_s=timeout_s)


def _far_end(log: Path, attempt: CallAttempt) -> dict[str, Any]:
    """The simulator's record of the call (written as the call ends on its side)."""
    return wait_for(lambda: find_call(log, call_id=attempt.sip_call_id), 10, "the simulator's call record")


def _caller_text(attempt: CallAttempt) -> str:
    return " ".join(str(s["text"]) for s in attempt.transcript if s["speaker"] == "caller").lower()


def _wav_response_gaps(caller: np.ndarray, agent: np.ndarray) -> list[int]:
    """Per agent turn that follows caller speech: ms from the caller's last voiced frame to the agent's onset.

    Computed on the recording alone, the way the bridge computes `first_response_ms` on its media clock; if the
    two channels were shifted against each other, every gap would be off by that shift. The agent's opening
    turn is not a response: the recording starts at the answer, so the "Hello?" heard during AMD precedes it.
    """
    caller_voiced = frame_rms(caller) >= VOICED_RMS
    agent_active = frame_rms(agent) > 0  # the agent channel is exact zeros between turns
    gaps: list[int] = []
    last_agent = -2
    last_voiced = -1_000_000
    for tick in range(min(len(caller_voiced), len(agent_active))):
        if agent_active[tick]:
            if last_agent >= 0 and last_agent != tick - 1 and last_voiced > last_agent:
                gaps.append((tick - last_voiced - 1) * 20)
            last_agent = tick
        if caller_voiced[tick]:
            last_voiced = tick
    return gaps


def _speech_ms(text: str) -> int:
    return len(synthesize(text, 8000)) // 16


# ---- the simulated network --------------------------------------------------------------------------------------


def test_interested_person_talks_with_the_local_agent_and_the_outcome_lands_in_the_ledger(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    contact = _contact("+12025550140")  # last digit 0: the interested persona
    started = time.monotonic()
    attempt = _call(registry, contact)
    elapsed = time.monotonic() - started
    far = _far_end(simulator["log"], attempt)
    # the person was taken for a person, and the call was bridged to the AI
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transcript)
    assert attempt.amd_result == "human"  # "Hello?" and a pause: a person, not merely "not sure"
    assert attempt.bridged_at is not None
    # the bridge was connected within 2 s of the person's first word ("Hello?" as the simulator sent it)
    hello = far["said"][0]
    first_word_at = dt.datetime.fromisoformat(far["started_at"]) + dt.timedelta(milliseconds=hello["start_ms"])
    bridged_after_s = (attempt.bridged_at - first_word_at).total_seconds()
    assert bridged_after_s < 2.0, bridged_after_s
    assert attempt.agent_first_audio_at is not None
    first_audio_after_s = (attempt.agent_first_audio_at - first_word_at).total_seconds()
    # what the person said reached the AI and the transcript: the answer's first word, which the local agent's
    # recogniser hears in every alignment of this line tried (docs/testing.md); the rest of the line varies
    # with where the turn was cut ("yes i would more", "yes i am interested your")
    assert "yes" in _caller_text(attempt).split(), attempt.transcript
    assert any(s["speaker"] == "agent" and s["text"] for s in attempt.transcript)
    # the agent's outcome is on the attempt and the contact
    assert attempt.outcome == "interested", (attempt.outcome, attempt.outcome_error, attempt.transcript)
    assert Contact.objects.get(pk=contact.pk).outcome == "interested"
    assert attempt.first_response_ms
    # the simulator heard the agent speak, and the agent channel of the recording is not silent
    assert far["heard"], far
    assert attempt.recording
    caller, agent = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    assert float(np.sqrt(np.mean(agent**2))) > 300
    assert float(np.max(frame_rms(caller))) > 1000
    # the channels are aligned: the response gaps read off the WAV match the bridge's, taken on its media clock
    gaps = _wav_response_gaps(caller, agent)
    assert gaps, "no agent turn after caller speech in the recording"
    pairs = list(zip(gaps, attempt.first_response_ms, strict=False))
    assert pairs
    assert all(abs(a - b) <= 40 for a, b in pairs), (gaps, attempt.first_response_ms)
    # D15: the file starts at the answer: as long as the billed time, with the "Hello?" heard during AMD in it
    file_s, billed_s = len(caller) / 8000, (attempt.ended_at - attempt.answered_at).total_seconds()
    assert abs(file_s - billed_s) <= 1.0, (file_s, billed_s)
    bridge_tick = int((attempt.bridged_at - attempt.answered_at).total_seconds() * 50)
    assert np.sum(frame_rms(caller)[: max(0, bridge_tick - 10)] >= VOICED_RMS) >= 10, "no Hello? before the bridge"
    # ... and the transcript's times count from the answer too: no turn starts before the bridge did
    assert min(int(s["start_ms"]) for s in attempt.transcript) >= (bridge_tick - 10) * 20, attempt.transcript
    print(f"recording {file_s:.2f} s, billed {billed_s:.2f} s from answer; bridged {bridge_tick * 20} ms in")
    print(f"interested: call {elapsed:.1f}s, bridged {bridged_after_s * 1000:.0f} ms and agent audio "
          f"{first_audio_after_s * 1000:.0f} ms after the first word; first_response_ms "
          f"{attempt.first_response_ms}; WAV gaps {gaps}")


def test_voicemail_gets_the_message_after_the_beep(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    contact = _contact("+12025550144", machine_policy=MachinePolicy.LEAVE_MESSAGE, voicemail_message=VOICEMAIL)
    attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    assert attempt.amd_result == "machine"
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, attempt.reason
    assert "after the beep" in attempt.reason
    assert attempt.bridged_at is None  # the AI never heard the machine
    # the far end heard the message start after its beep ended, and last about as long as the message
    voicemail = far["voicemail"]
    assert voicemail["message_start_after_beep_ms"] is not None, far
    assert voicemail["message_start_after_beep_ms"] > 0, voicemail
    message = [h for h in far["heard"] if h["end_ms"] > voicemail["beep_end_ms"]]
    heard_ms = message[-1]["end_ms"] - message[0]["start_ms"]
    assert heard_ms >= 0.8 * _speech_ms(VOICEMAIL.replace("{{name}}", "Ada")), (heard_ms, message)
    assert Contact.objects.get(pk=contact.pk).last_disposition == Disposition.VOICEMAIL_LEFT
    # D15: the drop is recorded from the answer, with the message on the agent channel, and transcribed
    assert attempt.recording, attempt.reason
    caller, played = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    file_s, billed_s = len(caller) / 8000, (attempt.ended_at - attempt.answered_at).total_seconds()
    assert abs(file_s - billed_s) <= 1.0, (file_s, billed_s)
    assert np.max(frame_rms(caller)) > 1000  # the machine's greeting and beep
    [said] = attempt.transcript
    assert (said["speaker"], said["text"]) == ("agent", VOICEMAIL.replace("{{name}}", "Ada"))
    message = frame_rms(played)[said["start_ms"] // 20 : said["end_ms"] // 20 + 1]
    voiced_ms = int(np.sum(message >= VOICED_RMS)) * 20
    assert voiced_ms >= 0.6 * _speech_ms(said["text"]), (voiced_ms, said)
    assert np.sum(frame_rms(played)[: said["start_ms"] // 20] >= VOICED_RMS) == 0  # nothing played before it
    print(f"voicemail recording {file_s:.2f} s (billed {billed_s:.2f} s), message at {said['start_ms']} ms, "
          f"voiced {voiced_ms} ms")
    print(f"voicemail: message started {voicemail['message_start_after_beep_ms']} ms after the beep, "
          f"heard for {heard_ms} ms")


def test_interrupter_cuts_the_agent_short_and_the_truncation_matches_what_was_played(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis, local_agent: RunningAgent
) -> None:
    # given the interrupter persona (talks over the agent 1 s into its first sentence), and a tap between the UA
    # and the AI that keeps what the bridge told the AI
    with ws_tap(TAP_AGENT_PORT, f"ws://127.0.0.1:{AGENT_PORT}") as tap:
        contact = _contact("+12025550149", agent_url=f"ws://127.0.0.1:{TAP_AGENT_PORT}/v1/realtime")
        attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    # then the agent stopped talking soon after the person cut in, as the far end heard it
    interruption = far["interruption"]
    assert interruption is not None, far
    assert interruption["agent_stopped_after_ms"] is not None, interruption
    assert interruption["agent_stopped_after_ms"] <= BARGE_IN_STOP_MS, interruption
    # and the bridge truncated the agent's item to what it had played: the agent channel of the recording holds
    # exactly that much of the turn before the cut
    truncates = tap.sent("conversation.item.truncate")
    assert len(truncates) == 1, truncates
    caller, agent = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    first_turn = agent_turns(agent)[0]
    played_ms = (first_turn[1] - first_turn[0]) / 8
    assert abs(truncates[0]["audio_end_ms"] - played_ms) <= TRUNCATE_TOLERANCE_MS, (truncates[0], played_ms)
    # the cut came after the person started talking over the agent (caller speech inside the agent's turn)
    overlap = frame_rms(caller[first_turn[0] : first_turn[1]]) >= VOICED_RMS
    assert overlap.any(), "the agent's first turn ended before the person spoke"
    print(
        f"interrupter: agent stopped {interruption['agent_stopped_after_ms']} ms after the person cut in; "
        f"truncate audio_end_ms {truncates[0]['audio_end_ms']}, played on the recording {played_ms:.0f} ms"
    )


def _assert_opted_out_everywhere(
    attempt: CallAttempt, contact: Contact, registry: redis.Redis, other: Contact, control: Contact
) -> None:
    assert attempt.disposition == Disposition.OPTED_OUT, (attempt.reason, attempt.transcript)
    entry = DoNotCall.objects.get(phone_e164=contact.phone_e164, campaign=None)
    assert entry.source == DncSource.OPT_OUT
    # written during the call by the in-call opt-out event (note "attempt N: how"), before the call ended; the
    # end-of-call write (note "attempt N") must not be what made this pass
    how = attempt.reason.removeprefix("opted out (").removesuffix(")")
    assert entry.note == f"attempt {attempt.pk}: {how}"
    assert attempt.ended_at is not None
    assert entry.created_at < attempt.ended_at
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.DNC
    # the same number in another campaign is never dialed again; that campaign's other contact is
    assert Contact.objects.get(pk=other.pk).status == ContactStatus.DNC
    tick = run_dispatch_tick(r=registry, enqueue=lambda ids: None)
    claimed = set(CallAttempt.objects.filter(pk__in=tick.attempt_ids).values_list("contact_id", flat=True))
    assert claimed == {control.pk}
    assert not CallAttempt.objects.filter(contact_id__in=[contact.pk, other.pk]).exclude(pk=attempt.pk).exists()


def _same_number_elsewhere(number: str) -> tuple[Contact, Contact]:
    other = dialable_contact(TrunkFactory(host="127.0.0.1", port=5999), phone_e164=number)
    control = ContactFactory(campaign=other.campaign, time_zones=other.time_zones, phone_e164="+12025550177")
    return other, control


def test_stop_calling_me_puts_the_number_on_the_do_not_call_list(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    number = "+12025550143"  # last digit 3: "Stop calling me. Put me on your do not call list."
    contact = _contact(number)
    other, control = _same_number_elsewhere(number)
    attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    assert "calling" in _caller_text(attempt) or "list" in _caller_text(attempt), attempt.transcript
    assert attempt.reason.startswith("opted out ("), attempt.reason
    assert far["heard"], far  # the goodbye was spoken
    _assert_opted_out_everywhere(attempt, contact, registry, other, control)
    print(f"stop calling: {attempt.reason}")


def test_ai_connection_refused_plays_the_fallback_and_ends_ai_error(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    contact = _contact("+12025550150", agent_url=f"ws://127.0.0.1:{CLOSED_AGENT_PORT}/v1/realtime")
    attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    assert attempt.disposition == Disposition.AI_ERROR
    assert attempt.reason.startswith("refused: cannot connect to the AI"), attempt.reason
    assert attempt.amd_result == "human"  # the same "Hello?" persona
    # the callee heard the fallback message to its end before our BYE
    fallback_ms = _speech_ms(FALLBACK.replace("{{name}}", "Ada"))
    heard_ms = sum(h["end_ms"] - h["start_ms"] for h in far["heard"])
    span_ms = far["heard"][-1]["end_ms"] - far["heard"][0]["start_ms"] if far["heard"] else 0
    assert span_ms >= 0.8 * fallback_ms, (far["heard"], fallback_ms)
    assert far["ended_by"] == "caller"
    print(f"ai_error: {attempt.reason}; fallback {fallback_ms} ms, heard {heard_ms} ms over {span_ms} ms")


def test_machine_with_the_hang_up_policy_ends_machine_without_the_ai(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    contact = _contact("+12025550154", machine_policy=MachinePolicy.HANG_UP, voicemail_message=VOICEMAIL)
    attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    assert attempt.amd_result == "machine"
    assert attempt.disposition == Disposition.MACHINE, attempt.reason
    assert attempt.bridged_at is None
    assert far["heard"] == []  # nothing was said to the machine
    assert far["ended_by"] == "caller"


def test_ai_that_never_answers_times_out_into_the_fallback(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # a TCP listener that never answers the WebSocket upgrade: the AI is "slow"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", SILENT_AGENT_PORT))
        silent.listen(4)
        contact = _contact("+12025550160", agent_url=f"ws://127.0.0.1:{SILENT_AGENT_PORT}/v1/realtime")
        attempt = _call(registry, contact)
    far = _far_end(simulator["log"], attempt)
    assert attempt.disposition == Disposition.AI_ERROR
    assert attempt.reason.startswith("timeout: "), attempt.reason
    span_ms = far["heard"][-1]["end_ms"] - far["heard"][0]["start_ms"] if far["heard"] else 0
    assert span_ms >= 0.8 * _speech_ms(FALLBACK.replace("{{name}}", "Ada")), far["heard"]
    print(f"slow AI: {attempt.reason}")


def test_ai_dropped_mid_call_keeps_the_transcript_and_plays_the_fallback(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # a second local agent, stopped while it is talking (its connections close under the call)
    agent = start_in_thread("127.0.0.1", DROPPING_AGENT_PORT)
    try:
        contact = _contact("+12025550170", agent_url=f"{agent.url}/realtime")
        attempt = queue_attempt(contact)
        hand_to_pool(registry, attempt)
        wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).bridged_at is not None, 15, "the bridge")
        time.sleep(1.5)  # the greeting is playing
    finally:
        agent.stop()
    ended = wait_ended(attempt, timeout_s=30)
    far = _far_end(simulator["log"], ended)
    assert ended.disposition == Disposition.AI_ERROR
    assert ended.reason.startswith("dropped: "), ended.reason
    # what was said before the drop is kept, and the recording too
    assert any(s["speaker"] == "agent" and "sunny solar" in str(s["text"]).lower() for s in ended.transcript), (
        ended.transcript
    )
    assert ended.recording
    assert (Path(settings.RECORDINGS_ROOT) / ended.recording).exists()
    # the callee heard the fallback after the cut greeting, then our BYE
    last = far["heard"][-1]
    assert last["end_ms"] - last["start_ms"] >= 0.8 * _speech_ms(FALLBACK.replace("{{name}}", "Ada")), far["heard"]
    assert far["ended_by"] == "caller"
    print(f"dropped AI: {ended.reason}")


# ---- SIPp: DTMF ------------------------------------------------------------------------------------------------


@pytest.fixture
def sipp_dtmf(tmp_path: Path) -> Iterator[Callable[[], SippRun]]:
    runs: list[SippRun] = []

    def start() -> SippRun:
        run = SippRun(SCENARIOS / "uas_dtmf_opt_out.xml", port=SIPP_PORT, media_port=SIPP_RTP_PORT, workdir=tmp_path)
        runs.append(run.start(timeout_s=40))
        return run

    yield start
    for run in runs:
        with contextlib.suppress(Exception):
            run.stop()


def test_opt_out_digit_puts_the_number_on_the_do_not_call_list(
    bridged_worker: str, registry: redis.Redis, sipp_dtmf: Callable[[], SippRun]
) -> None:
    peer = sipp_dtmf()
    number = "+12025550161"
    contact = _contact(number, port=SIPP_PORT, opt_out_digit="9")
    other, control = _same_number_elsewhere(number)
    attempt = _call(registry, contact)
    assert attempt.reason == "opted out (dtmf)", attempt.reason
    # the thank-you was played before the BYE (the digit came 1.5 s after the answer)
    assert attempt.answered_at is not None
    assert attempt.ended_at is not None
    talk_s = (attempt.ended_at - attempt.answered_at).total_seconds()
    assert talk_s >= 1.5 + 0.8 * _speech_ms(THANK_YOU) / 1000, talk_s
    assert peer.wait(10) == 0
    assert len(peer.received("BYE")) == 1
    _assert_opted_out_everywhere(attempt, contact, registry, other, control)
    print(f"dtmf opt-out: talk {talk_s:.1f}s")


def _fresh_speech(texts: list[str]) -> list[bytes]:
    """``texts`` spoken one after the other by the bridge's disclosure voice (eSpeak NG ``en-us``) in a fresh
    process, as the UA worker speaks them: eSpeak's output depends on what the process spoke before (this one has
    spoken the local agent's voices), so only the same sequence from a fresh start renders the same samples."""
    code = ("import base64, json, sys; from media.speech.tts import Voice, synthesize; "
            "print(json.dumps([base64.b64encode(synthesize(t, 8000, Voice(name='en-us'))).decode() "
            "for t in json.loads(sys.argv[1])]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(texts)], cwd=PROJECT_ROOT,  # noqa: S603
                         capture_output=True, check=True, timeout=60, text=True).stdout
    return [base64.b64decode(b) for b in json.loads(out.strip().splitlines()[-1])]


def _envelope_match(channel: np.ndarray, start_ms: int, expected: bytes) -> float:
    """Correlation of the recording's 20 ms level envelope from ``start_ms`` with that of ``expected`` (PCM16), best
    within +-100 ms. The envelope, not the samples: eSpeak's samples for one text vary with what the speaking
    process said before, its rhythm of syllables and pauses does not."""
    reference = frame_rms(np.frombuffer(expected, dtype="<i2").astype(np.float64))
    levels = frame_rms(channel)
    best = 0.0
    for shift in range(-5, 6):
        begin = start_ms // 20 + shift
        if begin < 0 or begin + len(reference) > len(levels):
            continue
        best = max(best, float(np.corrcoef(levels[begin:begin + len(reference)], reference)[0, 1]))
    return best


def test_a_california_contact_hears_the_ai_disclosure_and_the_recording_notice_before_the_agent(
        bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis) -> None:
    # given a Los Angeles number: California's AB 2905 (say the voice is artificial) and all-party consent to
    # recording (a recording notice), in a campaign with compliance settings
    contact = _contact("+12135550140")  # last digit 0: the interested persona
    # its own zone when Los Angeles is inside the window now, so the test runs at any hour on the window's zone
    zone = "America/Los_Angeles" if "America/Los_Angeles" in zones_in_window(
        dt.datetime.now(dt.UTC), CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))) else None
    Contact.objects.filter(pk=contact.pk).update(jurisdictions=["US-CA"], **({"time_zones": [zone]} if zone else {}))
    CampaignCompliance.objects.create(campaign_id=contact.campaign_id, seller="Sunny Solar")
    expected = [(d.kind, d.text) for d in disclosures_for(["US-CA"], seller="Sunny Solar")]
    assert [kind for kind, _ in expected] == ["opening", "recording_notice"]
    # when the call is made and answered by a person
    attempt = _call(registry, contact)
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transcript)
    # then the evidence record holds both disclosures as played, in order, on the call's clock
    played = DialEvidence.objects.get(attempt_id=attempt.pk).disclosures
    assert [(d["kind"], d["text"]) for d in played] == expected, played
    opening, notice = played
    assert opening["duration_ms"] >= 0.9 * _speech_ms(opening["text"]), played
    assert notice["offset_ms"] >= opening["offset_ms"] + opening["duration_ms"], played
    disclosed_until = notice["offset_ms"] + notice["duration_ms"]
    # and the recording's agent channel is silent before the opening, which is the first audio the person heard
    _, agent = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    active = np.flatnonzero(frame_rms(agent) > 0)
    assert active.size, "the agent channel of the recording is silent"
    first_audio_ms = int(active[0]) * 20
    assert abs(first_audio_ms - opening["offset_ms"]) <= 60, (first_audio_ms, played)
    # the audio at each disclosure's place is that disclosure's speech and nothing else (agent audio mixed in
    # would change the envelope)
    scores = {d["kind"]: _envelope_match(agent, d["offset_ms"], speech)
              for d, speech in zip(played, _fresh_speech([d["text"] for d in played]), strict=True)}
    assert all(score > 0.95 for score in scores.values()), scores
    # and the agent's own speech (its greeting) starts only after the last disclosure ended
    after = [int(i) * 20 for i in active if int(i) * 20 >= disclosed_until]
    assert after, "the agent never spoke after the disclosures"
    assert any(s["speaker"] == "agent" and s["text"] for s in attempt.transcript), attempt.transcript
    print(f"disclosures: opening at {opening['offset_ms']} ms for {opening['duration_ms']} ms, recording notice at "
          f"{notice['offset_ms']} ms; agent channel first audio at {first_audio_ms} ms, agent speech from "
          f"{after[0]} ms; envelope match {scores}")
