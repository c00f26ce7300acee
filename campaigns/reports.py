"""The per-campaign report: read queries that aggregate a campaign's attempts and contacts in SQL.

Every figure is computed by PostgreSQL over the whole campaign (no sampling); Python only adds up grouped
rows. Ended attempts never change, so their aggregates are kept in ``ReportRollup`` (through the attempt
before the first one still in flight) and each report aggregates only the attempts after it: the report
of a million attempts reads a few thousand. The queries are fixed in number, whatever the campaign's
size, so the report page's query count does not grow with its data.

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
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.choices import CAMPAIGN_ACTIVE, CAMPAIGN_FINISHED, AttemptState, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact, ReportRollup

logger = logging.getLogger(__name__)

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

# Facts of one attempt, as bits of one integer: a handful of aggregates over the bits replace a dozen
# filtered counts, and the attempt-level totals come from a few hundred groups instead of a million rows.
DIALED, CONNECTED, HUMAN, OUTCOME, ABANDONED, AUDIO_UNKNOWN, IN_FLIGHT, NOT_DIALED = (1 << i for i in range(8))
_BITS = " | ".join(f"(CASE WHEN {condition} THEN {bit} ELSE 0 END)" for condition, bit in (
    (_DIALED, DIALED), (_CONNECTED, CONNECTED), (_HUMAN, HUMAN), (_OUTCOME, OUTCOME), (_ABANDONED, ABANDONED),
    (_AUDIO_UNKNOWN, AUDIO_UNKNOWN), (f"a.state <> '{AttemptState.ENDED.value}'", IN_FLIGHT),
    (f"a.state = '{AttemptState.ENDED.value}' AND NOT ({_DIALED})", NOT_DIALED)))

# The attempts with ``lo < id <= hi`` in ONE pass, each row's facts computed once (OFFSET 0 keeps the
# subquery whole instead of repeating its expressions in every grouping set), into four grouping sets:
#   contact            -> bit_or of its attempts' facts: the funnel counts contacts, not attempts;
#   state, disposition -> attempt totals by fact and disposition, and the stored costs;
#   trunk, billed s    -> the talk-time histogram, and which seconds are still to be priced;
#   zone, 15-min bin   -> dialed and connected attempts, read in each contact's local time in Python.
# A contact counts at a funnel stage in the range that holds its first attempt reaching it: with
# ``lo > 0`` the facts of its earlier attempts (``id <= lo``) are taken off. The outer query folds the
# per-contact rows into one row per combination of facts.
def _range_facts(zone_expr: str, join: str) -> str:
    return f"""
    SELECT kind, state, disposition, trunk_id, talk_s, zone, bin, contact_id, n, stored_cost,
           CASE WHEN grouping_contact THEN m_contact WHEN kind = 'disposition' THEN m
                WHEN kind = 'talk' THEN unpriced ELSE dialed_connected END AS m
    FROM (
        SELECT CASE WHEN GROUPING(contact_id) = 0 THEN 'contact' WHEN GROUPING(state) = 0 THEN 'disposition'
                    WHEN GROUPING(talk_s) = 0 THEN 'talk' ELSE 'bin' END AS kind,
               GROUPING(contact_id) = 0 AS grouping_contact,
               state, disposition, trunk_id, talk_s, zone, bin, contact_id, m, unpriced, dialed_connected,
               bit_or(m) AS m_contact, count(*) AS n, sum(cost) AS stored_cost
        FROM (
            SELECT a.contact_id, a.state, a.disposition, a.trunk_id, a.cost,
                   {_BITS} AS m,
                   ({_BITS}) & {DIALED | CONNECTED} AS dialed_connected,
                   CASE WHEN a.ended_at IS NOT NULL AND {_CONNECTED} THEN {_TALK_S}::int END AS talk_s,
                   (a.cost IS NULL)::int AS unpriced,
                   {zone_expr} AS zone,
                   date_bin('{BIN_MINUTES} minutes', coalesce(a.dialing_at, a.originated_at),
                            timestamptz '2000-01-01') AS bin
            FROM campaigns_callattempt a {join}
            -- Row comparisons keep the planner on attempt_report_idx (campaign, id): with "id > lo" it
            -- would walk the primary key through every campaign's newer attempts.
            WHERE (a.campaign_id, a.id) > (%(campaign)s, %(lo)s) AND (a.campaign_id, a.id) <= (%(campaign)s, %(hi)s)
            OFFSET 0
        ) attempt_facts
        GROUP BY GROUPING SETS ((contact_id), (state, disposition, m), (trunk_id, talk_s, unpriced),
                                (zone, bin, dialed_connected))
    ) grouped
"""  # noqa: S608 (fragments are module constants; every value is a parameter)


# A whole campaign joins its contacts in one hash join; a short range since the rollup looks each contact
# up by primary key instead of reading every contact to serve a few.
_ALL_FACTS = _range_facts("c.time_zones[1]", "JOIN campaigns_contact c ON c.id = a.contact_id")
_TAIL_FACTS = _range_facts("(SELECT c.time_zones[1] FROM campaigns_contact c WHERE c.id = a.contact_id)", "")
_RANGE_SQL = f"""
SELECT kind, state, disposition, trunk_id, talk_s, zone, bin, m, count(*), sum(n), sum(stored_cost)
FROM ({_ALL_FACTS}) sets
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
_RANGE_AFTER_SQL = f"""
SELECT kind, state, disposition, trunk_id, talk_s, zone, bin,
       CASE WHEN kind = 'contact' THEN sets.m & ~coalesce(earlier.m, 0) ELSE sets.m END,
       count(*), sum(n), sum(stored_cost)
FROM ({_TAIL_FACTS}) sets
LEFT JOIN LATERAL (
    SELECT bit_or({_BITS}) AS m FROM campaigns_callattempt a
    WHERE sets.kind = 'contact' AND a.contact_id = sets.contact_id AND a.id <= %(lo)s
) earlier ON true
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
_RANGE_RESPONSES_SQL = """
SELECT v, count(*) FROM campaigns_callattempt a, unnest(a.first_response_ms) AS v
WHERE (a.campaign_id, a.id) > (%(campaign)s, %(lo)s) AND (a.campaign_id, a.id) <= (%(campaign)s, %(hi)s)
  AND cardinality(a.first_response_ms) > 0
GROUP BY v
"""
# The rollup may cover every attempt up to the first one still in flight (those have ended and do not
# change), but not attempts queued in the last SETTLE_S seconds: an attempt's id is drawn when its row is
# inserted, so a claim transaction still open could commit a lower id than one already visible.
SETTLE_S = 60
_WATERMARK_SQL = f"""
SELECT LEAST(
    (SELECT min(id) - 1 FROM campaigns_callattempt
     WHERE campaign_id = %(campaign)s AND state <> '{AttemptState.ENDED.value}'),
    (SELECT min(id) - 1 FROM campaigns_callattempt WHERE campaign_id = %(campaign)s AND queued_at >= %(settled)s),
    coalesce((SELECT id FROM campaigns_callattempt
              WHERE (campaign_id, id) > (%(campaign)s, 0) AND (campaign_id, id) <= (%(campaign)s, %(max_id)s)
              ORDER BY campaign_id DESC, id DESC LIMIT 1), 0))
"""  # noqa: S608 (fragments are module constants; every value is a parameter)
MAX_ID = 2**63 - 1
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
    rollup_through_attempt_id: int = 0
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


@dataclass
class Partial:
    """Aggregates of a range of attempts, which add up: the rollup plus the newer attempts is the campaign.

    Keys are tuples of the grouping columns; values are counts (and stored cost per attempt group).
    """

    contacts: dict[int, int] = field(default_factory=dict)  # facts newly reached -> contacts
    attempts: dict[tuple[str, str, int], list[Any]] = field(default_factory=dict)  # -> [n, stored cost]
    talk: dict[tuple[int | None, int, int], int] = field(default_factory=dict)  # trunk, seconds, unpriced
    # Dialed attempts by 15-minute bin (epoch seconds) and by the contact's local hour (-1: zone unknown),
    # each split by whether they connected: the local hour is read once, when a range is aggregated.
    timeline: dict[tuple[int, int], int] = field(default_factory=dict)
    local: dict[tuple[int, int], int] = field(default_factory=dict)
    responses: dict[int, int] = field(default_factory=dict)  # ms -> turns

    def add(self, other: Partial) -> None:
        """Add ``other``'s counts to this one."""
        for mine, theirs in ((self.contacts, other.contacts), (self.talk, other.talk),
                             (self.timeline, other.timeline), (self.local, other.local),
                             (self.responses, other.responses)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n  # type: ignore[index,operator]
        for key, (n, cost) in other.attempts.items():
            entry = self.attempts.setdefault(key, [0, Decimal(0)])
            entry[0] += n
            entry[1] += Decimal(cost)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (see ``from_json``)."""
        return {
            "contacts": [[m, n] for m, n in self.contacts.items()],
            "attempts": [[*key, n, str(cost)] for key, (n, cost) in self.attempts.items()],
            "talk": [[*key, n] for key, n in self.talk.items()],
            "timeline": [[*key, n] for key, n in self.timeline.items()],
            "local": [[*key, n] for key, n in self.local.items()],
            "responses": [[v, n] for v, n in self.responses.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Partial:
        """The aggregates ``to_json`` wrote."""
        return cls(
            contacts={int(m): int(n) for m, n in data.get("contacts", [])},
            attempts={(state, disposition, int(m)): [int(n), Decimal(cost)]
                      for state, disposition, m, n, cost in data.get("attempts", [])},
            talk={(trunk, int(seconds), int(unpriced)): int(n) for trunk, seconds, unpriced, n in data.get("talk", [])},
            timeline={(start, m): n for start, m, n in data.get("timeline", [])},
            local={(hour, m): n for hour, m, n in data.get("local", [])},
            responses={int(v): int(n) for v, n in data.get("responses", [])},
        )


def aggregate_attempts(campaign_id: int, lo: int, hi: int = MAX_ID) -> Partial:
    """Aggregate the campaign's attempts with ``lo < id <= hi`` (two queries).

    A contact counts at a funnel stage only in the range holding its first attempt that reached it, so
    the partials of consecutive ranges add up to the whole campaign.
    """
    params = {"campaign": campaign_id, "lo": lo, "hi": hi}
    partial = Partial()
    zones: dict[str | None, ZoneInfo | None] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner over-estimates a range at the end of the table (it cannot know the campaign's attempts
        # there are few), and would spend longer compiling these expressions (JIT) than running them.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_RANGE_AFTER_SQL if lo > 0 else _RANGE_SQL, params)
        for kind, state, disposition, trunk_id, talk_s, zone, start, m, groups, total, stored_cost in cursor.fetchall():
            n = int(total)  # sum() of counts is numeric in PostgreSQL
            if kind == "contact":
                partial.contacts[m] = partial.contacts.get(m, 0) + int(groups)
            elif kind == "disposition":
                partial.attempts[(state, disposition, m)] = [n, stored_cost or Decimal(0)]
            elif kind == "talk" and talk_s is not None:
                partial.talk[(trunk_id, talk_s, m)] = n
            elif kind == "bin" and start is not None and m & DIALED:
                key = (int(start.timestamp()), m)
                partial.timeline[key] = partial.timeline.get(key, 0) + n
                local = (_local_hour(zone, start, zones), m)
                partial.local[local] = partial.local.get(local, 0) + n
        cursor.execute(_RANGE_RESPONSES_SQL, params)
        partial.responses = {int(v): int(n) for v, n in cursor.fetchall()}
    return partial


def refresh_report_rollup(campaign_id: int) -> int:
    """Move the campaign's report rollup forward over the attempts that ended since.

    The rollup covers every attempt up to the first one still in flight: those have ended and do not
    change. Two refreshes may run at once: the watermark is moved with a conditional update, and the one
    that loses leaves the other's result in place (the report then reads a few more attempts live).

    Returns:
        The attempt id the rollup covers through.
    """
    current = ReportRollup.objects.filter(campaign_id=campaign_id).values_list("through_attempt_id", flat=True).first()
    if current is None:
        ReportRollup.objects.get_or_create(campaign_id=campaign_id)
        current = 0
    with connection.cursor() as cursor:
        cursor.execute(_WATERMARK_SQL, {"campaign": campaign_id, "max_id": MAX_ID,
                                        "settled": timezone.now() - dt.timedelta(seconds=SETTLE_S)})
        watermark = int(cursor.fetchone()[0])
    if watermark <= current:
        return current
    with transaction.atomic():
        data = ReportRollup.objects.filter(campaign_id=campaign_id).values_list("data", flat=True)[0]
        partial = Partial.from_json(data)
        partial.add(aggregate_attempts(campaign_id, current, watermark))
        moved = ReportRollup.objects.filter(campaign_id=campaign_id, through_attempt_id=current).update(
            through_attempt_id=watermark, data=partial.to_json(), updated_at=timezone.now())
    if not moved:
        logger.info("report rollup of campaign %s moved by another refresh", campaign_id)
    return watermark


# Campaigns whose rollup the beat keeps moving: active ones, and finished ones for this long after they
# finished (their last attempts settle for SETTLE_S; a report opened later finds the rollup complete).
ROLLUP_AFTER_FINISH = dt.timedelta(hours=1)


def refresh_report_rollups(now: dt.datetime | None = None) -> dict[int, int]:
    """Move the report rollup of every active or recently finished campaign forward (beat, every minute).

    Why: the first report of a campaign with a million attempts aggregated them all in the web request
    (17-42 s). Moved every minute, the rollup only ever takes the last minute's attempts, and a report
    reads the few attempts after it live.

    Returns:
        The attempt id each refreshed campaign's rollup now covers through, by campaign id.
    """
    now = now or timezone.now()
    ids = Campaign.objects.filter(
        Q(status__in=CAMPAIGN_ACTIVE) | Q(status__in=CAMPAIGN_FINISHED, finished_at__gte=now - ROLLUP_AFTER_FINISH)
    ).order_by("pk").values_list("pk", flat=True)
    return {campaign_id: refresh_report_rollup(campaign_id) for campaign_id in ids}


def reset_report_rollup(campaign_id: int) -> None:
    """Forget the campaign's rollup; the next report aggregates every attempt again.

    For when ended attempts were corrected in the database by hand: the rollup assumes they never change.
    """
    ReportRollup.objects.filter(campaign_id=campaign_id).delete()


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
        rollup_through_attempt_id=rollup.through_attempt_id,
        field_names=outcome_field_names(campaign),
    )


_FACTS = {"dialed": DIALED, "connected": CONNECTED, "human": HUMAN, "outcome": OUTCOME, "abandoned": ABANDONED,
          "audio_unknown": AUDIO_UNKNOWN, "in_flight": IN_FLIGHT, "not_dialed": NOT_DIALED,
          "human_connected": HUMAN | CONNECTED}


def _attempt_totals(partial: Partial) -> dict[str, Any]:
    """Attempt totals per fact (from the attempt groups) and contacts per funnel stage."""
    totals: dict[str, Any] = {"rows_total": 0, "stored_cost": Decimal(0)}
    for name in _FACTS:
        totals[name] = 0
        totals[f"c_{name}"] = 0
    for (_, _, m), (n, stored_cost) in partial.attempts.items():
        totals["rows_total"] += n
        totals["stored_cost"] += stored_cost
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


def _zone(name: str | None, cache: dict[str | None, ZoneInfo | None]) -> ZoneInfo | None:
    if name not in cache:
        try:
            cache[name] = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            cache[name] = None
    return cache[name]


def _local_hour(zone_name: str | None, start: dt.datetime, zones: dict[str | None, ZoneInfo | None]) -> int:
    """The hour of ``start`` in the zone, or -1 when the zone is unknown."""
    zone = _zone(zone_name, zones)
    return -1 if zone is None else start.astimezone(zone).hour


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


def recent_attempts(campaign_id: int, limit: int = RECENT_ATTEMPTS) -> list[CallAttempt]:
    """The campaign's latest attempts with their contact, for the report's attempt table."""
    with connection.cursor() as cursor:
        # Read from the end of attempt_report_idx (campaign, id). Row comparisons keep the planner there:
        # with "campaign_id = X ORDER BY id DESC" it walks the primary key back through every campaign's
        # newer attempts.
        cursor.execute("SELECT id FROM campaigns_callattempt WHERE (campaign_id, id) > (%s, 0) "
                       "AND (campaign_id, id) <= (%s, %s) ORDER BY campaign_id DESC, id DESC LIMIT %s",
                       [campaign_id, campaign_id, MAX_ID, limit])
        ids = [row[0] for row in cursor.fetchall()]
    return list(
        CallAttempt.objects.filter(pk__in=ids).select_related("contact")
        .only("id", "attempt_number", "state", "disposition", "sip_code", "queued_at", "dialing_at", "answered_at",
              "ended_at", "outcome", "recording", "cost", "contact__id", "contact__phone_e164", "contact__name")
        .order_by("-id")
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
