"""Calling windows in the contact's local time: TCPA edges, DST days, several zones, unknown zones."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from campaigns.rules import windows
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening, zones_in_window

UTC = dt.UTC
ALL_DAYS = range(7)
NY, LA, KTM = "America/New_York", "America/Los_Angeles", "Asia/Kathmandu"


@pytest.fixture(autouse=True)
def _zones_computed_afresh() -> None:
    # The per-minute cache would let only the first test of a minute run the zone checks (and be credited with
    # covering them by mutation testing).
    windows._zones_in_window_at.cache_clear()


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


def test_a_campaigns_window_is_read_from_its_fields() -> None:
    # given a campaign asking for weekdays 07:00-18:00
    campaign = SimpleNamespace(window_days=[0, 1, 2, 3, 4], window_start=dt.time(7, 0), window_end=dt.time(18, 0))
    # when its window is taken
    window = CallingWindow.of(campaign)
    # then it has its days and hours, the start clipped to the legal 08:00
    assert window == CallingWindow(frozenset(range(5)), dt.time(8, 0), dt.time(18, 0))


@pytest.mark.parametrize("edges", [
    {"start": dt.time(8, 0, 30)},
    {"start": dt.time(8, 0, 0, 500_000)},
    {"end": dt.time(20, 59, 30)},
    {"end": dt.time(20, 59, 59, 500_000)},
])
def test_zones_in_window_honours_edges_inside_a_minute(edges: dict[str, dt.time]) -> None:
    # given a window whose start or end is not a whole minute
    window = CallingWindow(frozenset(ALL_DAYS), edges.get("start", dt.time(8, 0)), edges.get("end", dt.time(21, 0)))
    edge = edges.get("start") or edges["end"]
    # New York (EDT, UTC-4) reaches the edge at this instant
    at_edge = dt.datetime.combine(dt.date(2026, 6, 16), edge, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    just_before, just_after = at_edge - dt.timedelta(microseconds=1), at_edge
    # when the dispatcher lists the zones inside just before and at the edge (the same minute)
    before, after = NY in zones_in_window(just_before, window), NY in zones_in_window(just_after, window)
    # then the answer flips at the edge itself, as for a single contact
    assert (before, after) == ((False, True) if "start" in edges else (True, False))
    assert before == contact_in_window([NY], just_before, window)
    assert after == contact_in_window([NY], just_after, window)


def test_zones_in_window_is_computed_once_per_minute() -> None:
    # given whole-minute edges and three instants of one UTC minute
    windows._zones_in_window_at.cache_clear()
    minute = at(2026, 6, 16, 12, 30)
    # when the dispatcher asks at each of them (in UTC and in another zone's clock)
    answers = [zones_in_window(minute.replace(second=5), legal_window()),
               zones_in_window(minute.replace(second=50, microsecond=250_000), legal_window()),
               zones_in_window(minute.astimezone(ZoneInfo(NY)).replace(second=59), legal_window())]
    # then the zones were computed once, and each answer is that minute's
    info = windows._zones_in_window_at.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert answers[0] == answers[1] == answers[2] == zones_in_window(minute, legal_window())


def test_next_opening_within_a_short_horizon() -> None:
    # given New York at 22:00 on Monday (closed until 08:00 on Tuesday)
    now = at(2026, 6, 16, 2, 0)
    tuesday_8am = at(2026, 6, 16, 12, 0)
    # when the horizon is today only, nothing opens; with one more day, Tuesday's opening is found
    assert next_window_opening([NY], now, legal_window(), horizon_days=0) is None
    assert next_window_opening([NY], now, legal_window(), horizon_days=1) == tuesday_8am
    # and an opening later today is found with a horizon of today only
    assert next_window_opening([NY], at(2026, 6, 16, 10, 0), legal_window(), horizon_days=0) == tuesday_8am


def test_next_opening_beyond_the_horizon_is_none() -> None:
    # given a campaign calling on Thursdays only, asked on Monday night (New York)
    thursdays = CallingWindow.for_campaign([3], dt.time(8, 0), dt.time(21, 0))
    now = at(2026, 6, 16, 2, 0)  # Monday 22:00 EDT; Thursday is 3 local days ahead
    # then a horizon of two days finds nothing, three days finds Thursday 08:00
    assert next_window_opening([NY], now, thursdays, horizon_days=2) is None
    assert next_window_opening([NY], now, thursdays, horizon_days=3) == at(2026, 6, 18, 12, 0)


def test_next_opening_counts_days_in_the_contacts_own_calendar() -> None:
    # given Kiritimati (UTC+14) at 06:00 on Tuesday local, which is still Monday in UTC
    now = at(2026, 6, 15, 16, 0)
    # when the horizon is the contact's today only, today's 08:00 local is found
    assert next_window_opening(["Pacific/Kiritimati"], now, legal_window(), horizon_days=0) == at(2026, 6, 15, 18, 0)
