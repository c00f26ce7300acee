"""What callers say that must not opt out, and what must: the corpus the intent matcher and the recogniser
are tested on (tests/media/test_opt_out_corpus.py on text, tests/local_agent/test_asr.py on eSpeak speech).

A false opt-out silently removes a customer from every campaign; a missed one is a compliance breach (TCPA).
"""

from __future__ import annotations

# Goodbyes, refusals and questions: never an opt-out, and not worth asking about either.
GOODBYES = (
    "Who is this? Sorry, I have to go. Goodbye.",
    "Goodbye.",
    "Bye bye.",
    "Sorry, I have to go.",
    "I have to go now, goodbye.",
    "I'm hanging up now.",
    "Talk to you later.",
    "Okay, bye.",
    "Thank you, goodbye.",
)
REFUSALS = (
    "No thanks.",
    "No, I'm not interested.",
    "Not interested, goodbye.",
    "I don't want it.",
    "I'm not buying anything.",
    "No, I'm good, thank you.",
    "Not right now.",
    "No thank you, I am not interested.",
    "Fine, but I am not interested. Goodbye.",
)
QUESTIONS = (
    "Who is this?",
    "Who is calling?",
    "Who is calling me?",
    "How did you get my number?",
    "Why are you calling?",
    "Why are you calling me?",
    "Is this a sales call?",
    "Where are you calling from?",
    "What company is this?",
    "What do you want?",
    "Who are you?",
    "What is this about?",
    "Can you call me back tomorrow?",
    "Don't call me tomorrow, call me on Friday.",
)
NEVER_OPT_OUT = GOODBYES + REFUSALS + QUESTIONS

# What a recogniser made of speech that was no opt-out (and the old rules took for one): never recorded at
# once; the agent may ask.
MISHEARD = (
    "remove me from week i am from your goodbye",  # "Who is this? Sorry, I have to go. Goodbye."
    "please do this about your list list",  # "Sorry, who is this? How did you get my number?"
    "i do not call for",  # "I'm hanging up now."
    "who is this please nope goodbye",
)

# Whole requests that cannot mean anything else: recorded at once.
OPT_OUTS = (
    "Please stop calling me.",
    "Stop calling me.",
    "Do not call me again.",
    "Please don't call me again.",
    "Never call me again.",
    "Remove me from your list.",
    "Please remove me from your list.",
    "Remove my number from your calling list.",
    "Take me off your list.",
    "Take me off your calling list.",
    "Put me on your do not call list.",
    "Unsubscribe.",
    "Opt me out.",
    "Stop calling me. Put me on your do not call list.",
    "Yes, stop calling me.",
    "No, don't call me again.",
)

# Wording that often is an opt-out but may not be: the agent asks "Just to confirm: you want us to stop
# calling you?" and records it on a yes.
ASK_FIRST = (
    "Remove me.",
    "Do not call.",
    "Calling me again.",  # "stop" lost by the recogniser
    "Leave me alone.",
    "No more calls.",
    "Why do you keep calling me?",
    "Am I on your do not call list?",
    "really from your list",  # "Remove me from your list" with the first words misheard
)
