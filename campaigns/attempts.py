"""The life of a call attempt: the transitions the user-agent pool reports, and its end.

Every transition is a conditional update (``WHERE state IN expected``): zero rows updated means another
actor (a redelivered message, the reaper, a second UA) won, and the caller gets False and stops.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Upper
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, ContactStatus, Disposition, DncSource
from campaigns.dnc import add_to_do_not_call
from campaigns.leases import LEASE_TTL_S, release_attempt_leases
from campaigns.models import CallAttempt, Contact, DoNotCall, RetryRule
from campaigns.retries import Rule, plan_next_step

logger = logging.getLogger(__name__)

# What the user agent may report at the end of a call (``results`` of finish_attempt).
RESULT_FIELDS = frozenset({"transcript", "recording", "outcome", "outcome_fields", "outcome_error", "amd_result",
                           "first_response_ms", "usage", "agent_first_audio_at"})
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


def _transition(attempt_id: int, from_states: frozenset[str] | set[str], to_state: str, **fields: Any) -> bool:
    now = timezone.now()
    updated = attempt_in_states(attempt_id, from_states).update(
        state=to_state, lease_expires_at=now + timedelta(seconds=LEASE_TTL_S), **fields)
    if not updated:
        logger.info("attempt %s: not moved to %s (state changed elsewhere)", attempt_id, to_state)
    return bool(updated)


def mark_attempt_dialing(attempt_id: int, *, ua_name: str, sip_call_id: str = "") -> bool:
    """QUEUED -> DIALING, just before the user agent sends the INVITE.

    The UA must call this *before* sending the INVITE: a queued attempt is then known never to have rung.

    Returns:
        False when the attempt was not queued any more (do not dial).
    """
    return _transition(attempt_id, {AttemptState.QUEUED}, AttemptState.DIALING, ua_name=ua_name,
                       sip_call_id=sip_call_id, dialing_at=timezone.now())


def mark_attempt_ringing(attempt_id: int) -> bool:
    """DIALING -> RINGING (180/183 received)."""
    return _transition(attempt_id, {AttemptState.DIALING}, AttemptState.RINGING, ringing_at=timezone.now())


def mark_attempt_answered(attempt_id: int) -> bool:
    """DIALING or RINGING -> ANSWERED (200 OK)."""
    return _transition(attempt_id, {AttemptState.DIALING, AttemptState.RINGING}, AttemptState.ANSWERED,
                       answered_at=timezone.now())


def mark_attempt_bridged(attempt_id: int) -> bool:
    """ANSWERED -> BRIDGED (media flows to the AI)."""
    return _transition(attempt_id, {AttemptState.ANSWERED}, AttemptState.BRIDGED, bridged_at=timezone.now())


def _cost(answered_at: Any, ended_at: Any, cost_per_minute: Decimal | None) -> Decimal:
    if not answered_at or cost_per_minute is None:
        return Decimal("0")
    seconds = Decimal(str(max(0.0, (ended_at - answered_at).total_seconds())))
    return (seconds * cost_per_minute / Decimal(60)).quantize(_CENT, rounding=ROUND_HALF_UP)


def finish_attempt(attempt_id: int, *, disposition: str, sip_code: int | None = None, sip_reason: str = "",
                   reason: str = "", results: dict[str, Any] | None = None) -> bool:
    """End an in-flight attempt and move its contact on (retry rules), then release its leases.

    Idempotent: a second call for an ended attempt changes nothing and returns False.

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

    Returns:
        True when this call ended the attempt; False when it had already ended.

    Raises:
        ValueError: unknown disposition or result field.
    """
    if disposition not in Disposition.values:
        raise ValueError(f"unknown disposition {disposition!r}")
    results = dict(results or {})
    unknown = set(results) - RESULT_FIELDS
    if unknown:
        raise ValueError(f"unknown result fields: {', '.join(sorted(unknown))}")
    now = timezone.now()
    with transaction.atomic():
        updated = attempt_in_states(attempt_id, ATTEMPT_IN_FLIGHT).update(
            state=AttemptState.ENDED, ended_at=now, disposition=disposition, sip_code=sip_code,
            sip_reason=sip_reason[:255], reason=reason, lease_expires_at=None, **results)
        if not updated:
            logger.info("attempt %s already ended; finish ignored", attempt_id)
            return False
        attempt = (CallAttempt.objects.select_related("trunk", "campaign")
                   .only("id", "contact_id", "campaign_id", "trunk_id", "answered_at", "ended_at", "dialing_at",
                         "trunk__cost_per_minute", "campaign__max_attempts")
                   .get(pk=attempt_id))
        cost = _cost(attempt.answered_at, attempt.ended_at, attempt.trunk.cost_per_minute if attempt.trunk else None)
        CallAttempt.objects.filter(pk=attempt_id).update(cost=cost)
        _move_contact_on(attempt, disposition, results, now)
        campaign_id, trunk_id = attempt.campaign_id, attempt.trunk_id
        # Redis after commit: the ledger is updated first, so a failed release only delays a slot.
        transaction.on_commit(lambda: release_attempt_leases(attempt_id, campaign_id, trunk_id))
    return True


def _move_contact_on(attempt: CallAttempt, disposition: str, results: dict[str, Any], now: Any) -> None:
    contact = Contact.objects.select_for_update(no_key=True).get(pk=attempt.contact_id)
    # Counted only when the INVITE may have gone out (DIALING was reached).
    counted = disposition != Disposition.CANCELLED and attempt.dialing_at is not None
    attempts = contact.attempts + (1 if counted else 0)
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
    if disposition == Disposition.OPTED_OUT:
        # Compliance: an opt-out during a call is honoured everywhere at once (company-wide list): the entry
        # and, in the same transaction, every other campaign's dialable contact with this number become DNC.
        add_to_do_not_call(contact.phone_e164, campaign=None, source=DncSource.OPT_OUT, note=f"attempt {attempt.pk}")
    elif status not in (ContactStatus.DNC, ContactStatus.INVALID) and (
        contact.status == ContactStatus.DNC
        or DoNotCall.objects.filter(Q(campaign__isnull=True) | Q(campaign_id=attempt.campaign_id),
                                    phone_e164=contact.phone_e164).exists()
    ):
        # Added to a do-not-call list while the attempt was in flight: never again.
        status, next_at = ContactStatus.DNC, None
    fields: dict[str, Any] = {"attempts": attempts, "status": status, "next_attempt_at": next_at, "updated_at": now}
    if counted:
        fields["last_disposition"] = disposition
    if results.get("outcome"):
        fields["outcome"] = results["outcome"]
        fields["outcome_fields"] = results.get("outcome_fields") or {}
    Contact.objects.filter(pk=contact.pk).update(**fields)


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
