"""Choosing the presented caller ID for an attempt: the campaign's pool, daily caps, local presence.

Only numbers the operator owns on the campaign's trunk are presented (STIR/SHAKEN attests numbers the
provider knows we may use; rotating arbitrary numbers is not allowed). Each number has a daily cap per UTC
day, counted in Redis and re-seeded from the attempts ledger when Redis lost the counter.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass

import phonenumbers
import redis
from phonenumbers import geocoder

from campaigns.keys import KEY_PREFIX
from campaigns.models import CallAttempt
from telephony.models import CallerID

POOL_CACHE_S = 5.0  # a pool edited in the admin is used within seconds
_pool_cache: dict[tuple[int, int], tuple[float, list[PoolNumber]]] = {}

# Count one more call for a number unless it reached its cap. -1: counter unknown (seed it first).
_TAKE = """
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
if tonumber(v) >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class PoolNumber:
    """A caller ID of a campaign's pool with its cap."""

    number: str
    daily_cap: int


@dataclass(frozen=True, slots=True)
class Locality:
    """Where a number is: its area (country code + area code) and its region (state, or country)."""

    area: str
    region: str


@functools.lru_cache(maxsize=65536)
def locality(e164: str) -> Locality:
    """The area and region of a number, for local presence."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return Locality("", "")
    nsn = phonenumbers.national_significant_number(parsed)
    area_len = phonenumbers.length_of_geographical_area_code(parsed)
    area = f"{parsed.country_code}-{nsn[:area_len]}" if area_len else ""
    country = phonenumbers.region_code_for_number(parsed) or ""
    region = country
    if parsed.country_code == 1:
        # NANP: the geocoder says "San Francisco, CA" or just "California"; the state is the region.
        place = geocoder.description_for_number(parsed, "en")
        if place:
            state = place.rsplit(", ", 1)[-1]
            region = f"{country}-{_NANP_REGIONS.get(state, state)}"
    return Locality(area, region)


_NANP_REGIONS = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Washington D.C.": "DC", "Florida": "FL",
    "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX",
    "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY", "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Ontario": "ON",
    "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Puerto Rico": "PR",
}


def presence_score(caller: str, destination: str) -> int:
    """2 = same area code, 1 = same region (state or country), 0 = elsewhere."""
    a, b = locality(caller), locality(destination)
    if a.area and a.area == b.area:
        return 2
    if a.region and a.region == b.region:
        return 1
    return 0


def campaign_pool(campaign_id: int, trunk_id: int) -> list[PoolNumber]:
    """The active caller IDs of a campaign on its trunk (cached for a few seconds per process)."""
    key = (campaign_id, trunk_id)
    hit = _pool_cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    pool = [PoolNumber(n, cap) for n, cap in CallerID.objects.filter(
        campaigns=campaign_id, trunk_id=trunk_id, active=True).order_by("number").values_list("number", "daily_cap")]
    _pool_cache[key] = (time.monotonic() + POOL_CACHE_S, pool)
    return pool


def _counter_key(number: str, day: dt.date) -> str:
    return f"{KEY_PREFIX}cid:{number}:{day:%Y%m%d}"


def _seed_counter(r: redis.Redis, number: str, now: dt.datetime) -> None:
    day_start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = CallAttempt.objects.filter(caller_id=number, queued_at__gte=day_start, originated_at__isnull=False).count()
    r.set(_counter_key(number, day_start.date()), used, nx=True, ex=2 * 86400)


def choose_caller_id(r: redis.Redis, campaign_id: int, trunk_id: int, destination: str,
                     now: dt.datetime) -> str | None:
    """Pick and count the caller ID for one call.

    Prefers a number in the destination's area code, then its region; among equals, the least used today.

    Returns:
        The number, or None when the pool is empty or every number reached its daily cap.

    Raises:
        redis.RedisError: the caller does not dial (fail closed).
    """
    pool = campaign_pool(campaign_id, trunk_id)
    if not pool:
        return None
    day = now.astimezone(dt.UTC).date()
    keys = [_counter_key(p.number, day) for p in pool]
    used = [int(v) if v is not None else 0 for v in r.mget(keys)]
    ranked = sorted(zip(pool, used, keys, strict=True),
                    key=lambda item: (-presence_score(item[0].number, destination), item[1], item[0].number))
    take = r.register_script(_TAKE)
    for number, count, key, in ranked:
        if count >= number.daily_cap:
            continue
        result = int(take(keys=[key], args=[number.daily_cap]))
        if result == -1:
            _seed_counter(r, number.number, now)
            result = int(take(keys=[key], args=[number.daily_cap]))
        if result == 1:
            return number.number
    return None
