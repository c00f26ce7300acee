"""Greeting words that give an answering machine or a call screener away.

The AI provider's transcript of the far end (when it has one) is checked with
`match_machine_phrase`. A local recogniser can be plugged into the detector as a `KeywordSpotter`.
PocketSphinx with its bundled model was measured for this and left out: its 16 kHz wideband
model transcribes 8 kHz telephone audio poorly, its keyword search found none of the phrases in
generated greetings, and full decoding costs about half a core per call-second (see
docs/benchmarks.md).
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

# Phrases heard in voicemail greetings, carrier announcements and call-screening services.
# Screeners count as machines: a person is not on the line yet.
MACHINE_PHRASES: tuple[str, ...] = (
    "leave a message",
    "leave your message",
    "leave me a message",
    "after the tone",
    "after the beep",
    "at the tone",
    "at the beep",
    "not available",
    "unavailable",
    "can't come to the phone",
    "cannot come to the phone",
    "can't take your call",
    "get back to you",
    "call you back",
    "voicemail",
    "voice mail",
    "mailbox",
    "record your message",
    "record your name",
    "screening service",
    "say your name",
    "state your name",
    "why you're calling",
    "reason for your call",
    "you have reached",
    "you've reached",
    "is not accepting calls",
    "the person you are calling",
    "the person you're calling",
)

_WORD = re.compile(r"[a-z']+")


def _normalise(text: str) -> str:
    """Lower-case words separated by single spaces, with typographic apostrophes made plain."""
    return " ".join(_WORD.findall(text.lower().replace("\u2019", "'")))


_NORMALISED_PHRASES = tuple((_normalise(p), p) for p in MACHINE_PHRASES)


def match_machine_phrase(text: str) -> str | None:
    """Find a machine phrase in a transcript of the far end.

    Args:
        text: free text, any case and punctuation.

    Returns:
        The first phrase of `MACHINE_PHRASES` found (whole words), or None.
    """
    padded = f" {_normalise(text)} "
    for normalised, phrase in _NORMALISED_PHRASES:
        if f" {normalised} " in padded:
            return phrase
    return None


class KeywordSpotter(Protocol):
    """Anything that listens to 20 ms frames and may report a machine phrase."""

    def feed(self, samples: np.ndarray) -> str | None:
        """Consume one frame of 8 kHz samples (PCM16 scale); return a phrase once heard."""
        ...
