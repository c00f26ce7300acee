"""The late-beep watch (`media.amd.late_beep`): after an UNKNOWN decision, a machine's beep makes it a machine,
and a person who listens is never called one, whatever tones their room makes."""

from __future__ import annotations

import numpy as np
import pytest

from media.amd import AmdConfig, AmdDecision, AmdLabel
from media.amd.late_beep import LateBeepWatch
from tests.media.synthetic_audio import frames, noise, sentences, silence, speech, tone

DECIDED_MS = 5000


def _watch(signal: np.ndarray, config: AmdConfig | None = None) -> tuple[AmdDecision | None, LateBeepWatch]:
    watch = LateBeepWatch(config or AmdConfig(), DECIDED_MS, first_speech_ms=1200)
    for frame in frames(signal):
        decision = watch.feed(frame)
        if decision is not None:
            return decision, watch
    return None, watch


def test_a_greeting_that_runs_past_the_deadline_and_beeps_is_a_machine() -> None:
    # given the rest of a greeting read sentence by sentence (pauses of 0.5 s), a 1 kHz beep, then the quiet of a
    # machine recording
    greeting = sentences([1.8, 2.2, 1.5], pause_s=0.5)
    decision, watch = _watch(np.concatenate([greeting, tone(1000, 0.5), silence(1.0)]))
    # then it is a machine, by the late beep, decided within the beep and 300 ms of quiet after it
    assert decision is not None
    assert (decision.label, decision.reason, watch.ended) == (AmdLabel.MACHINE, "late_beep", "beep")
    beep_end_ms = round(len(greeting) / 8) + 500
    assert beep_end_ms + 300 <= decision.decided_ms - DECIDED_MS <= beep_end_ms + 400
    assert decision.first_speech_ms == 1200
    assert decision.detail.startswith("1000 Hz beep ")


def test_a_beep_on_a_noisy_line_counts_once_the_line_is_back_to_its_noise() -> None:
    # given a greeting on a line with noise 30 dB under it, a beep, then that noise alone
    body = np.concatenate([sentences([2.0, 1.6], pause_s=0.4), tone(800, 0.3), silence(1.0)])
    decision, _ = _watch(body + noise(len(body) / 8000, -50.0, seed=3))
    assert decision is not None
    assert decision.reason == "late_beep"


def test_a_person_who_stops_to_listen_is_never_called_a_machine_by_a_tone_in_their_room() -> None:
    # given a late pick-up finishing their sentence, listening to the agent for 2 s, then a microwave's beep
    # and silence
    decision, watch = _watch(np.concatenate([speech(1.2), silence(2.0), tone(1000, 0.6), silence(2.0)]))
    # then the watch ended when they fell quiet, and nothing is decided
    assert decision is None
    assert watch.ended == "listening"


def test_a_tone_the_far_end_talks_over_is_not_a_beep() -> None:
    # given a talker who goes on at once after a tone (a beep in their room, no recording starts)
    decision, watch = _watch(np.concatenate([speech(1.5), tone(1200, 0.3), speech(1.5, seed=4), silence(0.3)]))
    assert decision is None
    # the watch goes on listening: a later pause of theirs is not taken for the quiet after a beep
    assert watch.ended is None


def test_a_long_tone_then_the_person_talking_again_is_not_a_beep() -> None:
    # given a kettle's whistle of 2 s on a line with noise at -45 dBFS (the noise floor must not climb to it),
    # then the person talking again 100 ms after it
    body = np.concatenate([speech(1.0), silence(0.3), tone(1000, 2.0), silence(0.1), speech(1.5, seed=5)])
    decision, _ = _watch(body + noise(len(body) / 8000, -45.0, seed=6))
    assert decision is None


def test_echo_of_the_agent_does_not_keep_a_listening_person_talking() -> None:
    # given a person heard by the detector at -20 dBFS who stopped to listen, while the agent's voice comes back
    # as line echo 25 dB under them (-45 dBFS, with the agent's short pauses), then a timer beeps
    echo = sentences([2.0, 1.8, 2.2], pause_s=0.6, dbfs=-45.0, seed=7)
    body = np.concatenate([echo, tone(1000, 0.5, dbfs=-30.0), silence(1.0)])
    watch = LateBeepWatch(AmdConfig(), DECIDED_MS, talker_dbfs=-20.0)
    decisions = [watch.feed(frame) for frame in frames(body)]
    # then the watch heard them listening and ended before the tone
    assert not any(decisions)
    assert watch.ended == "listening"


def test_a_beep_past_the_window_is_not_heard() -> None:
    # given a greeting that goes on for longer than the window, then beeps
    config = AmdConfig(late_beep_window_ms=3000)
    greeting = sentences([1.5, 1.5, 1.5], pause_s=0.3)
    decision, watch = _watch(np.concatenate([greeting, tone(1000, 0.5), silence(1.0)]), config)
    assert decision is None
    assert watch.ended == "window"


def test_the_watch_can_be_turned_off() -> None:
    config = AmdConfig(late_beep_window_ms=0)
    decision, watch = _watch(np.concatenate([speech(1.0), tone(1000, 0.5), silence(1.0)]), config)
    assert decision is None
    assert watch.ended == "window"


def test_a_steady_tone_longer_than_any_beep_is_a_line_signal() -> None:
    decision, _ = _watch(np.concatenate([speech(1.0), tone(440, 4.0), silence(1.0)]))
    assert decision is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("late_beep_window_ms", -1),
        ("late_beep_listening_ms", 0),
        ("late_beep_quiet_ms", 0),
        ("late_beep_quiet_ms", 1.5),
    ],
)
def test_late_beep_settings_are_validated(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        AmdConfig(**{field: value})
