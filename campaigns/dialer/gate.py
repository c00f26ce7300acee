"""The last gate before the INVITE: one transaction that locks the number, re-checks every rule at the instant of
the dial in the conditional update QUEUED -> DIALING, and writes the evidence record when it lets the call go.

``campaigns.dialer.attempts.mark_attempt_dialing`` calls it and ends a refused attempt not dialed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from campaigns.choices import CONTACT_DIALABLE, AttemptState, CampaignStatus
from campaigns.dialer.leases import LEASE_TTL_S
from campaigns.dialer.prepared import execute_prepared
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from campaigns.rules.windows import CallingWindow, contact_in_window, zones_in_window
from compliance.caps import count_caps
from compliance.choices import ConsentKind
from compliance.claim_sql import NATIONAL_DNC_MAX_AGE, compliance_sql, longest_cap_period
from compliance.evidence import CONSENT_FIELDS, consent_from, lists_checked_from, write_evidence
from compliance.explain import assess
from compliance.models import ConsentRecord, NationalDncList, ReassignedNumberResult
from compliance.policy import CompanyPolicy, WindowRule, may_call_at
from compliance.services import company_policy, lock_number

_GATE_SQL = f"""
    WITH {{ctes}}
    UPDATE {CallAttempt._meta.db_table} a
       SET state = %(dialing)s, ua_name = %(ua)s, sip_call_id = %(call_id)s, dialing_at = %(now)s,
           lease_expires_at = %(lease)s
      FROM {Contact._meta.db_table} ct
           -- What the evidence record shows (TSR 16 CFR 310.5), read by this statement rather than after it:
           -- the newest fresh registry download covering the area code, the newest reassigned-numbers
           -- answer, and the consent relied on (written first, then the newest).
           LEFT JOIN LATERAL (SELECT l.id, l.downloaded_at FROM {NationalDncList._meta.db_table} l
                              WHERE ct.phone_e164 LIKE '+1%%' AND l.downloaded_at > %(dnc_fresh)s
                                AND substr(ct.phone_e164, 3, 3) = ANY(l.area_codes)
                              ORDER BY l.downloaded_at DESC LIMIT 1) reg ON true
           LEFT JOIN LATERAL (SELECT r.date_asked, r.result, r.queried_at
                              FROM {ReassignedNumberResult._meta.db_table} r WHERE r.phone_e164 = ct.phone_e164
                              ORDER BY r.queried_at DESC LIMIT 1) rnd ON true
           LEFT JOIN LATERAL (SELECT {", ".join(f"k.{f}" for f in CONSENT_FIELDS)}
                              FROM {ConsentRecord._meta.db_table} k
                              WHERE k.phone_e164 = ct.phone_e164 AND k.revoked_at IS NULL AND k.obtained_at <= %(now)s
                              ORDER BY (k.kind = '{ConsentKind.WRITTEN.value}') DESC, k.obtained_at DESC
                              LIMIT 1) kc ON true,
           {Campaign._meta.db_table} c
     WHERE a.id = %(id)s AND upper(a.state) = %(queued)s AND a.lease_expires_at > %(now)s
       AND ct.id = a.contact_id AND c.id = a.campaign_id AND c.status = %(running)s
       -- TCPA 47 CFR 64.1200(c)(1): every zone of the contact inside the campaign's window clipped to 8-21.
       AND cardinality(ct.time_zones) > 0 AND ct.time_zones <@ %(zones)s::varchar[]
       AND NOT EXISTS (SELECT 1 FROM {DoNotCall._meta.db_table} d WHERE d.phone_e164 = ct.phone_e164
                       AND (d.campaign_id IS NULL OR d.campaign_id = a.campaign_id))
       {{predicate}}
    RETURNING a.campaign_id, c.name, a.contact_id, a.caller_id, ct.phone_e164, ct.time_zones, ct.jurisdictions,
              reg.id, reg.downloaded_at, rnd.date_asked, rnd.result, rnd.queried_at,
              {", ".join(f"kc.{f}" for f in CONSENT_FIELDS)},
              -- Frequency caps: when each other call to the number started in the longest cap period, in
              -- every campaign (the statement's snapshot: what its own cap check counted).
              (SELECT array_agg(a2.dialing_at) FROM {CallAttempt._meta.db_table} a2
                 JOIN {Contact._meta.db_table} c2 ON c2.id = a2.contact_id
                WHERE c2.phone_e164 = ct.phone_e164 AND a2.id <> a.id AND a2.dialing_at > %(caps_since)s)
"""  # noqa: S608 (table names from model metadata, constants from choice sets; values are parameters)


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
                        "contact__phone_e164", "contact__time_zones").first())
    if row is None:
        return GateResult(False, "no such attempt")
    days, start, end, phone, known_zones = row
    window = CallingWindow.for_campaign(days, start, end)
    company = company if company is not None else company_policy()
    # The zone lists are cut down to the contact's zones as read above (never looser: see compliance_sql).
    rules = compliance_sql(now, company, exclude_attempt="a.id", named=True, count_queued=False,
                           contact_zones=known_zones)
    assert isinstance(rules.params, dict)  # noqa: S101 (named=True)
    longest = longest_cap_period(now.date(), company)
    with transaction.atomic():
        # Frequency caps count calls across campaigns: two campaigns' gates for one number must not both see
        # the other's call as not yet made. The per-number lock makes them take turns (held to commit).
        lock_number(phone)
        # Prepared once per connection and rules text (rows in comp_zones/comp_caps change with the rules in
        # effect, not per call): planning this many-table statement costs several times more than running it.
        with connection.cursor() as cursor:
            allowed = execute_prepared(cursor, "dialer_dial_gate", _GATE_SQL.format(
                ctes=rules.ctes, predicate=rules.predicate), {
                **rules.params, "dialing": AttemptState.DIALING.value, "ua": ua_name[:100],
                "call_id": sip_call_id[:255], "now": now, "lease": now + timedelta(seconds=LEASE_TTL_S),
                "id": attempt_id, "queued": AttemptState.QUEUED.value.upper(),
                "running": CampaignStatus.RUNNING.value,
                "zones": [z for z in zones_in_window(now, window) if z in known_zones],
                "dnc_fresh": now - NATIONAL_DNC_MAX_AGE, "caps_since": now - longest if longest else now})
        if allowed is not None:
            _write_evidence(attempt_id, allowed, now, window, company)
            return GateResult(True)
    return _why_not(attempt_id, now, window, company)


def _window_rule(window: CallingWindow) -> WindowRule:
    return WindowRule(window.days, window.start, window.end)


def _write_evidence(attempt_id: int, row: tuple[Any, ...], now: dt.datetime, window: CallingWindow,
                    company: CompanyPolicy | None) -> None:
    """The evidence record from the gate statement's row: no further reads (the same rules as ``assess``)."""
    (campaign_id, campaign_name, contact_id, caller_id, phone, zones, jurisdictions,
     registry_id, registry_at, rnd_asked, rnd_result, rnd_queried, *consent, dial_times) = row
    verdict = may_call_at(zones, jurisdictions, now, company, _window_rule(window))
    caps = count_caps(dial_times or (), jurisdictions, now, company)
    lists = lists_checked_from(campaign_id, now, (registry_id, registry_at) if registry_id is not None else None,
                               (rnd_asked, rnd_result, rnd_queried) if rnd_result is not None else None)
    write_evidence(attempt_id=attempt_id, campaign_id=campaign_id, campaign_name=campaign_name,
                   contact_id=contact_id, phone_e164=phone, time_zones=zones, jurisdictions=jurisdictions, now=now,
                   verdict=verdict, caps=caps, caller_id=caller_id, lists=lists,
                   consent=consent_from(consent if consent[0] is not None else None))


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
