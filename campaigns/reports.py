"""The per-campaign report: read queries that aggregate a campaign's attempts and contacts in SQL.

Every figure is computed by PostgreSQL over the whole campaign (no sampling); Python only turns a few
hundred grouped rows into the report. The queries are fixed in number, whatever the campaign's size,
so the report page's query count does not grow with its data.

Definitions (also shown on the page and in docs/architecture.md):

* **dialed** attempt: handed to a user agent (``originated_at`` or ``dialing_at`` set) and not ended
  ``cancelled``. Attempts that were never dialed are counted apart ("not dialed").
* **connected**: ``answered_at`` is set (200 OK).
* **human**: disposition ``human`` or ``opted_out``, or the answering-machine detector said ``human``.
* **outcome recorded**: the agent recorded an outcome label on the attempt.
* **abandoned**: connected, human, and either never bridged to the agent or the agent's first audio was
  played more than 2 s after answer (the FCC's two-second rule, 47 CFR 64.1200(a)(7)). The abandoned rate
  is over human-answered calls. ``agent_first_audio_at`` is written by the media bridge; a bridged call
  without it is counted as "agent audio time unknown", not as abandoned.
* **talk time**: answer to end, rounded up to whole seconds as the trunk bills it.
* **cost**: the attempt's ``cost`` when stored, otherwise billed seconds x the trunk's cost per minute / 60
  (the attempt's trunk, or the campaign's when the attempt has none).
* **local hour**: the hour of the dial in the contact's own time zone (the first one when the number may
  be in several).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact

# FCC: a call is abandoned when no live agent speaks within two seconds of the person's greeting.
ABANDON_AFTER_S = 2
HUMAN_DISPOSITIONS = (Disposition.HUMAN.value, Disposition.OPTED_OUT.value)
# The attempts-per-hour chart keeps at most this many bars; longer campaigns are shown in wider buckets.
MAX_TIMELINE_BARS = 168
# Dial times are grouped in 15-minute bins before being read in each contact's zone: every zone's UTC
# offset today is a multiple of 15 minutes (India +05:30, Nepal +05:45), so a bin never straddles a local hour.
BIN_MINUTES = 15
TOP_FIELD_VALUES = 5
RECENT_ATTEMPTS = 50
EXPORT_CHUNK = 2000

_DIALED = ("(a.originated_at IS NOT NULL OR a.dialing_at IS NOT NULL) "
           f"AND a.disposition <> '{Disposition.CANCELLED.value}'")
_HUMAN = (f"(a.disposition IN ('{HUMAN_DISPOSITIONS[0]}', '{HUMAN_DISPOSITIONS[1]}') "
          "OR a.amd_result = 'human')")
_CONNECTED = "a.answered_at IS NOT NULL"
_OUTCOME = "a.outcome <> ''"
_ABANDONED = (f"{_CONNECTED} AND {_HUMAN} AND (a.bridged_at IS NULL "
              f"OR a.agent_first_audio_at > a.answered_at + interval '{ABANDON_AFTER_S} seconds')")
_AUDIO_UNKNOWN = f"{_CONNECTED} AND {_HUMAN} AND a.bridged_at IS NOT NULL AND a.agent_first_audio_at IS NULL"
_TALK_S = "ceil(extract(epoch FROM a.ended_at - a.answered_at))"

# One pass over the campaign's attempts, grouped per contact: the funnel (contacts reaching each stage)
# and every attempt-level count at once.
_ATTEMPTS_SQL = f"""
SELECT count(*) AS contacts,
       count(*) FILTER (WHERE dialed > 0) AS c_dialed,
       count(*) FILTER (WHERE connected > 0) AS c_connected,
       count(*) FILTER (WHERE human > 0) AS c_human,
       count(*) FILTER (WHERE outcome > 0) AS c_outcome,
       sum(rows_total), sum(in_flight), sum(not_dialed), sum(dialed), sum(connected), sum(human), sum(outcome),
       sum(human_connected), sum(abandoned), sum(audio_unknown), sum(stored_cost)
FROM (
    SELECT a.contact_id,
           count(*) AS rows_total,
           count(*) FILTER (WHERE a.state <> '{AttemptState.ENDED.value}') AS in_flight,
           count(*) FILTER (WHERE a.state = '{AttemptState.ENDED.value}' AND NOT ({_DIALED})) AS not_dialed,
           count(*) FILTER (WHERE {_DIALED}) AS dialed,
           count(*) FILTER (WHERE {_CONNECTED}) AS connected,
           count(*) FILTER (WHERE {_HUMAN}) AS human,
           count(*) FILTER (WHERE {_OUTCOME}) AS outcome,
           count(*) FILTER (WHERE {_CONNECTED} AND {_HUMAN}) AS human_connected,
           count(*) FILTER (WHERE {_ABANDONED}) AS abandoned,
           count(*) FILTER (WHERE {_AUDIO_UNKNOWN}) AS audio_unknown,
           sum(a.cost) AS stored_cost
    FROM campaigns_callattempt a
    WHERE a.campaign_id = %s
    GROUP BY a.contact_id
) per_contact
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
_DISPOSITIONS_SQL = """
SELECT a.disposition, count(*) FROM campaigns_callattempt a
WHERE a.campaign_id = %s AND a.state = %s GROUP BY a.disposition
"""
# Talk time as a histogram of billed seconds, per trunk: the percentiles come exactly from it, and the
# seconds of attempts without a stored cost are priced in Python at their trunk's rate.
_TALK_SQL = f"""
SELECT a.trunk_id, {_TALK_S}::int AS seconds, count(*), count(*) FILTER (WHERE a.cost IS NULL)
FROM campaigns_callattempt a
WHERE a.campaign_id = %s AND {_CONNECTED} AND a.ended_at IS NOT NULL GROUP BY 1, 2
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
_FIRST_RESPONSE_SQL = """
SELECT v, count(*) FROM campaigns_callattempt a, unnest(a.first_response_ms) AS v
WHERE a.campaign_id = %s AND cardinality(a.first_response_ms) > 0 GROUP BY v
"""
_BINS_SQL = f"""
SELECT c.time_zones[1] AS zone,
       date_bin('{BIN_MINUTES} minutes', coalesce(a.dialing_at, a.originated_at), timestamptz '2000-01-01') AS bin,
       count(*), count(*) FILTER (WHERE {_CONNECTED})
FROM campaigns_callattempt a JOIN campaigns_contact c ON c.id = a.contact_id
WHERE a.campaign_id = %s AND {_DIALED}
GROUP BY 1, 2
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
_CONTACT_STATUS_SQL = "SELECT status, count(*) FROM campaigns_contact WHERE campaign_id = %s GROUP BY status"
_OUTCOMES_SQL = """
SELECT outcome, count(*) FROM campaigns_contact WHERE campaign_id = %s AND outcome <> '' GROUP BY outcome
"""
# The most frequent values of each outcome field, with how many contacts filled it and how many
# distinct values there are (free text has many; a yes/no field two).
_OUTCOME_FIELDS_SQL = f"""
SELECT outcome, key, value, n, filled, distinct_values FROM (
    SELECT c.outcome, f.key, f.value #>> '{{}}' AS value, count(*) AS n,
           sum(count(*)) OVER w AS filled, count(*) OVER w AS distinct_values,
           row_number() OVER (PARTITION BY c.outcome, f.key ORDER BY count(*) DESC, f.value #>> '{{}}') AS rank
    FROM campaigns_contact c, jsonb_each(c.outcome_fields) f
    WHERE c.campaign_id = %s AND c.outcome <> '' AND jsonb_typeof(f.value) <> 'null'
    GROUP BY 1, 2, 3
    WINDOW w AS (PARTITION BY c.outcome, f.key)
) ranked WHERE rank <= {TOP_FIELD_VALUES}
ORDER BY outcome, key, rank
"""  # noqa: S608 (fragments are module constants; every value is a parameter)


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
    field_names: list[str] = field(default_factory=list)

    @property
    def abandoned_rate(self) -> float | None:
        """Abandoned / human-answered calls, None when no person answered."""
        return self.abandoned / self.human_connected if self.human_connected else None

    @property
    def answer_rate(self) -> float | None:
        """Connected / dialed attempts."""
        connected = next(s.attempts for s in self.funnel if s.key == "connected") or 0
        return connected / self.attempts_dialed if self.attempts_dialed else None

    @property
    def cost_per_connected(self) -> Decimal | None:
        """Total cost over connected attempts."""
        connected = next(s.attempts for s in self.funnel if s.key == "connected") or 0
        return (self.cost_total / connected).quantize(Decimal("0.0001")) if connected else None


def build_campaign_report(campaign: Campaign, *, display_zone: dt.tzinfo | None = None) -> CampaignReport:
    """Aggregate a campaign's contacts and attempts into its report.

    Args:
        campaign: The campaign (its trunk's rate prices attempts without a stored cost).
        display_zone: Zone of the attempts-per-hour chart; the current Django zone by default.

    Returns:
        The report; its numbers are consistent with one snapshot of the database.
    """
    display_zone = display_zone or timezone.get_current_timezone()
    # One repeatable-read snapshot: every figure describes the same moment even while the dialer writes.
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # Must be the transaction's first statement; inside a caller's transaction its snapshot rules.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # JIT compilation costs more than it saves on these sub-second aggregates; sorts and hashes of a
        # million rows fit in memory with a larger work_mem, for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        generated_at = timezone.now()
        cursor.execute(_CONTACT_STATUS_SQL, [campaign.pk])
        status_counts = dict(cursor.fetchall())
        cursor.execute(_ATTEMPTS_SQL, [campaign.pk])
        totals = _attempt_totals(cursor.fetchone())
        cursor.execute(_DISPOSITIONS_SQL, [campaign.pk, AttemptState.ENDED.value])
        disposition_rows = cursor.fetchall()
        cursor.execute(_TALK_SQL, [campaign.pk])
        talk_rows = cursor.fetchall()
        cursor.execute(_FIRST_RESPONSE_SQL, [campaign.pk])
        response_hist = cursor.fetchall()
        cursor.execute(_BINS_SQL, [campaign.pk])
        bins = cursor.fetchall()
        cursor.execute(_OUTCOMES_SQL, [campaign.pk])
        outcome_counts = cursor.fetchall()
        cursor.execute(_OUTCOME_FIELDS_SQL, [campaign.pk])
        field_rows = cursor.fetchall()
        trunk_ids = sorted({row[0] for row in talk_rows if row[0] is not None} | {campaign.trunk_id})
        cursor.execute("SELECT id, cost_per_minute FROM telephony_trunk WHERE id = ANY(%s)", [trunk_ids])
        rates = dict(cursor.fetchall())

    contacts_total = sum(status_counts.values())
    talk_hist: dict[int, int] = {}
    cost = totals["stored_cost"]
    for trunk_id, seconds, n, unpriced in talk_rows:
        talk_hist[seconds] = talk_hist.get(seconds, 0) + n
        # An attempt without a trunk was dialed before trunks were recorded per attempt: the campaign's.
        rate = rates.get(trunk_id if trunk_id is not None else campaign.trunk_id) or Decimal(0)
        cost += Decimal(seconds * unpriced) * rate / Decimal(60)
    timeline, bucket_hours = _timeline(bins, display_zone)
    local_hours, unknown_zone = _local_hours(bins)
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
        dispositions=_dispositions(disposition_rows),
        outcomes=_outcomes(campaign, outcome_counts, field_rows),
        timeline=timeline,
        timeline_bucket_hours=bucket_hours,
        local_hours=local_hours,
        unknown_zone_attempts=unknown_zone,
        talk_seconds=distribution_from_counts(sorted(talk_hist.items())),
        first_response_ms=distribution_from_counts(response_hist),
        cost_total=cost.quantize(Decimal("0.01")),
        human_connected=totals["human_connected"],
        abandoned=totals["abandoned"],
        audio_time_unknown=totals["audio_unknown"],
        field_names=outcome_field_names(campaign),
    )


_TOTAL_NAMES = ("contacts", "c_dialed", "c_connected", "c_human", "c_outcome", "rows_total", "in_flight",
                "not_dialed", "dialed", "connected", "human", "outcome", "human_connected", "abandoned",
                "audio_unknown")


def _attempt_totals(row: Sequence[Any] | None) -> dict[str, Any]:
    values = list(row or [])
    totals: dict[str, Any] = {name: int(values[i] or 0) if i < len(values) else 0
                              for i, name in enumerate(_TOTAL_NAMES)}
    totals["stored_cost"] = (values[len(_TOTAL_NAMES)] if len(values) > len(_TOTAL_NAMES) else None) or Decimal(0)
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


def _zone(name: str | None, cache: dict[str | None, ZoneInfo | None]) -> ZoneInfo | None:
    if name not in cache:
        try:
            cache[name] = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            cache[name] = None
    return cache[name]


def _local_hours(bins: Sequence[Sequence[Any]]) -> tuple[list[LocalHour], int]:
    attempts = [0] * 24
    connected = [0] * 24
    unknown = 0
    zones: dict[str | None, ZoneInfo | None] = {}
    for zone_name, start, n, answered in bins:
        zone = _zone(zone_name, zones)
        if zone is None or start is None:
            unknown += n
            continue
        hour = start.astimezone(zone).hour
        attempts[hour] += n
        connected[hour] += answered
    return [LocalHour(h, attempts[h], connected[h]) for h in range(24)], unknown


def _timeline(bins: Sequence[Sequence[Any]], zone: dt.tzinfo) -> tuple[list[TimelineBar], int]:
    per_hour: dict[dt.datetime, list[int]] = {}
    for _, start, n, answered in bins:
        if start is None:
            continue
        hour = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
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


def recent_attempts(campaign_id: int, limit: int = RECENT_ATTEMPTS) -> list[CallAttempt]:
    """The campaign's latest attempts with their contact, for the report's attempt table."""
    return list(
        CallAttempt.objects.filter(campaign_id=campaign_id).select_related("contact")
        .only("id", "attempt_number", "state", "disposition", "sip_code", "queued_at", "dialing_at", "answered_at",
              "ended_at", "outcome", "recording", "cost", "contact__id", "contact__phone_e164", "contact__name")
        .order_by("-id")[:limit]
    )


def attempt_for_report(campaign_id: int, attempt_id: int) -> CallAttempt:
    """One attempt of the campaign with its contact and trunk (``CallAttempt.DoesNotExist`` otherwise)."""
    return CallAttempt.objects.select_related("contact", "trunk", "campaign").get(pk=attempt_id,
                                                                                 campaign_id=campaign_id)


def contact_export_header(field_names: Sequence[str]) -> list[str]:
    """Header of the contacts CSV: fixed columns, then one column per outcome field."""
    return ["phone", "name", "status", "attempts", "last_disposition", "outcome",
            *[f"outcome.{name}" for name in field_names]]


def contact_export_rows(campaign: Campaign) -> tuple[list[str], Iterator[list[Any]]]:
    """The contacts CSV of a campaign: its header and a stream of rows, one per contact, by id.

    The field columns are the agent's schema fields followed by any other field name found in the data
    (a schema edited mid-campaign must not lose values). Rows are read with a server-side cursor in
    chunks, so a million contacts never sit in memory.

    Returns:
        ``(header, rows)``; values are raw (the CSV writer makes them safe for spreadsheets).
    """
    names = outcome_field_names(campaign)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT jsonb_object_keys(outcome_fields) FROM campaigns_contact "
                       "WHERE campaign_id = %s AND outcome_fields <> '{}'::jsonb", [campaign.pk])
        extra = sorted({row[0] for row in cursor.fetchall()} - set(names))
    names = names + extra
    statuses = dict(ContactStatus.choices)

    def rows() -> Iterator[list[Any]]:
        queryset = (Contact.objects.filter(campaign_id=campaign.pk).order_by("id")
                    .values_list("phone_e164", "name", "status", "attempts", "last_disposition", "outcome",
                                 "outcome_fields"))
        for phone, name, status, attempts, last_disposition, outcome, fields in queryset.iterator(EXPORT_CHUNK):
            values = fields if isinstance(fields, dict) else {}
            yield [phone, name, statuses.get(status, status), attempts, last_disposition, outcome,
                   *[_cell_value(values.get(n)) for n in names]]

    return contact_export_header(names), rows()


def _cell_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value
