"""The reaper: resolves attempts whose lease ran out without news (their worker or user agent died).

It never re-dials by itself. A stuck attempt ends ``failed_unknown`` with the reason, and the retry rules
decide whether and when the contact is called again, like any other outcome, except that an attempt that
was answered is never retried automatically (its contact waits for review: what the person said is unknown).
An attempt that reached DIALING may have rung, so it counts against the contact; one still queued does not
(the user agent marks DIALING before it sends the INVITE).

It leaves alone every attempt that a live user agent says it still holds (a call up, or results waiting in the
UA's spool because the database was away): that UA will report it. If Redis cannot be read, nothing is reaped
this round (fail closed: ending a live call's attempt could get the person called twice). A late report for an
attempt the reaper did end still lands (`attempts.finish_attempt`).
"""

from __future__ import annotations

import datetime as dt
import logging

import redis
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, Disposition
from campaigns.dialer.attempts import finish_attempt
from campaigns.models import CallAttempt
from campaigns.redis_client import get_redis
from telephony.ua_registry import held_attempts

logger = logging.getLogger(__name__)

REAP_BATCH = 500


def reap_stuck_attempts(now: dt.datetime | None = None, limit: int = REAP_BATCH,
                        r: redis.Redis | None = None) -> list[int]:
    """End every in-flight attempt whose lease expired before ``now``, unless a live user agent holds it.

    Returns:
        The ids of the attempts this call ended.
    """
    now = now or timezone.now()
    try:
        held = held_attempts(r or get_redis())
    except redis.RedisError:
        logger.warning("reaper: the UA registry cannot be read; nothing reaped this round", exc_info=True)
        return []
    stuck = list(
        CallAttempt.objects.filter(state__in=ATTEMPT_IN_FLIGHT, lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("pk", "state", "originated_at", "lease_expires_at")[:limit]
    )
    reaped = []
    for attempt_id, state, originated_at, expired_at in stuck:
        if attempt_id in held:
            continue  # its UA is alive and will report it (its lease renewal waits for the database)
        if state == AttemptState.QUEUED and originated_at is None:
            reason = "never handed to a user agent (originate lost or not run) before its lease expired"
        elif state == AttemptState.QUEUED:
            reason = "handed to a user agent that never reported dialing before the lease expired"
        else:
            reason = f"lease expired in state {state} without progress (user agent stopped renewing)"
        # finish_attempt's conditional update makes this safe against a late report from the user agent.
        if finish_attempt(attempt_id, disposition=Disposition.FAILED_UNKNOWN,
                          reason=f"{reason}; expired at {expired_at:%Y-%m-%dT%H:%M:%S%z}"):
            logger.warning("reaped attempt %s: %s", attempt_id, reason)
            reaped.append(attempt_id)
    return reaped
