"""Redis registry of user-agent (UA) processes, their free lines and their command queues.

Each UA process heartbeats with :func:`advertise_ua` (its free lines, host and SIP port, with a short
TTL). The dialer reserves a line with :func:`reserve_ua_line` (atomic decrement in Lua, so two
dispatchers never take the same last line) and hands the call over with :func:`push_command`; the UA
blocks on :func:`pop_command`. A UA that dies stops heartbeating and drops out of the registry within
its TTL; the attempts it held are resolved by the reaper.

Commands are sealed `telephony.contract` envelopes (`seal_command`): signed, expiring, without secrets. A
queue expires with its commands (`COMMAND_TTL_S`), so a queue nobody reads does not keep stale dials. A UA's
heartbeat also names the attempts it holds (calls up, or results still in its spool): the reaper leaves those
alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis

from telephony.contract import COMMAND_TTL_S

PREFIX = "ce:ua:"
INDEX_KEY = f"{PREFIX}index"  # sorted set: UA name -> heartbeat expiry (ms of Redis TIME)


def _info_key(name: str) -> str:
    return f"{PREFIX}info:{name}"


def _queue_key(name: str) -> str:
    return f"{PREFIX}commands:{name}"


# KEYS = index, info hash, command queue; ARGV = name, free lines, host, sip port, ttl ms, held attempts.
# Commands already waiting in the queue will each take a line, so they are subtracted from what the UA
# reports: a heartbeat racing a reservation cannot hand out a line twice.
_ADVERTISE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[5])
local free = tonumber(ARGV[2]) - redis.call('LLEN', KEYS[3])
if free < 0 then free = 0 end
redis.call('HSET', KEYS[2], 'free_lines', free, 'host', ARGV[3], 'sip_port', ARGV[4], 'attempts', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
return free
"""

# KEYS = index; ARGV = info key prefix. Picks the live UA with the most free lines and takes one.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local best = nil
local best_free = 0
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local free = tonumber(redis.call('HGET', ARGV[1] .. name, 'free_lines') or '0')
  if free > best_free then
    best = name
    best_free = free
  end
end
if best then
  redis.call('HINCRBY', ARGV[1] .. best, 'free_lines', -1)
end
return best
"""

_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'free_lines', 1)
end
return -1
"""

_TOTAL_FREE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local total = 0
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(redis.call('HGET', ARGV[1] .. name, 'free_lines') or '0')
end
return total
"""


def advertise_ua(r: redis.Redis, name: str, *, free_lines: int, host: str, sip_port: int, ttl_s: int = 5,
                 holding: Iterable[int] = ()) -> None:
    """Heartbeat of a UA process: it is alive for ``ttl_s`` more seconds with ``free_lines`` lines free.

    Args:
        r: Redis client.
        name: Unique name of the UA process.
        free_lines: Lines not busy with a call (commands still waiting in its queue are subtracted here).
        host: Host the UA runs on (for operators).
        sip_port: Its local SIP port.
        ttl_s: Seconds until the UA is considered dead without another heartbeat.
        holding: Attempts this UA still answers for (a call up, or events not yet in the ledger).
    """
    held = ",".join(str(int(a)) for a in sorted(set(holding)))
    r.register_script(_ADVERTISE)(keys=[INDEX_KEY, _info_key(name), _queue_key(name)],
                                  args=[name, int(free_lines), host, int(sip_port), int(ttl_s * 1000), held])


def withdraw_ua(r: redis.Redis, name: str) -> None:
    """Remove a UA from the registry (clean shutdown). Its queued commands are dropped with it."""
    pipe = r.pipeline(transaction=True)
    pipe.zrem(INDEX_KEY, name)
    pipe.delete(_info_key(name), _queue_key(name))
    pipe.execute()


def reserve_ua_line(r: redis.Redis) -> str | None:
    """Take one free line on the live UA with the most free lines.

    Returns:
        The UA's name, or None when no live UA has a free line (then the caller must not dial).
    """
    name = r.register_script(_RESERVE)(keys=[INDEX_KEY], args=[f"{PREFIX}info:"])
    if name is None:
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def release_ua_line(r: redis.Redis, name: str) -> None:
    """Give back a line reserved with :func:`reserve_ua_line` that was not used (no command pushed)."""
    r.register_script(_RELEASE)(keys=[_info_key(name)])


def total_free_lines(r: redis.Redis) -> int:
    """Free lines across all live UAs (the dispatcher claims no more than this per tick)."""
    return int(r.register_script(_TOTAL_FREE)(keys=[INDEX_KEY], args=[f"{PREFIX}info:"]))


def live_uas(r: redis.Redis) -> dict[str, dict[str, str]]:
    """Live UAs and their advertised fields (for operators and tests)."""
    out: dict[str, dict[str, str]] = {}
    now_ms = _redis_now_ms(r)
    for raw in r.zrangebyscore(INDEX_KEY, now_ms, "+inf"):
        name = _text(raw)
        info = r.hgetall(_info_key(name))
        out[name] = {_text(k): _text(v) for k, v in info.items()}
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redis_now_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return int(seconds) * 1000 + int(micros) // 1000


def held_attempts(r: redis.Redis) -> set[int]:
    """Attempts that a live UA says it still answers for (the reaper must not end them)."""
    held: set[int] = set()
    for info in live_uas(r).values():
        held.update(int(a) for a in info.get("attempts", "").split(",") if a)
    return held


def push_command(r: redis.Redis, name: str, sealed: str, ttl_s: float = COMMAND_TTL_S) -> None:
    """Append a sealed command (`telephony.contract.seal_command`) to the UA's queue; the queue expires with it."""
    pipe = r.pipeline(transaction=True)
    pipe.rpush(_queue_key(name), sealed)
    pipe.pexpire(_queue_key(name), int(ttl_s * 1000))
    pipe.execute()


def pop_command(r: redis.Redis, name: str, timeout_s: float) -> bytes | None:
    """Wait up to ``timeout_s`` for the UA's next sealed command (None on timeout); `open_command` verifies it."""
    item = r.blpop([_queue_key(name)], timeout=timeout_s)
    if item is None:
        return None
    value = item[1]
    return value if isinstance(value, bytes) else str(value).encode()


def pending_raw_commands(r: redis.Redis, name: str) -> list[bytes]:
    """The sealed commands waiting in a UA's queue, as stored."""
    return [x if isinstance(x, bytes) else str(x).encode() for x in r.lrange(_queue_key(name), 0, -1)]


def pending_commands(r: redis.Redis, name: str) -> list[dict[str, Any]]:
    """The bodies of the commands waiting in a UA's queue, unverified (for tests and operators)."""
    return [json.loads(json.loads(x)["body"]) for x in r.lrange(_queue_key(name), 0, -1)]
