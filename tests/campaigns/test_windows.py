"""Calling windows in the contact's local time: TCPA edges, DST days, several zones, unknown zones."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.windows import CallingWindow, contact_in_window, next_window_opening, zones_in_window

UTC = dt.UTC
ALL_DAYS = range(7)
NY, LA, KTM = "America/New_York", "America/Los_Angeles", "Asia/Kathmandu"


def legal_window() -> CallingWindow:
    # A campaign asking for more than the law allows gets the legal hours.
    return CallingWindow.for_campaign(ALL_DAYS, dt.time(6, 0), dt.time(23, 0))


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_window_is_clipped_to_tcpa_hours() -> None:
    window = legal_window()
    assert window.start == dt.time(8, 0)
    assert window.end == dt.time(21, 0)


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (at(2026, 6, 16, 0, 59, 59), True),  # 20:59:59 EDT
        (at(2026, 6, 16, 1, 0, 0), False),  # 21:00:00 EDT: the legal end is exclusive
        (at(2026, 6, 15, 11, 59, 59), False),  # 07:59:59 EDT
        (at(2026, 6, 15, 12, 0, 0), True),  # 08:00 EDT
    ],
)
def test_legal_edges_in_new_york_summer(utc: dt.datetime, inside: bool) -> None:
    assert contact_in_window([NY], utc, legal_window()) is inside


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (at(2026, 1, 13, 1, 59), True),  # 20:59 EST (UTC-5 in winter)
        (at(2026, 1, 13, 2, 0), False),  # 21:00 EST
    ],
)
def test_legal_edges_in_new_york_winter(utc: dt.datetime, inside: bool) -> None:
    assert contact_in_window([NY], utc, legal_window()) is inside


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        # Spring forward, Sunday 2026-03-08: clocks jump 02:00 -> 03:00, so 08:00 local is 12:00 UTC (EDT).
        (at(2026, 3, 8, 11, 59), False),  # 07:59 EDT
        (at(2026, 3, 8, 12, 0), True),
        (at(2026, 3, 8, 12, 30), True),  # 08:30 EDT (yesterday's offset would say 07:30)
        (at(2026, 3, 9, 0, 59), True),  # 20:59 EDT
        (at(2026, 3, 9, 1, 0), False),  # 21:00 EDT
        # Fall back, Sunday 2026-11-01: 02:00 -> 01:00, so 21:00 local is 02:00 UTC next day (EST).
        (at(2026, 11, 1, 12, 30), False),  # 07:30 EST (yesterday's offset would say 08:30)
        (at(2026, 11, 1, 12, 59), False),  # 07:59 EST
        (at(2026, 11, 1, 13, 0), True),  # 08:00 EST
        (at(2026, 11, 2, 1, 59), True),  # 20:59 EST
        (at(2026, 11, 2, 2, 0), False),  # 21:00 EST
    ],
)
def test_dst_change_days_in_new_york(utc: dt.datetime, inside: bool) -> None:
    assert contact_in_window([NY], utc, legal_window()) is inside


def test_dst_change_day_in_europe_uses_the_new_offset() -> None:
    # 2026-03-29: Europe/Paris moves from UTC+1 to UTC+2 at 01:00 UTC.
    assert not contact_in_window(["Europe/Paris"], at(2026, 3, 29, 5, 59), legal_window())  # 07:59 CEST
    assert contact_in_window(["Europe/Paris"], at(2026, 3, 29, 6, 0), legal_window())  # 08:00 CEST


def test_quarter_hour_zone_edge() -> None:
    # Kathmandu is UTC+5:45: 21:00 local = 15:15 UTC.
    assert contact_in_window([KTM], at(2026, 6, 16, 15, 14), legal_window())
    assert not contact_in_window([KTM], at(2026, 6, 16, 15, 15), legal_window())


def test_several_candidate_zones_must_all_be_inside() -> None:
    both = [NY, LA]
    assert not contact_in_window(both, at(2026, 6, 16, 12, 30), legal_window())  # 08:30 NY, 05:30 LA
    assert contact_in_window(both, at(2026, 6, 16, 16, 0), legal_window())  # 12:00 NY, 09:00 LA
    assert not contact_in_window(both, at(2026, 6, 17, 1, 0), legal_window())  # 21:00 NY, 18:00 LA


@pytest.mark.parametrize("zones", [[], ["Mars/Olympus_Mons"], [NY, "Not/A_Zone"]])
def test_unknown_zone_is_never_called(zones: list[str]) -> None:
    assert not contact_in_window(zones, at(2026, 6, 16, 16, 0), legal_window())
    assert next_window_opening(zones, at(2026, 6, 16, 16, 0), legal_window()) is None


def test_campaign_days_are_local_days() -> None:
    weekdays = CallingWindow.for_campaign(range(5), dt.time(9, 0), dt.time(17, 0))
    # Monday 2026-06-15 09:30 in Tokyo is still Sunday 2026-06-14 in UTC.
    assert contact_in_window(["Asia/Tokyo"], at(2026, 6, 15, 0, 30), weekdays)
    # Saturday 10:00 in New York.
    assert not contact_in_window([NY], at(2026, 6, 20, 14, 0), weekdays)


def test_campaign_hours_narrow_the_window() -> None:
    office = CallingWindow.for_campaign(ALL_DAYS, dt.time(9, 0), dt.time(17, 0))
    assert not contact_in_window([NY], at(2026, 6, 16, 12, 30), office)  # 08:30 EDT
    assert contact_in_window([NY], at(2026, 6, 16, 20, 59), office)  # 16:59 EDT
    assert not contact_in_window([NY], at(2026, 6, 16, 21, 0), office)  # 17:00 EDT


def test_zones_in_window_lists_exactly_the_zones_inside() -> None:
    now = at(2026, 6, 16, 12, 30)  # 08:30 New York, 05:30 Los Angeles, 18:15 Kathmandu
    inside = zones_in_window(now, legal_window())
    assert NY in inside
    assert LA not in inside
    assert KTM in inside
    assert zones_in_window(now.replace(second=59), legal_window()) == inside


def test_next_opening_for_a_zone_before_its_morning() -> None:
    now = at(2026, 6, 16, 10, 0)  # 06:00 EDT
    assert next_window_opening([NY], now, legal_window()) == at(2026, 6, 16, 12, 0)


def test_next_opening_is_now_when_inside() -> None:
    now = at(2026, 6, 16, 16, 0)
    assert next_window_opening([NY], now, legal_window()) == now


def test_next_opening_for_several_zones_waits_for_the_last_one() -> None:
    now = at(2026, 6, 16, 2, 0)  # 22:00 NY (Monday), 19:00 LA
    assert next_window_opening([NY, LA], now, legal_window()) == at(2026, 6, 16, 15, 0)  # 08:00 LA


def test_next_opening_skips_days_off_and_handles_spring_forward() -> None:
    weekdays = CallingWindow.for_campaign(range(5), dt.time(9, 0), dt.time(17, 0))
    now = at(2026, 3, 7, 15, 0)  # Saturday; Monday 2026-03-09 is after the change to EDT
    assert next_window_opening([NY], now, weekdays) == at(2026, 3, 9, 13, 0)  # 09:00 EDT
