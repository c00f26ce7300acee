"""The last gate before the INVITE: one transaction that locks the number, re-checks every rule at the instant of
the dial in the conditional update QUEUED -> DIALING, and writes the evidence record when it lets the call go.

``campaigns.dialer.attempts.mark_attempt_dialing`` calls it and ends a refused attempt not dialed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q

from campaigns.choices import CONTACT_DIALABLE, AttemptState, CampaignStatus
from campaigns.dialer.leases import LEASE_TTL_S
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from campaigns.rules.windows import CallingWindow, contact_in_window, zones_in_window
from compliance.claim_sql import compliance_sql
from compliance.evidence import write_evidence
from compliance.explain import assess
from compliance.policy import CompanyPolicy, WindowRule
from compliance.services import company_policy, lock_number

_GATE_SQL = f"""
    WITH {{ctes}}
    UPDATE {CallAttempt._meta.db_table} a
       SET state = %(dialing)s, ua_name = %(ua)s, sip_call_id = %(call_id)s, dialing_at = %(now)s,
           lease_expires_at = %(lease)s
      FROM {Contact._meta.db_table} ct, {Campaign._meta.db_table} c
     WHERE a.id = %(id)s AND upper(a.state) = %(queued)s AND a.lease_expires_at > %(now)s
       AND ct.id = a.contact_id AND c.id = a.campaign_id AND c.status = %(running)s
       -- TCPA 47 CFR 64.1200(c)(1): every zone of the contact inside the campaign's window clipped to 8-21.
       AND cardinality(ct.time_zones) > 0 AND ct.time_zones <@ %(zones)s::varchar[]
       AND NOT EXISTS (SELECT 1 FROM {DoNotCall._meta.db_table} d WHERE d.phone_e164 = ct.phone_e164
                       AND (d.campaign_id IS NULL OR d.campaign_id = a.campaign_id))
       {{predicate}}
"""  # noqa: S608 (table names from model metadata; values are parameters)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's answer: allowed, or the reason and (for a time rule) when the contact may be called next.

    ``reason`` is None with ``allowed`` False when the attempt was not queued any more (someone else moved it).
    """

    allowed: bool
    reason: str | None = None
    next_allowed_at: dt.datetime | None = None


def gate_attempt(attempt_id: int, *, ua_name: str, sip_call_id: str, now: dt.datetime,
                 company: CompanyPolicy | None = None) -> GateResult:
    """QUEUED -> DIALING if every rule allows the call now; the evidence record in the same transaction."""
    row = (CallAttempt.objects.filter(pk=attempt_id)
           .values_list("campaign__window_days", "campaign__window_start", "campaign__window_end",
                        "contact__phone_e164").first())
    if row is None:
        return GateResult(False, "no such attempt")
    days, start, end, phone = row
    window = CallingWindow.for_campaign(days, start, end)
    company = company if company is not None else company_policy()
    rules = compliance_sql(now, company, exclude_attempt="a.id", named=True, count_queued=False)
    assert isinstance(rules.params, dict)  # noqa: S101 (named=True)
    with transaction.atomic():
        # Frequency caps count calls across campaigns: two campaigns' gates for one number must not both see
        # the other's call as not yet made. The per-number lock makes them take turns (held to commit).
        lock_number(phone)
        with connection.cursor() as cursor:
            cursor.execute(_GATE_SQL.format(ctes=rules.ctes, predicate=rules.predicate), {
                **rules.params, "dialing": AttemptState.DIALING.value, "ua": ua_name[:100],
                "call_id": sip_call_id[:255], "now": now, "lease": now + timedelta(seconds=LEASE_TTL_S),
                "id": attempt_id, "queued": AttemptState.QUEUED.value.upper(),
                "running": CampaignStatus.RUNNING.value, "zones": zones_in_window(now, window)})
            allowed = bool(cursor.rowcount)
        if allowed:
            _write_evidence(attempt_id, now, window, company)
            return GateResult(True)
    return _why_not(attempt_id, now, window, company)


def _window_rule(window: CallingWindow) -> WindowRule:
    return WindowRule(window.days, window.start, window.end)


def _write_evidence(attempt_id: int, now: dt.datetime, window: CallingWindow, company: CompanyPolicy | None) -> None:
    attempt = (CallAttempt.objects.select_related("campaign", "contact")
               .only("caller_id", "campaign__name", "contact__phone_e164", "contact__time_zones",
                     "contact__jurisdictions").get(pk=attempt_id))
    contact = attempt.contact
    view = assess(phone_e164=contact.phone_e164, campaign_id=attempt.campaign_id, time_zones=contact.time_zones,
                  jurisdictions=contact.jurisdictions, now=now, window=_window_rule(window), company=company,
                  exclude_attempt=attempt_id, count_queued=False)
    write_evidence(attempt_id=attempt_id, campaign_id=attempt.campaign_id, campaign_name=attempt.campaign.name,
                   contact_id=contact.pk, phone_e164=contact.phone_e164, time_zones=contact.time_zones,
                   jurisdictions=contact.jurisdictions, now=now, verdict=view.verdict, caps=view.caps,
                   caller_id=attempt.caller_id)


def _why_not(attempt_id: int, now: dt.datetime, window: CallingWindow, company: CompanyPolicy | None) -> GateResult:
    """Why the gate refused a queued attempt, checked in the statement's order."""
    attempt = (CallAttempt.objects.select_related("campaign", "contact")
               .only("state", "lease_expires_at", "campaign__status", "contact__phone_e164", "contact__time_zones",
                     "contact__jurisdictions", "campaign_id").get(pk=attempt_id))
    if attempt.state != AttemptState.QUEUED:
        return GateResult(False)
    if attempt.lease_expires_at is None or attempt.lease_expires_at <= now:
        return GateResult(False, "lease expired (stale command)")
    if attempt.campaign.status != CampaignStatus.RUNNING:
        return GateResult(False, f"campaign {attempt.campaign.status}")
    contact = attempt.contact
    if DoNotCall.objects.filter(Q(campaign__isnull=True) | Q(campaign_id=attempt.campaign_id),
                                phone_e164=contact.phone_e164).exists():
        return GateResult(False, "on a do-not-call list")
    if not contact_in_window(contact.time_zones, now, window):
        return GateResult(False, "outside the calling window")
    view = assess(phone_e164=contact.phone_e164, campaign_id=attempt.campaign_id, time_zones=contact.time_zones,
                  jurisdictions=contact.jurisdictions, now=now, window=_window_rule(window), company=company,
                  exclude_attempt=attempt_id, count_queued=False)
    return GateResult(False, view.refusal or "refused by the dial gate", view.next_allowed_at)


def hold_contact_until(contact_id: int, when: dt.datetime) -> None:
    """Show on a dialable contact the next time a compliance rule lets it be called (never earlier than set)."""
    Contact.objects.filter(pk=contact_id, status__in=CONTACT_DIALABLE).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=when)).update(next_attempt_at=when)
