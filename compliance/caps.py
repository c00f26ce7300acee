"""Frequency caps counted from the attempt ledger (PostgreSQL), across every campaign that calls a number.

The claim and the dial gate enforce the caps in SQL (``compliance.claim_sql``); this module answers the same
question in Python for the evidence record and for the next time a capped contact may be called.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Q

from compliance.policy import CompanyPolicy, strictest_caps


@dataclass(frozen=True, slots=True)
class CapCount:
    """One cap checked for one number: the rule that sets it, its limit, the calls counted, when it frees."""

    rule: str
    limit: str
    counted: int
    reached: bool
    frees_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        """The evidence record's form."""
        return {"rule": self.rule, "limit": self.limit, "counted": self.counted, "reached": self.reached}


def dial_times(phone_e164: str, since: dt.datetime, now: dt.datetime,
               exclude_attempt: int | None = None, count_queued: bool = True) -> list[dt.datetime]:
    """When each call to the number started since ``since`` (newest first), in every campaign; with
    ``count_queued`` an attempt queued or about to dial counts as starting ``now`` (as the claim counts)."""
    attempt_model = apps.get_model("campaigns", "CallAttempt")
    started = Q(dialing_at__gt=since)
    if count_queued:
        started |= Q(dialing_at__isnull=True) & ~Q(state="ended")
    rows = (attempt_model.objects.filter(contact__phone_e164=phone_e164).filter(started)
            .exclude(pk=exclude_attempt or 0).values_list("dialing_at", flat=True))
    return sorted((t or now for t in rows), reverse=True)


def check_caps(phone_e164: str, jurisdictions: Iterable[str], now: dt.datetime, company: CompanyPolicy | None = None,
               exclude_attempt: int | None = None, count_queued: bool = True) -> list[CapCount]:
    """Every cap that governs the number, with the calls counted in its period and when it frees again."""
    caps = strictest_caps(jurisdictions, now.date(), company)
    if not caps:
        return []
    longest = max(cap.period for _, cap in caps)
    times = dial_times(phone_e164, now - longest, now, exclude_attempt, count_queued)
    return count_caps(times, jurisdictions, now, company)


def count_caps(times: Iterable[dt.datetime], jurisdictions: Iterable[str], now: dt.datetime,
               company: CompanyPolicy | None = None) -> list[CapCount]:
    """``check_caps`` for dial times already read (any order; those older than a cap's period are ignored):
    the dial gate reads them in its own statement."""
    caps = strictest_caps(jurisdictions, now.date(), company)
    ordered = sorted(times, reverse=True)
    return [_count(code, cap.max_calls, cap.period, cap.describe(), ordered, now) for code, cap in caps]


def _count(code: str, max_calls: int, period: dt.timedelta, label: str, times: Sequence[dt.datetime],
           now: dt.datetime) -> CapCount:
    inside = [t for t in times if t > now - period]
    reached = len(inside) >= max_calls
    # The cap frees when the max_calls-th newest call leaves the period.
    frees_at = inside[max_calls - 1] + period if reached else None
    return CapCount(code, label, len(inside), reached, frees_at)


def next_allowed_by_caps(counts: Sequence[CapCount]) -> dt.datetime | None:
    """The earliest instant every reached cap has freed (None when none is reached)."""
    frees = [c.frees_at for c in counts if c.reached and c.frees_at is not None]
    return max(frees) if frees else None


def capped_until(contacts: Sequence[tuple[int, str, Sequence[str]]], now: dt.datetime,
                 company: CompanyPolicy | None = None) -> dict[int, dt.datetime]:
    """For contacts ``(id, number, jurisdictions)``: those whose number reached a cap, with when it frees.

    One query for all of them (the dial times of their numbers over the longest period).
    """
    capped = [(cid, phone, caps) for cid, phone, juris in contacts
              if (caps := strictest_caps(juris, now.date(), company))]
    if not capped:
        return {}
    longest = max(cap.period for _, _, caps in capped for _, cap in caps)
    attempt_model = apps.get_model("campaigns", "CallAttempt")
    times: dict[str, list[dt.datetime]] = {}
    rows = (attempt_model.objects.filter(contact__phone_e164__in={p for _, p, _ in capped})
            .filter(Q(dialing_at__gt=now - longest) | (Q(dialing_at__isnull=True) & ~Q(state="ended")))
            .values_list("contact__phone_e164", "dialing_at"))
    for phone, at in rows:
        times.setdefault(phone, []).append(at or now)
    out: dict[int, dt.datetime] = {}
    for cid, phone, caps in capped:
        mine = sorted(times.get(phone, ()), reverse=True)
        frees = next_allowed_by_caps([_count(code, cap.max_calls, cap.period, cap.describe(), mine, now)
                                      for code, cap in caps])
        if frees is not None and frees > now:
            out[cid] = frees
    return out
