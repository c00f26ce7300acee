"""Transfer to a person end to end: the dialer's originate, a real UA worker with its default media hooks, the local
agent as the AI, and the simulated phone network as both the person called and the transfer desk.

The person (a number ending in 770) asks for a human; the agent says so and calls its ``transfer_call`` tool; the
UA places a second call through the trunk to the desk (a number ending in 771: the human-agent persona, or one
ending in 5: busy) and bridges the two calls. A target outside its staffed hours is not offered to the agent.

Ports (loopback only): simulator SIP 17520-17522 and RTP 45100-45131, UA worker SIP 17620 and RTP 46100-46115,
local agent 18620.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from campaigns.choices import ContactStatus, Disposition, TransferFallback
from campaigns.models import AgentProfile, CallAttempt, Contact, TransferTarget
from local_agent.server import RunningAgent, start_in_thread
from media.speech.tts import synthesize
from simulator.calllog import find_call, read_records
from telephony.models import Trunk
from testing.sipp import SippRun, header, write_rtp_speech_pcap
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    dialable_contact,
    hand_to_pool,
    media_bridge_worker,
    queue_attempt,
    running_simulator,
    wait_ended,
    wait_for,
)
from tests.telephony.recordings import PROMPT, VOICED_RMS, frame_rms, read_wav

pytestmark = [pytest.mark.django_db(transaction=True)]

SIM_PORT = 17520
SIM_RTP_BASE = 45100
UA_SIP_PORT = 17620
UA_RTP_PORT = 46100
AGENT_PORT = 18620
CALLER = "+12025550770"  # the person who asks for a human
DESK = "+12025550771"  # the human agent at the transfer desk
DECLINING_DESK = "+12025550772"  # the human agent who declines a warm transfer
SAYS_YES_DESK = "+12025550773"  # the human agent who accepts a warm transfer by voice
SAYS_NO_DESK = "+12025550774"  # the human agent who declines a warm transfer by voice
BUSY_DESK = "+12025550775"  # busy (486)
OUTCOMES = [{"label": "interested", "description": "Wants the quote.", "fields": []}]


@pytest.fixture(scope="module")
def local_agent() -> Iterator[RunningAgent]:
    """The embedded local agent on its own thread."""
    agent = start_in_thread("127.0.0.1", AGENT_PORT)
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """`manage.py simulate_pstn` (front + 2 workers: the caller's call and the desk's)."""
    with running_simulator(tmp_path_factory.mktemp("transfer-sim"), SIM_PORT, SIM_RTP_BASE,
                           "--ring", "0.6", "--final-wait", "3", "--no-speech-timeout", "15", "--hangup-delay", "0.3",
                           "--max-call", "40") as paths:
        yield paths


@pytest.fixture(scope="module")
def bridged_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, local_agent: RunningAgent
) -> Iterator[str]:
    """A UA worker process with the default hooks (the media bridge and the transfer flow)."""
    log = tmp_path_factory.mktemp("transfer-ua") / "worker.log"
    with media_bridge_worker(f"test-transfer-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, log, local_agent.url) as name:
        yield name


def _contact(**target: Any) -> Contact:
    """The person who asks for a human, in a campaign with one transfer target (staffed all day by default)."""
    contact = dialable_contact(
        TrunkFactory(host="127.0.0.1", port=SIM_PORT), phone_e164=CALLER, name="Ada", ring_timeout_s=10, max_call_s=60
    )
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
        provider="local", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam.", outcome_schema=OUTCOMES
    )
    fields: dict[str, Any] = {
        "name": "Sales desk",
        "destination": DESK,
        "time_zone": "UTC",
        "staffed_days": list(range(7)),
        "staffed_start": dt.time(0, 0),
        "staffed_end": dt.time(23, 59),
        "max_wait_s": 10,
        "fallback": TransferFallback.END,
    }
    fields.update(target)
    TransferTarget.objects.create(campaign=contact.campaign, **fields)
    return contact


def _call(registry: redis.Redis, contact: Contact, timeout_s: float = 60) -> CallAttempt:
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    return wait_ended(attempt, timeout_s=timeout_s)


def _sim_calls(log: Path, number: str) -> list[dict[str, Any]]:
    records = read_records(log) if log.exists() else []
    return [c for c in records if c.get("kind") == "call" and str(c.get("number", "")).endswith(number[1:])]


def _recorded_after_the_answer_ms(attempt: CallAttempt, channel: int = 0) -> int:
    """How much voiced audio a channel of the recording holds after the target answered (the whole call is
    recorded: after a bridged or warm transfer the caller on the first channel, the person at the target on the
    second)."""
    channels = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    answered_ms = attempt.transfer["requested_ms"] + attempt.transfer["answer_ms"]
    voiced = frame_rms(channels[channel]) >= VOICED_RMS
    return int(voiced[answered_ms // 20 + 25 :].sum()) * 20  # from half a second after the answer


def _after_the_handover(attempt: CallAttempt, speaker: str) -> list[dict[str, Any]]:
    """The transcript's segments of `speaker` after the target answered (the UA's own recognition)."""
    answered_ms = attempt.transfer["requested_ms"] + attempt.transfer["answer_ms"]
    return [s for s in attempt.transcript if s["speaker"] == speaker and s["start_ms"] >= answered_ms - 500]


def _agent_text(attempt: CallAttempt) -> str:
    return " ".join(str(s["text"]) for s in attempt.transcript if s["speaker"] == "agent").lower()


def test_cold_transfer_by_a_bridged_second_call_hands_the_person_to_the_desk(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a person who asks for a human, and a desk staffed now on a trunk without REFER
    contact = _contact()
    # when the call runs
    attempt = _call(registry, contact)
    # then the attempt ended transferred, with the target, the method and the time to answer
    assert attempt.disposition == Disposition.TRANSFERRED, (attempt.reason, attempt.transcript)
    transfer = attempt.transfer
    assert transfer["target"] == "Sales desk"
    assert transfer["method"] == "bridge"
    assert transfer["accepted"] is True
    assert transfer["sip_code"] == 200
    assert 0 < transfer["answer_ms"] < 10_000
    assert transfer["abandoned"] is False
    assert "transfer" in _agent_text(attempt), attempt.transcript  # the agent told the person first
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.DONE
    # and the desk got a call through the trunk, answered it and spoke; the person heard the desk through the UA
    desk = wait_for(lambda: _sim_calls(simulator["log"], DESK), 15, "the desk's call record")[0]
    caller = wait_for(lambda: find_call(simulator["log"], call_id=attempt.sip_call_id), 15, "the caller's record")
    assert desk["persona"] == "human_agent"
    assert desk["said"][0]["text"].startswith("Sales desk")
    desk_answered = dt.datetime.fromisoformat(desk["started_at"]) + dt.timedelta(milliseconds=desk["answered_ms"])
    caller_started = dt.datetime.fromisoformat(caller["started_at"])
    after_answer = [
        h for h in caller["heard"] if caller_started + dt.timedelta(milliseconds=h["end_ms"]) > desk_answered
    ]
    assert after_answer, (caller["heard"], desk)
    # and the desk heard the person (the bridge carries both directions)
    assert desk["heard"], desk
    # and the recording goes on after the answer: both people are on it, each on a channel
    assert attempt.recording
    assert _recorded_after_the_answer_ms(attempt, channel=1) > 1000  # the desk
    assert _recorded_after_the_answer_ms(attempt, channel=0) > 500  # the person
    # and what both said after the hand-over is in the transcript, attributed, in time order, timed after it
    human = _after_the_handover(attempt, "human_agent")
    assert human, attempt.transcript
    assert any(w in " ".join(s["text"] for s in human) for w in ("desk", "help", "sure", "goodbye")), human
    assert _after_the_handover(attempt, "caller"), attempt.transcript
    starts = [s["start_ms"] for s in attempt.transcript]
    assert starts == sorted(starts), attempt.transcript
    print(f"bridged transfer: answered after {transfer['answer_ms']} ms; desk heard {desk['heard']}")
    print(f"after the hand-over: {[(s['speaker'], s['text']) for s in attempt.transcript if s in human] }")


def test_busy_target_falls_back_to_a_polite_end(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a desk that is busy (486) and the "end politely" fallback with its own message
    contact = _contact(destination=BUSY_DESK, fallback_message="Sorry {{name}}, the desk is busy. Goodbye.")
    attempt = _call(registry, contact)
    # then the person was not transferred: the fallback is on record and the call ended after its message
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transcript)
    transfer = attempt.transfer
    assert (transfer["accepted"], transfer["sip_code"], transfer["fallback"]) == (False, 486, "end")
    assert transfer["answer_ms"] is None
    assert "transfer failed" in attempt.reason
    caller = wait_for(lambda: find_call(simulator["log"], call_id=attempt.sip_call_id), 15, "the caller's record")
    assert caller["events"][-1]["event"] == "bye_received", caller["events"]


def test_target_outside_its_hours_is_not_offered(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a desk staffed only on a day that is not today (in its zone)
    today = dt.datetime.now(dt.UTC).weekday()
    contact = _contact(staffed_days=[(today + 3) % 7])
    attempt = _call(registry, contact)
    # then the agent never had the tool: no transfer was attempted, the desk got no call
    assert attempt.transfer == {}, attempt.transfer
    assert attempt.disposition == Disposition.HUMAN
    assert not _sim_calls(simulator["log"], DESK) or all(
        c["started_at"] < attempt.dialing_at.isoformat() for c in _sim_calls(simulator["log"], DESK)
    )


# ---- warm transfer: the agent briefs the human agent, who takes the call with a key -----------------------


def test_warm_transfer_briefs_the_human_who_accepts_with_1_and_the_agent_leaves(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a warm target: the human agent persona listens to the briefing and presses 1
    contact = _contact(warm=True)
    attempt = _call(registry, contact)
    # then the call was handed over after the human accepted
    assert attempt.disposition == Disposition.TRANSFERRED, (attempt.reason, attempt.transfer, attempt.transcript)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["key"], transfer["sip_code"]) == ("warm", True, "1", 200)
    assert transfer["answer_ms"] > 0
    # and the briefing named the person and what they asked for, and told the human what to press
    assert "Ada is on the line" in transfer["briefing"]
    assert "representative" in transfer["briefing"].lower()
    assert transfer["briefing"].endswith("Press 1 or say yes to take the call; press 2 or say no to decline.")
    # and the human heard the briefing, pressed 1, and then heard the person (joined through the UA)
    desk = wait_for(lambda: _sim_calls(simulator["log"], DESK), 15, "the desk's call record")[-1]
    assert any(e["event"] == "dtmf_sent" and e["digit"] == "1" for e in desk["events"]), desk["events"]
    key_ms = next(e["ms"] for e in desk["events"] if e["event"] == "dtmf_sent")
    assert any(h["end_ms"] <= key_ms for h in desk["heard"]), desk  # the briefing, before the key
    assert any(h["start_ms"] > key_ms for h in desk["heard"]), desk  # the person, after the join
    # and the whole call is recorded: the briefing is not on the caller's channel, the two people after the join are
    assert _recorded_after_the_answer_ms(attempt, channel=0) + _recorded_after_the_answer_ms(attempt, channel=1) > 1000
    print(f"warm transfer: answered after {transfer['answer_ms']} ms; briefing {transfer['briefing']!r}")


def test_warm_transfer_declined_with_2_falls_back(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a warm target whose human declines (2), and the "back to the agent" fallback
    contact = _contact(warm=True, destination=DECLINING_DESK, fallback=TransferFallback.AGENT)
    attempt = _call(registry, contact)
    # then the person was not handed over; the fallback is on record; the desk's call was ended by the UA
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transfer)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["declined"], transfer["key"]) == (
        "warm",
        False,
        True,
        "2",
    )
    assert transfer["fallback"] == "agent"
    assert transfer["answer_ms"] is not None
    desk = wait_for(lambda: _sim_calls(simulator["log"], DECLINING_DESK), 15, "the desk's call record")[-1]
    assert desk["events"][-1]["event"] == "bye_received", desk["events"]


# ---- warm transfer answered in words: the UA recognises the human's reply on the second call ------------------


def test_warm_transfer_accepted_by_voice_hands_over_and_both_people_are_transcribed(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a warm target whose human answers the briefing with "Yes, put them through." and presses no key
    contact = _contact(warm=True, destination=SAYS_YES_DESK)
    attempt = _call(registry, contact)
    # then the call was handed over on the spoken reply
    assert attempt.disposition == Disposition.TRANSFERRED, (attempt.reason, attempt.transfer, attempt.transcript)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["key"]) == ("warm", True, ""), transfer
    assert "through" in transfer["said"] or "yes" in transfer["said"], transfer
    desk = wait_for(lambda: _sim_calls(simulator["log"], SAYS_YES_DESK), 15, "the desk's call record")[-1]
    assert not any(e["event"] == "dtmf_sent" for e in desk["events"]), desk["events"]
    # and the desk's greeting at the pick-up ("Sales desk, this is Jo.") was not taken for the reply: the
    # reply came after the briefing, and the person heard the desk after the join
    reply = next(s for s in desk["said"] if s["text"].startswith("Yes"))
    assert any(h["end_ms"] <= reply["start_ms"] for h in desk["heard"]), desk  # the briefing, before the reply
    # and after the hand-over both people are transcribed, attributed, and on their channels of the recording
    human = _after_the_handover(attempt, "human_agent")
    caller = _after_the_handover(attempt, "caller")
    assert human, attempt.transcript
    assert caller, attempt.transcript
    assert _recorded_after_the_answer_ms(attempt, channel=1) > 1000
    print(f"accepted by voice: said {transfer['said']!r}; after the hand-over: "
          f"{[(s['speaker'], s['text']) for s in [*caller, *human]]}")


def test_warm_transfer_declined_by_voice_falls_back(
    bridged_worker: str, simulator: dict[str, Path], registry: redis.Redis
) -> None:
    # given a warm target whose human says "Sorry, I can't take it now." (no key), and the polite end
    contact = _contact(warm=True, destination=SAYS_NO_DESK)
    attempt = _call(registry, contact)
    # then the person was not handed over: declined in words, the fallback applied, the desk's call ended by us
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transfer)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["declined"], transfer["key"]) == (
        "warm", False, True, ""), transfer
    assert transfer["said"], transfer
    assert transfer["fallback"] == "end"
    assert "transfer failed" in attempt.reason
    desk = wait_for(lambda: _sim_calls(simulator["log"], SAYS_NO_DESK), 15, "the desk's call record")[-1]
    assert desk["events"][-1]["event"] == "bye_received", desk["events"]
    assert not any(e["event"] == "dtmf_sent" for e in desk["events"]), desk["events"]
    # and nobody after a hand-over that did not happen is in the transcript
    assert not [s for s in attempt.transcript if s["speaker"] == "human_agent"], attempt.transcript


# ---- REFER: SIPp plays the person and stands for a trunk that allows REFER ----------------------------------


@pytest.fixture
def person_pcap(tmp_path: Path) -> Path:
    """The person's side of the call for SIPp: "Hello?", a pause, then a request for a representative."""
    return write_rtp_speech_pcap(
        tmp_path / "person.pcap",
        [(200, synthesize("Hello?", 8000, repeatable=True)),
         (9000, synthesize("I want to speak to a representative.", 8000, repeatable=True))],
    )


def _refer_contact(peer: SippRun, **target: Any) -> Contact:
    contact = _contact(**target)
    Trunk.objects.filter(pk=contact.campaign.trunk_id).update(port=peer.port, allow_refer=True)
    return Contact.objects.get(pk=contact.pk)


def test_cold_transfer_by_refer_follows_the_notifies_and_ends_transferred(
    bridged_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun], person_pcap: Path
) -> None:
    # given a person who asks for a human, on a trunk that accepts REFER
    peer = sipp("uas_refer_person_accepted.xml", rtp_echo=False)
    contact = _refer_contact(peer)
    # when the call runs
    attempt = _call(registry, contact)
    # then the REFER named the desk through the trunk, both NOTIFYs were answered, and our leg left with a BYE
    assert peer.wait(15) == 0
    [refer] = peer.received("REFER")
    assert f"sip:{DESK}@127.0.0.1:{peer.port}" in (header(refer, "Refer-To") or "")
    assert len(peer.received("BYE")) == 1
    assert attempt.disposition == Disposition.TRANSFERRED, (attempt.reason, attempt.transcript)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["sip_code"]) == ("refer", True, 200)
    assert transfer["answer_ms"] is not None
    assert attempt.reason == "transferred to Sales desk (refer)"


def test_refused_refer_falls_back_to_a_call_back_offer(
    bridged_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun], person_pcap: Path
) -> None:
    # given a trunk flagged for REFER that refuses it (403), and the call-back fallback
    peer = sipp("uas_refer_person_refused.xml", rtp_echo=False)
    contact = _refer_contact(peer, fallback=TransferFallback.CALLBACK)
    attempt = _call(registry, contact)
    # then the person heard the offer and the call ended; the contact is called back later
    assert peer.wait(15) == 0
    assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transcript)
    transfer = attempt.transfer
    assert (transfer["method"], transfer["accepted"], transfer["sip_code"], transfer["fallback"]) == (
        "refer",
        False,
        403,
        "callback",
    )
    assert attempt.reason == "transfer failed: callback"
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.RETRY_SCHEDULED
