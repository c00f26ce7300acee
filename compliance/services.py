"""Compliance state changes: consent, national do-not-call downloads, reassigned-number results, company rules."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from compliance import canada
from compliance.choices import ConsentKind, DncRegistry, ReassignedResult
from compliance.claim_sql import NATIONAL_DNC_MAX_AGE
from compliance.models import (
    CompanyRule,
    ConsentRecord,
    NationalDncList,
    NationalDncNumber,
    ReassignedNumberResult,
)
from compliance.policy import CompanyPolicy
from compliance.rules_table import FrequencyCap

# pg_advisory_xact_lock(namespace, hashtext(number)): one dial decision per number at a time.
NUMBER_LOCK_NAMESPACE = 0x0CA9_0E5C
_TEN_DIGITS = re.compile(r"\D*(1?)(\d{10})\D*$")


_COMPANY_RULE_FIELDS = ("window_start", "window_end", "window_days", "no_holidays", "max_calls_24h", "max_calls_7d",
                        "max_calls_30d")


@functools.cache
def _company_rules_sql() -> str:
    quote = connection.ops.quote_name
    columns = {f.name: quote(f.column) for f in CompanyRule._meta.concrete_fields}
    return (f"SELECT {', '.join(columns[f] for f in _COMPANY_RULE_FIELDS)} "  # noqa: S608 (model metadata)
            f"FROM {quote(CompanyRule._meta.db_table)} WHERE {columns['enabled']} ORDER BY {columns['id']}")


def company_policy() -> CompanyPolicy | None:
    """The enabled company rules as one policy (the strictest of several rows), or None when there are none."""
    # Read on every dispatcher tick and every dial gate (a rule change applies at once in every process): one
    # fixed statement, without building an ORM query each time.
    with connection.cursor() as cursor:
        cursor.execute(_company_rules_sql())
        rows = cursor.fetchall()
    if not rows:
        return None
    caps: list[FrequencyCap] = []
    for *_, max_24h, max_7d, max_30d in rows:
        for limit, hours in ((max_24h, 24), (max_7d, 24 * 7), (max_30d, 24 * 30)):
            if limit:
                caps.append(FrequencyCap(limit, dt.timedelta(hours=hours)))
    days = frozenset(range(7))
    for row in rows:
        days &= frozenset(row[2])
    return CompanyPolicy(start=max(r[0] for r in rows), end=min(r[1] for r in rows), days=days,
                         no_holidays=any(r[3] for r in rows), caps=tuple(caps))


def record_consent(phone_e164: str, *, kind: str, source: str, obtained_at: dt.datetime, text: str = "",
                   evidence_ref: str = "", seller: str = "") -> ConsentRecord:
    """Store a person's consent to be called at a number (from the API, the CSV or the admin)."""
    if kind not in ConsentKind.values:
        raise ValueError(f"unknown consent kind {kind!r}")
    if timezone.is_naive(obtained_at):
        raise ValueError("obtained_at must be an aware datetime")
    return ConsentRecord.objects.create(phone_e164=phone_e164, kind=kind, source=source, obtained_at=obtained_at,
                                        text=text, evidence_ref=evidence_ref, seller=seller)


def revoke_consent(phone_e164: str, at: dt.datetime | None = None) -> int:
    """Revoke every consent given for a number (an opt-out revokes consent at once; FCC 2024 order: within
    10 business days). Returns how many records were revoked."""
    return ConsentRecord.objects.filter(phone_e164=phone_e164, revoked_at__isnull=True).update(
        revoked_at=at or timezone.now())


@dataclass(frozen=True, slots=True)
class RegistryImport:
    """What a national DNC file import did."""

    registry_id: int
    numbers: int
    area_codes: tuple[str, ...]
    rejected_lines: tuple[int, ...]


def import_national_dnc(lines: Iterable[str], *, downloaded_at: dt.datetime, file_name: str = "",
                        area_codes: Iterable[str] = (), registry: str = DncRegistry.US) -> RegistryImport:
    """Import a National Do Not Call Registry download: one 10-digit number per line (the registry's format,
    ``2125550123`` or ``212,5550123``), for the area codes it covers (``area_codes``, else those seen).

    The same for Canada's National DNCL (``registry="ca"``, the CRTC's 10-digit download by area code): its area
    codes must be Canadian ones, and a US registry's must not be (a list covers only its own country's numbers).

    The download date matters: a telemarketing campaign may dial a +1 number only when a download covering its
    area code is at most 31 days old (``compliance.claim_sql``; CRTC National DNCL Rules: 31 days too).

    Raises:
        ValueError: a naive date, an unknown registry, or an area code of the other country.
    """
    if timezone.is_naive(downloaded_at):
        raise ValueError("downloaded_at must be an aware datetime")
    numbers: set[str] = set()
    rejected: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        match = _TEN_DIGITS.match(text.replace(",", "").replace("-", ""))
        if match is None:
            rejected.append(number)
            continue
        numbers.add("+1" + match.group(2))
    codes = tuple(sorted(set(area_codes) | {n[2:5] for n in numbers}))
    if registry not in DncRegistry.values:
        raise ValueError(f"unknown do-not-call registry {registry!r} (us or ca)")
    canadian = set(canada.area_codes())
    wrong = sorted(c for c in codes if (c in canadian) != (registry == DncRegistry.CA))
    if wrong:
        country = "not Canadian" if registry == DncRegistry.CA else "Canadian (import them as the National DNCL)"
        raise ValueError(f"area codes {', '.join(wrong)} are {country}: a {registry} download cannot cover them")
    with transaction.atomic():
        download = NationalDncList.objects.create(downloaded_at=downloaded_at, area_codes=list(codes),
                                                  numbers=len(numbers), file_name=file_name[:255], registry=registry)
        NationalDncNumber.objects.bulk_create(
            (NationalDncNumber(registry=download, phone_e164=n) for n in sorted(numbers)), batch_size=5000)
    return RegistryImport(download.pk, len(numbers), codes, tuple(rejected))


def national_dnc_status(now: dt.datetime | None = None) -> tuple[bool, str]:
    """Whether telemarketing may dial at all by the registry's age, and a message for the operator."""
    now = now or timezone.now()
    newest = NationalDncList.objects.order_by("-downloaded_at").first()
    if newest is None:
        return False, "no National Do Not Call Registry file imported: telemarketing campaigns dial nobody"
    age = now - newest.downloaded_at
    if age > NATIONAL_DNC_MAX_AGE:
        return False, (f"the National Do Not Call Registry file is {age.days} days old (downloaded "
                       f"{newest.downloaded_at:%Y-%m-%d}); telemarketing is blocked past 31 days: import a new one")
    return True, f"National Do Not Call Registry downloaded {newest.downloaded_at:%Y-%m-%d} ({age.days} days old)"


def record_reassigned_result(phone_e164: str, *, date_asked: dt.date, result: str,
                             queried_at: dt.datetime | None = None) -> ReassignedNumberResult:
    """Store a Reassigned Numbers Database answer for a number and the date asked about."""
    if result not in ReassignedResult.values:
        raise ValueError(f"unknown reassigned-number result {result!r}")
    return ReassignedNumberResult.objects.create(phone_e164=phone_e164, date_asked=date_asked, result=result,
                                                 queried_at=queried_at or timezone.now())


def lock_number(phone_e164: str) -> None:
    """Serialise dial decisions for one number until the transaction ends (frequency caps across campaigns: two
    campaigns' gates for the same number must not both count the other's call as not yet made)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [NUMBER_LOCK_NAMESPACE, phone_e164])
