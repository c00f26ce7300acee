"""The handoff to telephony: ``originate`` re-checks the world, takes the leases and commands a UA.

It returns at once; the call's progress comes back through :mod:`campaigns.attempts`. A redelivered
``originate`` for an attempt already handed over (or no longer queued) exits without dialing: the
conditional update on ``originated_at`` admits exactly one delivery.

When nothing may be dialed now (campaign not running, outside the window, do-not-call, a limit reached,
no caller ID under its cap, no live user agent with a free line, Redis unavailable) the attempt ends
``cancelled`` with the reason: it never reached the network, so it does not count against the contact,
who goes back to the queue (or to do-not-call).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.db.models import Q
from django.utils import timezone

from campaigns.attempts import end_attempt_not_dialed
from campaigns.caller_ids import choose_caller_id
from campaigns.choices import AttemptState, CampaignStatus
from campaigns.leases import LEASE_TTL_S, acquire_leases, attempt_scopes, release_leases
from campaigns.models import CallAttempt, DoNotCall
from campaigns.redis_client import get_redis
from campaigns.windows import CallingWindow, contact_in_window
from telephony.models import Trunk
from telephony.ua_registry import push_command, release_ua_line, reserve_ua_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What originate did: ``sent`` (command pushed), ``skipped`` (not ours to dial) or ``not_dialed``."""

    outcome: str
    reason: str = ""
    ua_name: str = ""


def trunk_command(trunk: Trunk) -> dict[str, Any]:
    """The trunk as the UA needs it (credentials included: the command queue is internal)."""
    data: dict[str, Any] = {
        "id": trunk.pk, "host": trunk.host, "port": trunk.port, "transport": trunk.transport,
        "auth_mode": trunk.auth_mode, "username": trunk.username, "password": trunk.password,
        "realm": trunk.realm, "register_expiry_s": trunk.register_expiry_s, "srtp_policy": trunk.srtp_policy,
        "codecs": [c.strip() for c in trunk.codecs.split(",") if c.strip()], "send_pai": trunk.send_pai,
    }
    return data


def build_originate_command(attempt: CallAttempt, caller_id: str) -> dict[str, Any]:
    """The originate command for a UA, with everything it needs to place and run the call."""
    campaign, contact, trunk = attempt.campaign, attempt.contact, attempt.trunk
    assert trunk is not None  # noqa: S101 (the claim always sets it)
    trunk_data = trunk_command(trunk)
    trunk_data["failover"] = trunk_command(trunk.failover) if trunk.failover_id and trunk.failover else None
    return {
        "type": "originate",
        "attempt_id": attempt.pk,
        "destination": contact.phone_e164,
        "caller_id": caller_id,
        "trunk": trunk_data,
        "ring_timeout_s": campaign.ring_timeout_s,
        "max_call_s": campaign.agent.max_call_s,
        "agent_profile_id": campaign.agent_id,
        "campaign_id": campaign.pk,
        "contact_id": contact.pk,
        "variables": {"name": contact.name, **(contact.variables or {})},
        "amd_enabled": campaign.amd_enabled,
        "machine_policy": campaign.machine_policy,
        "opt_out_digit": campaign.opt_out_digit,
        "lease_ttl_s": LEASE_TTL_S,
        "renew_every_s": max(1, LEASE_TTL_S // 3),
    }


def originate_attempt(attempt_id: int, *, r: redis.Redis | None = None, now: dt.datetime | None = None,
                      ) -> OriginateResult:
    """Hand one queued attempt to a user agent, after re-checking that it may be dialed now.

    Args:
        attempt_id: The attempt (the idempotency key).
        r: Redis client (default: the shared one).
        now: The current time (default: ``timezone.now()``).

    Returns:
        What happened; see :class:`OriginateResult`.
    """
    r = r or get_redis()
    now = now or timezone.now()
    # The idempotency gate: only one delivery of this task gets past it.
    if not CallAttempt.objects.filter(pk=attempt_id, state=AttemptState.QUEUED, originated_at__isnull=True).update(
            originated_at=now, lease_expires_at=now + timedelta(seconds=LEASE_TTL_S)):
        logger.info("originate %s: not queued or already handed over; nothing to do", attempt_id)
        return OriginateResult("skipped")
    attempt = (CallAttempt.objects
               .select_related("campaign", "campaign__agent", "contact", "trunk", "trunk__failover")
               .get(pk=attempt_id))
    campaign, contact = attempt.campaign, attempt.contact

    def not_dialed(reason: str) -> OriginateResult:
        end_attempt_not_dialed(attempt_id, reason)
        return OriginateResult("not_dialed", reason)

    if campaign.status != CampaignStatus.RUNNING:
        return not_dialed(f"campaign {campaign.get_status_display().lower()} before dialing")
    # TCPA: re-checked just before dialing, in the called party's zone(s); the claim may be seconds old.
    if not contact_in_window(contact.time_zones, now, CallingWindow.of(campaign)):
        return not_dialed("outside the calling window at dial time")
    # Do-not-call: an entry added after the claim stops this dial.
    if DoNotCall.objects.filter(Q(campaign__isnull=True) | Q(campaign_id=campaign.pk),
                                phone_e164=contact.phone_e164).exists():
        return not_dialed("on a do-not-call list at dial time")
    if attempt.trunk is None:
        return not_dialed("no trunk")
    scopes = attempt_scopes(campaign.pk, campaign.max_concurrent, attempt.trunk_id, attempt.trunk.max_channels)
    ua_name: str | None = None
    try:
        if not acquire_leases(r, scopes, attempt_id):
            return not_dialed("campaign or trunk at its concurrent-call limit")
        ua_name = reserve_ua_line(r)
        if ua_name is None:
            release_leases(r, [s.key for s in scopes], attempt_id)
            return not_dialed("no live user agent with a free line")
        caller_id = choose_caller_id(r, campaign.pk, attempt.trunk_id, contact.phone_e164, now)
        if caller_id is None:
            release_ua_line(r, ua_name)
            release_leases(r, [s.key for s in scopes], attempt_id)
            return not_dialed("no caller ID under its daily cap")
    except redis.RedisError:
        # Fail closed: without Redis the limits cannot be checked, so do not dial.
        logger.warning("originate %s: Redis error; not dialed", attempt_id, exc_info=True)
        _release_quietly(r, ua_name, [s.key for s in scopes], attempt_id)
        return not_dialed("Redis unavailable (fail closed)")
    if not CallAttempt.objects.filter(pk=attempt_id, state=AttemptState.QUEUED).update(
            caller_id=caller_id, ua_name=ua_name):
        # Ended meanwhile (reaper, cancel): give everything back.
        _release_quietly(r, ua_name, [s.key for s in scopes], attempt_id)
        return OriginateResult("skipped", "ended before the handoff")
    attempt.caller_id = caller_id
    try:
        push_command(r, ua_name, build_originate_command(attempt, caller_id))
    except redis.RedisError:
        # Unknown whether the command landed: the attempt keeps its lease and the reaper resolves it.
        logger.warning("originate %s: could not push the command to %s", attempt_id, ua_name, exc_info=True)
        return OriginateResult("not_dialed", "command push failed; left to the reaper", ua_name)
    return OriginateResult("sent", ua_name=ua_name)


def _release_quietly(r: redis.Redis, ua_name: str | None, keys: list[str], attempt_id: int) -> None:
    try:
        if ua_name:
            release_ua_line(r, ua_name)
        release_leases(r, keys, attempt_id)
    except redis.RedisError:
        logger.warning("originate %s: could not release; leases expire on their own", attempt_id, exc_info=True)
