"""The calling policy of one contact at one instant: federal + every jurisdiction it may be in + the company's
own rules + the campaign's window, the strictest reading winning.

A call may start at instant ``now`` only if, in *every* zone the contact may be in, the local time is inside
the hours of *every* rule that governs it (federal, each state, company, campaign), the local day is not a
banned weekday or a state holiday of a rule that bans them, and no frequency cap is reached. Company rules
are intersected with the rest, so they can only narrow. All functions here are pure (no database): the
dispatcher and the dial gate turn their answers into SQL parameters (``compliance.claim_sql``).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import holidays
from phonenumbers.tzdata import TIMEZONE_DATA

from compliance.canada import EXTRA_ZONES as CANADA_EXTRA_ZONES
from compliance.rules_table import ALL_DAYS, FEDERAL, RULES, FrequencyCap, JurisdictionRule, rules_in_effect


@dataclass(frozen=True, slots=True)
class CompanyPolicy:
    """The operator's own, stricter rules: applied to every contact and intersected with the law's."""

    start: dt.time = dt.time(0, 0)
    end: dt.time = dt.time(23, 59)
    days: frozenset[int] = ALL_DAYS
    no_holidays: bool = False
    caps: tuple[FrequencyCap, ...] = ()

    def as_rule(self) -> JurisdictionRule:
        """The company's rules in the table's shape (code ``company``)."""
        return JurisdictionRule("company", "Company rules", self.start, self.end, self.days,
                                no_holidays=self.no_holidays, caps=self.caps)


@dataclass(frozen=True, slots=True)
class WindowRule:
    """A campaign's own window (days and hours), the last rule intersected."""

    days: frozenset[int]
    start: dt.time
    end: dt.time

    def as_rule(self) -> JurisdictionRule:
        """The campaign window in the table's shape (code ``campaign``)."""
        return JurisdictionRule("campaign", "Campaign window", self.start, self.end, self.days)


@functools.lru_cache(maxsize=256)
def _holidays(state: str, year: int) -> frozenset[dt.date]:
    """The legal holidays of a US state (or the federal ones for ``""``) in ``year``, from ``holidays``."""
    table = holidays.country_holidays("US", subdiv=state or None, years=year)
    return frozenset(table.keys())


@functools.lru_cache(maxsize=4096)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def rule_open_at(rule: JurisdictionRule, local: dt.datetime) -> bool:
    """Whether ``rule`` allows a call to start at the local wall-clock time ``local`` (aware, in the zone)."""
    hours = rule.hours_on(local.weekday())
    if hours is None:
        return False
    start, end = hours
    if not start <= local.time().replace(tzinfo=None) < end:
        return False
    if rule.no_holidays:
        # A state that bans calls on holidays: its own legal holidays (federal ones for federal/company rules).
        state = rule.code[3:] if rule.code.startswith("US-") else ""
        if local.date() in _holidays(state, local.year):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may start, and which rule decided (the evidence record keeps both)."""

    allowed: bool
    reason: str
    rules: tuple[str, ...] = ()


def governing_rules(jurisdictions: Iterable[str], day: dt.date, company: CompanyPolicy | None = None,
                    window: WindowRule | None = None) -> list[JurisdictionRule]:
    """Every rule that governs a contact on ``day``: federal, its states in effect, company, campaign."""
    rules = rules_in_effect(frozenset(jurisdictions), day)
    if company is not None:
        rules.append(company.as_rule())
    if window is not None:
        rules.append(window.as_rule())
    return rules


def may_call_at(zones: Sequence[str], jurisdictions: Iterable[str], now: dt.datetime,
                company: CompanyPolicy | None = None, window: WindowRule | None = None) -> Verdict:
    """Whether a call to a contact may start at ``now`` (aware), by its hours, days and holidays.

    TCPA 47 CFR 64.1200(c)(1) and the state laws in ``rules_table``: every zone the contact may be in, under
    every rule that governs it. No zone (unknown location) means no call.
    """
    if not zones:
        return Verdict(False, "time zone unknown")
    jurisdictions = tuple(jurisdictions)
    for name in zones:
        tz = _zone(name)
        if tz is None:
            return Verdict(False, f"unknown time zone {name}")
        local = now.astimezone(tz)
        for rule in governing_rules(jurisdictions, local.date(), company, window):
            if not rule_open_at(rule, local):
                return Verdict(False, f"{rule.code} ({rule.describe_hours()}): {local:%a %H:%M} in {name}")
    first = _zone(zones[0])
    assert first is not None  # noqa: S101 (checked in the loop above)
    local = now.astimezone(first)
    rules = governing_rules(jurisdictions, local.date(), company, window)
    return Verdict(True, f"{', '.join(r.code for r in rules)} open at {local:%a %Y-%m-%d %H:%M %Z} in "
                         f"{', '.join(zones)}", tuple(r.code for r in rules))


def strictest_caps(jurisdictions: Iterable[str], day: dt.date,
                   company: CompanyPolicy | None = None) -> list[tuple[str, FrequencyCap]]:
    """Every frequency cap that governs a contact (each must hold), with the code of the rule that sets it."""
    return [(r.code, cap) for r in governing_rules(jurisdictions, day, company) for cap in r.caps]


def next_opening(zones: Sequence[str], jurisdictions: Iterable[str], now: dt.datetime,
                 company: CompanyPolicy | None = None, window: WindowRule | None = None,
                 horizon: dt.timedelta = dt.timedelta(days=10)) -> dt.datetime | None:
    """The first instant at or after ``now`` when ``may_call_at`` holds (to the minute), or None within
    ``horizon``. Candidates are every local rule opening (hour start, day start) in each zone, checked in order.
    """
    jurisdictions = tuple(jurisdictions)
    if may_call_at(zones, jurisdictions, now, company, window).allowed:
        return now
    if not zones or any(_zone(z) is None for z in zones):
        return None
    starts = {r.start for r in RULES} | {h[0] for r in RULES for h in r.day_hours.values()} | {dt.time(0, 0)}
    if company is not None:
        starts.add(company.start)
    if window is not None:
        starts.add(window.start)
    candidates: set[dt.datetime] = set()
    for name in zones:
        tz = _zone(name)
        assert tz is not None  # noqa: S101 (checked above)
        today = now.astimezone(tz).date()
        for offset in range(horizon.days + 1):
            day = today + dt.timedelta(days=offset)
            for start in starts:
                local = dt.datetime.combine(day, start, tzinfo=tz)
                # A start inside a spring-forward gap does not exist: the next hour covers it.
                for candidate in (local, local + dt.timedelta(hours=1)):
                    instant = candidate.astimezone(dt.UTC)
                    if now < instant <= now + horizon:
                        candidates.add(instant)
    for instant in sorted(candidates):
        if may_call_at(zones, jurisdictions, instant, company, window).allowed:
            return instant
    return None


@functools.cache
def nanp_zones() -> tuple[str, ...]:
    """Every zone a +1 number may be in: the domain of the state rules (a state contact elsewhere is refused)."""
    found = {z for k, v in TIMEZONE_DATA.items() if k.startswith("1") for z in v if z != "Etc/Unknown"}
    # Canadian area codes spanning more zones than phonenumbers gives (compliance.canada) are in the domain too.
    found.update(z for zones in CANADA_EXTRA_ZONES.values() for z in zones)
    return tuple(sorted(found))


def zones_open_by_jurisdiction(now: dt.datetime, company: CompanyPolicy | None = None,
                               window: WindowRule | None = None) -> dict[str, list[str]]:
    """For the claim and the gate in SQL: per state jurisdiction with its own rules, the NANP zones in which a
    contact of that state may be called at ``now`` (federal, company and campaign rules included).

    A contact passes when, for each of its jurisdictions listed here, all its zones are in that list. The
    federal/company/campaign part for contacts without a state is ``zones_open_by_jurisdiction(...)[FEDERAL]``
    computed over every known zone by the caller (``campaigns.windows`` does it for the campaign window).
    """
    if _whole_minutes(company, window):
        minute = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        return {k: list(v) for k, v in _open_by_jurisdiction_at(minute, company, window).items()}
    return {k: list(v) for k, v in _open_by_jurisdiction_at.__wrapped__(now, company, window).items()}


def _whole_minutes(*rules: CompanyPolicy | WindowRule | None) -> bool:
    """Whether every edge is a whole minute: then (zone offsets being whole minutes) a minute has one answer."""
    return all(r is None or not (r.start.second or r.start.microsecond or r.end.second or r.end.microsecond)
               for r in rules)


def window_jurisdictions() -> list[str]:
    """The state codes whose hours, days or holidays differ from the federal rule (the others only add caps,
    recording or disclosure duties, and need no zone list of their own)."""
    federal = RULES[0]
    return [r.code for r in RULES if r.code != FEDERAL and (
        (r.start, r.end, r.days, dict(r.day_hours), r.no_holidays)
        != (federal.start, federal.end, federal.days, dict(federal.day_hours), federal.no_holidays))]


@functools.lru_cache(maxsize=256)
def _open_by_jurisdiction_at(now: dt.datetime, company: CompanyPolicy | None,
                             window: WindowRule | None) -> dict[str, tuple[str, ...]]:
    # Rule edges are whole minutes and zone offsets too, so a whole minute has one answer: cached per minute.
    out: dict[str, tuple[str, ...]] = {}
    for code in [FEDERAL, *window_jurisdictions()]:
        juris = () if code == FEDERAL else (code,)
        out[code] = tuple(z for z in nanp_zones() if may_call_at((z,), juris, now, company, window).allowed)
    return out


def company_zones(now: dt.datetime, company: CompanyPolicy) -> list[str]:
    """Every known zone in which the company's own rules (and the federal ones) allow a call at ``now``."""
    if _whole_minutes(company):
        return list(_company_zones_at(now.astimezone(dt.UTC).replace(second=0, microsecond=0), company))
    return [z for z in _all_zones() if may_call_at((z,), (), now, company).allowed]


@functools.cache
def _all_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones() if z not in {"Factory", "localtime"}))


@functools.lru_cache(maxsize=64)
def _company_zones_at(minute: dt.datetime, company: CompanyPolicy) -> tuple[str, ...]:
    return tuple(z for z in _all_zones() if may_call_at((z,), (), minute, company).allowed)
