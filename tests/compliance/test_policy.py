"""The strictest-wins calling policy: federal + each state of the contact + company + campaign, in every zone.

Time-travel tests: each instant is an exact UTC moment, read in the contact's zones (EDT/EST, CDT, DST changes).
"""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.policy import CompanyPolicy, WindowRule, may_call_at, next_opening, zones_open_by_jurisdiction
from compliance.rules_table import IDENTIFICATION_ITEMS, RULES, RULES_BY_CODE, FrequencyCap, rules_in_effect

NY, CHI, LA = "America/New_York", "America/Chicago", "America/Los_Angeles"
UTC = dt.UTC


def at(local: str, zone: str) -> dt.datetime:
    """A local wall-clock time in ``zone`` as an aware UTC instant."""
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize(("state", "start", "end"), [("US-FL", "08:00", "20:00"), ("US-OK", "08:00", "20:00"),
                                                     ("US-MD", "08:00", "20:00"), ("US-KY", "10:00", "21:00"),
                                                     ("US-MI", "09:00", "21:00"), ("US-NV", "09:00", "20:00"),
                                                     ("US-CT", "09:00", "20:00"), (None, "08:00", "21:00")])
def test_each_state_window_edges_are_half_open(state: str | None, start: str, end: str) -> None:
    # given a Wednesday in June (EDT) for a contact in New York time under that state's rules
    juris = (state,) if state else ()
    day = "2026-06-17"
    open_at, close_at = at(f"{day}T{start}:00", NY), at(f"{day}T{end}:00", NY)
    # then the first instant of the window is allowed, the second before it is not; the end is excluded
    assert may_call_at([NY], juris, open_at).allowed
    assert not may_call_at([NY], juris, open_at - dt.timedelta(seconds=1)).allowed
    assert may_call_at([NY], juris, close_at - dt.timedelta(seconds=1)).allowed
    assert not may_call_at([NY], juris, close_at).allowed


def test_florida_2030_local_is_refused_where_federal_allows_it() -> None:
    # 20:30 EDT is inside the federal 08:00-21:00 but past Florida's 20:00
    now = at("2026-06-17T20:30", NY)
    assert may_call_at([NY], (), now).allowed
    verdict = may_call_at([NY], ("US-FL",), now)
    assert not verdict.allowed
    assert verdict.reason.startswith("US-FL (08:00-20:00)")


def test_a_contact_in_two_states_gets_the_stricter_window_of_each() -> None:
    # given a contact governed by Florida (08:00-20:00) and Kentucky (10:00-21:00), in New York time
    both = ("US-FL", "US-KY")
    # then only 10:00-20:00 is allowed: the later opening and the earlier closing
    assert not may_call_at([NY], both, at("2026-06-17T09:59:59", NY)).allowed
    assert may_call_at([NY], both, at("2026-06-17T10:00", NY)).allowed
    assert may_call_at([NY], both, at("2026-06-17T19:59:59", NY)).allowed
    assert not may_call_at([NY], both, at("2026-06-17T20:00", NY)).allowed
    # and each state alone is wider
    assert may_call_at([NY], ("US-FL",), at("2026-06-17T09:00", NY)).allowed
    assert may_call_at([NY], ("US-KY",), at("2026-06-17T20:30", NY)).allowed


def test_a_state_window_must_hold_in_every_zone_of_the_contact() -> None:
    # given a Florida panhandle number that may be in Central or Eastern time
    zones = [CHI, NY]
    # 07:30 CDT is 08:30 EDT: open in New York, not yet in Chicago
    assert not may_call_at(zones, ("US-FL",), at("2026-06-17T07:30", CHI)).allowed
    assert may_call_at(zones, ("US-FL",), at("2026-06-17T08:00", CHI)).allowed
    # 19:30 CDT is 20:30 EDT: closed in New York
    assert not may_call_at(zones, ("US-FL",), at("2026-06-17T19:30", CHI)).allowed
    assert may_call_at(zones, ("US-FL",), at("2026-06-17T18:59", CHI)).allowed


def test_sunday_and_holiday_bans() -> None:
    # Alabama: no Sundays, no state holidays; Mississippi: no Sundays
    sunday = at("2026-06-21T12:00", CHI)
    assert not may_call_at([CHI], ("US-AL",), sunday).allowed
    assert not may_call_at([CHI], ("US-MS",), sunday).allowed
    assert may_call_at([CHI], ("US-MN",), sunday).allowed
    # 2026-07-03 is Independence Day (observed) in Alabama: banned; the federal rule alone allows it
    holiday = at("2026-07-03T12:00", CHI)
    assert not may_call_at([CHI], ("US-AL",), holiday).allowed
    assert may_call_at([CHI], (), holiday).allowed
    assert may_call_at([CHI], ("US-AL",), at("2026-07-02T12:00", CHI)).allowed


@pytest.mark.parametrize("local", ["2026-03-08T08:00", "2026-11-01T08:00"])
def test_florida_opening_on_dst_change_days(local: str) -> None:
    # On the spring-forward and fall-back Sundays the 08:00 local opening is a different UTC instant than the
    # day before; the rule follows the wall clock
    opening = at(local, NY)
    assert may_call_at([NY], ("US-FL",), opening).allowed
    assert not may_call_at([NY], ("US-FL",), opening - dt.timedelta(seconds=1)).allowed
    previous_day = at(str(dt.date.fromisoformat(local[:10]) - dt.timedelta(days=1)) + "T08:00", NY)
    assert opening - previous_day != dt.timedelta(days=1)


def test_dst_end_evening_closes_at_the_local_hour() -> None:
    # 2026-11-01 (EST from 02:00): 20:00 EST is 01:00 UTC the next day, one hour later in UTC than on 31 October
    close = at("2026-11-01T20:00", NY)
    assert close == dt.datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert not may_call_at([NY], ("US-FL",), close).allowed
    assert may_call_at([NY], ("US-FL",), close - dt.timedelta(seconds=1)).allowed


def test_next_opening_after_the_florida_close_is_0800_local() -> None:
    assert next_opening([NY], ("US-FL",), at("2026-06-17T20:30", NY)) == at("2026-06-18T08:00", NY)
    # across the spring-forward night
    assert next_opening([NY], ("US-FL",), at("2026-03-07T20:30", NY)) == at("2026-03-08T08:00", NY)
    # Alabama on a Saturday night: Sunday is banned, Monday 08:00 Central
    assert next_opening([CHI], ("US-AL",), at("2026-06-20T20:30", CHI)) == at("2026-06-22T08:00", CHI)


def test_company_rules_only_narrow() -> None:
    company = CompanyPolicy(start=dt.time(10), end=dt.time(22), days=frozenset(range(5)))
    # a company 22:00 end does not widen the federal 21:00
    assert not may_call_at([NY], (), at("2026-06-17T21:30", NY), company).allowed
    # its 10:00 start narrows the federal 08:00; its weekdays ban Saturday
    assert not may_call_at([NY], (), at("2026-06-17T09:00", NY), company).allowed
    assert not may_call_at([NY], (), at("2026-06-20T12:00", NY), company).allowed
    assert may_call_at([NY], (), at("2026-06-17T10:00", NY), company).allowed


def test_campaign_window_is_intersected_too() -> None:
    window = WindowRule(frozenset(range(7)), dt.time(7), dt.time(23))
    assert not may_call_at([NY], ("US-FL",), at("2026-06-17T07:30", NY), window=window).allowed
    assert not may_call_at([NY], ("US-FL",), at("2026-06-17T20:30", NY), window=window).allowed


def test_unknown_zone_is_never_called() -> None:
    assert not may_call_at([], (), at("2026-06-17T12:00", NY)).allowed
    assert not may_call_at(["Mars/Olympus"], (), at("2026-06-17T12:00", NY)).allowed


def test_rules_take_effect_on_their_date() -> None:
    # Maryland's law took effect on 2024-01-01
    assert "US-MD" not in [r.code for r in rules_in_effect({"US-MD"}, dt.date(2023, 12, 31))]
    assert "US-MD" in [r.code for r in rules_in_effect({"US-MD"}, dt.date(2024, 1, 1))]
    late_2023 = at("2023-12-29T20:30", NY)
    assert may_call_at([NY], ("US-MD",), late_2023).allowed
    assert not may_call_at([NY], ("US-MD",), at("2024-01-02T20:30", NY)).allowed


def test_every_rule_has_sources_and_a_valid_shape() -> None:
    for rule in RULES:
        assert rule.sources, rule.code
        assert rule.start < rule.end, rule.code
        assert rule.code in {"US", "CA"} or rule.code.startswith("US-")
        assert set(rule.identification) <= IDENTIFICATION_ITEMS, rule.code
        for start, end in rule.day_hours.values():
            assert start < end, rule.code
    assert RULES_BY_CODE["US-FL"].caps == (FrequencyCap(3, dt.timedelta(hours=24)),)


def test_zone_lists_for_sql_match_the_pure_policy() -> None:
    now = at("2026-06-17T20:30", NY)
    lists = zones_open_by_jurisdiction(now)
    assert NY in lists["US"]
    assert NY not in lists["US-FL"]
    assert LA in lists["US-FL"]  # 17:30 in Los Angeles
    for code, zones in lists.items():
        for zone in zones:
            assert may_call_at([zone], () if code == "US" else (code,), now).allowed
