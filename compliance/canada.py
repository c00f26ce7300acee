"""Where a Canadian number may be: its area code's provinces or territories and every time zone they span.

phonenumbers says which numbers are Canadian (region ``CA``) and names each area code's province in its geocoding
data ("Ontario", "Toronto, ON", "Nova Scotia/Prince Edward Island"), but gives one zone for most area codes. Several
span more than one: northwestern Ontario (807) keeps Central time west of Thunder Bay, British Columbia's interior
keeps Mountain time or Mountain Standard all year, Lloydminster (Saskatchewan's 306) keeps Alberta's time, the
Magdalen Islands and Blanc-Sablon (Quebec's 418) keep Atlantic time, Labrador (709) keeps Atlantic time, and the
three territories (867) span four zones. Calling hours must hold in every zone a contact may be in (the strictest
reading), so those zones are added here: the zones of a Canadian number are phonenumbers' and these.

Sources: the Canadian Numbering Administrator's area code maps (cnac.ca, "Canadian area codes", 2025) and the
time zones of the provinces' own time acts; ``docs/compliance.md`` [C9].
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA

COUNTRY = "CA"  # the national jurisdiction code of compliance.rules_table (CRTC rules)

# Provinces and territories (ISO 3166-2:CA), by the names phonenumbers' descriptions use.
PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Northwest Territories": "NT", "Nunavut": "NU",
    "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Yukon": "YT",
}
_CODES = frozenset(PROVINCES.values())

# Zones an area code spans beyond the one phonenumbers gives (see the module docstring).
_BC_INTERIOR = ("America/Vancouver", "America/Edmonton", "America/Dawson_Creek", "America/Fort_Nelson")
_QUEBEC_EAST = ("America/Toronto", "America/Halifax", "America/Puerto_Rico")
_LABRADOR = ("America/St_Johns", "America/Halifax", "America/Goose_Bay")
EXTRA_ZONES: dict[str, tuple[str, ...]] = {
    "807": ("America/Toronto", "America/Winnipeg"),
    "867": ("America/Whitehorse", "America/Edmonton", "America/Iqaluit", "America/Rankin_Inlet",
            "America/Cambridge_Bay"),
    "250": _BC_INTERIOR, "236": _BC_INTERIOR, "257": _BC_INTERIOR, "672": _BC_INTERIOR, "778": _BC_INTERIOR,
    "306": ("America/Regina", "America/Edmonton"), "639": ("America/Regina", "America/Edmonton"),
    "474": ("America/Regina", "America/Edmonton"),
    "418": _QUEBEC_EAST, "581": _QUEBEC_EAST, "367": _QUEBEC_EAST,
    "709": _LABRADOR, "879": _LABRADOR,
}


def province_code(text: str) -> str | None:
    """A province or territory as a file gives it (``ON``, ``Ontario``, ``on``) -> its code; None when unknown."""
    cleaned = text.strip()
    if cleaned.upper() in _CODES:
        return cleaned.upper()
    by_name = {name.lower(): code for name, code in PROVINCES.items()}
    return by_name.get(cleaned.lower())


def _provinces_of(description: str) -> tuple[str, ...]:
    """``"Ontario"`` -> ``("ON",)``; ``"Toronto, ON"`` -> ``("ON",)``; ``"Nova Scotia/Prince Edward Island"`` ->
    ``("NS", "PE")``."""
    tail = description.rsplit(", ", 1)[-1]
    found = [province_code(part) for part in tail.split("/")]
    return tuple(sorted({code for code in found if code is not None}))


@functools.cache
def area_codes() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every Canadian area code (3 digits) -> (its provinces or territories, every zone it may be in)."""
    # Imported on first use: the geocoding data costs 1.5 s and about 150 MB (see jurisdictions.area_code_states).
    from phonenumbers.geodata import GEOCODE_DATA

    table: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for prefix, names in GEOCODE_DATA.items():
        if len(prefix) != 4 or not prefix.startswith("1"):
            continue
        sample = phonenumbers.parse(f"+{prefix}5550123")
        if phonenumbers.region_code_for_number(sample) != COUNTRY:
            continue
        npa = prefix[1:]
        zones = {z for z in TIMEZONE_DATA.get(prefix, ()) if z != "Etc/Unknown"} | set(EXTRA_ZONES.get(npa, ()))
        table[npa] = (_provinces_of(names.get("en", "")), tuple(sorted(zones)))
    return table


def is_canadian(e164: str) -> bool:
    """Whether an E.164 number is a Canadian one (its area code is Canada's)."""
    return len(e164) == 12 and e164.startswith("+1") and e164[2:5] in area_codes()


def number_provinces(e164: str) -> tuple[str, ...]:
    """The provinces or territories of a Canadian number's area code; empty for any other number."""
    found = area_codes().get(e164[2:5]) if is_canadian(e164) else None
    return found[0] if found else ()


def number_jurisdictions(e164: str) -> tuple[str, ...]:
    """``("CA", "CA-ON")`` for a Toronto number: the CRTC's national rules and the province; empty otherwise."""
    provinces = number_provinces(e164)
    if not is_canadian(e164):
        return ()
    return (COUNTRY, *(f"CA-{p}" for p in provinces))


def number_zones(e164: str, zones: tuple[str, ...]) -> tuple[str, ...]:
    """A number's zones widened, for a Canadian area code spanning several, to every one it spans."""
    found = area_codes().get(e164[2:5]) if is_canadian(e164) else None
    if not found:
        return zones
    return tuple(sorted(set(zones) | set(found[1])))
