"""Where a contact may be: the area code's state, and a contact file that may only narrow it (F12)."""

from __future__ import annotations

import pytest

from compliance.jurisdictions import (
    ImpossibleLocation,
    area_code_states,
    narrow_location,
    number_jurisdictions,
    state_zones,
)

NY = "America/New_York"


def test_area_codes_map_to_states_from_the_geocoder() -> None:
    table = area_code_states()
    assert (table["212"], table["305"], table["405"], table["410"], table["202"], table["206"]) == (
        "NY", "FL", "OK", "MD", "DC", "WA")
    assert "604" not in table  # British Columbia
    assert len(set(table.values())) == 51  # 50 states and DC


def test_number_jurisdictions() -> None:
    assert number_jurisdictions("+13055550123") == ("US-FL",)
    assert number_jurisdictions("+16045550100") == ("CA", "CA-BC")  # Canada: CRTC rules and the province
    assert number_jurisdictions("+17875550100") == ()  # Puerto Rico is its own region
    assert number_jurisdictions("+442079460000") == ()


def test_the_f12_case_a_new_york_number_labelled_tokyo_is_a_row_error() -> None:
    with pytest.raises(ImpossibleLocation, match="Asia/Tokyo is not possible for \\+12125550123"):
        narrow_location("+12125550123", [NY], "Asia/Tokyo")


def test_a_zone_the_number_may_be_in_narrows_it() -> None:
    # a Florida panhandle-style number in two zones, the file says which one
    location = narrow_location("+18505550123", ["America/Chicago", NY], NY)
    assert location.time_zones == (NY,)
    assert location.jurisdictions == ("US-FL",)


def test_a_state_other_than_the_numbers_is_a_row_error() -> None:
    with pytest.raises(ImpossibleLocation, match="state FL is not possible"):
        narrow_location("+12125550123", [NY], file_state="Florida")
    with pytest.raises(ImpossibleLocation, match="unknown US state"):
        narrow_location("+12125550123", [NY], file_state="Atlantis")
    assert narrow_location("+12125550123", [NY], file_state="ny").jurisdictions == ("US-NY",)


def test_a_number_without_a_state_takes_the_address_state_and_all_its_zones() -> None:
    # a non-geographic number (no area code state) with a Florida address: Florida's rules and both its zones
    location = narrow_location("+18005550123", ["America/Chicago", "America/Denver", "America/New_York"],
                               file_state="FL")
    assert location.jurisdictions == ("US-FL",)
    assert set(location.time_zones) == set(state_zones()["FL"]) == {"America/Chicago", NY}


def test_an_address_state_outside_the_numbers_zones_is_a_row_error() -> None:
    with pytest.raises(ImpossibleLocation, match="state FL is not possible"):
        narrow_location("+442079460000", ["Europe/London"], file_state="FL")


def test_an_alias_of_the_numbers_zone_is_that_zone() -> None:
    assert narrow_location("+918040401108", ["Asia/Calcutta"], "Asia/Kolkata").time_zones == ("Asia/Calcutta",)
    # same offset today, different rules (no DST in Phoenix): not the same zone
    with pytest.raises(ImpossibleLocation):
        narrow_location("+16025550100", ["America/Phoenix"], "America/Denver")
