"""What the person at a warm transfer's target answers to the briefing: take the call, decline it, or neither.

The person may press a key or say it (docs/transfer.md). A spoken reply is recognised with its own small language
model (:data:`REPLY_CORPUS`: ways to take or decline a call, and what a person says when picking up a desk phone),
not the campaign answers': with the answers' model "Sales desk, this is Jo." came out as "delete yes your", a
"yes". And :func:`transfer_reply` decides on whole phrases, declines first: "sorry, I can't take it now" holds
"take it".
"""

from __future__ import annotations

import re

from media.speech.intents import normalize_text

ACCEPT_PHRASES: tuple[str, ...] = (
    "yes", "yeah", "yep", "sure", "okay", "ok", "of course", "go ahead", "put them through", "put him through",
    "put her through", "connect them", "connect me", "i will take it", "i can take it", "i will take the call",
    "i can take the call", "i will take them", "i'll take it", "send them through", "send it through",
)  # fmt: skip
DECLINE_PHRASES: tuple[str, ...] = (
    "no", "nope", "can not", "could not", "not now", "not right now", "decline", "i am busy", "busy right now",
    "not available", "i have to go", "sorry",
)  # fmt: skip

# The consultation's language model: the replies, whole and as people say them, and desk greetings (so a
# greeting is heard as one, not forced onto a reply).
REPLY_CORPUS: tuple[str, ...] = (
    "yes", "yes please", "yes put them through", "yes put him through", "yes put her through", "put them through",
    "sure put them through", "okay put them through", "yeah go ahead", "go ahead", "sure", "okay", "of course",
    "yes i will take it", "i will take it", "i can take it", "yes connect them", "connect them", "send them through",
    "no", "no thanks", "no sorry", "sorry i can not take it now", "sorry i can not take it right now",
    "i can not take it now", "i can not take it", "not now", "not right now", "sorry not now",
    "sorry i am busy", "i am busy right now", "i am with someone", "no i can not", "sorry no", "decline",
    "hello", "hello sales desk", "sales desk", "sales desk this is jo", "this is jo", "how can i help you",
    "how can i help", "speaking", "who is it", "what is it about", "thank you", "goodbye",
)  # fmt: skip


# After a hand-over the UA transcribes the two people with the campaign answers, the replies above and the common
# lines of a service desk: a small model keeps what it knows right on telephone audio, where the wheel's general
# English model gets most words wrong (media/speech/asr.py); words outside it come out as the nearest it knows.
SERVICE_DESK_PHRASES: tuple[str, ...] = (
    "how can i help you", "what can i do for you", "i can help you with that", "sure i can help you with that",
    "let me check", "let me have a look", "one moment please", "thank you for holding", "thanks for waiting",
    "can i have your name", "can i have your number", "what is your account number", "i will call you back",
    "is there anything else", "have a nice day", "you are welcome", "okay thank you", "hello", "hi",
    "this is jo from the sales desk", "thank you goodbye", "i want to speak to a representative",
)  # fmt: skip

def _has(text: str, phrases: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(p)}\b", text) for p in phrases)


def transfer_reply(text: str) -> bool | None:
    """Whether a spoken reply takes the call (True), declines it (False) or says neither (None).

    Why declines first: a refusal often carries the words of an acceptance ("sorry, I can't take it now"), an
    acceptance rarely those of a refusal; and a wrong "yes" hands the caller to someone who is not there.
    """
    words = normalize_text(text)
    if not words:
        return None
    if _has(words, DECLINE_PHRASES):
        return False
    if _has(words, ACCEPT_PHRASES):
        return True
    return None
