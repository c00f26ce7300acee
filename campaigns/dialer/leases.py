"""Distributed admission limits in Redis: lease semaphores and calls-per-second token buckets.

A *lease* is a member (the call attempt id) of a sorted set per scope (one per campaign, one per trunk)
whose score is its expiry in milliseconds of Redis ``TIME`` (one clock for every host). Acquire, renew and
release are single Lua scripts, so no client can observe or leave a half-done state; release removes only
its own member, so releasing twice is harmless (no counters to drive negative).

Redis is the admission hint, PostgreSQL is the ledger: the dispatcher also counts in-flight attempts under
the campaign row lock, so a Redis flush or failover can delay dialing but never exceed a campaign's cap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.conf import settings

from campaigns.keys import KEY_PREFIX
from campaigns.redis_client import get_redis

logger = logging.getLogger(__name__)

# The user agent renews every few seconds; a lease lives 2-3 heartbeats so one late renewal does not lose it.
LEASE_TTL_S: int = settings.DIALER_LEASE_TTL_S
RENEW_EVERY_S: int = max(1, LEASE_TTL_S // 3)


@dataclass(frozen=True, slots=True)
class LeaseScope:
    """One limited resource: its sorted-set key and how many members it may hold."""

    key: str
    limit: int


def campaign_scope(campaign_id: int, max_concurrent: int) -> LeaseScope:
    """The concurrent-calls scope of a campaign."""
    return LeaseScope(f"{KEY_PREFIX}lease:campaign:{campaign_id}", max_concurrent)


def trunk_scope(trunk_id: int, max_channels: int) -> LeaseScope:
    """The channels scope of a trunk."""
    return LeaseScope(f"{KEY_PREFIX}lease:trunk:{trunk_id}", max_channels)


# Acquire every scope or none. KEYS = scope sets; ARGV = member, ttl_ms, limit per key.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, member) then
    if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
      return 0
    end
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, member)
  redis.call('PEXPIRE', key, ttl * 2)
end
return 1
"""

# Extend our own member; re-admit it under the limit when it vanished (expired late, or Redis was flushed).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local ttl = tonumber(ARGV[2])
local held = 1
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, member) or redis.call('ZCARD', key) < tonumber(ARGV[i + 2]) then
    redis.call('ZADD', key, now + ttl, member)
    redis.call('PEXPIRE', key, ttl * 2)
  else
    held = 0
  end
end
return held
"""

_RELEASE = """
for _, key in ipairs(KEYS) do
  redis.call('ZREM', key, ARGV[1])
end
return 1
"""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


def _args(member: str | int, ttl_s: float, scopes: Sequence[LeaseScope]) -> list[str | int]:
    return [str(member), int(ttl_s * 1000), *(s.limit for s in scopes)]


def acquire_leases(r: redis.Redis, scopes: Sequence[LeaseScope], member: str | int,
                   ttl_s: float = LEASE_TTL_S) -> bool:
    """Take a slot in every scope for ``member``, atomically (all or none).

    Idempotent: a member that already holds its slots keeps them and gets a fresh expiry.

    Returns:
        True when every scope admitted the member; False when one of them is full.

    Raises:
        redis.RedisError: callers treat it as "not admitted" (fail closed).
    """
    keys = [s.key for s in scopes]
    return bool(r.register_script(_ACQUIRE)(keys=keys, args=_args(member, ttl_s, scopes)))


def renew_leases(r: redis.Redis, scopes: Sequence[LeaseScope], member: str | int,
                 ttl_s: float = LEASE_TTL_S) -> bool:
    """Push back the expiry of ``member``'s slots; re-admit it under the limits if they vanished.

    Returns:
        True when the member holds a slot in every scope afterwards.
    """
    keys = [s.key for s in scopes]
    return bool(r.register_script(_RENEW)(keys=keys, args=_args(member, ttl_s, scopes)))


def release_leases(r: redis.Redis, scope_keys: Sequence[str], member: str | int) -> None:
    """Remove ``member`` from every scope. Removing an absent member is a no-op, so double release is safe."""
    r.register_script(_RELEASE)(keys=list(scope_keys), args=[str(member)])


def count_leases(r: redis.Redis, scope: LeaseScope) -> int:
    """Live (unexpired) members of a scope."""
    return int(r.register_script(_COUNT)(keys=[scope.key]))


# ---------------------------------------------------------------------------------------------------------
# Calls per second: token buckets, one per trunk and one per campaign.

@dataclass(frozen=True, slots=True)
class TokenRequest:
    """How many dials one campaign wants this tick, and the buckets that pay for each."""

    campaign_id: int
    campaign_rate: float
    trunk_id: int
    trunk_rate: float
    want: int


# KEYS = bucket hashes; ARGV[1] = number of buckets, ARGV[2] = the burst in seconds of refill, then the rate
# of each bucket, then triples (campaign bucket index, trunk bucket index, want) per request. Tokens are
# handed out one at a time in round-robin over the requests, so campaigns sharing a trunk share its calls
# per second fairly.
_TAKE_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nb = tonumber(ARGV[1])
local burst_s = tonumber(ARGV[2])
local tokens = {}
local burst = {}
for i = 1, nb do
  local rate = tonumber(ARGV[2 + i])
  burst[i] = rate * burst_s + 1
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  if h[1] then
    local elapsed = math.max(0, now - tonumber(h[2]))
    tokens[i] = math.min(burst[i], tonumber(h[1]) + elapsed * rate)
  else
    tokens[i] = burst[i]
  end
end
local reqs = {}
local base = 2 + nb
local nreq = (#ARGV - base) / 3
for j = 1, nreq do
  reqs[j] = {tonumber(ARGV[base + 3 * j - 2]), tonumber(ARGV[base + 3 * j - 1]), tonumber(ARGV[base + 3 * j]), 0}
end
local progress = true
while progress do
  progress = false
  for j = 1, nreq do
    local q = reqs[j]
    if q[4] < q[3] and tokens[q[1]] >= 1 and tokens[q[2]] >= 1 then
      tokens[q[1]] = tokens[q[1]] - 1
      tokens[q[2]] = tokens[q[2]] - 1
      q[4] = q[4] + 1
      progress = true
    end
  end
end
for i = 1, nb do
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[i], 3600)
end
local out = {}
for j = 1, nreq do out[j] = reqs[j][4] end
return out
"""

_REFUND = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBYFLOAT', key, 'tokens', ARGV[i])
  end
end
return 1
"""


def _bucket_key(kind: str, ident: int) -> str:
    return f"{KEY_PREFIX}cps:{kind}:{ident}"


def take_dial_tokens(r: redis.Redis, requests: Sequence[TokenRequest], burst_s: float | None = None) -> list[int]:
    """Take calls-per-second tokens for each request, fairly (round-robin), from both of its buckets.

    A bucket refills at ``rate`` per second of Redis time and holds at most ``rate * burst_s + 1`` tokens:
    one dispatcher tick's worth (``burst_s`` defaults to ``DIALER_TICK_S``), plus one so that a rate that
    is not a whole number per tick is not rounded down tick after tick.

    Returns:
        The tokens granted per request, in the same order.
    """
    if not requests:
        return []
    # Why the burst is one tick's worth and not one second's: every dial a tick claims goes out at once.
    # A bucket of a whole second let a tick after an idle spell send `rate` INVITEs in the same instant and
    # then `rate` more within the second (twice what the trunk accepts; providers answer 503), and the
    # burst of answers starved the media of the calls already up (see docs/benchmarks.md, UA pool).
    if burst_s is None:
        burst_s = settings.DIALER_TICK_S
    keys: list[str] = []
    rates: list[float] = []
    index: dict[str, int] = {}

    def slot(key: str, rate: float) -> int:
        if key not in index:
            index[key] = len(keys) + 1  # Lua arrays start at 1
            keys.append(key)
            rates.append(rate)
        return index[key]

    triples: list[int] = []
    for q in requests:
        ci = slot(_bucket_key("campaign", q.campaign_id), q.campaign_rate)
        ti = slot(_bucket_key("trunk", q.trunk_id), q.trunk_rate)
        triples += [ci, ti, max(0, q.want)]
    args: list[str | int] = [len(keys), repr(float(burst_s)), *(repr(float(x)) for x in rates), *triples]
    granted = r.register_script(_TAKE_TOKENS)(keys=keys, args=args)
    return [int(g) for g in granted]


def refund_dial_tokens(r: redis.Redis, refunds: Sequence[tuple[int, int, int]]) -> None:
    """Give back tokens taken for dials that were not claimed: ``(campaign_id, trunk_id, n)`` each."""
    totals: dict[str, int] = {}
    for campaign_id, trunk_id, n in refunds:
        if n > 0:
            for key in (_bucket_key("campaign", campaign_id), _bucket_key("trunk", trunk_id)):
                totals[key] = totals.get(key, 0) + n
    if totals:
        r.register_script(_REFUND)(keys=list(totals), args=[str(v) for v in totals.values()])


# ---------------------------------------------------------------------------------------------------------
# The attempt's view: which scopes it holds, and the heartbeat the user agent sends.

def attempt_scopes(campaign_id: int, max_concurrent: int, trunk_id: int | None,
                   max_channels: int) -> list[LeaseScope]:
    """The scopes one call attempt occupies while in flight."""
    scopes = [campaign_scope(campaign_id, max_concurrent)]
    if trunk_id is not None:
        scopes.append(trunk_scope(trunk_id, max_channels))
    return scopes


def release_attempt_leases(attempt_id: int, campaign_id: int, trunk_id: int | None,
                           r: redis.Redis | None = None) -> None:
    """Release an attempt's slots; a Redis error is logged only (the slot expires on its own)."""
    keys = [campaign_scope(campaign_id, 0).key]
    if trunk_id is not None:
        keys.append(trunk_scope(trunk_id, 0).key)
    try:
        release_leases(r or get_redis(), keys, attempt_id)
    except redis.RedisError:
        logger.warning("could not release leases of attempt %s; they will expire", attempt_id, exc_info=True)
