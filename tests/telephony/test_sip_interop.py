"""SIP as real networks do it, end to end with audio: a real UA worker with the default conversation (the local
agent as the AI), SIPp as the far end echoing every RTP packet back, and the ledger.

Each call checks the audio both ways on the bridge's recording: the agent channel carries the greeting we sent,
and the caller channel carries that greeting as the far end echoed it back, which only happens when our media
port is wired to the stream that really carries the call.

Ports (loopback only): UA worker SIP 17800 and RTP 46200-46215, SIPp 17900 and RTP 47100 (+2), local agent 18610.
"""

from __future__ import annotations

import contextlib
import os
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from django.conf import settings

from campaigns.choices import Disposition
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact
from local_agent.server import RunningAgent, start_in_thread
from media.speech.tts import synthesize
from telephony.choices import TrunkAuth
from telephony.models import Trunk
from testing.sipp import SippRun
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    SCENARIOS,
    dialable_contact,
    hand_to_pool,
    queue_attempt,
    running_worker,
    wait_ended,
    wait_for,
)
from tests.telephony.recordings import PROMPT, read_wav, voiced_frames
from tests.telephony.sip_peers import baresip_phone, kamailio, type_on_phone
from tests.telephony.tls_peers import TestCa

pytestmark = [pytest.mark.django_db(transaction=True)]

UA_SIP_PORT = 17800
UA_RTP_PORT = 46200
SIPP_PORT = 17900
SIPP_RTP_PORT = 47100
AGENT_PORT = 18610
# Longer than the AMD deadlines below, so that a call without RTP ends by the deadline, not the media timeout.
MEDIA_TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
def local_agent() -> Iterator[RunningAgent]:
    """The embedded local agent on its own thread (the AI of these calls)."""
    agent = start_in_thread("127.0.0.1", AGENT_PORT)
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def conversation_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory,
                        local_agent: RunningAgent) -> Iterator[str]:
    """A UA worker process with the default conversation installed."""
    log = tmp_path_factory.mktemp("interop-ua") / "worker.log"
    extra_env = {"UA_MEDIA_BRIDGE": "1", "LOCAL_AGENT_URL": local_agent.url,
                 "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    saved = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)
    try:
        with running_worker(f"test-interop-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, log,
                            "--media-timeout", str(MEDIA_TIMEOUT_S)) as name:
            yield name
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def registry() -> Iterator[redis.Redis]:
    """A client on the test Redis db."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def far_end(tmp_path: Path) -> Iterator[Callable[..., SippRun]]:
    """Start the SIPp far end with a scenario (echoing RTP on its media port and the port + 2)."""
    runs: list[SippRun] = []

    def start(scenario: str, **kwargs: Any) -> SippRun:
        run = SippRun(SCENARIOS / scenario, port=SIPP_PORT, media_port=SIPP_RTP_PORT, workdir=tmp_path)
        runs.append(run.start(timeout_s=40, **kwargs))
        return run

    yield start
    for run in runs:
        with contextlib.suppress(Exception):
            run.stop()


def contact_on_sipp(number: str, **campaign_fields: Any) -> Contact:
    """A dialable contact whose campaign talks through the local agent and calls the SIPp far end."""
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=SIPP_PORT), phone_e164=number, name="Ada",
                               ring_timeout_s=10)
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
        provider="local", url="", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam from Sunny Solar.")
    Campaign.objects.filter(pk=contact.campaign_id).update(**campaign_fields)
    return contact


def call(registry: redis.Redis, contact: Contact, timeout_s: float = 40) -> CallAttempt:
    """Hand the contact's attempt to the pool and wait for its end."""
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    return wait_ended(attempt, timeout_s=timeout_s)


def recording_channels(attempt: CallAttempt) -> tuple[np.ndarray, np.ndarray]:
    """The caller and agent channels of the attempt's recording."""
    assert attempt.recording, f"no recording: {attempt.reason}"
    return read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)


def assert_two_way_audio(attempt: CallAttempt) -> tuple[int, int]:
    """The agent spoke (agent channel) and its words came back from the far end (caller channel)."""
    caller, agent = recording_channels(attempt)
    heard, spoke = voiced_frames(caller), voiced_frames(agent)
    assert spoke >= 10, f"the agent channel is silent ({spoke} voiced frames)"
    assert heard >= 10, f"the caller channel is silent ({heard} voiced frames): no audio came back"
    assert any(s["speaker"] == "caller" and s["text"] for s in attempt.transcript), attempt.transcript
    return heard, spoke


# ---- early media and forking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "number"), [
    ("uas_fork_early_media.xml", "+12025550171"),
    ("uas_early_media_other_sdp.xml", "+12025550172"),
    ("uas_early_media_same_sdp.xml", "+12025550173"),
])
def test_answer_after_early_media_carries_audio_both_ways(
        conversation_worker: str, registry: redis.Redis, far_end: Callable[..., SippRun],
        scenario: str, number: str) -> None:
    peer = far_end(scenario)
    contact = contact_on_sipp(number, amd_enabled=False)
    started = time.monotonic()
    attempt = call(registry, contact)
    assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
    assert attempt.reason == "remote hangup", attempt.reason
    heard, spoke = assert_two_way_audio(attempt)
    assert peer.wait(10) == 0
    print(f"{scenario}: {time.monotonic() - started:.1f}s, voiced frames heard {heard} spoken {spoke}")


# ---- wall-clock deadlines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("echo", "deadline_ms", "greet", "number"), [
    (True, 3000, False, "+12025550174"),  # RTP flows, but it carries only our own digital silence back
    (False, 2000, False, "+12025550175"),  # no RTP at all (the media timeout, 4 s here, would come later)
    (False, 2000, True, "+12025550186"),  # the agent greets at once, into a line that sends nothing
])
def test_answered_call_without_audio_ends_failed_within_the_amd_deadline(
        conversation_worker: str, registry: redis.Redis, far_end: Callable[..., SippRun],
        echo: bool, deadline_ms: int, greet: bool, number: str) -> None:
    peer = far_end("uas_answer.xml", rtp_echo=echo)
    contact = contact_on_sipp(number, amd_enabled=True, amd_max_decision_ms=deadline_ms,
                              amd_greet_immediately=greet)
    attempt = call(registry, contact)
    seconds = deadline_ms / 1000
    assert attempt.disposition == Disposition.FAILED, (attempt.disposition, attempt.reason)
    assert attempt.reason == f"answered but no audio after {seconds:g} s", attempt.reason
    assert (attempt.bridged_at is not None) is greet
    assert attempt.talk_seconds is not None
    assert attempt.talk_seconds <= seconds + 1, attempt.talk_seconds
    assert peer.wait(10) == 0
    assert len(peer.received("BYE")) == 1
    print(f"no audio (echo {echo}): ended after {attempt.talk_seconds:.2f}s, deadline {seconds:g}s")


# ---- re-negotiated media, reliable provisionals, redirects, codecs -----------------------------------------------


@pytest.mark.parametrize(("scenario", "codecs", "number"), [
    ("uas_reinvite_moves_media.xml", "PCMU,PCMA", "+12025550176"),
    ("uas_hold_unhold.xml", "PCMU,PCMA", "+12025550177"),
    ("uas_prack.xml", "PCMU,PCMA", "+12025550178"),
    ("uas_answer_pcma_only.xml", "PCMA", "+12025550179"),
    ("uas_answer_g722.xml", "G722", "+12025550180"),
    ("uas_session_timer.xml", "PCMU,PCMA", "+12025550185"),
])
def test_call_keeps_audio_both_ways(
        conversation_worker: str, registry: redis.Redis, far_end: Callable[..., SippRun],
        scenario: str, codecs: str, number: str) -> None:
    peer = far_end(scenario)
    contact = contact_on_sipp(number, amd_enabled=False)
    Trunk.objects.filter(pk=contact.campaign.trunk_id).update(codecs=codecs)
    attempt = call(registry, contact)
    assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
    assert attempt.reason == "remote hangup", attempt.reason
    heard, spoke = assert_two_way_audio(attempt)
    assert peer.wait(10) == 0
    print(f"{scenario}: voiced frames heard {heard} spoken {spoke}")


def test_redirect_to_another_port_of_the_trunk_host_is_followed_with_audio(
        conversation_worker: str, registry: redis.Redis, far_end: Callable[..., SippRun], tmp_path: Path) -> None:
    target = SippRun(SCENARIOS / "uas_answer_talk.xml", port=SIPP_PORT + 1, media_port=SIPP_RTP_PORT + 10,
                     workdir=tmp_path).start(timeout_s=40)
    try:
        redirector = far_end("uas_redirect.xml", rtp_echo=False, extra=["-key", "redirect_port", str(SIPP_PORT + 1)])
        contact = contact_on_sipp("+12025550181", amd_enabled=False)
        attempt = call(registry, contact)
        assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
        assert_two_way_audio(attempt)
        assert redirector.sent_responses() == [302]
        assert target.wait(10) == 0
        assert len(target.received("INVITE")) == 1
    finally:
        target.stop()


# ---- Kamailio as the carrier: digest, parallel forking, Record-Route ---------------------------------------------

KAMAILIO_PORT = 17950


def test_call_forked_by_kamailio_with_early_media_on_one_branch_is_answered_by_the_other_with_audio(
        conversation_worker: str, registry: redis.Redis, tmp_path: Path) -> None:
    # given Kamailio as the carrier (digest on every INVITE), forking to branch A (183 with early media from one
    # media address, never answers) and branch B (answers with its own SDP 1.5 s later, hangs up after 8 s)
    branch_a = SippRun(SCENARIOS / "uas_fork_branch_early_media.xml", port=KAMAILIO_PORT + 1,
                       media_port=SIPP_RTP_PORT + 20, workdir=tmp_path).start(timeout_s=40)
    branch_b = SippRun(SCENARIOS / "uas_fork_branch_answer.xml", port=KAMAILIO_PORT + 2,
                       media_port=SIPP_RTP_PORT + 30, workdir=tmp_path).start(timeout_s=40)
    try:
        with kamailio("fork.cfg", tmp_path, port=KAMAILIO_PORT, branch_a=branch_a.port,
                      branch_b=branch_b.port) as log:
            contact = dialable_contact(
                TrunkFactory(host="127.0.0.1", port=KAMAILIO_PORT, auth_mode=TrunkAuth.DIGEST, username="trunkuser",
                             realm="carrier.test", password="s3cret"),
                phone_e164="+12025550182", name="Ada", ring_timeout_s=10)
            AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
                provider="local", url="", prompt_template=PROMPT,
                greeting="Hello {{name}}, this is Sam from Sunny Solar.")
            Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=False)
            attempt = call(registry, contact)
        # then the carrier challenged the INVITE and forked the authenticated one
        carrier = log.read_text(errors="replace")
        assert carrier.index("challenging INVITE") < carrier.index("forking INVITE"), carrier[-2000:]
        # and the answer from branch B carried the call, with audio both ways, and branch A was cancelled
        assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
        assert attempt.reason == "remote hangup", attempt.reason
        heard, spoke = assert_two_way_audio(attempt)
        assert branch_a.wait(10) == 0
        assert branch_a.sent_responses() == [183, 200, 487]
        assert branch_b.wait(10) == 0
        assert len(branch_b.received("ACK")) == 1
        print(f"kamailio fork: voiced frames heard {heard} spoken {spoke}")
    finally:
        branch_a.stop()
        branch_b.stop()


# ---- baresip as the person called -------------------------------------------------------------------------------

BARESIP_PORT = 17960
BARESIP_RTP_PORT = 47400
PERSON_SAYS = "Yes, I am interested in a free solar quote."


def test_a_baresip_phone_hears_the_agent_and_the_agent_hears_the_person(
        conversation_worker: str, registry: redis.Redis, tmp_path: Path) -> None:
    # given a baresip phone that answers, says a sentence after 4 s, once the agent's opening is over (then stays
    # quiet), and records what it hears
    speech = tmp_path / "person.wav"
    pcm = bytes(64000) + synthesize(PERSON_SAYS, 8000, repeatable=True) + bytes(160000)
    with wave.open(str(speech), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm)
    with baresip_phone(tmp_path, number="+12025550183", port=BARESIP_PORT, rtp_port=BARESIP_RTP_PORT,
                       speech=speech) as phone_dir:
        contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=BARESIP_PORT), phone_e164="+12025550183",
                                   name="Ada", ring_timeout_s=10)
        AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
            provider="local", url="", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam from Sunny Solar.")
        Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=False)
        attempt = call(registry, contact, timeout_s=40)
    # then the call was a person's, with what the person said in the transcript and on the recording
    assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
    caller, agent = recording_channels(attempt)
    assert voiced_frames(caller) >= 25, voiced_frames(caller)
    assert voiced_frames(agent) >= 25, voiced_frames(agent)
    caller_text = " ".join(str(s["text"]) for s in attempt.transcript if s["speaker"] == "caller").lower()
    assert {"yes", "interested", "quote"} & set(caller_text.split()), attempt.transcript
    # and the phone heard the agent (its own recording is not silent)
    dumps = sorted(phone_dir.glob("dump-*-dec.wav"))
    assert dumps, sorted(p.name for p in phone_dir.iterdir())
    with wave.open(str(dumps[0])) as wav:
        heard = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    assert voiced_frames(heard) >= 25, voiced_frames(heard)
    print(f"baresip: {attempt.reason}; phone heard {voiced_frames(heard)} voiced frames; caller said {caller_text!r}")


def test_rfc2833_opt_out_digit_from_a_baresip_phone_opts_out(
        conversation_worker: str, registry: redis.Redis, tmp_path: Path) -> None:
    # given a baresip phone that answers and stays quiet; its console types the campaign's opt-out digit
    speech = tmp_path / "quiet.wav"
    with wave.open(str(speech), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(240000))
    console = BARESIP_PORT + 5
    with baresip_phone(tmp_path, number="+12025550184", port=BARESIP_PORT, rtp_port=BARESIP_RTP_PORT,
                       speech=speech, console_port=console, quit_after_s=20) as phone_dir:
        contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=BARESIP_PORT), phone_e164="+12025550184",
                                   name="Ada", ring_timeout_s=10)
        AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
            provider="local", url="", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam from Sunny Solar.")
        Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=False, opt_out_digit="9")
        attempt = queue_attempt(contact)
        hand_to_pool(registry, attempt)
        wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).answered_at, 10, "the answer")
        time.sleep(1.0)
        # when the person presses 9 (baresip sends it as RFC 2833 telephone-events)
        type_on_phone(console, "9")
        ended = wait_ended(attempt, timeout_s=30)
    # then the call ends opted out by DTMF, sent in the media stream (baresip's audio module: RFC 2833)
    assert "audio: send DTMF digit: '9'" in (phone_dir / "baresip.log").read_text(errors="replace")
    assert ended.disposition == Disposition.OPTED_OUT, (ended.disposition, ended.reason)
    assert ended.reason == "opted out (dtmf)", ended.reason


def test_a_baresip_phone_that_holds_and_resumes_the_call_is_heard_after_it(
        conversation_worker: str, registry: redis.Redis, tmp_path: Path) -> None:
    # given a baresip phone that answers, and says a sentence 5 s later
    speech = tmp_path / "person.wav"
    with wave.open(str(speech), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(80000) + synthesize(PERSON_SAYS, 8000, repeatable=True) + bytes(120000))
    console = BARESIP_PORT + 6
    with baresip_phone(tmp_path, number="+12025550187", port=BARESIP_PORT, rtp_port=BARESIP_RTP_PORT,
                       speech=speech, console_port=console, quit_after_s=16) as phone_dir:
        contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=BARESIP_PORT), phone_e164="+12025550187",
                                   name="Ada", ring_timeout_s=10)
        AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
            provider="local", url="", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam from Sunny Solar.")
        Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=False)
        attempt = queue_attempt(contact)
        hand_to_pool(registry, attempt)
        wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).answered_at, 10, "the answer")
        # when the person puts the call on hold and takes it back before speaking (re-INVITEs from the phone)
        time.sleep(1.0)
        type_on_phone(console, "x")
        time.sleep(1.5)
        type_on_phone(console, "X")
        ended = wait_ended(attempt, timeout_s=30)
    # (the phone re-INVITEd twice: its stream was updated for the hold and for the resume)
    log = (phone_dir / "baresip.log").read_text(errors="replace")
    assert log.count("stream: update 'audio'") >= 2, log[-2000:]
    # then what the person said after the hold reached the agent, and the call ended a person's
    assert ended.disposition == Disposition.HUMAN, (ended.disposition, ended.reason)
    caller, _agent = recording_channels(ended)
    assert voiced_frames(caller[5 * 8000:]) >= 25, voiced_frames(caller[5 * 8000:])
    caller_text = " ".join(str(s["text"]) for s in ended.transcript if s["speaker"] == "caller").lower()
    assert {"yes", "interested", "quote"} & set(caller_text.split()), ended.transcript


def test_a_tls_trunk_with_mandatory_srtp_talks_with_a_baresip_phone_that_requires_srtp(
        conversation_worker: str, registry: redis.Redis, tmp_path: Path) -> None:
    # given a baresip phone that takes SIP over TLS with a certificate our test CA signed for 127.0.0.1, refuses
    # plain RTP (srtp-mand: SDES keys in the SDP), answers, and says a sentence 4 s later
    ca = TestCa()
    issued = ca.issue("phone", "127.0.0.1")
    certificate = tmp_path / "phone.pem"
    certificate.write_text(issued.cert_pem + issued.key_pem)
    speech = tmp_path / "person.wav"
    with wave.open(str(speech), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(64000) + synthesize(PERSON_SAYS, 8000, repeatable=True) + bytes(160000))
    with baresip_phone(tmp_path, number="+12025550188", port=BARESIP_PORT, rtp_port=BARESIP_RTP_PORT,
                       speech=speech, tls_certificate=certificate, media_encryption="srtp-mand") as phone_dir:
        # when the campaign calls it on a TLS trunk (verified against that CA) whose SRTP is mandatory
        trunk = TrunkFactory(host="127.0.0.1", port=BARESIP_PORT + 1, transport="tls", srtp_policy="mandatory",
                             tls_ca_pem=ca.pem)
        contact = dialable_contact(trunk, phone_e164="+12025550188", name="Ada", ring_timeout_s=10)
        AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
            provider="local", url="", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam from Sunny Solar.")
        Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=False)
        attempt = call(registry, contact, timeout_s=40)
    # then the call was a person's: what the person said is in the transcript and on the recording (decrypted by
    # us), and the phone heard the agent (decrypted by it): the keys agreed both ways
    log = (phone_dir / "baresip.log").read_text(errors="replace")
    assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason, log[-1500:])
    caller, agent = recording_channels(attempt)
    assert voiced_frames(caller) >= 25, voiced_frames(caller)
    assert voiced_frames(agent) >= 25, voiced_frames(agent)
    caller_text = " ".join(str(s["text"]) for s in attempt.transcript if s["speaker"] == "caller").lower()
    assert {"yes", "interested", "quote"} & set(caller_text.split()), attempt.transcript
    dumps = sorted(phone_dir.glob("dump-*-dec.wav"))
    assert dumps, sorted(p.name for p in phone_dir.iterdir())
    with wave.open(str(dumps[0])) as wav:
        heard = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    assert voiced_frames(heard) >= 25, voiced_frames(heard)
    assert "Using media encryption 'srtp-mand'" in log
    print(f"TLS + SRTP: {attempt.reason}; phone heard {voiced_frames(heard)} voiced frames; caller: {caller_text!r}")
