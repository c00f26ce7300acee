"""Machine phrases in far-end transcripts."""

from __future__ import annotations

import pytest

from media.amd.keywords import match_machine_phrase


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Hi, you've reached Sam. Please leave a message after the tone.", "leave a message"),
        ("The person you\u2019re calling is using a screening service from Google", "screening service"),
        ("I'm NOT AVAILABLE right now", "not available"),
        ("Your call has been forwarded to voicemail.", "voicemail"),
        ("Go ahead and say your name and why you're calling", "say your name"),
    ],
)
def test_machine_phrases_are_found_whatever_the_case_and_punctuation(text, phrase):
    assert match_machine_phrase(text) == phrase


@pytest.mark.parametrize(
    "text",
    ["Hello?", "Yeah, this is Sam.", "Who's calling?", "I'm available now", "Leaves are falling, message me"],
)
def test_ordinary_answers_hold_no_machine_phrase(text):
    assert match_machine_phrase(text) is None
