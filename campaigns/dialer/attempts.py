"""The life of a call attempt: the transitions the user-agent pool reports, and its end.

Every transition is a conditional update (``WHERE state IN expected``): zero rows updated means another
actor (a redelivered message, the reaper, a second UA) won, and the caller gets False and stops.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import redis
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Upper
from django.utils import timezone

from campaigns.budget import add_spend
from campaigns.choices import (
    ATTEMPT_IN_FLIGHT,
    CONTACT_TERMINAL,
    AttemptState,
    ContactStatus,
    Disposition,
    DncSource,
)
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.dialer.gate import gate_attempt, hold_contact_until
from campaigns.dialer.leases import LEASE_TTL_S, attempt_scopes, release_attempt_leases, renew_leases
from campaigns.models import CallAttempt, Contact, DoNotCall, RetryRule
from campaigns.outcome_schema import checked_outcome
from campaigns.redis_client import get_redis
from campaigns.rules.callbacks import callback_at, callback_field, requested_instant
from campaigns.rules.retries import Rule, plan_next_step
from campaigns.rules.windows import CallingWindow
from campaigns.services import pause_campaign_at_budget
from compliance.evidence import complete_evidence
from compliance.services import revoke_consent
from telephony.contract import RESULT_KEYS
from telephony.models import Trunk
from telephony.ua.ledger import DialDecision
from webhooks import events as webhook_events

logger = logging.getLogger(__name__)

# What the user agent may report at the end of a call (``results`` of finish_attempt): the contract's set.
RESULT_FIELDS = frozenset(RESULT_KEYS)
# A caller offered a call-back after a failed transfer is called again this much later (inside the window).
CALLBACK_AFTER_TRANSFER_S = 3600
_CENT = Decimal("0.0001")


def attempt_in_states(attempt_id: int, states: Iterable[str]) -> QuerySet[CallAttempt]:
    """The attempt, if it is in one of ``states``: the target of a conditional update.

    The state is compared as ``upper(state)`` on purpose. A plain ``state IN (...)`` implies the predicate
    of the partial in-flight indexes, so the planner may scan one of them whole instead of using the primary
    key, and does whenever statistics were taken while few calls were in flight (then every transition
    costs a scan of all calls in flight). This way only the primary key applies.
    """
    return CallAttempt.objects.alias(state_upper=Upper("state")).filter(
        pk=attempt_id, state_upper__in=[str(s).upper() for s in states])


def renew_attempt_leases(attempt_id: int, trunk_id: int | None = None) -> bool:
    """Heartbeat of a live call: extend its Postgres lease (the reaper's clock) and its Redis slots.

    The user agent calls this every ``RENEW_EVERY_S`` seconds while the call lives, naming the trunk that carries
    the call now: after a failover that is the secondary, whose channel the UA took before its INVITE; the
    attempt row names the primary until the call ends.

    Returns:
        True while the attempt is in flight; False when it has ended (e.g. the reaper resolved it), in
        which case the user agent should hang up.
    """
    now = timezone.now()
    updated = attempt_in_states(attempt_id, ATTEMPT_IN_FLIGHT).update(
        lease_expires_at=now + timedelta(seconds=LEASE_TTL_S))
    if not updated:
        return False
    row = (CallAttempt.objects.filter(pk=attempt_id)
           .values("campaign_id", "trunk_id", "campaign__max_concurrent", "trunk__max_channels").first())
    if row is None:
        return False
    carrying, channels = row["trunk_id"], row["trunk__max_channels"] or 1
    if trunk_id is not None and trunk_id != carrying:
        carrying = trunk_id
        channels = Trunk.objects.filter(pk=trunk_id).values_list("max_channels", flat=True).first() or 1
    scopes = attempt_scopes(row["campaign_id"], row["campaign__max_concurrent"], carrying, channels)
    try:
        if not renew_leases(get_redis(), scopes, attempt_id):
            # The call is live already; Postgres still counts it against the cap, so let it finish.
            logger.warning("attempt %s lost a Redis slot (flush or expiry); the ledger still counts it", attempt_id)
    except redis.RedisError:
        logger.warning("could not renew Redis leases of attempt %s", attempt_id, exc_info=True)
    return True


def _transition(attempt_id: int, from_states: frozenset[str] | set[str], to_state: str, **fields: Any) -> bool:
    now = timezone.now()
    updated = attempt_in_states(attempt_id, from_states).update(
        state=to_state, lease_expires_at=now + timedelta(seconds=LEASE_TTL_S), **fields)
    if not updated:
        logger.info("attempt %s: not moved to %s (state changed elsewhere)", attempt_id, to_state)
    return bool(updated)


def mark_attempt_dialing(attempt_id: int, *, ua_name: str, sip_call_id: str = "",
                         now: dt.datetime | None = None) -> DialDecision:
    """The last gate before the INVITE: QUEUED -> DIALING only if the call may still be placed *now*.

    One conditional update (``campaigns.dialer.gate``) checks, at the instant of the dial, everything the claim
    checked seconds or minutes earlier: the attempt is still queued and its lease valid (a stale command after a
    pause or a UA restart is not dialed), the campaign is running, the number is on no do-not-call list, every
    zone the contact may be in is inside the campaign's calling window (TCPA 47 CFR 64.1200(c)(1)), and every
    compliance rule holds (state hours, frequency caps across campaigns, consent, national do-not-call,
    reassigned numbers: ``compliance.claim_sql``). It runs under a per-number lock, and writes the evidence record
    in the same transaction. When it refuses, the attempt ends ``cancelled`` (not dialed) with the reason, so it
    does not count against the contact; a time rule's next opening is set on the contact.

    The UA must call this *before* sending the INVITE: a queued attempt is then known never to have rung.

    Returns:
        Allowed (truthy) when the UA may dial; refused with the reason when it must not.
    """
    now = now or timezone.now()
    result = gate_attempt(attempt_id, ua_name=ua_name, sip_call_id=sip_call_id, now=now)
    if result.allowed:
        return DialDecision(True)
    if result.reason is None:
        return DialDecision(False, "not queued any more")
    if result.reason == "no such attempt":
        return DialDecision(False, result.reason)
    end_attempt_not_dialed(attempt_id, f"{result.reason} at dial time")
    if result.next_allowed_at is not None:
        contact_id = CallAttempt.objects.filter(pk=attempt_id).values_list("contact_id", flat=True).first()
        if contact_id is not None:
            hold_contact_until(contact_id, result.next_allowed_at)
    logger.info("attempt %s not dialed: %s", attempt_id, result.reason)
    return DialDecision(False, result.reason)


def mark_attempt_ringing(attempt_id: int, at: dt.datetime | None = None) -> bool:
    """DIALING -> RINGING (180/183 received ``at``, now when not given)."""
    return _transition(attempt_id, {AttemptState.DIALING}, AttemptState.RINGING, ringing_at=at or timezone.now())


def mark_attempt_answered(attempt_id: int, at: dt.datetime | None = None) -> bool:
    """DIALING or RINGING -> ANSWERED (200 OK ``at``, now when not given); the ``attempt.answered`` webhook event
    commits with it."""
    with transaction.atomic():
        moved = _transition(attempt_id, {AttemptState.DIALING, AttemptState.RINGING}, AttemptState.ANSWERED,
                            answered_at=at or timezone.now())
        if moved:
            webhook_events.attempt_answered(attempt_id)
    return moved


def mark_attempt_bridged(attempt_id: int, at: dt.datetime | None = None) -> bool:
    """ANSWERED -> BRIDGED (media flows to the AI from ``at``, now when not given)."""
    return _transition(attempt_id, {AttemptState.ANSWERED}, AttemptState.BRIDGED,
                       bridged_at=at or timezone.now())


def _cost(answered_at: Any, ended_at: Any, cost_per_minute: Decimal | None) -> Decimal:
    if not answered_at or cost_per_minute is None:
        return Decimal("0")
    seconds = Decimal(str(max(0.0, (ended_at - answered_at).total_seconds())))
    return (seconds * cost_per_minute / Decimal(60)).quantize(_CENT, rounding=ROUND_HALF_UP)


def finish_attempt(attempt_id: int, *, disposition: str, sip_code: int | None = None, sip_reason: str = "",
                   reason: str = "", results: dict[str, Any] | None = None, trunk_id: int | None = None,
                   failed_over: bool = False, primary_trunk_id: int | None = None,
                   ended_at: dt.datetime | None = None) -> bool:
    """End an in-flight attempt and move its contact on (retry rules), then release its leases.

    Idempotent: a second call for an ended attempt changes nothing and returns False, with one exception: the
    real result of a call the reaper gave up on (``failed_unknown``, because its user agent could not report
    in time) replaces the reaper's guess, so what the call produced is never lost (see `_accept_late_result`).

    An attempt that never reached DIALING (the UA marks it just before sending the INVITE, so it never
    rang) or that ended ``cancelled`` (not dialed: campaign stopped, window closed, do-not-call before dial,
    no capacity) does not count against the contact.

    Args:
        attempt_id: The attempt.
        disposition: A ``Disposition`` value.
        sip_code: Final SIP status code, if any.
        sip_reason: Its reason phrase.
        reason: Why it ended this way, in words.
        results: Optional ``transcript``, ``recording``, ``outcome``, ``outcome_fields``, ``outcome_error``,
            ``amd_result``, ``first_response_ms``, ``usage``, ``agent_first_audio_at``.
        trunk_id: The trunk that carried the call (the failover trunk after a failover); costed at its rate.
        failed_over: Whether the primary trunk failed before ringing and the call went out on its failover.
        primary_trunk_id: The trunk tried first, when it failed over.
        ended_at: When the call ended at its user agent (the attempt's end and billed time); now when not given.

    Returns:
        True when this call ended the attempt (or replaced the reaper's guess); False when it had already ended.

    Raises:
        ValueError: unknown disposition or result field.
    """
    if disposition not in Disposition.values:
        raise ValueError(f"unknown disposition {disposition!r}")
    results = dict(results or {})
    unknown = set(results) - RESULT_FIELDS
    if unknown:
        raise ValueError(f"unknown result fields: {', '.join(sorted(unknown))}")
    if results.get("outcome"):
        results = _with_checked_outcome(attempt_id, results)
    # Disclosures played are evidence, not attempt columns (compliance.evidence; TSR record keeping).
    disclosures = results.pop("disclosures", None) or []
    now = timezone.now()
    carried: dict[str, Any] = {}
    # Without a failover the call went out on the attempt's own trunk: nothing to move, no query. After one, the
    # secondary must still exist (a trunk deleted mid-call would make the whole end fail its foreign key).
    if failed_over and trunk_id is not None and Trunk.objects.filter(pk=trunk_id).exists():
        carried = {"trunk_id": trunk_id, "failed_over": True, "primary_trunk_id": primary_trunk_id}
    with transaction.atomic():
        updated = attempt_in_states(attempt_id, ATTEMPT_IN_FLIGHT).update(
            state=AttemptState.ENDED, ended_at=ended_at or now, disposition=disposition, sip_code=sip_code,
            sip_reason=sip_reason[:255], reason=reason, lease_expires_at=None, **carried, **results)
        if not updated:
            accepted = _accept_late_result(attempt_id, disposition=disposition, sip_code=sip_code,
                                           sip_reason=sip_reason, reason=reason, results=results, carried=carried,
                                           now=now)
            if accepted:  # the real result replaces the reaper's guess: receivers get the corrected end too
                webhook_events.attempt_ended(attempt_id)
            return accepted
        attempt = _ended_attempt(attempt_id)
        _charge(attempt)
        completed = _move_contact_on(attempt, disposition, results, now)
        complete_evidence(attempt_id, caller_id=attempt.caller_id, amd_result=results.get("amd_result") or "",
                          amd_at=attempt.bridged_at or attempt.answered_at, disclosures=disclosures)
        # Outbox rows, in the transaction that ends the attempt (delivered in this order: same subject).
        webhook_events.attempt_ended(attempt_id)
        if completed:
            webhook_events.contact_completed(attempt.contact_id)
        campaign_id, trunk, primary = attempt.campaign_id, attempt.trunk_id, attempt.primary_trunk_id
        # Redis after commit: the ledger is updated first, so a failed release only delays a slot. The primary
        # trunk's channel lease is released too: a failover held both.
        transaction.on_commit(lambda: _release(attempt_id, campaign_id, trunk, primary))
    return True


def _with_checked_outcome(attempt_id: int, results: dict[str, Any]) -> dict[str, Any]:
    """F13: the outcome is checked against the campaign agent's schema again, where it is stored (the UA checked it
    too, but the ledger event may come from a UA of another version, or a schema changed mid-call)."""
    schema = (CallAttempt.objects.filter(pk=attempt_id)
              .values_list("campaign__agent__outcome_schema", flat=True).first())
    return checked_outcome(list(schema or []), results)


def _release(attempt_id: int, campaign_id: int, trunk_id: int | None, primary_trunk_id: int | None) -> None:
    release_attempt_leases(attempt_id, campaign_id, trunk_id)
    if primary_trunk_id and primary_trunk_id != trunk_id:
        release_attempt_leases(attempt_id, campaign_id, primary_trunk_id)


def _ended_attempt(attempt_id: int) -> CallAttempt:
    return (CallAttempt.objects.select_related("trunk", "campaign")
            .only("id", "contact_id", "campaign_id", "trunk_id", "primary_trunk_id", "answered_at", "ended_at",
                  "dialing_at", "bridged_at", "caller_id", "cost", "trunk__cost_per_minute", "trunk__currency",
                  "campaign__max_attempts", "campaign__budget",
                  "campaign__window_days", "campaign__window_start", "campaign__window_end")
            .get(pk=attempt_id))


def _charge(attempt: CallAttempt) -> None:
    """Cost at the rate of the trunk that carried the call, in its currency; added to the campaign's spend.

    A second charge of the same attempt (a late result replacing the reaper's guess) adds only the difference.
    Once the commit is done, a campaign with a budget cap is paused if its spend reached the cap. After the commit,
    so the call's end never holds the campaign row (the dispatcher locks it while it claims); the spend row's lock
    orders concurrent additions, so of two call ends committing together the later check sees both.
    """
    trunk = attempt.trunk
    cost = _cost(attempt.answered_at, attempt.ended_at, trunk.cost_per_minute if trunk else None)
    CallAttempt.objects.filter(pk=attempt.pk).update(cost=cost, cost_currency=trunk.currency if trunk else "")
    add_spend(attempt.campaign_id, cost - (attempt.cost or Decimal(0)))
    if attempt.campaign.budget is not None and cost:
        campaign_id = attempt.campaign_id
        transaction.on_commit(lambda: pause_campaign_at_budget(campaign_id))


def _accept_late_result(attempt_id: int, *, disposition: str, sip_code: int | None, sip_reason: str, reason: str,
                        results: dict[str, Any], carried: dict[str, Any], now: dt.datetime) -> bool:
    """Replace the reaper's ``failed_unknown`` with the call's real end, reported late by its user agent.

    Why: a database outage longer than a lease makes the reaper end a live call's attempt ``failed_unknown``;
    the user agent kept the call's events in its spool and delivers them when the database is back. Dropping
    them would lose an opt-out, a transcript or an outcome, and could call a person again who asked not to be.
    The contact was moved on by the reaper's guess; it is moved on again from the real disposition (the
    attempt was counted then, so it is not counted twice).
    """
    updated = CallAttempt.objects.filter(
        pk=attempt_id, state=AttemptState.ENDED, disposition=Disposition.FAILED_UNKNOWN,
    ).update(disposition=disposition, sip_code=sip_code, sip_reason=sip_reason[:255],
             reason=f"{reason} (reported late; the reaper had ended it)"[:2000], **carried, **results)
    if not updated:
        logger.info("attempt %s already ended; finish ignored", attempt_id)
        return False
    attempt = _ended_attempt(attempt_id)
    _charge(attempt)
    _move_contact_on(attempt, disposition, results, now, already_counted=True)
    logger.warning("attempt %s: late result %s replaced failed_unknown", attempt_id, disposition)
    return True


def _move_contact_on(attempt: CallAttempt, disposition: str, results: dict[str, Any], now: Any, *,
                     already_counted: bool = False) -> bool:
    """Move the contact on from the attempt's end; True when this made its result final (done, failed, DNC...)."""
    contact = Contact.objects.select_for_update(no_key=True).get(pk=attempt.contact_id)
    # Counted only when the INVITE may have gone out (DIALING was reached).
    counted = disposition != Disposition.CANCELLED and attempt.dialing_at is not None
    attempts = contact.attempts + (1 if counted and not already_counted else 0)
    same = 0
    rule = None
    if counted:
        same = CallAttempt.objects.filter(contact_id=contact.pk, disposition=disposition,
                                          dialing_at__isnull=False).count()
        found = RetryRule.objects.filter(campaign_id=attempt.campaign_id, disposition=disposition).first()
        rule = Rule(found.delay_s, found.max_attempts) if found else None
    step = plan_next_step(disposition=disposition, counted=counted, attempts=attempts, same_disposition_count=same,
                          campaign_max_attempts=attempt.campaign.max_attempts, rule=rule, now=now,
                          current_next_attempt_at=contact.next_attempt_at)
    status, next_at = step.status, step.next_attempt_at
    if disposition == Disposition.FAILED_UNKNOWN and attempt.answered_at is not None:
        # Someone answered, and what they said is unknown: a retry could call a person who opted out or was
        # already served. Never retried automatically; a person looks at it.
        status, next_at = ContactStatus.REVIEW, None
    if disposition == Disposition.OPTED_OUT:
        # Compliance: an opt-out during a call is honoured everywhere at once (company-wide list): the entry
        # and, in the same transaction, every other campaign's dialable contact with this number become DNC.
        add_to_do_not_call(contact.phone_e164, campaign=None, source=DncSource.OPT_OUT, note=f"attempt {attempt.pk}",
                           attempt_id=attempt.pk)
        # FCC revocation rule (2025-04-11): an opt-out revokes the consent on record too, at once.
        revoke_consent(contact.phone_e164, now)
    elif status not in (ContactStatus.DNC, ContactStatus.INVALID) and (
        contact.status == ContactStatus.DNC
        or DoNotCall.objects.filter(Q(campaign__isnull=True) | Q(campaign_id=attempt.campaign_id),
                                    phone_e164=contact.phone_e164).exists()
    ):
        # Added to a do-not-call list while the attempt was in flight: never again.
        status, next_at = ContactStatus.DNC, None
    outcome_fields = dict(results.get("outcome_fields") or {})
    if disposition == Disposition.HUMAN and status == ContactStatus.DONE:
        status, next_at = _schedule_callback(attempt, contact, outcome_fields, attempts, now, status, next_at)
        transfer = results.get("transfer") or {}
        if (transfer.get("fallback") == "callback" and status == ContactStatus.DONE
                and attempts < attempt.campaign.max_attempts):
            # Nobody could take the transfer and the caller was offered a call-back: keep that promise.
            status, next_at = ContactStatus.RETRY_SCHEDULED, now + dt.timedelta(seconds=CALLBACK_AFTER_TRANSFER_S)
    fields: dict[str, Any] = {"attempts": attempts, "status": status, "next_attempt_at": next_at, "updated_at": now}
    if counted:
        fields["last_disposition"] = disposition
    if results.get("outcome"):
        fields["outcome"] = results["outcome"]
        fields["outcome_fields"] = outcome_fields
    Contact.objects.filter(pk=contact.pk).update(**fields)
    return status in CONTACT_TERMINAL and contact.status not in CONTACT_TERMINAL


def _schedule_callback(attempt: CallAttempt, contact: Contact, outcome_fields: dict[str, Any], attempts: int,
                       now: dt.datetime, status: str, next_at: dt.datetime | None) -> tuple[str, dt.datetime | None]:
    """A person who asked to be called back is called back then (D5), in their own zone and inside the window.

    The requested time is rewritten with the contact's UTC offset, so the report and the contact page show the
    same instant the dialer uses. Counted against the campaign's cap: a contact with no attempt left is done.
    """
    name = callback_field(outcome_fields)
    if name is None or attempts >= attempt.campaign.max_attempts:
        return status, next_at
    window = CallingWindow.of(attempt.campaign)
    when = callback_at(str(outcome_fields[name]), list(contact.time_zones), window, now)
    if when is None:
        logger.info("attempt %s: call-back %r not schedulable for contact %s", attempt.pk, outcome_fields[name],
                    contact.pk)
        return status, next_at
    local = requested_instant(str(outcome_fields[name]), list(contact.time_zones), window)
    if local is not None:
        outcome_fields[name] = local.astimezone(_first_zone(contact.time_zones)).isoformat()
    return ContactStatus.RETRY_SCHEDULED, when


def _first_zone(zones: Iterable[str]) -> dt.tzinfo:
    for name in zones:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return dt.UTC


def end_attempt_not_dialed(attempt_id: int, reason: str) -> bool:
    """End an attempt that never reached the network (``cancelled``); it does not count against the contact."""
    return finish_attempt(attempt_id, disposition=Disposition.CANCELLED, reason=reason)


def disposition_for_sip_failure(code: int, *, rang: bool) -> str:
    """The disposition of a call that failed with final SIP response ``code`` before answer.

    A person pressing "decline" sends 603, or 486 on many phones; a busy line sends 486 without ringing.
    So 486/600 after ringing (180/183 seen) count as ``rejected``, before ringing as ``busy``.

    Args:
        code: The final SIP status code (>= 300).
        rang: Whether the call was ringing (a provisional 180/183 arrived) before the final response.
    """
    if code in (603, 403, 607, 608):
        return Disposition.REJECTED
    if code in (486, 600):
        return Disposition.REJECTED if rang else Disposition.BUSY
    if code in (404, 410, 484, 485, 604):
        return Disposition.INVALID_NUMBER
    if code in (408, 480, 487):
        return Disposition.NO_ANSWER
    return Disposition.FAILED
