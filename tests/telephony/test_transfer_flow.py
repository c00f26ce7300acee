"""The transfer flow's pieces that need no call: which method a target gets, the briefing, the hold audio, the
abandon mark, and what the ledger keeps of a transfer."""

from __future__ import annotations

import asyncio
import datetime as dt
import types
from typing import Any

import numpy as np
import pytest

from media.audio.frames import FRAME_BYTES
from media.bridge.config import AgentConfig, BridgeConfig
from media.speech.transfer_replies import REPLY_CORPUS, transfer_reply
from media.speech.tts import synthesize
from telephony.conversation.controller import CampaignCall
from telephony.conversation.plan import CallPlan
from telephony.conversation.speech_stream import SpeechStream, Utterance
from telephony.conversation.transfer import TRANSFERRED, hold_audio
from telephony.transfers import TransferTargetSpec
from telephony.ua.hooks import EndReport
from tests.media.bridge_harness import TEST_POLICY

ALWAYS = {"time_zone": "UTC", "days": (0, 1, 2, 3, 4, 5, 6), "start": "00:00", "end": "23:59"}


class _Control:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args))


def _hooks(
    *,
    warm: bool = False,
    allow_refer: bool = False,
    targets: tuple[TransferTargetSpec, ...] | None = None,
) -> CampaignCall:
    target = TransferTargetSpec(name="Sales desk", destination="+12125550199", warm=warm, **ALWAYS)  # type: ignore[arg-type]
    plan = CallPlan(
        attempt_id=1,
        destination="+12025550133",
        campaign_id=1,
        agent=AgentConfig(provider="local", url="ws://127.0.0.1:1", policy=TEST_POLICY),
        variables={"name": "Ada"},
        transfer_targets=(target,) if targets is None else targets,
        trunk_host_port="127.0.0.1:5060",
        allow_refer=allow_refer,
    )
    hooks = CampaignCall(plan, types.SimpleNamespace(loop=None), BridgeConfig())  # type: ignore[arg-type]
    hooks._control = _Control()
    hooks._spawn = lambda coro: coro.close()  # type: ignore[method-assign]  # the flow itself is not run here
    return hooks


@pytest.mark.parametrize(
    ("warm", "allow_refer", "method"),
    [(False, False, "bridge"), (False, True, "refer"), (True, True, "warm"), (True, False, "warm")],
)
def test_the_method_follows_the_target_and_the_trunk(warm: bool, allow_refer: bool, method: str) -> None:
    hooks = _hooks(warm=warm, allow_refer=allow_refer)
    assert hooks.request_transfer("wants a human") is True
    assert hooks.transfer["method"] == method
    assert hooks.request_transfer("again") is False  # one transfer at a time


def test_no_staffed_target_means_no_transfer() -> None:
    # given a desk staffed only on a weekday that is not today
    other_day = (dt.datetime.now(dt.UTC).weekday() + 3) % 7
    closed = TransferTargetSpec(
        name="Desk", destination="+12125550199", time_zone="UTC", days=(other_day,), start="00:00", end="23:59"
    )
    hooks = _hooks(targets=(closed,))
    assert hooks.transfer_target_now() is None
    assert hooks.request_transfer("wants a human") is False
    assert hooks.transfer == {}


def test_the_briefing_names_the_person_what_they_said_the_outcome_and_the_keys() -> None:
    hooks = _hooks(warm=True)
    hooks.request_transfer("asked for a representative")
    segments = [
        types.SimpleNamespace(speaker="caller", text="hello"),
        types.SimpleNamespace(speaker="agent", text="would you like a quote"),
        types.SimpleNamespace(speaker="caller", text="i want to speak to a representative"),
    ]
    hooks.session = types.SimpleNamespace(  # type: ignore[assignment]
        transcript=types.SimpleNamespace(segments=lambda played: segments),
        outcome="callback",
        outcome_fields={"preferred_time": "tomorrow"},
    )
    text = hooks._briefing()
    assert text.startswith("Hello, this is the calling assistant with a transfer. Ada is on the line.")
    assert "They said: hello i want to speak to a representative." in text
    assert "Outcome so far: callback; preferred time tomorrow." in text
    assert "Reason for the transfer: asked for a representative." in text
    assert text.endswith("Press 1 or say yes to take the call; press 2 or say no to decline.")


def test_only_a_spoken_reply_after_the_briefing_began_counts() -> None:
    # given a warm transfer whose briefing began 1.2 s into the consultation
    hooks = _hooks(warm=True)
    hooks._briefing_from_ms = 1200
    # when the person's greeting at the pick-up, a remark and then replies are recognised
    hooks._consult_heard(Utterance("no", 100, 700))  # "Hello?" at the pick-up, heard as "no"
    hooks._consult_heard(Utterance("sales desk this is jo", 1500, 2600))  # no reply
    hooks._consult_heard(Utterance("yes put them through", 9000, 10200))
    # then only the reply after the briefing's start is queued
    assert hooks._replies.qsize() == 1
    assert hooks._replies.get_nowait() == ("voice", "yes put them through")


def test_no_spoken_reply_counts_before_the_briefing() -> None:
    hooks = _hooks(warm=True)
    hooks._consult_heard(Utterance("yes", 100, 400))  # the briefing has not been synthesised yet
    assert hooks._replies.empty()


def test_hold_audio_has_no_silent_frame() -> None:
    # A gap of 700 ms would read as the end of a turn to a person's ear (and the simulator's VAD): none at all.
    pcm = np.frombuffer(hold_audio(), dtype="<i2").astype(np.float64)
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert len(hold_audio()) % FRAME_BYTES == 0
    assert rms.min() > 300
    assert rms.max() < 0.2 * 32767


def test_a_caller_who_hangs_up_on_hold_is_abandoned_and_one_who_was_answered_is_not() -> None:
    # given a transfer under way that nobody answered yet
    hooks = _hooks()
    hooks.request_transfer("wants a human")
    # then at the end of the call it is marked abandoned
    assert hooks._transfer_at_end()["abandoned"] is True
    # and once the target's answer is known, it is not
    hooks.transfer["sip_code"] = 486
    assert hooks._transfer_at_end()["abandoned"] is False


def test_an_accepted_transfer_ends_transferred_in_the_ledger_event() -> None:
    hooks = _hooks()
    hooks.request_transfer("wants a human")
    hooks.transfer.update(sip_code=200, accepted=True, answer_ms=900)
    hooks.disposition, hooks.reason = TRANSFERRED, "transferred to Sales desk (bridge)"
    report = EndReport(1, {"disposition": "human", "reason": "remote hangup", "results": {}})
    hooks._apply(report, None)
    event = report.to_event()
    assert (event.disposition, event.reason) == ("transferred", "transferred to Sales desk (bridge)")
    assert event.results.transfer["accepted"] is True
    assert event.results.transfer["answer_ms"] == 900


def test_a_speech_stream_cuts_utterances_and_times_them_on_the_callers_clock() -> None:
    # given a stream whose first frame is heard 5 s after the answer: 1 s of silence, a reply, silence
    heard: list[Utterance] = []
    stream = SpeechStream(heard.append, REPLY_CORPUS)
    speech = synthesize("Yes, put them through.", 8000)
    audio = bytes(16000) + speech + bytes(16000)

    async def feed() -> None:
        # as the conference clock would: frame by frame, the loop draining every 100 ms
        for n, i in enumerate(range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES)):
            stream.push(audio[i : i + FRAME_BYTES], at_ms=5000 + i // 16)
            if n % 5 == 4:
                stream._drain()
                await asyncio.sleep(0)
        await stream.close(timeout_s=10)

    # when it is fed and closed
    asyncio.run(feed())
    # then one utterance, recognised, starting about 1 s after its first frame
    assert len(heard) == 1, heard
    assert transfer_reply(heard[0].text) is True, heard
    assert 5700 <= heard[0].start_ms <= 6100, heard
    assert heard[0].end_ms - heard[0].start_ms >= len(speech) // 16 - 300, heard
