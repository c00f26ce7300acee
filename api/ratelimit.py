"""Per-key request limits in Redis: a fixed one-minute window per key, shared by every web process."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from campaigns.redis_client import get_redis

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request may go on, how many remain in the window and when the window resets (s)."""

    allowed: bool
    remaining: int
    reset_s: int


def take(key_id: int, per_minute: int, *, r: redis.Redis | None = None) -> RateDecision:
    """Count one request of key ``key_id`` against its per-minute limit.

    A Redis outage lets requests through (logged): the limit protects capacity, while every dial the API asks
    for still passes the dialer's own gates, which fail closed without Redis.
    """
    now = time.time()
    window = int(now // 60)
    reset = max(1, int((window + 1) * 60 - now))
    name = f"ce:api:rl:{key_id}:{window}"
    try:
        pipe = (r or get_redis()).pipeline()
        pipe.incr(name)
        pipe.expire(name, 61)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        logger.warning("api rate limit: Redis unavailable, request of key %s let through", key_id)
        return RateDecision(True, per_minute, reset)
    return RateDecision(count <= per_minute, max(0, per_minute - count), reset)
