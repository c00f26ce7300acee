"""The campaign report: the funnel, dispositions, outcomes, timeline, local hours and costs, from the facts."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.models import Campaign, ReportRollup
from campaigns.reports.facts import (
    _CONTACT_STATUS_SQL,
    _FACTS,
    _OUTCOME_FIELDS_SQL,
    _OUTCOMES_SQL,
    _TRANSFERS_SQL,
    CONNECTED,
    DIALED,
    IN_FLIGHT,
    MAX_TIMELINE_BARS,
    Partial,
    aggregate_attempts,
)
from campaigns.reports.rollups import refresh_report_rollup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FunnelStage:
    """One stage of the funnel: how many contacts (and attempts) reached it."""

    key: str
    label: str
    contacts: int
    attempts: int | None
    definition: str
    share: float | None = None  # of all contacts


@dataclass(frozen=True)
class Distribution:
    """Summary of a set of numbers: count, mean and percentiles (None when empty)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class TimelineBar:
    """Dialed and connected attempts in one bucket of the attempts-per-hour chart."""

    start: dt.datetime
    attempts: int
    connected: int


@dataclass(frozen=True)
class LocalHour:
    """Dialed and connected attempts at one hour of the day in the contacts' own time."""

    hour: int
    attempts: int
    connected: int

    @property
    def answer_rate(self) -> float | None:
        """Connected / dialed, None when nothing was dialed at this hour."""
        return self.connected / self.attempts if self.attempts else None


@dataclass(frozen=True)
class FieldSummary:
    """How an outcome field was filled: count, distinct values and the most frequent ones."""

    name: str
    filled: int
    distinct_values: int
    top_values: list[tuple[str, int]]


@dataclass(frozen=True)
class OutcomeSummary:
    """Contacts whose final outcome is ``label``, with a summary of each extracted field."""

    label: str
    description: str
    contacts: int
    fields: list[FieldSummary]


@dataclass(frozen=True)
class TransferFigures:
    """Transfers to a person: asked for by the agent (offered to the target), answered by it, accepted (the call
    was handed over), the time to answer, and the callers who hung up while on hold (counted as abandoned)."""

    offered: int = 0
    answered: int = 0
    accepted: int = 0
    abandoned: int = 0
    fell_back: int = 0
    answer_ms_p50: float | None = None
    answer_ms_p90: float | None = None

    @property
    def accepted_rate(self) -> float | None:
        """Accepted / offered, None when none was offered."""
        return self.accepted / self.offered if self.offered else None


@dataclass
class CampaignReport:
    """Everything the report page shows, computed for one campaign at ``generated_at``."""

    campaign: Campaign
    generated_at: dt.datetime
    contacts_total: int
    contacts_by_status: list[tuple[str, str, int]]
    funnel: list[FunnelStage]
    attempts_total: int
    attempts_dialed: int
    attempts_not_dialed: int
    attempts_in_flight: int
    dispositions: list[tuple[str, str, int, float]]
    outcomes: list[OutcomeSummary]
    timeline: list[TimelineBar]
    timeline_bucket_hours: int
    local_hours: list[LocalHour]
    unknown_zone_attempts: int
    talk_seconds: Distribution
    first_response_ms: Distribution
    cost_total: Decimal
    human_connected: int
    abandoned: int
    audio_time_unknown: int
    rollup_through_attempt_id: int = 0
    field_names: list[str] = field(default_factory=list)
    attempts_ringing: int = 0  # dialed, still in flight and not answered yet: their answer is not known
    transfers: TransferFigures = field(default_factory=TransferFigures)

    @property
    def attempts_decided(self) -> int:
        """Dialed attempts whose answer is known: ended, or answered while still in the call."""
        return self.attempts_dialed - self.attempts_ringing

    @property
    def abandoned_rate(self) -> float | None:
        """Abandoned / human-answered calls, None when no person answered."""
        return self.abandoned / self.human_connected if self.human_connected else None

    @property
    def answer_rate(self) -> float | None:
        """Connected / dialed attempts whose answer is known (D14: calls still ringing are not counted as
        unanswered, which made a running campaign's rate read low)."""
        connected = next(s.attempts for s in self.funnel if s.key == "connected") or 0
        return connected / self.attempts_decided if self.attempts_decided else None

    @property
    def cost_per_connected(self) -> Decimal | None:
        """Total cost over connected attempts."""
        connected = next(s.attempts for s in self.funnel if s.key == "connected") or 0
        return (self.cost_total / connected).quantize(Decimal("0.0001")) if connected else None


def build_campaign_report(campaign: Campaign, *, display_zone: dt.tzinfo | None = None) -> CampaignReport:
    """The campaign's report: its rollup moved forward, plus the attempts after it, plus its contacts.

    Args:
        campaign: The campaign (its trunk's rate prices attempts without a stored cost).
        display_zone: Zone of the attempts-per-hour chart; the current Django zone by default.

    Returns:
        The report; its numbers describe one snapshot of the database.
    """
    display_zone = display_zone or timezone.get_current_timezone()
    refresh_report_rollup(campaign.pk)
    # One repeatable-read snapshot: rollup, newer attempts and contacts all describe the same moment even
    # while the dialer writes.
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # Must be the transaction's first statement; inside a caller's transaction its snapshot rules.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # JIT compilation costs more than it saves on these short aggregates.
        cursor.execute("SET LOCAL jit = off")
        generated_at = timezone.now()
        rollup = ReportRollup.objects.get(campaign_id=campaign.pk)
        partial = Partial.from_json(rollup.data)
        partial.add(aggregate_attempts(campaign.pk, rollup.through_attempt_id))
        cursor.execute(_CONTACT_STATUS_SQL, [campaign.pk])
        status_counts = dict(cursor.fetchall())
        cursor.execute(_OUTCOMES_SQL, [campaign.pk])
        outcome_counts = cursor.fetchall()
        cursor.execute(_OUTCOME_FIELDS_SQL, [campaign.pk])
        field_rows = cursor.fetchall()
        cursor.execute(_TRANSFERS_SQL, [campaign.pk])
        offered, answered, accepted, abandoned, fell_back, p50, p90 = cursor.fetchone()
        trunk_ids = sorted({key[0] for key in partial.talk if key[0] is not None} | {campaign.trunk_id})
        cursor.execute("SELECT id, cost_per_minute FROM telephony_trunk WHERE id = ANY(%s)", [trunk_ids])
        rates = dict(cursor.fetchall())

    contacts_total = sum(status_counts.values())
    totals = _attempt_totals(partial)
    talk_hist: dict[int, int] = {}
    cost = totals["stored_cost"]
    for (trunk_id, seconds, unpriced), n in partial.talk.items():
        talk_hist[seconds] = talk_hist.get(seconds, 0) + n
        if unpriced:  # no stored cost: billed seconds at the rate of the attempt's trunk (else the campaign's)
            rate = rates.get(trunk_id if trunk_id is not None else campaign.trunk_id) or Decimal(0)
            cost += Decimal(seconds * n) * rate / Decimal(60)
    disposition_counts: dict[str, int] = {}
    for (state, disposition, _), (n, _) in partial.attempts.items():
        if state == AttemptState.ENDED.value:
            disposition_counts[disposition] = disposition_counts.get(disposition, 0) + n
    timeline, bucket_hours = _timeline(partial.timeline, display_zone)
    local_hours, unknown_zone = _local_hours(partial.local)
    return CampaignReport(
        campaign=campaign,
        generated_at=generated_at,
        contacts_total=contacts_total,
        contacts_by_status=[(s.value, str(s.label), status_counts.get(s.value, 0)) for s in ContactStatus],
        funnel=_funnel(contacts_total, totals),
        attempts_total=totals["rows_total"],
        attempts_dialed=totals["dialed"],
        attempts_not_dialed=totals["not_dialed"],
        attempts_in_flight=totals["in_flight"],
        dispositions=_dispositions(list(disposition_counts.items())),
        outcomes=_outcomes(campaign, outcome_counts, field_rows),
        timeline=timeline,
        timeline_bucket_hours=bucket_hours,
        local_hours=local_hours,
        unknown_zone_attempts=unknown_zone,
        talk_seconds=distribution_from_counts(sorted(talk_hist.items())),
        first_response_ms=distribution_from_counts(sorted(partial.responses.items())),
        cost_total=cost.quantize(Decimal("0.01")),
        human_connected=totals["human_connected"],
        abandoned=totals["abandoned"],
        audio_time_unknown=totals["audio_unknown"],
        attempts_ringing=totals["ringing"],
        rollup_through_attempt_id=rollup.through_attempt_id,
        field_names=outcome_field_names(campaign),
        transfers=TransferFigures(offered, answered, accepted, abandoned, fell_back, p50, p90),
    )


def _attempt_totals(partial: Partial) -> dict[str, Any]:
    """Attempt totals per fact (from the attempt groups) and contacts per funnel stage."""
    totals: dict[str, Any] = {"rows_total": 0, "stored_cost": Decimal(0), "ringing": 0}
    for name in _FACTS:
        totals[name] = 0
        totals[f"c_{name}"] = 0
    for (_, _, m), (n, stored_cost) in partial.attempts.items():
        totals["rows_total"] += n
        totals["stored_cost"] += stored_cost
        if m & DIALED and m & IN_FLIGHT and not m & CONNECTED:
            totals["ringing"] += n
        for name, bits in _FACTS.items():
            if m & bits == bits:
                totals[name] += n
    for m, contacts in partial.contacts.items():
        for name, bits in _FACTS.items():
            if m & bits == bits:
                totals[f"c_{name}"] += contacts
    return totals


def _funnel(contacts_total: int, totals: dict[str, Any]) -> list[FunnelStage]:
    stages = [
        ("contacts", "Contacts", contacts_total, None, "Every contact of the campaign."),
        ("attempted", "Attempted", totals["c_dialed"], totals["dialed"],
         "Dialed at least once (handed to a user agent, not cancelled before the dial)."),
        ("connected", "Connected", totals["c_connected"], totals["connected"], "The call was answered (200 OK)."),
        ("human", "Human", totals["c_human"], totals["human"],
         "A person answered: disposition human or opted out, or the machine detector said human."),
        ("outcome", "Outcome recorded", totals["c_outcome"], totals["outcome"],
         "The agent recorded an outcome label."),
    ]
    return [FunnelStage(key, label, contacts, attempts, definition,
                        contacts / contacts_total if contacts_total else None)
            for key, label, contacts, attempts, definition in stages]


def _dispositions(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str, int, float]]:
    labels = dict(Disposition.choices)
    total = sum(n for _, n in rows)
    ordered = sorted(rows, key=lambda r: (-r[1], r[0]))
    return [(value, str(labels.get(value, value or "(none)")), n, n / total if total else 0.0)
            for value, n in ordered]


def _outcomes(campaign: Campaign, counts: Sequence[Sequence[Any]],
              field_rows: Sequence[Sequence[Any]]) -> list[OutcomeSummary]:
    descriptions = {str(o.get("label")): str(o.get("description", "")) for o in _schema(campaign)}
    fields: dict[str, dict[str, FieldSummary]] = {}
    for outcome, key, value, n, filled, distinct in field_rows:
        summary = fields.setdefault(outcome, {}).get(key)
        if summary is None:
            summary = FieldSummary(key, int(filled), int(distinct), [])
            fields[outcome][key] = summary
        summary.top_values.append((value, int(n)))
    result = []
    for label, n in sorted(counts, key=lambda r: (-r[1], r[0])):
        declared = [str(f.get("name")) for o in _schema(campaign) if o.get("label") == label
                    for f in o.get("fields") or []]
        seen = fields.get(label, {})
        names = declared + sorted(set(seen) - set(declared))
        result.append(OutcomeSummary(label, descriptions.get(label, ""), int(n),
                                     [seen.get(name) or FieldSummary(name, 0, 0, []) for name in names]))
    return result


def _schema(campaign: Campaign) -> list[dict[str, Any]]:
    schema = campaign.agent.outcome_schema
    return [o for o in schema if isinstance(o, dict)] if isinstance(schema, list) else []


def outcome_field_names(campaign: Campaign) -> list[str]:
    """The outcome field names of the campaign's agent, in schema order, without repeats."""
    names: list[str] = []
    for outcome in _schema(campaign):
        for spec in outcome.get("fields") or []:
            name = str(spec.get("name", ""))
            if name and name not in names:
                names.append(name)
    return names



def _local_hours(local: dict[tuple[int, int], int]) -> tuple[list[LocalHour], int]:
    attempts = [0] * 24
    connected = [0] * 24
    unknown = 0
    for (hour, m), n in local.items():
        if hour < 0:
            unknown += n
            continue
        attempts[hour] += n
        connected[hour] += n if m & CONNECTED else 0
    return [LocalHour(h, attempts[h], connected[h]) for h in range(24)], unknown


def _timeline(bins: dict[tuple[int, int], int], zone: dt.tzinfo) -> tuple[list[TimelineBar], int]:
    per_bin: dict[int, list[int]] = {}
    for (start, m), n in bins.items():
        counts = per_bin.setdefault(start, [0, 0])
        counts[0] += n
        counts[1] += n if m & CONNECTED else 0
    per_hour: dict[dt.datetime, list[int]] = {}
    for start, (n, answered) in per_bin.items():
        at = dt.datetime.fromtimestamp(start, dt.UTC).astimezone(zone)
        hour = at.replace(minute=0, second=0, microsecond=0)
        counts = per_hour.setdefault(hour, [0, 0])
        counts[0] += n
        counts[1] += answered
    if not per_hour:
        return [], 1
    first, last = min(per_hour), max(per_hour)
    # Count whole UTC hours between the ends (local wall-clock hours repeat or vanish at DST changes).
    span = int((last - first).total_seconds() // 3600) + 1
    bucket = max(1, math.ceil(span / MAX_TIMELINE_BARS))
    bars: dict[int, list[int]] = {}
    for hour, (n, answered) in per_hour.items():
        index = int((hour - first).total_seconds() // 3600) // bucket
        counts = bars.setdefault(index, [0, 0])
        counts[0] += n
        counts[1] += answered
    count = (span + bucket - 1) // bucket
    return [TimelineBar((first + dt.timedelta(hours=i * bucket)).astimezone(zone), *bars.get(i, [0, 0]))
            for i in range(count)], bucket


def percentile_from_counts(counts: Sequence[tuple[float, int]], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the values a ``(value, count)`` histogram describes.

    Interpolates linearly between the two nearest ranks, as PostgreSQL's ``percentile_cont`` and
    ``statistics.quantiles(method="inclusive")`` do, so a histogram gives the exact answer.

    Returns:
        The quantile, or None for an empty histogram.
    """
    ordered = sorted((float(v), int(n)) for v, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    position = q * (total - 1)
    lower_rank = math.floor(position)
    fraction = position - lower_rank

    def value_at(rank: int) -> float:
        seen = 0
        for value, n in ordered:
            seen += n
            if rank < seen:
                return value
        return ordered[-1][0]

    low = value_at(lower_rank)
    return low if fraction == 0 else low + (value_at(lower_rank + 1) - low) * fraction


def distribution_from_counts(counts: Sequence[tuple[float, int]]) -> Distribution:
    """Count, mean, p50 and p90 of a ``(value, count)`` histogram."""
    total = sum(int(n) for _, n in counts)
    if not total:
        return Distribution(0, None, None, None)
    mean = sum(float(v) * int(n) for v, n in counts) / total
    return Distribution(total, mean, percentile_from_counts(counts, 0.5), percentile_from_counts(counts, 0.9))

