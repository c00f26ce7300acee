"""Where a contact may be: the state of its number's area code, and what a contact file may add.

The area code -> state table is read from phonenumbers' own geocoding data (the descriptions of the 4-digit
NANP prefixes, e.g. ``1305`` -> "Florida", ``1212`` -> "New York, NY"), with state names resolved by the ``us``
package: no hand-kept list. Florida's FTSA presumes a Florida area code means a Florida resident; the engine
applies that presumption to every state.

A contact file can only *narrow* what the number says (security audit F12): a time zone the number cannot be
in, or a state other than the number's, is a row error, never a replacement.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

import us
from phonenumbers.tzdata import TIMEZONE_DATA

from compliance import canada

# phonenumbers' descriptions that the ``us`` lookup does not resolve by itself.
_NAME_FIXES = {"Washington State": "WA", "Washington D.C.": "DC"}


def _state_of_description(description: str) -> str | None:
    """``"New York, NY"`` or ``"Florida"`` -> ``"NY"`` / ``"FL"``; None for a Canadian province or nothing."""
    if description in _NAME_FIXES:
        return _NAME_FIXES[description]
    tail = description.rsplit(", ", 1)[-1]
    state = us.states.lookup(tail)
    if state is None or state.abbr in {"PR", "VI", "GU", "AS", "MP"}:
        return None  # territories have their own country calling regions; provinces are not US states
    return str(state.abbr)


@functools.cache
def area_code_states() -> dict[str, str]:
    """Every US area code (3 digits) with its state's USPS code, from phonenumbers' geocoding data."""
    # Imported on first use, not with the module: the geocoding data of every country takes about 1.5 s and
    # 150 MB, and processes that load this module without reading a number's state (the UA workers, through
    # Django's admin discovery) must not pay it.
    from phonenumbers.geodata import GEOCODE_DATA

    table: dict[str, str] = {}
    for prefix, names in GEOCODE_DATA.items():
        if len(prefix) == 4 and prefix.startswith("1"):
            state = _state_of_description(names.get("en", ""))
            if state is not None:
                table[prefix[1:]] = state
    return table


@functools.cache
def state_zones() -> dict[str, tuple[str, ...]]:
    """Every IANA zone the numbers of each state may be in (the union over its area codes)."""
    zones: dict[str, set[str]] = {}
    for npa, state in area_code_states().items():
        zones.setdefault(state, set()).update(z for z in TIMEZONE_DATA.get("1" + npa, ()) if z != "Etc/Unknown")
    return {s: tuple(sorted(z)) for s, z in zones.items()}


def jurisdiction_code(state: str) -> str:
    """``"FL"`` -> ``"US-FL"`` (the codes of ``compliance.rules_table``)."""
    return f"US-{state.upper()}"


def number_states(e164: str) -> tuple[str, ...]:
    """The states a US number is presumed to be in (its area code's state), empty for any other number."""
    if not e164.startswith("+1") or len(e164) != 12:
        return ()
    # The table holds US states only (Canadian provinces and the territories with their own regions are left
    # out when it is built), so the area code alone decides.
    state = area_code_states().get(e164[2:5])
    return (state,) if state is not None else ()


def number_jurisdictions(e164: str) -> tuple[str, ...]:
    """The state jurisdictions (``US-FL``) of a number's area code (called for every imported row)."""
    if len(e164) != 12 or not e164.startswith("+1"):
        return ()
    return _npa_jurisdictions().get(e164[2:5], ())


@functools.cache
def _npa_jurisdictions() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {npa: (jurisdiction_code(state),) for npa, state in area_code_states().items()}
    # Canadian numbers: the CRTC's national rules ("CA") and the province or territory ("CA-ON").
    table.update({npa: (canada.COUNTRY, *(f"CA-{p}" for p in provinces))
                  for npa, (provinces, _) in canada.area_codes().items()})
    return table


def number_zones(e164: str, zones: Sequence[str]) -> tuple[str, ...]:
    """The zones a number may be in: phonenumbers' (``zones``), widened for the Canadian area codes that span
    several (``compliance.canada``); the calling hours must hold in each."""
    return canada.number_zones(e164, tuple(zones))


class ImpossibleLocation(ValueError):
    """A contact file's zone or state that the number cannot be in; the message says why (a row error)."""


@dataclass(frozen=True, slots=True)
class ContactLocation:
    """The zones a contact may be in (all must be inside the window) and the jurisdictions that govern it."""

    time_zones: tuple[str, ...]
    jurisdictions: tuple[str, ...]


@functools.lru_cache(maxsize=1024)
def _state_code(text: str) -> str | None:
    """A state name or USPS code as the file gives it -> its USPS code (None when unknown)."""
    if text in _NAME_FIXES:
        return _NAME_FIXES[text]
    found = us.states.lookup(text)
    return _state_of_description(str(found.name)) if found is not None else None


_CLOCK_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_CLOCK_HOURS = 24 * 365 * 4


@functools.lru_cache(maxsize=4096)
def _same_clock(a: str, b: str) -> bool:
    """Whether two zones show the same local time every hour of 2024-2027 (a link and its target do)."""
    za, zb = zoneinfo.ZoneInfo(a), zoneinfo.ZoneInfo(b)
    return all(za.utcoffset(t) == zb.utcoffset(t)
               for t in (_CLOCK_START + dt.timedelta(hours=h) for h in range(_CLOCK_HOURS)))


@functools.cache
def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def narrow_location(e164: str, number_zones: Sequence[str], file_zone: str = "",
                    file_state: str = "") -> ContactLocation:
    """Combine what the number says with a zone and a state from the contact file; the file may only narrow.

    Args:
        e164: The contact's number.
        number_zones: The zones the number may be in (phonenumbers); empty when unknown.
        file_zone: A canonical IANA zone name given by the file, or "".
        file_state: A US state (USPS code or name) given by the file as the contact's address, or "".

    Raises:
        ImpossibleLocation: the zone is not one of the number's zones, or the state is not the number's
            state (F12: a New York number labelled ``Asia/Tokyo`` would otherwise be called at 22:30 New York
            time), or the state is unknown.
    """
    if canada.is_canadian(e164):
        return _narrow_canadian(e164, tuple(number_zones), file_zone, file_state)
    states = number_states(e164)
    jurisdictions = [jurisdiction_code(s) for s in states]
    zones = tuple(number_zones)
    if file_state:
        code = _state_code(file_state.strip())
        if code is None:
            raise ImpossibleLocation(f"unknown US state {file_state!r}")
        if states and code not in states:
            raise ImpossibleLocation(f"state {code} is not possible for {e164} (its area code is in {states[0]})")
        if not states:
            # A number without a state (toll-free, non-geographic): the address adds the state's rules, and
            # narrows the number's zones to the state's (every one of which must then hold).
            jurisdictions.append(jurisdiction_code(code))
            own = state_zones().get(code, ())
            narrowed = tuple(z for z in own if z in zones) if zones else own
            if not narrowed:
                raise ImpossibleLocation(f"state {code} is not possible for {e164} (the number is in "
                                         f"{', '.join(zones)})")
            zones = narrowed
    zones = _narrow_zone(e164, zones, file_zone)
    return ContactLocation(time_zones=zones, jurisdictions=tuple(sorted(set(jurisdictions))))


def _narrow_zone(e164: str, zones: tuple[str, ...], file_zone: str) -> tuple[str, ...]:
    if not file_zone:
        return zones
    if not _known_zone(file_zone):
        raise ImpossibleLocation(f"unknown time zone {file_zone!r}")
    if not zones:
        return (file_zone,)
    # An alias of one of the number's zones (Asia/Kolkata for Asia/Calcutta) is that zone.
    same = [z for z in zones if z == file_zone or _same_clock(z, file_zone)]
    if not same:
        raise ImpossibleLocation(f"time zone {file_zone} is not possible for {e164} "
                                 f"(the number is in {', '.join(zones)})")
    return (same[0],)


def _narrow_canadian(e164: str, zones: tuple[str, ...], file_zone: str, file_state: str) -> ContactLocation:
    """A Canadian number: the file's province may only be one of its area code's (a US state is a row error)."""
    provinces = canada.number_provinces(e164)
    zones = canada.number_zones(e164, zones)
    if file_state:
        code = canada.province_code(file_state)
        if code is None:
            raise ImpossibleLocation(f"{file_state!r} is not a Canadian province or territory, and {e164} is a "
                                     "Canadian number")
        if code not in provinces:
            raise ImpossibleLocation(f"province {code} is not possible for {e164} (its area code is in "
                                     f"{'/'.join(provinces)})")
        provinces = (code,)
    zones = _narrow_zone(e164, zones, file_zone)
    return ContactLocation(time_zones=zones, jurisdictions=(canada.COUNTRY, *(f"CA-{p}" for p in provinces)))
