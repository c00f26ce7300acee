"""The evidence record of every dial: why the call was allowed at that instant, written in the dial gate's
transaction, completed at the end of the call, exportable per number for a dispute.

TSR record keeping (16 CFR 310.5, as amended 2024): call detail records, consent records and the registry
version used are kept five years (``COMPLIANCE_RETENTION_YEARS``). The records carry ids, not foreign keys, so
archiving or deleting a campaign leaves them in place.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Q

from campaigns.contacts.csv_export import write_csv
from compliance.caps import CapCount
from compliance.choices import ConsentKind
from compliance.claim_sql import NATIONAL_DNC_MAX_AGE
from compliance.models import ConsentRecord, DialEvidence, NationalDncList, ReassignedNumberResult
from compliance.policy import Verdict

RETENTION_YEARS: int = getattr(settings, "COMPLIANCE_RETENTION_YEARS", 5)

EXPORT_FIELDS = ("attempt_id", "campaign_id", "campaign_name", "contact_id", "phone_e164", "decided_at",
                 "local_time", "time_zones", "jurisdictions", "allowed_by", "caps", "lists_checked", "consent",
                 "caller_id", "disclosures", "amd_result", "amd_at", "retain_until")


def lists_checked(phone_e164: str, campaign_id: int, now: dt.datetime) -> dict[str, Any]:
    """The lists the dial was checked against, with their versions (what the gate's statement consulted)."""
    registry = (NationalDncList.objects.filter(downloaded_at__gt=now - NATIONAL_DNC_MAX_AGE,
                                               area_codes__contains=[phone_e164[2:5]])
                .order_by("-downloaded_at").values_list("pk", "downloaded_at").first()
                if phone_e164.startswith("+1") else None)
    rnd = (ReassignedNumberResult.objects.filter(phone_e164=phone_e164).order_by("-queried_at")
           .values_list("date_asked", "result", "queried_at").first())
    return lists_checked_from(campaign_id, now, registry, rnd)


def lists_checked_from(campaign_id: int, now: dt.datetime, registry: tuple[int, dt.datetime] | None,
                       rnd: tuple[dt.date, str, dt.datetime] | None) -> dict[str, Any]:
    """``lists_checked`` from values already read: the newest fresh registry download covering the area code
    ``(id, downloaded_at)`` and the newest reassigned-numbers answer ``(date_asked, result, queried_at)``."""
    return {
        "internal_dnc": {"scope": ["company", f"campaign {campaign_id}"], "checked_at": now.isoformat(),
                         "result": "not listed"},
        "national_dnc": ({"registry_id": registry[0], "downloaded_at": registry[1].isoformat(),
                          "result": "not listed"} if registry is not None else {"result": "not checked"}),
        "reassigned_numbers": ({"date_asked": rnd[0].isoformat(), "result": rnd[1],
                                "queried_at": rnd[2].isoformat()} if rnd is not None
                               else {"result": "not queried"}),
    }


CONSENT_FIELDS = ("id", "kind", "source", "seller", "obtained_at", "evidence_ref")


def consent_relied_on(phone_e164: str, now: dt.datetime) -> dict[str, Any]:
    """The newest valid consent for the number (written first), or {} when there is none on record."""
    valid = ConsentRecord.objects.filter(phone_e164=phone_e164, revoked_at__isnull=True, obtained_at__lte=now)
    record = (valid.filter(kind=ConsentKind.WRITTEN).order_by("-obtained_at").values_list(*CONSENT_FIELDS).first()
              or valid.order_by("-obtained_at").values_list(*CONSENT_FIELDS).first())
    return consent_from(record)


def consent_from(record: Sequence[Any] | None) -> dict[str, Any]:
    """``consent_relied_on`` from a row already read (the values of ``CONSENT_FIELDS``), or {} for none."""
    if record is None:
        return {}
    fields = dict(zip(CONSENT_FIELDS, record, strict=True))
    return {**fields, "obtained_at": fields["obtained_at"].isoformat()}


def write_evidence(*, attempt_id: int, campaign_id: int, campaign_name: str, contact_id: int, phone_e164: str,
                   time_zones: Sequence[str], jurisdictions: Sequence[str], now: dt.datetime, verdict: Verdict,
                   caps: Iterable[CapCount], caller_id: str = "", lists: dict[str, Any] | None = None,
                   consent: dict[str, Any] | None = None) -> DialEvidence:
    """Record why an attempt may dial now (call it inside the dial gate's transaction, after its update).

    ``lists`` and ``consent`` are read here unless given (the gate passes them from its own statement).
    """
    local = now.astimezone(zoneinfo.ZoneInfo(time_zones[0])) if time_zones else now
    return DialEvidence.objects.create(
        attempt_id=attempt_id, campaign_id=campaign_id, campaign_name=campaign_name[:200], contact_id=contact_id,
        phone_e164=phone_e164, decided_at=now, local_time=f"{local:%Y-%m-%d %H:%M:%S %Z (UTC%z)}",
        time_zones=list(time_zones), jurisdictions=list(jurisdictions), allowed_by=verdict.reason,
        caps=[c.as_json() for c in caps],
        lists_checked=lists if lists is not None else lists_checked(phone_e164, campaign_id, now),
        consent=consent if consent is not None else consent_relied_on(phone_e164, now), caller_id=caller_id,
        retain_until=_years_later(now.date(), RETENTION_YEARS))


def _years_later(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole years (29 February -> 1 March in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def complete_evidence(attempt_id: int, *, caller_id: str = "", amd_result: str = "",
                      amd_at: dt.datetime | None = None, disclosures: Sequence[dict[str, Any]] = ()) -> bool:
    """Add what the call itself produced: the caller ID presented, the AMD decision and time, the disclosures
    played (``{kind, text, offset_ms}``). Returns False when the attempt has no evidence record."""
    fields: dict[str, Any] = {}
    if caller_id:
        fields["caller_id"] = caller_id
    if amd_result:
        fields["amd_result"], fields["amd_at"] = amd_result, amd_at
    if disclosures:
        fields["disclosures"] = list(disclosures)
    if not fields:
        return DialEvidence.objects.filter(attempt_id=attempt_id).exists()
    return bool(DialEvidence.objects.filter(attempt_id=attempt_id).update(**fields))


def evidence_for_number(phone_e164: str, contact_id: int | None = None) -> Iterator[DialEvidence]:
    """Every evidence record of a number (and of one contact when given), oldest first."""
    query = Q(phone_e164=phone_e164)
    if contact_id is not None:
        query &= Q(contact_id=contact_id)
    return DialEvidence.objects.filter(query).order_by("decided_at", "attempt_id").iterator()


def cell_text(value: Any) -> str:
    """A field of the record as text (JSON for lists and objects, ISO 8601 for times)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def export_evidence_csv(phone_e164: str, contact_id: int | None = None) -> str:
    """The evidence of a number as CSV (one row per attempt, every field; spreadsheet-safe), for a dispute."""
    out = io.StringIO()
    rows = (tuple(cell_text(getattr(r, name)) for name in EXPORT_FIELDS)
            for r in evidence_for_number(phone_e164, contact_id))
    write_csv([EXPORT_FIELDS, *rows], out)
    return out.getvalue()
