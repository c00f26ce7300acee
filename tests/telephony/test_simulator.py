"""The simulated phone network: personas by number, SIP outcomes, turn-taking, and the far end's log.

The end-to-end tests start `manage.py simulate_pstn` (front + 3 worker processes) and dial every persona's
number once with a bare dialer built from the UA pool's own `CallManager` (`testing/sim_caller.py`),
which follows the front's 302 and plays a scripted agent. Ports (loopback only): simulator SIP 17000-17003,
its RTP 40000-40047; the caller SIP 17100, RTP 41000-41015.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media.speech.tts import synthesize
from simulator.calllog import append_record, find_call, read_records
from simulator.conversation import FRAME_BYTES, Conversation
from simulator.front import FrontConfig, SimulatorFront, build_response, parse_message
from simulator.personas import (
    GREETING,
    INTERRUPTION,
    REPLIES,
    SUFFIX_PLAN,
    Persona,
    SimulatorOptions,
    persona_for_number,
)
from tests.telephony.conftest import stop_process

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
FRONT_PORT = 17000
CALLER_SIP_PORT = 17100
CALLER_RTP_PORT = 41000
NUMBERS = {digit: f"+1202555010{digit}" for digit in "0123456789"}


# ---- the plan and the front's SIP, without processes ---------------------------------------------------------


def test_persona_is_chosen_by_the_last_digit() -> None:
    assert persona_for_number("+12025550100") == Persona.INTERESTED
    assert persona_for_number("12025550105") == Persona.BUSY
    assert persona_for_number("+1 (202) 555-0109") == Persona.INTERRUPTER
    assert persona_for_number("4;phone-context=x") == Persona.VOICEMAIL
    assert persona_for_number("alice") == Persona.INVALID
    assert {persona_for_number(f"55501{d}") for d in "0123456789"} == set(Persona) - set(SUFFIX_PLAN.values())


def test_transfer_personas_are_chosen_by_the_last_three_digits() -> None:
    assert persona_for_number("+12025550770") == Persona.WANTS_PERSON
    assert persona_for_number("+12025550771") == Persona.HUMAN_AGENT
    assert persona_for_number("+12025550772") == Persona.HUMAN_AGENT_DECLINES
    assert persona_for_number("+12025550773") == Persona.HUMAN_AGENT_SAYS_YES
    assert persona_for_number("+12025550774") == Persona.HUMAN_AGENT_SAYS_NO
    assert persona_for_number("+12025550763") == Persona.STOP_CALLING  # other endings keep the last-digit plan
    assert persona_for_number("+12025550170") == Persona.INTERESTED


INVITE = (
    "INVITE sip:+12025550103@127.0.0.1:17000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5099;rport;branch=z9hG4bK-abc\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:dialer@127.0.0.1>;tag=from1\r\n"
    "To: <sip:+12025550103@127.0.0.1>\r\n"
    "Call-ID: call-1\r\n"
    "CSeq: 7 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


def _front(tmp_path: Path, workers: int = 2) -> SimulatorFront:
    front = SimulatorFront(FrontConfig(port=FRONT_PORT, workers=workers,
                                       options=SimulatorOptions(log_path=str(tmp_path / "log.jsonl"))))
    for worker in front.workers:  # workers that reported in, with a running process
        worker.last_seen = time.monotonic()
        worker.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    return front


def _stop(front: SimulatorFront) -> None:
    for worker in front.workers:
        if worker.process is not None:
            worker.process.kill()
            worker.process.wait()
    front.sock.close()


def test_front_redirects_an_invite_to_the_least_loaded_worker_and_repeats_itself_on_retransmission(
        tmp_path: Path) -> None:
    front = _front(tmp_path)
    try:
        front.workers[0].live_calls = 3
        now = time.monotonic()
        answer = front.handle(INVITE.encode(), ("127.0.0.1", 5099), now)
        assert answer is not None
        start, headers = parse_message(answer)
        assert start == "SIP/2.0 302 Moved Temporarily"
        assert dict(headers)["contact"] == f"<sip:+12025550103@127.0.0.1:{FRONT_PORT + 2}>"
        assert dict(headers)["via"] == "SIP/2.0/UDP 127.0.0.1:5099;rport=5099;branch=z9hG4bK-abc;received=127.0.0.1"
        assert dict(headers)["to"].startswith("<sip:+12025550103@127.0.0.1>;tag=")
        assert dict(headers)["cseq"] == "7 INVITE"
        # a retransmission gets the very same answer; the ACK and a late CANCEL are absorbed / answered 200
        assert front.handle(INVITE.encode(), ("127.0.0.1", 5099), now + 0.5) == answer
        ack = INVITE.replace("INVITE sip", "ACK sip").replace("7 INVITE", "7 ACK")
        assert front.handle(ack.encode(), ("127.0.0.1", 5099), now + 0.6) is None
        cancel = INVITE.replace("INVITE sip", "CANCEL sip").replace("7 INVITE", "7 CANCEL")
        cancelled = front.handle(cancel.encode(), ("127.0.0.1", 5099), now + 0.7)
        assert cancelled is not None
        assert cancelled.startswith(b"SIP/2.0 200 OK")
        redirect = read_records(tmp_path / "log.jsonl")[-1]
        assert redirect["kind"] == "redirect"
        assert (redirect["call_id"], redirect["worker"], redirect["persona"]) == ("call-1", "sim-1", "stop_calling")
    finally:
        _stop(front)


def test_front_answers_503_and_logs_an_overflow_when_every_worker_is_full(tmp_path: Path) -> None:
    front = _front(tmp_path, workers=1)
    try:
        front.workers[0].live_calls = 4
        answer = front.handle(INVITE.encode(), ("127.0.0.1", 5099), time.monotonic())
        assert answer is not None
        assert answer.startswith(b"SIP/2.0 503 Simulator Full")
        assert read_records(tmp_path / "log.jsonl")[-1]["kind"] == "overflow"
        # a worker's report frees a line; a redirect then holds it until the worker reports that INVITE
        front.handle(b"SIMSTAT 0 3 10", ("127.0.0.1", 17001), time.monotonic())
        other = INVITE.replace("call-1", "call-2").encode()
        assert front.handle(other, ("127.0.0.1", 5099), time.monotonic()).startswith(b"SIP/2.0 302")
        third = INVITE.replace("call-1", "call-3").encode()
        assert front.handle(third, ("127.0.0.1", 5099), time.monotonic()).startswith(b"SIP/2.0 503")
        front.handle(b"SIMSTAT 0 3 11", ("127.0.0.1", 17001), time.monotonic())  # it arrived and ended at once
        fourth = INVITE.replace("call-1", "call-4").encode()
        assert front.handle(fourth, ("127.0.0.1", 5099), time.monotonic()).startswith(b"SIP/2.0 302")
    finally:
        _stop(front)


def test_response_copies_every_via_and_keeps_an_existing_to_tag() -> None:
    _, headers = parse_message(
        b"BYE sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/UDP b:2;branch=z9hG4bK2\r\n"
        b"f: <sip:a@b>;tag=1\r\nt: <sip:x@y>;tag=2\r\ni: c\r\nCSeq: 2 BYE\r\n\r\n")
    start, out = parse_message(build_response(481, "Call/Transaction Does Not Exist", headers, ("10.0.0.9", 1),
                                               to_tag="new"))
    assert start == "SIP/2.0 481 Call/Transaction Does Not Exist"
    assert [v for k, v in out if k == "via"] == ["SIP/2.0/UDP a:1;branch=z9hG4bK1;received=10.0.0.9",
                                                 "SIP/2.0/UDP b:2;branch=z9hG4bK2"]
    assert dict(out)["to"] == "<sip:x@y>;tag=2"


def test_call_log_appends_whole_lines_and_finds_the_latest_call(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "log.jsonl"
    append_record(log, {"kind": "call", "call_id": "a", "number": "1", "n": 1})
    append_record(log, {"kind": "redirect", "call_id": "a", "number": "1"})
    append_record(log, {"kind": "call", "call_id": "a", "number": "1", "n": 2})
    with log.open("a") as out:
        out.write('{"kind": "call", "call_id": "torn"')  # a writer killed mid-line
    assert find_call(log, call_id="a")["n"] == 2
    assert find_call(log, number="1")["n"] == 2
    assert find_call(log, call_id="torn") is None
    assert len(read_records(log)) == 3


# ---- turn-taking on a simulated clock ------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _timeline(seconds: float, speech: list[tuple[float, bytes]]) -> bytes:
    audio = bytearray(int(seconds * 8000) * 2)
    for at, pcm in speech:
        start = int(at * 8000) * 2
        audio[start:start + len(pcm)] = pcm
    return bytes(audio)


def _play(conversation: Conversation, clock: _Clock, audio: bytes) -> float | None:
    """Feed the agent's audio frame by frame in (simulated) real time; the time of the hang-up, if any."""
    conversation.answered_at = clock.t
    start = clock.t
    for i in range(0, len(audio), FRAME_BYTES):
        clock.t += 0.02
        conversation.on_frame(audio[i:i + FRAME_BYTES])
        conversation.next_frame()
        if conversation.step():
            return clock.t - start
    return None


def _speech_end(pcm: bytes) -> float:
    """Seconds until the last clearly voiced sample of a rendered phrase (eSpeak adds a little silence)."""
    samples = memoryview(pcm).cast("h")
    last = max(i for i in range(len(samples)) if abs(samples[i]) > 300)
    return last / 8000


def test_person_answers_after_the_agent_stops_and_hangs_up_after_its_goodbye() -> None:
    clock = _Clock()
    options = SimulatorOptions(silence_ms=700, hangup_delay_s=0.5)
    conversation = Conversation(Persona.NOT_INTERESTED, options, number="1", call_id="c", worker="w", clock=clock)
    pitch = synthesize("Hi, this is Alex from Acme Solar. Do you have a minute?", 8000)
    goodbye = synthesize("Thank you for your time. Goodbye.", 8000)
    pitch_end = 1.0 + _speech_end(pitch)
    goodbye_at = pitch_end + 3.5
    audio = _timeline(goodbye_at + 5, [(1.0, pitch), (goodbye_at, goodbye)])
    hung_up_at = _play(conversation, clock, audio)
    said = conversation.said
    assert [s["text"] for s in said] == [GREETING, *REPLIES[Persona.NOT_INTERESTED]]
    reply_at = said[1]["start_ms"] / 1000
    # the reply waits for 700 ms of silence after the agent's sentence, and not much more
    assert pitch_end + 0.6 <= reply_at <= pitch_end + 1.0
    goodbye_end = goodbye_at + _speech_end(goodbye)
    assert hung_up_at is not None
    assert goodbye_end + 1.1 <= hung_up_at <= goodbye_end + 1.5  # 700 ms of silence + 500 ms pause
    assert conversation.leave_reason == "agent finished"
    assert len(conversation.heard) == 2
    assert abs(conversation.heard[0]["start_ms"] / 1000 - 1.0) < 0.15


def test_interrupter_talks_over_the_agent_one_second_into_its_first_sentence() -> None:
    clock = _Clock()
    conversation = Conversation(Persona.INTERRUPTER, SimulatorOptions(), number="9", call_id="c", worker="w",
                                clock=clock)
    long_pitch = synthesize("Hi, this is Alex from Acme Solar, and we help families all over the state "
                            "cut their power bills with panels on their roofs.", 8000)
    _play(conversation, clock, _timeline(1.0 + len(long_pitch) / 16000 + 2, [(1.0, long_pitch)]))
    assert [s["text"] for s in conversation.said[:2]] == [GREETING, INTERRUPTION]
    interruption = conversation.interruption
    assert interruption is not None
    assert 1000 <= interruption["agent_talked_ms"] <= 1040
    assert 900 <= interruption["start_ms"] - interruption["agent_started_ms"] <= 1200
    # this agent never yielded: it kept talking until its sentence ended
    assert interruption["agent_stopped_after_ms"] >= 2000


# ---- end to end: the simulator processes and a pjsua2 dialer ------------------------------------------------


def _wait_for_text(path: Path, text: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"simulator not ready:\n{path.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def _running_simulator(workdir: Path, *, port: int, workers: int, rtp_port_base: int,
                       max_ring_s: float = 30) -> Iterator[dict[str, Path]]:
    """`manage.py simulate_pstn` with short timings; yields its log path, WAV directory and output."""
    paths = {"log": workdir / "log.jsonl", "wav": workdir / "wav", "out": workdir / "simulator.out"}
    command = [sys.executable, "manage.py", "simulate_pstn", "--port", str(port), "--workers", str(workers),
               "--rtp-port-base", str(rtp_port_base), "--log", str(paths["log"]), "--record-dir", str(paths["wav"]),
               "--ring", "0.3", "--greeting", "Please leave a message.", "--final-wait", "4",
               "--no-speech-timeout", "4", "--hangup-delay", "0.3", "--max-ring", str(max_ring_s)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    with paths["out"].open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT)
    try:
        _wait_for_text(paths["out"], "simulated network ready", 60, process)
        yield paths
    finally:
        stop_process(process)


def _dial(port: int, numbers: list[str], out: Path, *, sip_port: int, rtp_port: int,
          ring_timeout_s: float = 5) -> list[dict[str, Any]]:
    """Run the bare dialer against a simulator front; one result per number, in order."""
    proc = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "testing.sim_caller", "--port", str(port), "--sip-port", str(sip_port),
         "--rtp-port", str(rtp_port), "--ring-timeout", str(ring_timeout_s), "--reply-wait", "4",
         "--timeout", "120", "--out", str(out), *numbers],
        cwd=PROJECT_ROOT, capture_output=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    results: list[dict[str, Any]] = json.loads(out.read_text())
    return results


def _wait_for_far_end(log: Path, results: list[dict[str, Any]]) -> None:
    # the far end writes its record as the call ends; allow it a moment after the caller's view ended
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(find_call(log, call_id=r.get("call_id")) is None for r in results):
        time.sleep(0.1)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The simulator for the module: three workers."""
    with _running_simulator(tmp_path_factory.mktemp("simulator"), port=FRONT_PORT, workers=3,
                            rtp_port_base=40000) as paths:
        yield paths


@pytest.fixture(scope="module")
def dialed(simulator: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every persona's number dialed once (four calls at a time); results by last digit."""
    started = time.monotonic()
    results = _dial(FRONT_PORT, list(NUMBERS.values()), simulator["log"].parent / "caller.json",
                    sip_port=CALLER_SIP_PORT, rtp_port=CALLER_RTP_PORT)
    print(f"dialed {len(NUMBERS)} numbers in {time.monotonic() - started:.1f}s")
    _wait_for_far_end(simulator["log"], results)
    return {number[-1]: result for number, result in zip(NUMBERS.values(), results, strict=True)}


def _far_end(simulator: dict[str, Path], result: dict[str, Any]) -> dict[str, Any]:
    record = find_call(simulator["log"], call_id=result["call_id"])
    assert record is not None, f"no simulator record of {result}"
    return record


@pytest.mark.parametrize(("digit", "code", "disposition", "persona"), [
    ("5", 486, "busy", "busy"),
    ("7", 503, "failed", "unreachable"),
    ("8", 404, "invalid_number", "invalid"),
])
def test_rejecting_personas_answer_with_their_sip_code(
        simulator: dict[str, Path], dialed: dict[str, dict[str, Any]], digit: str, code: int, disposition: str,
        persona: str) -> None:
    result = dialed[digit]
    assert (result["sip_code"], result["disposition"]) == (code, disposition)
    record = _far_end(simulator, result)
    assert (record["persona"], record["final_code"], record["ended_by"]) == (persona, code, "rejected")
    assert [e["event"] for e in record["events"]] == ["invite", str(code)]
    assert record["number"] == NUMBERS[digit]
    redirects = [r for r in read_records(simulator["log"])
                 if r["kind"] == "redirect" and r["call_id"] == result["call_id"]]
    assert len(redirects) == 1
    assert redirects[0]["worker"] == record["worker"]


def test_no_answer_rings_until_the_caller_cancels(
        simulator: dict[str, Path], dialed: dict[str, dict[str, Any]]) -> None:
    result = dialed["6"]
    assert (result["sip_code"], result["disposition"]) == (487, "no_answer")
    assert "ring timeout" in result["reason"]
    record = _far_end(simulator, result)
    events = record["events"]
    assert [e["event"] for e in events] == ["invite", "180", "cancelled"]
    assert 4500 <= events[-1]["ms"] <= 6500  # the caller's 5 s ring timeout, seen from the far end
    assert record["ended_by"] == "caller"
    assert record["answered_ms"] is None


@pytest.mark.parametrize("digit", ["0", "1", "2", "3"])
def test_speaking_personas_hear_the_agent_answer_in_turn_and_hang_up_after_its_goodbye(
        simulator: dict[str, Path], dialed: dict[str, dict[str, Any]], digit: str) -> None:
    result = dialed[digit]
    assert (result["sip_code"], result["disposition"], result["reason"]) == (200, "human", "remote hangup")
    record = _far_end(simulator, result)
    persona = persona_for_number(NUMBERS[digit])
    assert record["persona"] == persona
    assert [s["text"] for s in record["said"]] == [GREETING, *REPLIES[persona]]
    # the far end heard the agent once per line it answered, plus the goodbye it hung up after
    assert len(record["heard"]) == len(REPLIES[persona]) + 1
    for line, heard in zip(record["said"][1:], record["heard"], strict=False):
        assert line["start_ms"] >= heard["end_ms"] + 600  # it waited for the agent to stop
    assert (record["ended_by"], record["hangup_reason"]) == ("callee", "agent finished")
    assert [e["event"] for e in record["events"]][:4] == ["invite", "180", "200", "ack"]
    assert record["events"][-1]["event"] == "bye_sent"
    # and the caller heard the person: "Hello?" and each reply
    assert len(result["heard"]) == len(record["said"])
    wav = Path(record["wav"])
    with wave.open(str(wav)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    # the WAV holds what was received: the whole call, less frames a loaded machine's bridge clock skipped
    talk_ms = record["duration_ms"] - record["answered_ms"]
    assert 0.75 * talk_ms <= seconds * 1000 <= talk_ms + 500


def test_voicemail_plays_greeting_and_beep_and_logs_when_the_message_starts(
        simulator: dict[str, Path], dialed: dict[str, dict[str, Any]]) -> None:
    result = dialed["4"]
    assert (result["sip_code"], result["disposition"], result["reason"]) == (200, "human", "agent done")
    record = _far_end(simulator, result)
    assert [s["text"] for s in record["said"]] == ["Please leave a message.", "(beep)"]
    beep = record["said"][1]
    assert beep["end_ms"] - beep["start_ms"] == 500
    voicemail = record["voicemail"]
    assert voicemail["beep_end_ms"] == beep["end_ms"]
    # the agent began its message after the beep, once its VAD heard the beep end
    assert 0 < voicemail["message_start_after_beep_ms"] < 1500
    assert record["ended_by"] == "caller"


def test_interrupter_cuts_in_one_second_into_the_agent_and_the_agent_yields(
        simulator: dict[str, Path], dialed: dict[str, dict[str, Any]]) -> None:
    result = dialed["9"]
    assert (result["sip_code"], result["reason"]) == (200, "remote hangup")
    record = _far_end(simulator, result)
    interruption = record["interruption"]
    assert 1000 <= interruption["agent_talked_ms"] <= 1040  # on the audio it heard
    assert 900 <= interruption["start_ms"] - interruption["agent_started_ms"] <= 1500  # wall clock, busy machine
    assert interruption["agent_stopped_after_ms"] < 800  # the scripted agent stops on barge-in
    assert result["said"][0].get("cut") is True
    assert len(result["barge_ins"]) == 1
    assert [s["text"] for s in record["said"]] == [GREETING, INTERRUPTION, *REPLIES[Persona.INTERRUPTER]]


def test_calls_back_to_back_on_one_worker_reuse_its_four_slots_without_losing_a_call(tmp_path: Path) -> None:
    # given a network of one worker (four pjsua call slots, handed out round robin)
    with _running_simulator(tmp_path, port=FRONT_PORT + 10, workers=1, rtp_port_base=40100) as paths:
        # when four quick rejections are followed at once by four calls that ring (each slot reused within ms)
        numbers = [NUMBERS["5"], NUMBERS["7"], NUMBERS["8"], NUMBERS["5"]] + [NUMBERS["6"]] * 4
        results = _dial(FRONT_PORT + 10, numbers, tmp_path / "caller.json", sip_port=CALLER_SIP_PORT + 1,
                        rtp_port=CALLER_RTP_PORT + 100, ring_timeout_s=3)
        _wait_for_far_end(paths["log"], results)
        # then every ringing call lived until the caller's own ring timeout, on both ends
        assert [r["sip_code"] for r in results] == [486, 503, 404, 486, 487, 487, 487, 487]
        for result in results[4:]:
            assert "ring timeout" in result["reason"]
            record = _far_end(paths, result)
            assert [e["event"] for e in record["events"]] == ["invite", "180", "cancelled"]
            assert 2700 <= record["events"][-1]["ms"] <= 4000
        # A slot may be taken by an INVITE that pjsip reads in the same batch as the old call's end, before
        # the release job runs; the worker then keeps the old object alive instead of letting its destructor
        # hang up the new call (logged). What must never happen is a crash or a lost call.
        output = paths["out"].read_text(errors="replace")
        assert "Traceback" not in output
        assert "Assertion" not in output


def test_no_answer_gives_up_at_max_ring_and_a_killed_worker_is_started_again(tmp_path: Path) -> None:
    port = FRONT_PORT + 20
    with _running_simulator(tmp_path, port=port, workers=1, rtp_port_base=40200, max_ring_s=1) as paths:
        # the no-answer persona rings out with 480 after --max-ring when the caller waits longer
        first = _dial(port, [NUMBERS["6"]], tmp_path / "first.json", sip_port=CALLER_SIP_PORT + 2,
                      rtp_port=CALLER_RTP_PORT + 200, ring_timeout_s=5)[0]
        assert first["sip_code"] == 480
        _wait_for_far_end(paths["log"], [first])
        record = _far_end(paths, first)
        assert [e["event"] for e in record["events"]] == ["invite", "180", "480"]
        assert (record["ended_by"], record["final_code"]) == ("callee", 480)
        assert 900 <= record["events"][-1]["ms"] <= 1500
        # when its worker process dies, the front starts it again and calls go through once it is back
        pattern = f"simulator.worker --index 0 .*--sip-port {port + 1} "  # this test's own worker
        found = subprocess.run([shutil.which("pgrep") or "/usr/bin/pgrep", "-f", pattern],  # noqa: S603
                               capture_output=True, text=True, check=False)
        pids = [int(pid) for pid in found.stdout.split()]
        assert len(pids) == 1
        os.kill(pids[0], 9)
        deadline = time.monotonic() + 30
        while "starting it again" not in paths["out"].read_text(errors="replace"):
            assert time.monotonic() < deadline, "the front did not restart the worker"
            time.sleep(0.2)
        time.sleep(8)  # the new worker loads pjsua2 and renders its lines before it reports in
        again = _dial(port, [NUMBERS["5"]], tmp_path / "again.json", sip_port=CALLER_SIP_PORT + 2,
                      rtp_port=CALLER_RTP_PORT + 200)[0]
        assert again["sip_code"] == 486


# ---- through the dialer: campaign, originate, a real UA worker process, the ledger ----------------------------


@pytest.fixture(scope="module")
def sim_ua_worker(django_db_setup: None, django_db_blocker: Any, simulator: dict[str, Path]) -> Iterator[str]:
    """A UA worker process (ports 17200/42000) whose calls run the scripted agent."""
    from tests.telephony.conftest import running_worker

    log = simulator["log"].parent / "ua-worker.log"
    with django_db_blocker.unblock(), running_worker(f"sim-ua-{os.getpid()}", 17200, 42000, log,
                                                     "--hooks", "testing.sim_caller:agent_hooks") as name:
        yield name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("digit", "disposition", "code"), [("5", "busy", 486), ("8", "invalid_number", 404),
                                                              ("2", "human", 200)])
def test_the_dialer_reaches_the_personas_through_the_ua_pool(
        simulator: dict[str, Path], sim_ua_worker: str, digit: str, disposition: str, code: int) -> None:
    import redis
    from django.conf import settings

    from campaigns.models import CallAttempt
    from tests.factories import TrunkFactory
    from tests.telephony.conftest import dialable_contact, hand_to_pool, queue_attempt, wait_ended

    # given a campaign whose trunk is the simulator's front and a contact whose number picks the persona
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=FRONT_PORT), phone_e164=f"+1415555012{digit}")
    attempt = queue_attempt(contact)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        # when the dialer hands the attempt to the pool
        assert hand_to_pool(client, attempt) == sim_ua_worker
        ended = wait_ended(attempt, timeout_s=60)
    finally:
        client.close()
    # then the ledger and the far end tell the same story, matched by the SIP Call-ID
    assert (ended.disposition, ended.sip_code) == (disposition, code)
    fresh = CallAttempt.objects.get(pk=attempt.pk)
    _wait_for_far_end(simulator["log"], [{"call_id": fresh.sip_call_id}])
    record = find_call(simulator["log"], call_id=fresh.sip_call_id)
    assert record is not None
    assert record["number"] == contact.phone_e164
    assert record["final_code"] == code
    if code == 200:
        assert ended.reason == "remote hangup"
        assert record["ended_by"] == "callee"
        assert [s["text"] for s in record["said"]] == [GREETING, *REPLIES[Persona.CALL_BACK]]
        assert ended.talk_seconds is not None
        assert abs(ended.talk_seconds * 1000 - (record["duration_ms"] - record["answered_ms"])) < 1500
