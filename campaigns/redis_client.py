"""The Redis connection the dialer uses for leases, token buckets and the user-agent registry."""

from __future__ import annotations

import functools

import redis
from django.conf import settings

# Short socket timeouts: every Redis call on the dial path fails closed (no dial) rather than hang a tick.
SOCKET_TIMEOUT_S = 2.0


@functools.cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S,
                                health_check_interval=30)


def get_redis() -> redis.Redis:
    """The shared client for ``settings.REDIS_URL`` (one connection pool per process and URL)."""
    return _client_for(settings.REDIS_URL)
