"""A warm transfer's spoken replies: on text, and recognised from eSpeak speech through G.711."""

from __future__ import annotations

import pytest

from media.audio import g711
from media.speech.asr import Transcriber
from media.speech.transfer_replies import REPLY_CORPUS, transfer_reply
from media.speech.tts import synthesize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, put them through.", True),
        ("sure go ahead", True),
        ("I'll take it", True),
        ("Sorry, I can't take it now.", False),
        ("no", False),
        ("not right now, I am with someone", False),
        ("sales desk this is jo", None),
        ("how can i help you", None),
        ("", None),
    ],
)
def test_replies_on_text(text: str, expected: bool | None) -> None:
    assert transfer_reply(text) is expected


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(corpus=REPLY_CORPUS)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Yes, put them through.", True),
        ("Sure, go ahead.", True),
        ("Sorry, I can't take it now.", False),
        ("No, sorry, I'm busy right now.", False),
        ("Sales desk, this is Jo.", None),  # a greeting is no reply (with the answers' model it was a "yes")
    ],
)
def test_spoken_replies_are_recognised_through_g711(transcriber: Transcriber, said: str, expected: bool | None) -> None:
    pcm = g711.ulaw_to_pcm16(g711.pcm16_to_ulaw(synthesize(said, 8000)))
    heard = transcriber.transcribe(pcm, 8000)
    assert transfer_reply(heard.text) is expected, heard.text
