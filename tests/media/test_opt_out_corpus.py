"""The intent matcher on the opt-out corpus: an opt-out is recorded at once only when it cannot be anything else."""

from __future__ import annotations

import datetime as dt

import pytest

from media.speech.intents import Intent, classify
from tests.media.opt_out_corpus import ASK_FIRST, MISHEARD, NEVER_OPT_OUT, OPT_OUTS

WEDNESDAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize("text", NEVER_OPT_OUT)
def test_goodbyes_refusals_and_questions_never_opt_out(text: str) -> None:
    assert classify(text, WEDNESDAY).intent not in (Intent.OPT_OUT, Intent.MAYBE_OPT_OUT)


@pytest.mark.parametrize("text", MISHEARD)
def test_misheard_speech_is_never_an_opt_out_at_once(text: str) -> None:
    assert classify(text, WEDNESDAY).intent is not Intent.OPT_OUT


@pytest.mark.parametrize("text", OPT_OUTS)
def test_unambiguous_opt_outs_are_opt_outs(text: str) -> None:
    assert classify(text, WEDNESDAY).intent is Intent.OPT_OUT


@pytest.mark.parametrize("text", ASK_FIRST)
def test_wording_that_may_be_an_opt_out_is_asked_about(text: str) -> None:
    assert classify(text, WEDNESDAY).intent is Intent.MAYBE_OPT_OUT


def test_the_goodbye_once_taken_for_an_opt_out_is_not_one() -> None:
    # "Who is this? Sorry, I have to go. Goodbye." as the local agent once heard it
    result = classify("remove me from week i am from your goodbye", WEDNESDAY)
    assert result.intent is not Intent.OPT_OUT


def test_two_kinds_of_cue_in_one_answer_are_an_opt_out() -> None:
    # "Stop calling me. Put me on your do not call list." as the recogniser kept it
    assert classify("calling me from your list call list", WEDNESDAY).intent is Intent.OPT_OUT


def test_two_kinds_of_cue_in_a_question_are_asked_about() -> None:
    assert classify("am i on your do not call list", WEDNESDAY).intent is Intent.MAYBE_OPT_OUT
