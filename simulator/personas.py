"""Who answers which number in the simulated phone network, what they say, and the timings of the run.

The persona is chosen by the last digit of the dialed number (the user part of the Request-URI):

| digit | persona | SIP outcome |
|---|---|---|
| 0 | interested person | 180, 200; speaks two lines, hangs up after the agent's answer to the second |
| 1 | not interested | 180, 200; "No thank you, I'm not interested." |
| 2 | call back tomorrow | 180, 200; asks to be called back tomorrow |
| 3 | stop calling me | 180, 200; "Stop calling me..." |
| 4 | voicemail | 180, 200; greeting, 1 kHz beep 0.5 s, silence until the caller hangs up |
| 5 | busy | 486 Busy Here |
| 6 | no answer | 180 until the caller cancels (or `max_ring_s`, then 480) |
| 7 | unreachable | 503 Service Unavailable |
| 8 | invalid number | 404 Not Found |
| 9 | interrupter | 180, 200; talks over the agent 1 s into its first sentence |
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Persona(StrEnum):
    """The callee behaviours of the simulated network."""

    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    CALL_BACK = "call_back_tomorrow"
    STOP_CALLING = "stop_calling"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNREACHABLE = "unreachable"
    INVALID = "invalid"
    INTERRUPTER = "interrupter"
    WANTS_PERSON = "wants_person"
    HUMAN_AGENT = "human_agent"
    HUMAN_AGENT_DECLINES = "human_agent_declines"
    HUMAN_AGENT_SAYS_YES = "human_agent_says_yes"
    HUMAN_AGENT_SAYS_NO = "human_agent_says_no"


PLAN: dict[str, Persona] = {
    "0": Persona.INTERESTED,
    "1": Persona.NOT_INTERESTED,
    "2": Persona.CALL_BACK,
    "3": Persona.STOP_CALLING,
    "4": Persona.VOICEMAIL,
    "5": Persona.BUSY,
    "6": Persona.NO_ANSWER,
    "7": Persona.UNREACHABLE,
    "8": Persona.INVALID,
    "9": Persona.INTERRUPTER,
}

# Numbers ending in these three digits take the transfer personas before the last-digit plan: a person who asks
# for a human, and the human agent at a transfer desk (the target of the transfer tests and the demo).
SUFFIX_PLAN: dict[str, Persona] = {
    "770": Persona.WANTS_PERSON,
    "771": Persona.HUMAN_AGENT,
    "772": Persona.HUMAN_AGENT_DECLINES,
    "773": Persona.HUMAN_AGENT_SAYS_YES,
    "774": Persona.HUMAN_AGENT_SAYS_NO,
}

# Personas that never answer: the final response they send at once (status code, reason phrase).
REJECTIONS: dict[Persona, tuple[int, str]] = {
    Persona.BUSY: (486, "Busy Here"),
    Persona.UNREACHABLE: (503, "Service Unavailable"),
    Persona.INVALID: (404, "Not Found"),
}

# Personas who pick up and talk.
SPEAKERS = frozenset({Persona.INTERESTED, Persona.NOT_INTERESTED, Persona.CALL_BACK, Persona.STOP_CALLING,
                      Persona.INTERRUPTER, Persona.WANTS_PERSON, Persona.HUMAN_AGENT, Persona.HUMAN_AGENT_DECLINES,
                      Persona.HUMAN_AGENT_SAYS_YES, Persona.HUMAN_AGENT_SAYS_NO})

GREETING = "Hello?"
NUDGE = "Hello? Is anyone there?"
INTERRUPTION = "Sorry, who is this? How did you get my number?"

# What each speaker says, one line per agent turn, after "Hello?".
REPLIES: dict[Persona, tuple[str, ...]] = {
    Persona.INTERESTED: ("Yes, I am interested. Tell me more.", "That sounds good. Please sign me up."),
    Persona.NOT_INTERESTED: ("No thank you, I am not interested.",),
    Persona.CALL_BACK: ("I am busy right now. Can you call me back tomorrow?",),
    Persona.STOP_CALLING: ("Stop calling me. Put me on your do not call list.",),
    Persona.INTERRUPTER: ("Fine, but I am not interested. Goodbye.",),
    Persona.WANTS_PERSON: ("I want to speak to a representative. Can I speak to a human?", "Okay, I will hold.",
                           "Hello. Thank you. Goodbye."),
    Persona.HUMAN_AGENT: ("Sure, I can help you with that. Goodbye.",),
    Persona.HUMAN_AGENT_DECLINES: ("Sorry, I cannot take it right now.",),
    Persona.HUMAN_AGENT_SAYS_YES: ("Yes, put them through.", "Sure, I can help you with that. Goodbye."),
    Persona.HUMAN_AGENT_SAYS_NO: ("Sorry, I can't take it now.",),
}
# A line a persona says on its own after its first reply, past a pause: the human agent who accepted a warm
# transfer by voice greets the person once they are put through (no key, no turn of the other side to wait for).
FOLLOW_UPS: dict[Persona, str] = {
    Persona.HUMAN_AGENT_SAYS_YES: "Hello, this is Jo from the sales desk. How can I help you?",
}
FOLLOW_UP_PAUSE_S = 1.5
# What a persona says when it picks up, instead of "Hello?" (the human agent answers for the desk).
OPENINGS: dict[Persona, str] = {Persona.HUMAN_AGENT: "Sales desk, this is Jo. How can I help you?",
                                Persona.HUMAN_AGENT_DECLINES: "Sales desk, this is Jo.",
                                Persona.HUMAN_AGENT_SAYS_YES: "Sales desk, this is Jo.",
                                Persona.HUMAN_AGENT_SAYS_NO: "Sales desk, this is Jo."}
# The DTMF key a persona presses with its first reply: the human agent takes a warm transfer (1) after the
# briefing, or declines it (2). A cold transfer ignores the key. The two `..._SAYS_...` personas press none: they
# answer the briefing in words only.
KEYS: dict[Persona, str] = {Persona.HUMAN_AGENT: "1", Persona.HUMAN_AGENT_DECLINES: "2"}

VOICEMAIL_GREETING = ("Hi, you have reached Sam. I can't take your call right now. "
                      "Please leave a message after the tone.")


def dialed_digits(number: str) -> str:
    """The digits of a dialed number (`+1 (202) 555-0100` -> `12025550100`)."""
    return "".join(c for c in number if c.isdigit())


def persona_for_number(number: str) -> Persona:
    """The persona answering `number`: by its last three digits when `SUFFIX_PLAN` has them, else by its last digit;
    a number without digits is invalid (404)."""
    digits = dialed_digits(number)
    if not digits:
        return Persona.INVALID
    return SUFFIX_PLAN.get(digits[-3:], PLAN[digits[-1]])


@dataclass(frozen=True)
class SimulatorOptions:
    """Timings and paths of a simulator run (passed to every worker as JSON).

    Attributes:
        ring_s: how long answering personas ring (180) before the 200 OK.
        max_ring_s: the no-answer persona gives up with 480 after this long (the caller normally cancels first).
        silence_ms: silence after the agent's speech that ends its turn (VAD hangover).
        no_speech_timeout_s: after "Hello?", how long a person waits for the agent before asking again, then
            hanging up.
        final_wait_s: after a person's last line, how long they wait for the agent's answer before hanging up.
        hangup_delay_s: the pause between the end of the agent's last turn and the person's BYE.
        interrupt_after_s: how far into the agent's first sentence the interrupter starts talking.
        max_call_s: any answered call is hung up by the simulator after this long.
        voicemail_greeting: what the voicemail says before the beep (about 4 s with the default text).
        beep_hz, beep_s: the voicemail beep.
        voicemail_max_s: the voicemail hangs up after this long.
        voicemail_silence_s: once a message started, the voicemail hangs up after this much silence.
        words_per_minute: the speaking rate of the people.
        vad_threshold: energy VAD sensitivity (0-1) on what the simulator hears.
        log_path: the JSON-lines call log.
        record_dir: when set, a WAV of what each call received is written there.
    """

    ring_s: float = 1.0
    max_ring_s: float = 120.0
    silence_ms: int = 700
    no_speech_timeout_s: float = 6.0
    final_wait_s: float = 6.0
    hangup_delay_s: float = 0.5
    interrupt_after_s: float = 1.0
    max_call_s: float = 120.0
    voicemail_greeting: str = VOICEMAIL_GREETING
    beep_hz: float = 1000.0
    beep_s: float = 0.5
    voicemail_max_s: float = 60.0
    voicemail_silence_s: float = 10.0
    words_per_minute: int = 165
    vad_threshold: float = 0.5
    log_path: str = "var/simulator/log.jsonl"
    record_dir: str = ""

    def __post_init__(self) -> None:
        for name in ("ring_s", "hangup_delay_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("max_ring_s", "no_speech_timeout_s", "final_wait_s", "interrupt_after_s", "max_call_s",
                     "beep_s", "voicemail_max_s", "voicemail_silence_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.silence_ms < 100:
            raise ValueError("silence_ms must be >= 100")
        if not 100 <= self.beep_hz <= 3400:
            raise ValueError("beep_hz must be within the telephone band (100-3400 Hz)")
        if not 80 <= self.words_per_minute <= 450:
            raise ValueError("words_per_minute must be 80-450")
        if not self.log_path:
            raise ValueError("log_path is empty")

    def to_json(self) -> str:
        """Serialise for a worker's command line."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SimulatorOptions:
        """Parse `to_json` output (unknown keys are ignored)."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
