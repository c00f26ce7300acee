"""Why the compliance checks refuse a contact now, and when it may be called next (for the dial gate's reason,
the contact's next allowed time and the evidence record). The refusal itself is made in SQL
(``compliance.claim_sql``); this module says which rule made it, in the same order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Max

from compliance.caps import CapCount, check_caps, next_allowed_by_caps
from compliance.choices import CampaignPurpose, ConsentKind, ConsentNeeded, ReassignedResult
from compliance.claim_sql import NATIONAL_DNC_MAX_AGE
from compliance.models import (
    CampaignCompliance,
    ConsentRecord,
    NationalDncList,
    NationalDncNumber,
    ReassignedNumberResult,
)
from compliance.policy import CompanyPolicy, Verdict, WindowRule, may_call_at, next_opening


@dataclass(frozen=True, slots=True)
class Assessment:
    """The compliance view of one contact at one instant."""

    verdict: Verdict
    caps: tuple[CapCount, ...]
    refusal: str | None  # None = every compliance rule allows the call
    next_allowed_at: dt.datetime | None  # when a time rule (hours, caps) refused: the earliest time it allows


def assess(*, phone_e164: str, campaign_id: int, time_zones: Sequence[str], jurisdictions: Sequence[str],
           now: dt.datetime, window: WindowRule | None, company: CompanyPolicy | None,
           exclude_attempt: int | None = None, count_queued: bool = True) -> Assessment:
    """Evaluate every compliance rule for a contact at ``now``, the way the claim and the gate do in SQL."""
    verdict = may_call_at(time_zones, jurisdictions, now, company, window)
    caps = tuple(check_caps(phone_e164, jurisdictions, now, company, exclude_attempt, count_queued))
    if not verdict.allowed:
        opening = next_opening(time_zones, jurisdictions, now, company, window)
        return Assessment(verdict, caps, verdict.reason, opening)
    reached = [c for c in caps if c.reached]
    if reached:
        frees = next_allowed_by_caps(caps)
        text = "; ".join(f"{c.rule} cap {c.limit} reached ({c.counted} calls across campaigns)" for c in reached)
        return Assessment(verdict, caps, text, frees)
    return Assessment(verdict, caps, _record_refusal(phone_e164, campaign_id, now), None)


def _record_refusal(phone_e164: str, campaign_id: int, now: dt.datetime) -> str | None:
    """Consent, reassigned numbers and the national registry, as the SQL checks them."""
    valid = ConsentRecord.objects.filter(phone_e164=phone_e164, revoked_at__isnull=True, obtained_at__lte=now)
    latest = valid.aggregate(latest=Max("obtained_at"))["latest"]
    disconnected = ReassignedNumberResult.objects.filter(phone_e164=phone_e164, result=ReassignedResult.YES)
    if latest is not None:
        disconnected = disconnected.filter(date_asked__gte=latest.date())
    hit = disconnected.order_by("-date_asked").first()
    if hit is not None:
        return (f"number reassigned: reported permanently disconnected since {hit.date_asked} "
                f"(queried {hit.queried_at:%Y-%m-%d}), after the consent on record")
    settings = CampaignCompliance.objects.filter(campaign_id=campaign_id).first()
    if settings is None:
        return None
    if settings.needs_written_consent and not valid.filter(kind=ConsentKind.WRITTEN).exists():
        return "no written consent on record (telemarketing with an AI voice needs prior express written consent)"
    if settings.consent_needed == ConsentNeeded.PRIOR_EXPRESS and not valid.exists():
        return "no consent on record (the campaign needs prior express consent)"
    if settings.purpose == CampaignPurpose.TELEMARKETING and phone_e164.startswith("+1"):
        fresh = NationalDncList.objects.filter(downloaded_at__gt=now - NATIONAL_DNC_MAX_AGE)
        if not fresh.filter(area_codes__contains=[phone_e164[2:5]]).exists():
            newest = NationalDncList.objects.order_by("-downloaded_at").first()
            age = f" (newest {newest.downloaded_at:%Y-%m-%d}, {(now - newest.downloaded_at).days} days old)" \
                if newest is not None else ""
            return (f"no National Do Not Call Registry download of area code {phone_e164[2:5]} in the last 31 "
                    f"days{age}: telemarketing is blocked until a fresh one is imported")
        if NationalDncNumber.objects.filter(phone_e164=phone_e164, registry__in=fresh).exists():
            return "on the National Do Not Call Registry"
    return None
