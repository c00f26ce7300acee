"""When to call back a person who asked for it: their words as a time in their own zone, inside the window.

A call-back outcome carries a date or a date-time (the agent's ``callback_at``-style field). A time without an
offset is the person's wall clock ("tomorrow at 10" where they are), never UTC: read as UTC it put a New York
callback at 05:00 and an Auckland one at 23:00. A date alone means the window's opening that day. The result is
moved forward to the next instant the contact's window is open (TCPA: 8am-9pm at the called party's location,
and the campaign's own days and hours), so a call-back is never placed outside the window.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from campaigns.rules.windows import CallingWindow, next_window_opening

# Field names that hold the time a person asked to be called back at.
CALLBACK_FIELD_HINTS = ("callback", "call_back", "call_me", "recall")


def callback_field(fields: Mapping[str, Any]) -> str | None:
    """The outcome field that holds a requested call-back time, if any (the first whose name says so)."""
    for name in sorted(fields):
        lowered = name.lower()
        if any(hint in lowered for hint in CALLBACK_FIELD_HINTS) and isinstance(fields[name], str) and fields[name]:
            return name
    return None


def _zone(zones: Sequence[str]) -> zoneinfo.ZoneInfo | None:
    for name in zones:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return None


def requested_instant(value: str, zones: Sequence[str], window: CallingWindow) -> dt.datetime | None:
    """The instant a call-back value names, read in the contact's zone (first known one).

    ``2026-12-08T10:00:00`` is 10:00 there; a value with an offset is that instant; ``2026-12-08`` is the window's
    opening on that local day. None when the value is not a date or the contact has no known zone.
    """
    tz = _zone(zones)
    if tz is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, window.start, tzinfo=tz).astimezone(dt.UTC)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(dt.UTC)


def callback_at(value: str, zones: Sequence[str], window: CallingWindow, now: dt.datetime) -> dt.datetime | None:
    """When to place the call-back: the requested instant (not before ``now``), clipped into the window.

    Returns None when the value cannot be read, the zone is unknown, or the window never opens within a week
    of the requested time.
    """
    wanted = requested_instant(value, zones, window)
    if wanted is None:
        return None
    return next_window_opening(list(zones), max(wanted, now), window)
