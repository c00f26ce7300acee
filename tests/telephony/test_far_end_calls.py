"""Bridged calls against an independent far end: a baresip phone (Debian's SIP stack, not pjsua2) that says
recorded audio spoken by Flite (not the product's eSpeak NG) and records what it heard, decoded by its own G.711.

The simulator's far end is built from the product's UA, VAD and TTS; a bug shared by both sides cannot show there.
Here the person, the answering machine and what they heard are judged by code that shares nothing with the product
but the recording levels read in `tests/telephony/recordings.py`.

Paths: a person detected by AMD and talking with the local agent; an opt-out said in words outside the local
agent's answer corpus; a voicemail drop after a beep, after a greeting without a beep, after a beep that comes
10 s into a long greeting, and when the beep-wait times out; after an undecided answer, a beep that makes the
connected call a machine's, and a tone in the room of a person who listens that does not.

Ports (loopback only): UA worker SIP 17820 and RTP 46300-46315, baresip 17980 and RTP 47500-47509, local agent
18620.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from django.conf import settings

from campaigns.choices import ContactStatus, Disposition, DncSource, MachinePolicy
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, DoNotCall
from local_agent.server import RunningAgent, start_in_thread
from media.speech.tts import synthesize
from telephony.conversation.voicemail import BEEP_WAIT_MAX_S, GREETING_END_SILENCE_MS
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    dialable_contact,
    hand_to_pool,
    media_bridge_worker,
    queue_attempt,
    wait_ended,
)
from tests.telephony.far_end_audio import (
    flite_speech,
    heard_by_phone,
    seconds,
    silence,
    tone,
    voiced_spans,
    write_wav,
)
from tests.telephony.recordings import PROMPT, read_wav, voiced_frames
from tests.telephony.sip_peers import baresip_phone

pytestmark = [pytest.mark.django_db(transaction=True)]

UA_SIP_PORT = 17820
UA_RTP_PORT = 46300
PHONE_PORT = 17980
PHONE_RTP_PORT = 47500
AGENT_PORT = 18620
OUTCOMES = [
    {"label": "interested", "description": "Wants the quote.", "fields": []},
    {"label": "not_interested", "description": "Declined.", "fields": []},
    {"label": "callback", "description": "Call back later.", "fields": []},
    {"label": "opted_out", "description": "Asked not to be called again.", "fields": []},
]
VOICEMAIL = "Hi {{name}}, this is Sam from Sunny Solar. Please call us back. Goodbye."
MACHINE_GREETING = (
    "Hello, you have reached the Miller family. Nobody can come to the phone right now. "
    "Please leave your name and number after the tone."
)


@pytest.fixture(scope="module")
def local_agent() -> Iterator[RunningAgent]:
    """The embedded local agent on its own thread (the AI of these calls)."""
    agent = start_in_thread("127.0.0.1", AGENT_PORT)
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def bridged_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, local_agent: RunningAgent
) -> Iterator[str]:
    """A UA worker process with the default hooks (AMD, the AI bridge, voicemail, opt-out)."""
    log = tmp_path_factory.mktemp("far-end-ua") / "worker.log"
    with media_bridge_worker(f"test-far-end-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, log, local_agent.url) as name:
        yield name


def _contact(number: str, **campaign_fields: Any) -> Contact:
    """A dialable contact on the baresip phone whose campaign talks through the local agent, AMD on."""
    contact = dialable_contact(
        TrunkFactory(host="127.0.0.1", port=PHONE_PORT), phone_e164=number, name="Ada", ring_timeout_s=10
    )
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
        provider="local",
        url="",
        prompt_template=PROMPT,
        greeting="Hello {{name}}, this is Sam.",
        outcome_schema=OUTCOMES,
    )
    Campaign.objects.filter(pk=contact.campaign_id).update(amd_enabled=True, **campaign_fields)
    return contact


def _call_phone(
    registry: redis.Redis, tmp_path: Path, number: str, says: Path, quit_after_s: int, **campaign_fields: Any
) -> tuple[CallAttempt, np.ndarray]:
    """Call a baresip phone that says `says`; return the ended attempt and what the phone heard."""
    with baresip_phone(
        tmp_path, number=number, port=PHONE_PORT, rtp_port=PHONE_RTP_PORT, speech=says, quit_after_s=quit_after_s
    ) as phone_dir:
        contact = _contact(number, **campaign_fields)
        attempt = queue_attempt(contact)
        hand_to_pool(registry, attempt)
        ended = wait_ended(attempt, timeout_s=quit_after_s + 20)
    return ended, heard_by_phone(phone_dir)


def _caller_text(attempt: CallAttempt) -> str:
    return " ".join(str(s["text"]) for s in attempt.transcript if s["speaker"] == "caller").lower()


def _speech_ms(text: str) -> int:
    return len(synthesize(text, 8000)) // 16


# ---- a person ---------------------------------------------------------------------------------------------------


def test_a_person_on_a_baresip_phone_is_detected_and_talks_with_the_agent(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a person who answers "Hello?", waits, then says they are interested once the agent has spoken
    hello = flite_speech("Hello?", tmp_path)
    answer = flite_speech("Yes, I am interested. Tell me more.", tmp_path)
    says = write_wav(tmp_path / "person.wav", silence(0.4), hello, silence(6.0), answer, silence(14))
    # when the campaign calls them, AMD on
    attempt, heard = _call_phone(registry, tmp_path, "+12025550240", says, quit_after_s=16)
    # then AMD took them for a person and bridged the call to the AI
    assert attempt.amd_result == "human", (attempt.amd_result, attempt.reason)
    assert attempt.disposition == Disposition.HUMAN, (attempt.disposition, attempt.reason)
    assert attempt.bridged_at is not None
    # what they said reached the AI, in the transcript and on the caller channel of the recording
    assert {"yes", "interested"} & set(_caller_text(attempt).split()), attempt.transcript
    caller, agent = read_wav(Path(settings.RECORDINGS_ROOT) / attempt.recording)
    assert voiced_frames(caller) >= 40, voiced_frames(caller)
    assert voiced_frames(agent) >= 40, voiced_frames(agent)
    # the agent answered with its outcome, and the phone heard the agent speak before and after the answer
    assert attempt.outcome == "interested", (attempt.outcome, attempt.outcome_error, attempt.transcript)
    answer_at_ms = round(seconds(silence(0.4), hello, silence(6.0)) * 1000)
    spans = voiced_spans(heard)
    assert any(end <= answer_at_ms for _start, end in spans), spans
    assert any(start >= answer_at_ms for start, _end in spans), spans
    print(f"baresip person: {attempt.reason}; caller said {_caller_text(attempt)!r}; phone heard {spans}")


def test_an_opt_out_in_words_outside_the_corpus_puts_the_number_on_the_do_not_call_list(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a person who asks, in words the local agent's answer corpus does not hold, not to be called again
    hello = flite_speech("Hello?", tmp_path)
    request = flite_speech("Please don't ring this number any more.", tmp_path)
    says = write_wav(tmp_path / "person.wav", silence(0.4), hello, silence(6.0), request, silence(14))
    # when the campaign calls them
    attempt, heard = _call_phone(registry, tmp_path, "+12025550243", says, quit_after_s=16)
    # then the call ended opted out, the number went on the do-not-call list during the call, and the phone
    # heard the thank-you after its request
    assert attempt.disposition == Disposition.OPTED_OUT, (attempt.disposition, attempt.reason, attempt.transcript)
    entry = DoNotCall.objects.get(phone_e164="+12025550243", campaign=None)
    assert entry.source == DncSource.OPT_OUT
    assert entry.note.startswith(f"attempt {attempt.pk}: "), entry.note
    assert attempt.ended_at is not None
    assert entry.created_at < attempt.ended_at
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.DNC
    request_end_ms = round(seconds(silence(0.4), hello, silence(6.0), request) * 1000)
    assert any(start >= request_end_ms for start, _end in voiced_spans(heard)), voiced_spans(heard)
    print(f"baresip opt-out: {attempt.reason}; caller said {_caller_text(attempt)!r}")


# ---- answering machines -----------------------------------------------------------------------------------------


def _assert_message_heard(heard: np.ndarray, after_ms: int, within_ms: int) -> tuple[int, int]:
    """The phone heard the voicemail message start between `after_ms` and `after_ms + within_ms` of the call,
    and last at least 80 % of its spoken length; returns (start, length) in ms."""
    message_ms = _speech_ms(VOICEMAIL.replace("{{name}}", "Ada"))
    spans = [span for span in voiced_spans(heard) if span[1] > after_ms]
    assert spans, f"the phone heard nothing after {after_ms} ms: {voiced_spans(heard)}"
    start, end = spans[0][0], spans[-1][1]
    assert after_ms <= start <= after_ms + within_ms, (after_ms, spans)
    assert end - start >= 0.8 * message_ms, (spans, message_ms)
    assert not [span for span in voiced_spans(heard) if span[1] <= after_ms], (
        f"the phone heard us before {after_ms} ms: {voiced_spans(heard)}"
    )
    return start, end - start


def test_voicemail_message_starts_after_the_beep_of_a_machine_on_a_baresip_phone(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given an answering machine: a greeting, a 1 kHz beep, then silence while it records
    greeting = flite_speech(MACHINE_GREETING, tmp_path)
    parts = (silence(0.3), greeting, silence(0.3), tone(1000, 0.5))
    says = write_wav(tmp_path / "machine.wav", *parts, silence(20))
    attempt, heard = _call_phone(
        registry,
        tmp_path,
        "+12025550244",
        says,
        quit_after_s=18,
        machine_policy=MachinePolicy.LEAVE_MESSAGE,
        voicemail_message=VOICEMAIL,
    )
    # then the message was left after the beep, and the machine heard it start within 1 s of the beep's end
    assert attempt.amd_result == "machine", (attempt.amd_result, attempt.reason)
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, attempt.reason
    assert attempt.reason == "voicemail message left after the beep"
    assert attempt.bridged_at is None
    start, length = _assert_message_heard(heard, round(seconds(*parts) * 1000), within_ms=1000)
    print(f"baresip voicemail: beep end {seconds(*parts):.2f}s, message heard at {start} ms for {length} ms")


def test_voicemail_without_a_beep_is_left_after_the_greeting(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a machine whose greeting ends in silence, with no beep at all
    greeting = flite_speech(MACHINE_GREETING, tmp_path)
    parts = (silence(0.3), greeting)
    says = write_wav(tmp_path / "machine.wav", *parts, silence(20))
    attempt, heard = _call_phone(
        registry,
        tmp_path,
        "+12025550245",
        says,
        quit_after_s=18,
        machine_policy=MachinePolicy.LEAVE_MESSAGE,
        voicemail_message=VOICEMAIL,
    )
    # then the message was left once the greeting had been quiet for the greeting-end silence, and the machine
    # heard it start then (not over the greeting, not 20 s later)
    assert attempt.amd_result == "machine", (attempt.amd_result, attempt.reason)
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, attempt.reason
    assert attempt.reason == "voicemail message left after the greeting"
    greeting_end_ms = round(seconds(*parts) * 1000)
    start, length = _assert_message_heard(heard, greeting_end_ms + GREETING_END_SILENCE_MS - 100, within_ms=1500)
    print(f"baresip no beep: greeting end {greeting_end_ms} ms, message heard at {start} ms for {length} ms")


def test_voicemail_waits_through_a_long_greeting_for_a_beep_after_10_s(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a machine that talks for 10 s (sentences with short pauses) before its beep
    sentence = flite_speech(MACHINE_GREETING, tmp_path)
    talk = np.concatenate([sentence, silence(0.5), sentence, silence(0.5), sentence])[: 10 * 8000]
    parts = (silence(0.3), talk, silence(0.3), tone(1000, 0.5))
    says = write_wav(tmp_path / "machine.wav", *parts, silence(20))
    attempt, heard = _call_phone(
        registry,
        tmp_path,
        "+12025550246",
        says,
        quit_after_s=24,
        machine_policy=MachinePolicy.LEAVE_MESSAGE,
        voicemail_message=VOICEMAIL,
    )
    # then the message was left after the beep, which the machine heard start within 1 s of the beep's end
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, attempt.reason
    assert attempt.reason == "voicemail message left after the beep"
    beep_end_ms = round(seconds(*parts) * 1000)
    assert beep_end_ms > 10_000
    start, length = _assert_message_heard(heard, beep_end_ms, within_ms=1000)
    print(f"baresip late beep: beep end {beep_end_ms} ms, message heard at {start} ms for {length} ms")


def test_voicemail_is_left_when_the_beep_wait_times_out(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a machine that never beeps and never pauses for long (a greeting read over and over)
    sentence = flite_speech(MACHINE_GREETING, tmp_path)
    talk = np.concatenate([np.concatenate([sentence, silence(0.4)]) for _ in range(6)])
    parts = (silence(0.3), talk)
    assert seconds(*parts) > BEEP_WAIT_MAX_S + 8
    says = write_wav(tmp_path / "machine.wav", *parts, silence(10))
    attempt, heard = _call_phone(
        registry,
        tmp_path,
        "+12025550247",
        says,
        quit_after_s=40,
        machine_policy=MachinePolicy.LEAVE_MESSAGE,
        voicemail_message=VOICEMAIL,
        # the campaign default (5 s): a greeting read in one breath is called a machine after 4.4 s of speech, and
        # a person who answers in one breath is never cut off sooner (media/amd, people first)
        amd_max_decision_ms=5000,
    )
    # then the message was left once the wait for the beep ran out, over the greeting, and the machine heard it
    assert attempt.amd_result == "machine", (attempt.amd_result, attempt.reason)
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, attempt.reason
    assert attempt.reason == "voicemail message left after the timeout"
    assert attempt.answered_at is not None
    assert attempt.ended_at is not None
    talk_s = (attempt.ended_at - attempt.answered_at).total_seconds()
    assert BEEP_WAIT_MAX_S < talk_s < BEEP_WAIT_MAX_S + 4 + 8, talk_s
    # (the wait starts at the AMD decision, which may take up to its 5 s deadline, plus delivery)
    start, length = _assert_message_heard(heard, round(BEEP_WAIT_MAX_S * 1000), within_ms=7000)
    print(f"baresip no beep, endless greeting: message heard at {start} ms for {length} ms; talk {talk_s:.1f}s")


# ---- after an undecided answer ----------------------------------------------------------------------------------


def _call_undecided(
    registry: redis.Redis, tmp_path: Path, number: str, parts: tuple[np.ndarray, ...], quit_after_s: int
) -> tuple[CallAttempt, np.ndarray]:
    """Call a phone that says `parts` then stays quiet, with an AMD deadline of 1.5 s (a far end still talking
    then is left undecided and connected) and the leave-a-message policy."""
    says = write_wav(tmp_path / "far-end.wav", *parts, silence(quit_after_s))
    return _call_phone(
        registry,
        tmp_path,
        number,
        says,
        quit_after_s=quit_after_s,
        machine_policy=MachinePolicy.LEAVE_MESSAGE,
        voicemail_message=VOICEMAIL,
        amd_max_decision_ms=1500,
    )


def test_a_greeting_that_runs_past_the_deadline_and_beeps_gets_the_voicemail_after_all(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a machine whose greeting is still going at the campaign's early AMD deadline (1.5 s: AMD connects the
    # agent, undecided), then beeps and records
    greeting = flite_speech(MACHINE_GREETING, tmp_path)
    parts = (silence(0.3), greeting, silence(0.3), tone(1000, 0.5))
    attempt, heard = _call_undecided(registry, tmp_path, "+12025550248", parts, quit_after_s=20)
    # then the call was bridged (the agent talked over the greeting), the beep made it a machine, and the
    # voicemail message was left after the beep: the machine heard it start within 1 s of the beep's end
    assert attempt.bridged_at is not None
    assert attempt.amd_result == "machine", (attempt.amd_result, attempt.reason)
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT, (attempt.reason, attempt.transcript)
    assert attempt.reason == "voicemail message left after the late beep"
    beep_end_ms = round(seconds(*parts) * 1000)
    message_ms = _speech_ms(VOICEMAIL.replace("{{name}}", "Ada"))
    spans = [span for span in voiced_spans(heard) if span[1] > beep_end_ms]
    assert spans, voiced_spans(heard)
    assert beep_end_ms <= spans[0][0] <= beep_end_ms + 1000, (beep_end_ms, spans)
    assert spans[-1][1] - spans[0][0] >= 0.8 * message_ms, (spans, message_ms)
    print(f"baresip beep after an undecided answer: beep end {beep_end_ms} ms, message heard at {spans[0][0]} ms")


def test_a_tone_in_the_room_of_a_person_who_listens_does_not_end_the_call(
    bridged_worker: str, registry: redis.Redis, tmp_path: Path
) -> None:
    # given a person still in their sentence at the early deadline (undecided, connected), who then listens to the
    # agent while a kitchen timer beeps behind them (a pure 1 kHz tone, then quiet, like a machine's beep)
    sentence = flite_speech("Hello, Ada here, yes I am interested, tell me more.", tmp_path)
    parts = (silence(0.3), sentence, silence(2.5), tone(1000, 0.5))
    attempt, _heard = _call_undecided(registry, tmp_path, "+12025550249", parts, quit_after_s=18)
    # then the call stayed with the agent: no machine decision, no voicemail message (the call lasts well past
    # the tone and the quiet after it)
    assert attempt.answered_at is not None
    assert attempt.ended_at is not None
    talk_s = (attempt.ended_at - attempt.answered_at).total_seconds()
    assert talk_s > seconds(*parts) + 2, (talk_s, attempt.reason, attempt.transcript)
    assert attempt.bridged_at is not None
    assert attempt.amd_result == "unknown", (attempt.amd_result, attempt.reason)
    assert attempt.disposition not in (Disposition.MACHINE, Disposition.VOICEMAIL_LEFT), attempt.reason
    print(f"baresip tone after listening: {attempt.disposition} ({attempt.reason})")
