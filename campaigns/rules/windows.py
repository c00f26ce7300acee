"""Calling windows, evaluated in each contact's own local time.

TCPA (47 CFR 64.1200(c)(1)): no telephone solicitation before 08:00 or after 21:00 *at the called party's
location*. A campaign's own window (days and hours) can only narrow that. A contact whose zone is unknown
is never called; a number with several candidate zones is called only when every one of them is inside.

Windows are half-open, ``[start, end)``: at 20:59:59 local a call may start, at 21:00:00 it may not.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# TCPA: 8 a.m. to 9 p.m. at the called party's location.
LEGAL_START = dt.time(8, 0)
LEGAL_END = dt.time(21, 0)


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Local weekdays (Monday = 0) and hours during which a campaign may call, clipped to the legal hours."""

    days: frozenset[int]
    start: dt.time
    end: dt.time

    @classmethod
    def for_campaign(cls, days: Iterable[int], start: dt.time, end: dt.time) -> CallingWindow:
        """The campaign's window, never wider than the legal 08:00-21:00."""
        return cls(frozenset(days), max(start, LEGAL_START), min(end, LEGAL_END))

    @classmethod
    def of(cls, campaign: object) -> CallingWindow:
        """The window of a Campaign instance."""
        return cls.for_campaign(campaign.window_days, campaign.window_start, campaign.window_end)  # type: ignore[attr-defined]

    def contains_local(self, local: dt.datetime) -> bool:
        """Whether a local wall-clock time is inside the window."""
        return local.weekday() in self.days and self.start <= local.time().replace(tzinfo=None) < self.end


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def known_zones() -> tuple[str, ...]:
    """Every IANA zone this system knows."""
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_in_window(zone: str, now: dt.datetime, window: CallingWindow) -> bool:
    """Whether it is inside ``window`` in ``zone`` at the instant ``now`` (aware). Unknown zones are not."""
    tz = _zone(zone)
    if tz is None:
        return False
    return window.contains_local(now.astimezone(tz))


def contact_in_window(zones: Sequence[str], now: dt.datetime, window: CallingWindow) -> bool:
    """Whether a contact may be called now.

    Compliance: no zone (unknown location) means no call; several candidate zones must all be inside.
    """
    return bool(zones) and all(zone_in_window(z, now, window) for z in zones)


def zones_in_window(now: dt.datetime, window: CallingWindow) -> list[str]:
    """Every known zone that is inside ``window`` at ``now`` (the dispatcher filters contacts by it in SQL).

    Zone offsets are whole minutes, so the answer is the same for a whole minute when the window's edges
    are whole minutes too; it is cached per minute then.
    """
    edges_whole_minutes = not (window.start.second or window.start.microsecond or window.end.second
                               or window.end.microsecond)
    if edges_whole_minutes:
        minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        return list(_zones_in_window_at(minute, window))
    return [z for z in known_zones() if zone_in_window(z, now, window)]


@functools.lru_cache(maxsize=256)
def _zones_in_window_at(minute: dt.datetime, window: CallingWindow) -> tuple[str, ...]:
    return tuple(z for z in known_zones() if zone_in_window(z, minute, window))


def next_window_opening(zones: Sequence[str], now: dt.datetime, window: CallingWindow,
                        horizon_days: int = 8) -> dt.datetime | None:
    """The first instant at or after ``now`` when every zone in ``zones`` is inside the window.

    Returns None for an unknown zone (never called) or when nothing opens within ``horizon_days``.
    """
    if not zones or any(_zone(z) is None for z in zones):
        return None
    if contact_in_window(zones, now, window):
        return now
    candidates: set[dt.datetime] = set()
    for name in zones:
        tz = _zone(name)
        assert tz is not None  # noqa: S101 (checked above)
        local_today = now.astimezone(tz).date()
        for offset in range(horizon_days + 1):
            day = local_today + dt.timedelta(days=offset)
            if day.weekday() not in window.days:
                continue
            opening = dt.datetime.combine(day, window.start, tzinfo=tz)
            # A start inside a spring-forward gap does not exist; the window then opens an hour later in
            # wall-clock terms, which the +1 h candidate covers.
            for candidate in (opening, opening + dt.timedelta(hours=1)):
                instant = candidate.astimezone(dt.UTC)
                if instant > now:
                    candidates.add(instant)
    for instant in sorted(candidates):
        if contact_in_window(zones, instant, window):
            return instant
    return None
