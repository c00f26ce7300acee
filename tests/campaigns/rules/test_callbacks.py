"""A call-back is the person's own time, clipped to their calling window (D5)."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.rules.callbacks import callback_at, callback_field, requested_instant
from campaigns.rules.windows import CallingWindow

WINDOW = CallingWindow.for_campaign(range(7), dt.time(9), dt.time(20))
NOW = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("zone", "utc"), [
    ("America/New_York", dt.datetime(2026, 12, 8, 15, 0, tzinfo=dt.UTC)),
    ("America/Los_Angeles", dt.datetime(2026, 12, 8, 18, 0, tzinfo=dt.UTC)),
    ("Europe/London", dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)),
    ("Pacific/Auckland", dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)),
])
def test_an_offset_less_time_is_the_persons_wall_clock(zone: str, utc: dt.datetime) -> None:
    # "call me back tomorrow" recorded as 10:00 on the 8th: 10:00 where each person is, not 10:00 UTC
    assert requested_instant("2026-12-08T10:00:00", [zone], WINDOW) == utc
    assert callback_at("2026-12-08T10:00:00", [zone], WINDOW, NOW) == utc


def test_a_time_outside_the_window_moves_to_its_next_opening() -> None:
    # 07:30 in New York is before the 09:00 opening: the call-back is placed at 09:00 local
    assert callback_at("2026-12-08T07:30:00", ["America/New_York"], WINDOW, NOW) == dt.datetime(
        2026, 12, 8, 14, 0, tzinfo=dt.UTC)


def test_a_date_alone_is_the_windows_opening_that_day() -> None:
    assert callback_at("2026-12-09", ["Europe/Paris"], WINDOW, NOW) == dt.datetime(2026, 12, 9, 8, 0, tzinfo=dt.UTC)


def test_an_explicit_offset_is_kept_and_a_past_time_means_as_soon_as_the_window_allows() -> None:
    assert requested_instant("2026-12-08T15:00:00+00:00", ["Asia/Tokyo"], WINDOW) == dt.datetime(
        2026, 12, 8, 15, 0, tzinfo=dt.UTC)
    # asked for "this morning" already gone: the next opening in London after now (20:00 UTC = 20:00 there)
    assert callback_at("2026-12-07T10:00:00", ["Europe/London"], WINDOW, NOW) == dt.datetime(
        2026, 12, 8, 9, 0, tzinfo=dt.UTC)


def test_unreadable_values_and_unknown_zones_schedule_nothing() -> None:
    assert callback_at("tomorrow", ["America/New_York"], WINDOW, NOW) is None
    assert callback_at("2026-12-08T10:00:00", [], WINDOW, NOW) is None


def test_the_callback_field_is_found_by_name() -> None:
    assert callback_field({"callback_at": "2026-12-08T10:00:00", "notes": "x"}) == "callback_at"
    assert callback_field({"call_back_date": "2026-12-08"}) == "call_back_date"
    assert callback_field({"budget": "100"}) is None
