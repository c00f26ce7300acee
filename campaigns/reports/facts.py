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
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction

from campaigns.choices import AttemptState, Disposition

logger = logging.getLogger(__name__)

# FCC: a call is abandoned when no live agent speaks within two seconds of the person's greeting.
ABANDON_AFTER_S = 2
HUMAN_DISPOSITIONS = (Disposition.HUMAN.value, Disposition.OPTED_OUT.value, Disposition.TRANSFERRED.value)
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
_HUMAN = (f"(a.disposition IN ({', '.join(repr(d) for d in HUMAN_DISPOSITIONS)}) "
          "OR a.amd_result = 'human')")
_CONNECTED = "a.answered_at IS NOT NULL"
_OUTCOME = "a.outcome <> ''"
# A caller left on hold past the transfer target's longest wait, who hung up before anyone took the call, was
# abandoned too (the UA sets transfer.abandoned; docs/transfer.md).
_ABANDONED = (f"{_CONNECTED} AND {_HUMAN} AND (a.bridged_at IS NULL "
              f"OR a.agent_first_audio_at > a.answered_at + interval '{ABANDON_AFTER_S} seconds'"
              " OR coalesce(a.transfer->>'abandoned', '') = 'true')")
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
# Transfers to a person (docs/transfer.md): the few attempts with a transfer record, through a partial index.
_TRANSFERS_SQL = """
    SELECT count(*), count(*) FILTER (WHERE a.transfer->>'answer_ms' IS NOT NULL),
           count(*) FILTER (WHERE a.transfer->>'accepted' = 'true'),
           count(*) FILTER (WHERE a.transfer->>'abandoned' = 'true'),
           count(*) FILTER (WHERE coalesce(a.transfer->>'fallback', '') <> ''),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY (a.transfer->>'answer_ms')::int),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY (a.transfer->>'answer_ms')::int)
      FROM campaigns_callattempt a WHERE a.campaign_id = %s AND a.transfer <> '{}'::jsonb
"""
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


_K = TypeVar("_K")


def _add_counts(mine: dict[_K, int], theirs: dict[_K, int]) -> None:
    for key, n in theirs.items():
        mine[key] = mine.get(key, 0) + n


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
        _add_counts(self.contacts, other.contacts)
        _add_counts(self.talk, other.talk)
        _add_counts(self.timeline, other.timeline)
        _add_counts(self.local, other.local)
        _add_counts(self.responses, other.responses)
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
                local = (local_hour(zone, start, zones), m)
                partial.local[local] = partial.local.get(local, 0) + n
        cursor.execute(_RANGE_RESPONSES_SQL, params)
        partial.responses = {int(v): int(n) for v, n in cursor.fetchall()}
    return partial



_FACTS = {"dialed": DIALED, "connected": CONNECTED, "human": HUMAN, "outcome": OUTCOME, "abandoned": ABANDONED,
          "audio_unknown": AUDIO_UNKNOWN, "in_flight": IN_FLIGHT, "not_dialed": NOT_DIALED,
          "human_connected": HUMAN | CONNECTED}


def zone_named(name: str | None, cache: dict[str | None, ZoneInfo | None]) -> ZoneInfo | None:
    """The zone of that name (None for an unknown or missing one), through `cache`."""
    if name not in cache:
        try:
            cache[name] = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            cache[name] = None
    return cache[name]


def local_hour(zone_name: str | None, start: dt.datetime, zones: dict[str | None, ZoneInfo | None]) -> int:
    """The hour of ``start`` in the zone, or -1 when the zone is unknown."""
    zone = zone_named(zone_name, zones)
    return -1 if zone is None else start.astimezone(zone).hour
