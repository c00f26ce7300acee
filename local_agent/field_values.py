"""Outcome field values from what the caller said: typed by the outcome tool's JSON schema, and days as spoken."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from media.speech.intents import Intent, IntentResult, label_for_intent, normalize_text, parse_day

CALLBACK_LOCAL_TIME = dt.time(10, 0)
_NOTE_FIELDS = ("notes", "note", "summary", "comment", "comments", "details", "transcript")
_DATE_HINTS = ("date", "day", "when", "callback", "call_back")


def iso_value(day: dt.date, fmt: str) -> str:
    """A day as the schema's ``format`` wants it: ISO date, or 10:00 local wall-clock time for ``date-time``."""
    if fmt == "date-time":
        # A wall-clock time without an offset: 10:00 where the person is. The agent does not know their zone;
        # the dialer reads an offset-less time in the contact's own zone (never as UTC, which put New York's
        # callback at 05:00) and clips it to the calling window.
        return dt.datetime.combine(day, CALLBACK_LOCAL_TIME).isoformat()
    return day.isoformat()


def spoken_day(day: dt.date | None) -> str:
    """A day as the agent says it ("on Tuesday, December 8"; "later" when none was named)."""
    if day is None:
        return "later"
    return f"on {day.strftime('%A, %B')} {day.day}"


_NUMBER_WORDS = dict(
    zip(
        "zero one two three four five six seven eight nine ten eleven twelve".split(),  # noqa: SIM905 - a word list
        range(13),
        strict=True,
    )
)


def typed_value(spec: dict[str, Any], heard: str, result: IntentResult, today: dt.date) -> Any:
    """The value of one outcome property from an answer: boolean from yes/no, a number heard, a day, an enum value
    named, else the words as heard; None when the answer gives nothing of the type."""
    kind = spec.get("type", "string")
    if kind == "boolean":
        if result.intent in (Intent.YES, Intent.INTERESTED):
            return True
        if result.intent in (Intent.NO, Intent.NOT_INTERESTED):
            return False
        return None
    if kind in ("integer", "number"):
        for word in normalize_text(heard).split():
            if word.isdigit():
                return int(word)
            if word in _NUMBER_WORDS:
                return _NUMBER_WORDS[word]
        return None
    if spec.get("format") in ("date", "date-time"):
        day = parse_day(heard, today)
        return iso_value(day, spec["format"]) if day else None
    if isinstance(spec.get("enum"), list):
        words = normalize_text(heard)
        return next((v for v in spec["enum"] if normalize_text(str(v)) in words), None)
    return heard


def outcome_values(properties: dict[str, dict[str, Any]], fields: dict[str, Any], day: dt.date | None,
                   answers: Sequence[str]) -> dict[str, Any]:
    """The outcome tool's arguments besides its label: the fields filled so far, the day named (into the first
    date-like string property) and the caller's answers (into a notes-like string property)."""
    values = dict(fields)
    if day is not None:
        for name, spec in properties.items():
            fmt = spec.get("format", "")
            is_date = fmt in ("date", "date-time") or any(h in name for h in _DATE_HINTS)
            if name not in values and is_date and spec.get("type", "string") == "string":
                values[name] = iso_value(day, fmt)
                break
    for name, spec in properties.items():
        if name in _NOTE_FIELDS and spec.get("type", "string") == "string" and answers:
            values.setdefault(name, "; ".join(answers))
    return values


def pick_label(intent: Intent, labels: Sequence[str]) -> str:
    """The label for an intent, else one for "unknown", else one for "not interested", else the last label.

    An answer nobody understood is never recorded as interest (it would count as a conversion) nor, when the
    schema has no "unknown", as whatever label comes last (often an opt-out).
    """
    return (label_for_intent(intent, labels) or label_for_intent(Intent.UNKNOWN, labels)
            or label_for_intent(Intent.NOT_INTERESTED, labels) or labels[-1])
