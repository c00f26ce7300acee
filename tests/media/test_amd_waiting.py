"""AMD rules for a person who has stopped and waits for an answer: they ask again, or the room goes on.

A person who answers with a sentence and hears nothing waits, then asks again with a short phrase;
a greeting reads on. At the deadline, a talker whose own last phrase ended a while ago is waiting
even while talk in the room keeps the line busy. These rules only ever hold a machine decision back.
"""

from __future__ import annotations

import numpy as np

from media.amd import AmdConfig, AmdLabel, talker
from media.amd.deadline import FEATURE_NAMES, DeadlineModel
from tests.media.synthetic_audio import sentences, silence, speech
from tests.media.test_amd import on_line, stream

# A 6 s campaign deadline (campaigns set 1-10 s): a 2.9 s sentence, the wait, the question and the
# 900 ms that end it do not fit in the default 5 s.
SIX_SECONDS = AmdConfig(max_decision_ms=6000)
ASK_AGAIN_OFF = AmdConfig(max_decision_ms=6000, turn_pause_ms=100_000)
# A cadence model that calls every far end still talking at the deadline a machine, so the guards
# behind it are what is tested.
ALWAYS_MACHINE = DeadlineModel(FEATURE_NAMES, 10.0, 0.0, ())


def sentence_then_question(pause_s: float, question_s: float) -> np.ndarray:
    """ "Hi, this is Tom, who's calling?" (2.9 s), a wait for the answer, then "Hello? Who is this?"."""
    return on_line(
        np.concatenate((silence(0.2), speech(2.9, seed=61), silence(pause_s), speech(question_s, seed=62))),
        seconds=7.0,
    )


def test_a_sentence_then_a_question_after_a_wait_for_the_answer_is_a_person():
    # given: a 2.9 s sentence, 700 ms of waiting, then a 1.2 s question: 4.1 s of speech, past the
    # greeting length, still going 1 s after the pause
    signal = sentence_then_question(0.7, 1.2)
    assert stream(signal, ASK_AGAIN_OFF).reason == "long_greeting"  # the rule before this one

    # when
    decision = stream(signal, SIX_SECONDS)

    # then: connected within a second of the question's end (FCC: two seconds from the greeting)
    assert (decision.label, decision.reason) == (AmdLabel.HUMAN, "sentence_then_pause")
    assert decision.decided_ms - (200 + 2900 + 700 + 1200) <= 1000


def test_a_greeting_that_reads_on_after_a_long_pause_is_still_a_machine_before_the_deadline():
    # given: two sentences of a greeting with a 700 ms pause; the second runs on for 2.5 s
    signal = on_line(np.concatenate((silence(0.2), sentences([2.0, 2.5], pause_s=0.7, seed=63))), seconds=7.0)

    # when
    decision = stream(signal, SIX_SECONDS)

    # then: 1.6 s after the pause it is still talking, which a person asking again does not do
    assert (decision.label, decision.reason) == (AmdLabel.MACHINE, "long_greeting")
    assert decision.decided_ms < 5000


def test_a_short_pause_between_sentences_is_not_a_wait_for_an_answer():
    # given: a greeting whose sentences are 400 ms apart (under `turn_pause_ms`)
    signal = on_line(np.concatenate((silence(0.2), sentences([2.0, 1.2, 1.5], pause_s=0.4, seed=64))), seconds=7.0)

    # then: the rule for a second sentence applies as before, whether or not this one is on
    assert stream(signal, SIX_SECONDS).reason == stream(signal, ASK_AGAIN_OFF).reason == "long_greeting"
    assert stream(signal, SIX_SECONDS).decided_ms == stream(signal, ASK_AGAIN_OFF).decided_ms


def test_a_talker_who_stopped_while_the_room_goes_on_is_not_hung_up_on_at_the_deadline():
    # given: a 2.5 s sentence, then talk in the room 13 dB under it that goes on to the deadline,
    # close enough to the talker's level to keep their utterance open
    room = np.concatenate([speech(0.6, dbfs=-33, seed=70 + i) for i in range(5)])
    signal = on_line(np.concatenate((silence(0.3), speech(2.5, dbfs=-20, seed=65), silence(0.4), room)), seconds=7.0)
    off = AmdConfig(timeout_talker_waiting_ms=100_000)
    assert stream(signal, off, ALWAYS_MACHINE).label == AmdLabel.MACHINE  # the rule before this one

    # when
    decision = stream(signal, deadline_model=ALWAYS_MACHINE)

    # then: left unknown (connected), and the decision says which guard held the machine back
    assert (decision.label, decision.reason, decision.decided_ms) == (AmdLabel.UNKNOWN, "undecided", 5000)
    assert decision.detail == "P(machine) 1.00, held back: talker_waiting"


def test_a_greeting_still_talking_at_its_own_level_at_the_deadline_is_still_a_machine():
    # given: a greeting that starts late and is mid-sentence at the deadline
    signal = on_line(np.concatenate((silence(0.4), sentences([1.8, 2.2, 2.0], pause_s=0.3, seed=66))), seconds=7.0)

    # when
    decision = stream(signal, AmdConfig(one_breath_max_ms=9000, greeting_max_ms=9000), ALWAYS_MACHINE)

    # then: no guard holds it back
    assert (decision.label, decision.reason) == (AmdLabel.MACHINE, "cadence")


def test_the_talker_is_measured_from_their_first_loud_word_to_their_last_loud_phrase():
    # given: 300 ms of room sound, the talker's 1 s phrase 15 dB louder, then quieter room sound
    levels = [-40.0] * 15 + [-25.0] * 50 + [-60.0] * 20 + [-39.0] * 30
    speech_flags = [True] * 15 + [True] * 50 + [False] * 20 + [True] * 30

    # when
    start_ms, end_ms = talker.bounds(AmdConfig(), speech_flags, levels) or (None, None)

    # then: from the voice's onset (200 ms before its first loud frame) to the end of its phrase;
    # the room before is bridged into the phrase, the room after is not the talker
    assert (start_ms, end_ms) == (100, 1300)
    assert talker.bounds(AmdConfig(), [False] * 10, [-60.0] * 10) is None


def test_each_guard_at_the_deadline_is_named():
    config = AmdConfig()
    assert talker.may_be_waiting(config, 3000, 0, paused=False, talker_silence_ms=0) == "one_breath"
    assert talker.may_be_waiting(config, 4500, 700, paused=True, talker_silence_ms=700) == "waiting"
    assert talker.may_be_waiting(config, 4500, 100, paused=True, talker_silence_ms=700) == "talker_waiting"
    assert talker.may_be_waiting(config, 4500, 100, paused=True, talker_silence_ms=600) is None
    assert talker.may_be_waiting(config, 4500, 100, paused=True, talker_silence_ms=None) is None


def test_a_person_followed_by_quieter_talk_in_the_room_is_not_a_greeting_that_goes_on():
    # given: "Hello?" (0.5 s), then voices in the room 9 dB under it, with gaps short enough to
    # keep the utterance open, until past the deadline: over the whole utterance the room sets
    # the level, so only the opening second shows the person was louder
    room = np.concatenate([np.concatenate((speech(0.7, dbfs=-21, seed=80 + i), silence(0.15))) for i in range(7)])
    signal = on_line(np.concatenate((silence(0.2), speech(0.5, dbfs=-12, seed=67), silence(0.15), room)), seconds=7.0)
    opening_off = AmdConfig(greeting_opening_drop_db=100)
    assert stream(signal, opening_off).reason == "long_greeting"  # the rule before this one

    # when
    decision = stream(signal)

    # then
    assert decision.label != AmdLabel.MACHINE


def test_a_greeting_at_one_level_still_goes_on():
    levels = [-20.0, -30.0] * 100
    speech_flags = [True] * 200
    pitch = [0.0] * 200
    assert talker.goes_on(AmdConfig(), levels, speech_flags, pitch)
    assert not talker.goes_on(AmdConfig(), levels[:50] + [-28.0, -38.0] * 75, speech_flags, pitch)
