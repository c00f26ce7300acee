"""What the caller meant: keyword and yes/no intents, a spoken day, and the outcome label they map to.

Rules are ordered: an opt-out wins over everything, then a request for a person, a call back, a refusal,
interest, and finally a bare yes or no. Opt-outs come in two strengths, because both errors are costly: a
missed opt-out is a compliance breach (TCPA and the company-wide do-not-call list), and a false one silently
removes a customer from every campaign. `Intent.OPT_OUT` is a whole request that cannot mean anything else
("stop calling me", "remove me from your list", "unsubscribe"): it is recorded at once. `Intent.MAYBE_OPT_OUT`
is wording that often is one but may be a question, a goodbye or a misheard phrase ("remove me", "calling
me", "do not call", "leave me alone"): the agent asks first, and records it only on a yes. Two such cues of
different kinds in one answer that is not a question ("calling me ... your calling list", what a recogniser
may keep of "stop calling me, put me on your do not call list") are a request, recorded at once.

Labels come from the outcome tool's ``enum`` (the campaign's outcome schema); each intent has an ordered list
of synonyms, matched first as whole labels, then as ``_``-separated word runs inside a label (so
``interested`` finds ``very_interested`` but never ``not_interested``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """The caller's intent in one answer."""

    OPT_OUT = "opt_out"  # an unambiguous request to stop calling: recorded at once
    MAYBE_OPT_OUT = "maybe_opt_out"  # sounds like one, may not be: confirmed with the caller first
    TRANSFER = "transfer"
    QUESTION = "question"  # who is calling, why, how they got the number: answered, never a yes
    CALL_BACK = "call_back"
    NOT_INTERESTED = "not_interested"
    INTERESTED = "interested"
    NO = "no"
    YES = "yes"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class IntentResult:
    """A classified answer.

    Attributes:
        intent: what the caller meant.
        day: the date named for a call back ("tomorrow", "on Friday"), when there was one.
    """

    intent: Intent
    day: dt.date | None = None


_CONTRACTIONS = {
    "don't": "do not",
    "dont": "do not",
    "doesn't": "does not",
    "can't": "can not",
    "cannot": "can not",
    "won't": "will not",
    "i'm": "i am",
    "im": "i am",
    "i'd": "i would",
    "that's": "that is",
    "we're": "we are",
    "it's": "it is",
    "not_interested": "not interested",
}

_RULES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (
        Intent.OPT_OUT,
        (
            r"\b(stop|quit|cease) (calling|phoning|contacting|ringing|texting)( (me|us|this number|my number))?\b",
            # "do not call me tomorrow" asks for another day, not for no calls at all; "do not call me back,
            # I will call you" may decline one call only (and "not for me thanks" was heard as it): asked first
            r"\bdo not (ever )?(call|contact|phone|ring) (me|us|this number|my number)\b"
            r"(?! (back|before|after|until|on|at|in|tomorrow|today|tonight|this|next|later|now)\b)",
            r"\bnever (call|contact|phone|ring) (me|us|this number|my number)\b",
            r"\b(remove|delete|take) (me|my number|this number|my name) (off|from)( of)? (your|the|this) "
            r"(\w+ ){0,2}list\b",
            r"\b(put|add|place) (me|my number|this number) on (your|the|a) do not call list\b",
            r"\bunsubscribe\b",
            r"\bopt (me )?out\b",
        ),
    ),
    (
        Intent.TRANSFER,
        (
            r"\b(speak|talk) (to|with) (a |an |the |some )?(real )?"
            r"(person|human|agent|representative|someone|somebody|manager|operator)\b",
            r"\btransfer me\b",
            r"\bwant to (speak|talk) to (a|an|someone|somebody)\b",
            r"\b(representative|operator)\b",
        ),
    ),
    (
        # A caller who asks who is calling or objects to the call has not answered the question; taking the
        # words that follow ("please do ...", "sure, who ...") as a yes would record a conversion nobody gave.
        Intent.QUESTION,
        (
            r"\bwho (is|are) (this|that|it|you|calling|speaking)\b",
            r"\bwho (is )?calling\b",
            r"\b(how|where) did you get (my|this|the) (number|details|name|phone)\b",
            r"\bwhat is (this|it|that) (about|regarding|for)\b",
            r"\bwhy (are|do) you (calling|call|ringing|phoning)\b",
            r"\bwhat company\b",
        ),
    ),
    (
        Intent.CALL_BACK,
        (
            r"\b(call|ring|phone|try) (me )?(back|later|another time)\b",
            r"\bcall me (on|tomorrow|next|this|in|at)\b",
            r"\b(not a good|bad) time\b",
            r"\b(another|a better|some other) time\b",
            r"\bbusy\b",
        ),
    ),
    (
        Intent.NOT_INTERESTED,
        (
            r"\bnot (really )?interested\b",
            r"\bno interest\b",
            r"\bdo not (really )?(want|need)\b",
            r"\bno thank(s| you)?\b",
            r"^(no|nope|nah)\b.*\binterested\b",
            r"\bnot (for me|at this time|now)\b",
        ),
    ),
    (
        Intent.INTERESTED,
        (
            r"\binterested\b",
            r"\bsounds (good|great|interesting)\b",
            r"\bi would (like|love)\b",
            r"\btell me more\b",
            r"\bsign me up\b",
        ),
    ),
    (Intent.NO, (r"\b(no|nope|nah|negative|not really)\b", r"\bi do not\b(?! (know|understand|mind|care))")),
    (
        Intent.YES,
        (
            r"(?<!not )\b(yes|yeah|yep|yup|sure|okay|ok|certainly|absolutely|definitely|correct|alright|right)\b",
            r"\bof course\b",
            # "I am" / "I do" as the answer itself, not trailing a sentence ("... phoning me again I'm" is a cut-off
            # word, not a yes)
            r"^(?:(?:oh|well|um|uh|yes|yeah|sure)\s+)*i (do|am|will)\b(?! not)",
            r"\bplease do\b(?! \w)",  # "please do" as a whole answer, not "please do this about ..."
        ),
    ),
)
_COMPILED = tuple((intent, tuple(re.compile(p) for p in patterns)) for intent, patterns in _RULES)

# Cues of an opt-out, by kind: one alone may be a question, a goodbye or a misheard phrase, so the agent asks;
# two kinds in one answer that is not a question ("...calling me ... your calling list") are a request.
_OPT_OUT_CUES: dict[str, tuple[str, ...]] = {
    "stop": (
        # Recognisers often lose the first word of "stop calling me"; calling me *back* is a call back, and
        # "who is calling me" is a question ("why do you keep calling me" is worth the question back).
        r"(?<!you )(?<!is )(?<!'s )\bcalling me\b(?! back)",
        r"\bcall me again\b(?! (on|tomorrow|today|tonight|next|this|in|at|later)\b)",  # "do not" lost
        r"\bno more calls?\b",
        r"\bleave me alone\b",
    ),
    "list": (
        r"\byour (\w+ )?list\b",  # "remove me from your list" with the first words misheard
        r"\bcall(ing)? list\b",
    ),
    "remove": (
        r"\b(remove|delete) (me|my number)\b",
        r"\btake (me|my number) off\b",
    ),
    "do not call": (
        r"\bdo not (call|contact|phone|ring)\b"
        r"(?! (me |us )?(before|after|until|on|at|in|tomorrow|today|tonight|this|next|later|now)\b)",
        r"\bnever (call|contact|phone)\b",
    ),
}
_CUES = {kind: tuple(re.compile(p) for p in patterns) for kind, patterns in _OPT_OUT_CUES.items()}
# Words of a caller who wants the calls to go on: cues around them are no request to stop.
_KEEP_CALLING = re.compile(
    r"\bkeep (calling|phoning|ringing)\b|\b(not|never) (remove|delete|take)\b|\bnot on (any|a|your|the)\b")
_QUESTION_WORDS = frozenset({"who", "what", "why", "how", "where", "when", "am", "is", "are", "did", "does", "can"})

# The caller is ending the call.
LEAVING = re.compile(r"\b(good ?bye|bye|hanging up)\b")
_LEADING = dict.fromkeys(("yes", "yeah", "yep", "yup", "sure", "okay", "ok", "absolutely", "certainly"), Intent.YES)
_LEADING.update(dict.fromkeys(("no", "nope", "nah"), Intent.NO))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "a": 1, "a couple of": 2}


def normalize_text(text: str) -> str:
    """Lower-case, strip punctuation and expand contractions, so rules see plain words."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("_", " ")).split()
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def parse_day(text: str, today: dt.date) -> dt.date | None:
    """Find the day a caller names: today, tomorrow, a weekday, next week, in N days.

    Args:
        text: the answer.
        today: the reference date (the agent uses today's UTC date).

    Returns:
        The date, or None when no day is named.
    """
    norm = normalize_text(text)
    if re.search(r"\bday after tomorrow\b", norm):
        return today + dt.timedelta(days=2)
    if re.search(r"\btomorrow\b", norm):
        return today + dt.timedelta(days=1)
    if re.search(r"\b(today|tonight|this (morning|afternoon|evening)|later today)\b", norm):
        return today
    for index, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}\b", norm):
            ahead = (index - today.weekday()) % 7 or 7
            return today + dt.timedelta(days=ahead)
    match = re.search(r"\bin (\d+|one|two|three|four|five|six|seven|a couple of|a) (day|days|week|weeks)\b", norm)
    if match:
        count = int(match.group(1)) if match.group(1).isdigit() else _NUMBERS[match.group(1)]
        return today + dt.timedelta(days=count * (7 if match.group(2).startswith("week") else 1))
    # "next week", "in a week", "(talk) to week" (the "next" lost), or just "week" when the rest was not heard (a
    # short answer). "week" after any other word in a longer answer is more often a misheard word ("how did you
    # get my number" came out as "phone week phoning me again"): as a day it scheduled a call-back nobody asked for.
    if re.search(r"\b(next|this|a|one|the|to|in|by|until) week\b", norm) or (
            re.search(r"\bweek\b", norm) and len(norm.split()) <= 3):
        return today + dt.timedelta(days=7 - today.weekday())  # the Monday after
    return None


_WEEKDAY = r"\b(" + "|".join(_WEEKDAYS) + r")\b"
# A weekday asked for: after a word that schedules ("on friday", "maybe monday", "until tuesday") or before one that
# qualifies it ("friday afternoon", "monday works").
_WEEKDAY_ASKED = re.compile(
    r"\b(on|next|this|until|after|before|by|maybe|say|try|about|or|and|then|me|back) " + _WEEKDAY
    + r"|" + _WEEKDAY
    + r" (morning|afternoon|evening|night|please|then|instead|would|works|is (better|fine|good|ok|okay))\b"
)


def _day_asked(norm: str) -> bool:
    """Whether the day in an answer reads as one the caller asks for, not a misheard word.

    Why: a weekday heard inside a longer answer with nothing around it that schedules is more often a misheard
    word than a request ("Fine, but I am not interested." came out as "friday list that like for" and scheduled a
    call-back nobody asked for). Such a weekday counts in a short answer ("friday", "friday is good"), next to a
    scheduling word ("on friday", "friday afternoon"), or not at all. Days named otherwise ("tomorrow", "next
    week", "in two days") always count.
    """
    if len(norm.split()) <= 3 or _WEEKDAY_ASKED.search(norm):
        return True
    return parse_day(re.sub(_WEEKDAY, " ", norm), dt.date(2000, 1, 3)) is not None


def _opt_out_cues(norm: str) -> set[str]:
    """The kinds of opt-out cue (``_OPT_OUT_CUES``) a normalised answer holds."""
    return {kind for kind, cue_patterns in _CUES.items() if any(p.search(norm) for p in cue_patterns)}


def classify(text: str, today: dt.date | None = None) -> IntentResult:
    """Classify one caller answer.

    Args:
        text: the transcript of the answer.
        today: reference date for a named day; today's UTC date when omitted.

    Returns:
        The intent and, for a call back (or any answer naming a day), that day.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    norm = normalize_text(text)
    day = parse_day(norm, today)
    if day is not None and not _day_asked(norm):
        day = None
    words = norm.split()
    for intent, patterns in _COMPILED:
        if intent is Intent.TRANSFER:  # after the unambiguous opt-outs, before everything else
            cues = _opt_out_cues(norm)
            if len(cues) >= 2 and words[0] not in _QUESTION_WORDS:
                return IntentResult(Intent.OPT_OUT)
            if cues:
                return IntentResult(Intent.MAYBE_OPT_OUT)
        if intent in (Intent.NO, Intent.YES) and words and words[0] in _LEADING:
            # "Yes, I don't mind" / "No, I do": the first word of an answer to a yes/no question decides.
            intent = _LEADING[words[0]]
            return IntentResult(Intent.CALL_BACK, day) if intent is Intent.YES and day else IntentResult(intent)
        if any(p.search(norm) for p in patterns):
            if intent in (Intent.YES, Intent.UNKNOWN) and day is not None:
                # "Yes, tomorrow" / "maybe next week" to "can we talk now?" is a call back.
                return IntentResult(Intent.CALL_BACK, day)
            return IntentResult(intent, day if intent is Intent.CALL_BACK else None)
    if day is not None and not LEAVING.search(norm):
        # A named day alone reads as "call me then"; not when the caller is saying goodbye ("fine ... goodbye"
        # misheard as "friday ... goodbye" scheduled a call-back nobody asked for).
        return IntentResult(Intent.CALL_BACK, day)
    return IntentResult(Intent.UNKNOWN)


# Ordered synonyms per intent: earlier entries are better matches.
LABEL_SYNONYMS: dict[Intent, tuple[str, ...]] = {
    Intent.OPT_OUT: (
        "opted_out", "opt_out", "optout", "do_not_call", "dnc", "unsubscribed", "unsubscribe",
        "remove", "removed", "stop_calling",
    ),
    Intent.TRANSFER: ("transfer", "transferred", "transfer_requested", "escalate", "escalated", "human"),
    Intent.CALL_BACK: (
        "callback", "call_back", "callback_requested", "call_later", "call_back_later", "reschedule",
        "rescheduled", "later", "busy",
    ),
    Intent.NOT_INTERESTED: (
        "not_interested", "uninterested", "declined", "decline", "refused", "rejected", "no",
        "negative", "not_qualified", "unqualified", "lost",
    ),
    Intent.INTERESTED: (
        "interested", "qualified", "lead", "hot_lead", "accepted", "agreed", "confirmed", "yes",
        "positive", "success", "converted", "won",
    ),
    Intent.UNKNOWN: (
        "unknown", "undecided", "inconclusive", "unclear", "other", "no_response", "no_answer",
        "neutral", "maybe",
    ),
}  # fmt: skip
LABEL_SYNONYMS[Intent.YES] = LABEL_SYNONYMS[Intent.INTERESTED]
LABEL_SYNONYMS[Intent.MAYBE_OPT_OUT] = LABEL_SYNONYMS[Intent.UNKNOWN]  # never recorded as an opt-out unconfirmed
LABEL_SYNONYMS[Intent.NO] = LABEL_SYNONYMS[Intent.NOT_INTERESTED]
LABEL_SYNONYMS[Intent.QUESTION] = LABEL_SYNONYMS[Intent.UNKNOWN]

_NEGATIONS = {"not", "no", "non", "never", "dont"}


def label_for_intent(intent: Intent, labels: Sequence[str]) -> str | None:
    """Pick the outcome label (from the tool's enum) that best fits an intent.

    Args:
        intent: the caller's intent.
        labels: the outcome labels the schema allows.

    Returns:
        The label, or None when no label fits.
    """
    synonyms = LABEL_SYNONYMS[intent]
    by_lower = {label.lower(): label for label in labels}
    for synonym in synonyms:
        if synonym in by_lower:
            return by_lower[synonym]
    negative = intent in (Intent.NOT_INTERESTED, Intent.NO, Intent.OPT_OUT)
    for synonym in synonyms:
        wanted = synonym.split("_")
        if len(wanted) == 1 and wanted[0] in _NEGATIONS:
            continue  # a bare "no" inside "no_answer" means something else
        for label in labels:
            words = label.lower().split("_")
            if not negative and _NEGATIONS & set(words):
                continue  # "interested" must not find "not_interested"
            if any(words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)):
                return label
    return None


# Answers the recogniser should expect whatever the script asks (its language model is built from these).
ANSWER_CORPUS: tuple[str, ...] = (
    "yes", "yes please", "yes i am", "yes i am interested", "yes i would like that", "yeah sure", "sure",
    "okay", "of course", "absolutely", "that sounds good", "sounds great", "tell me more", "i am interested",
    "no", "no thanks", "no thank you", "nope", "not really", "not interested", "i am not interested",
    "no i am not interested", "i do not want it", "i do not need it", "not right now",
    "please stop calling me", "stop calling me", "stop calling me please", "do not call me again",
    "please do not call me again", "remove me from your list", "please remove me from your list",
    "take me off your list", "take me off your calling list", "put me on your do not call list", "unsubscribe",
    "call me back", "call me back later", "call me later", "please call me back tomorrow",
    "call me back tomorrow", "call me tomorrow", "can you call me back next week", "call me next week",
    "call me on monday", "call me on tuesday", "call me on wednesday", "call me on thursday",
    "call me on friday", "call me on saturday", "call me on sunday", "call me back in two days",
    "this is not a good time", "i am busy right now", "maybe tomorrow", "maybe next week",
    "i want to talk to a person", "can i speak to a human", "let me talk to a real person",
    "transfer me to an agent", "i want to speak to a representative",
    "hello", "who is this", "what is this about", "sorry", "what", "i do not know", "maybe", "i am not sure",
    "goodbye", "thank you", "thanks",
    # Other ways people say the same things (ring, phone, contact, this number; "try me"). Without them
    # the model forces unseen wording onto the nearest answer above: "please don't ring this number any more"
    # came out as "free solar free list on friday more", a call back. Each one is classified as meant on text.
    "do not ring me again", "do not phone me again", "do not contact me again", "stop ringing me",
    "never call me again", "never ring me again",
    "take my number off your list",
    "remove my number from your list", "remove this number from your list", "no more calls", "do not call here",
    "delete my number", "stop contacting me", "quit phoning me",
    "take this number off your calling list",
    "no i am good", "not for me", "we do not need it", "no we are okay", "we are not interested",
    "no thanks not for me",
    "try me tomorrow", "ring me back", "ring me tomorrow", "phone me later", "phone me back", "can you call later",
    "call me later today", "call back another time", "try again next week", "can you ring me on monday",
)  # fmt: skip


def classify_readings(text: str, whole_turn_text: str | None, today: dt.date | None = None) -> IntentResult:
    """Classify an answer read twice: from its speech (``text``) and from the whole turn, pauses included.

    Compliance (TCPA do-not-call): an opt-out is recorded at once, and a false one removes a customer from every
    campaign for good. So the speech reading decides, except that an opt-out is taken at once only when the whole
    turn also holds opt-out words, or when the speech reading alone holds the parts of a request (three of the
    four kinds of cue, e.g. "stop calling me ... your do not call list"; not when it asks to be kept, "do not
    remove me ... keep calling me"); otherwise either reading holding one makes it an opt-out to ask about
    (``MAYBE_OPT_OUT``). Measured on the held-out answers (docs/testing.md): opt-outs caught rose, and no
    answer that was not one became one at once where the single reading had made one.

    Why the three cues: asking back is safe only when the person answers. "Stop calling me. Put me on your do not
    call list." was read from its speech with all three cues in every VAD cut measured, but from the whole turn as
    "phone calling week put on your do not call later" in some; asked to confirm, a person who has said it all may
    hang up, and the opt-out was lost. No reading of an answer that was not an opt-out (1,575 readings: both
    held-out sets and the simulator's and corpus lines over 21 cuts each) held more than two kinds of cue.

    Args:
        text: the words read from the speech (``Transcription.text``).
        whole_turn_text: the words read from the whole turn, or None when there is only one reading (typed text).
        today: reference date for a named day.

    Returns:
        The intent and, for a call back, its day.
    """
    result = classify(text, today)
    if whole_turn_text is None:
        return result
    whole = classify(whole_turn_text, today).intent
    if result.intent is Intent.OPT_OUT:
        norm = normalize_text(text)
        if whole in (Intent.OPT_OUT, Intent.MAYBE_OPT_OUT) or (
                len(_opt_out_cues(norm)) >= 3 and not _KEEP_CALLING.search(norm)):
            return result
        return IntentResult(Intent.MAYBE_OPT_OUT)
    if whole is Intent.OPT_OUT:
        return IntentResult(Intent.MAYBE_OPT_OUT)
    return result
