"""Publishing checked import rows into a campaign's contacts, one chunk at a time.

The contact import (``campaigns.contact_import``) hands each checked chunk, in file order, to a
``ChunkPublisher`` inside its single transaction. The publisher COPYs the chunk into a temporary
staging table and runs one statement that ranks every staged row and inserts the new contacts:

- repeated in this file: an earlier row of the chunk has the number (``row_number() > 1``), or an
  earlier chunk inserted it (the contact's ``import_job`` is this job), or an earlier chunk found it
  already in the campaign (the small ``seen`` table);
- already in this campaign: a contact with the number exists and came from elsewhere;
- on a do-not-call list (global or this campaign's): inserted with status DNC;
- otherwise inserted as PENDING (reported too when the number has no time zone).

Publishing while the file is still being read lets PostgreSQL insert on one core while the
workers check the following chunks on the other: the insert is most of the database's work, and
it no longer waits for the whole file. A first per-chunk version was slow because the planner,
trusting statistics taken while the table was smaller, scanned ``campaigns_contact`` for each
probe; sequential scans are disabled for these statements so every probe uses an index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from campaigns.choices import ContactStatus

REASON_REPEATED = "duplicate: repeated in this file"
REASON_IN_CAMPAIGN = "duplicate: already in this campaign"
REASON_DNC = "on the do-not-call list: recorded as do-not-call, will not be dialed"
REASON_NO_ZONE = "imported without a time zone: will not be dialed until one is set"
_REASONS = {1: REASON_REPEATED, 2: REASON_IN_CAMPAIGN, 3: REASON_DNC, 4: REASON_NO_ZONE}

STAGE_COLUMNS = "line, raw, e164, name, zones, variables, priority"

# One statement per chunk. ``from_file`` is NULL when the campaign has no contact with the number,
# true when this import inserted it (an earlier chunk), false when it was there before the import.
_PUBLISH_SQL = """
WITH ranked AS MATERIALIZED (
    SELECT s.line, s.raw, s.e164, s.name, s.zones, s.variables, s.priority,
           -- "C" collation: the partition only needs equal numbers together, not a locale's order.
           row_number() OVER (PARTITION BY s.e164 COLLATE "C" ORDER BY s.line) AS nth,
           (SELECT c.import_job_id IS NOT DISTINCT FROM %(job)s FROM campaigns_contact c
            WHERE c.campaign_id = %(campaign)s AND c.phone_e164 = s.e164) AS from_file,
           -- Scalar subqueries with LIMIT, not EXISTS: the planner may run an EXISTS as a hashed subplan,
           -- reading the whole do-not-call list (or every number seen so far) once per chunk.
           (SELECT true FROM {seen} x WHERE x.e164 = s.e164 LIMIT 1) IS NOT NULL AS seen,
           (SELECT true FROM campaigns_donotcall d
            WHERE d.phone_e164 = s.e164 AND (d.campaign_id IS NULL OR d.campaign_id = %(campaign)s)
            LIMIT 1) IS NOT NULL AS dnc
    FROM {stage} s
), inserted AS (
    INSERT INTO campaigns_contact (campaign_id, phone_e164, name, time_zones, variables, status, priority,
                                   attempts, last_disposition, outcome, outcome_fields, import_job_id,
                                   created_at, updated_at)
    SELECT %(campaign)s, e164, name, zones, variables,
           CASE WHEN dnc THEN %(dnc_status)s ELSE %(pending)s END, priority,
           0, '', '', '{{}}'::jsonb, %(job)s, %(now)s, %(now)s
    FROM ranked WHERE nth = 1 AND from_file IS NULL
    ORDER BY line  -- ids in file order: the dialer takes contacts of equal priority by id
    -- a contact committed by another session since the ranking is kept, and this row counted as a duplicate
    ON CONFLICT (campaign_id, phone_e164) DO NOTHING
    RETURNING status
), remembered AS (
    INSERT INTO {seen} SELECT e164 FROM ranked WHERE nth = 1 AND from_file = false AND NOT seen
), reported AS (
    INSERT INTO {report}
    SELECT line, raw, CASE WHEN nth > 1 OR from_file OR seen THEN 1 WHEN NOT from_file THEN 2 WHEN dnc THEN 3
                           ELSE 4 END
    FROM ranked WHERE nth > 1 OR from_file IS NOT NULL OR dnc OR cardinality(zones) = 0
)
SELECT count(*) FILTER (WHERE status = %(pending)s), count(*) FILTER (WHERE status = %(dnc_status)s) FROM inserted
"""


@dataclass
class PublishTimings:
    """Seconds spent COPYing chunks into the staging table and publishing them."""

    copy: float = 0.0
    publish: float = 0.0


class ChunkPublisher:
    """Stages and publishes checked chunks of one import, inside the caller's open transaction."""

    def __init__(self, cursor: Any, *, job_id: int, campaign_id: int) -> None:
        self.cursor = cursor
        self.timings = PublishTimings()
        self.staged = 0  # rows in the staging table, not yet published
        self.stage, self.seen, self.report = (f"import_stage_{job_id}", f"import_seen_{job_id}",
                                              f"import_report_{job_id}")
        self.params = {"job": job_id, "campaign": campaign_id, "now": timezone.now(),
                       "pending": ContactStatus.PENDING, "dnc_status": ContactStatus.DNC}
        self.sql = _PUBLISH_SQL.format(stage=self.stage, seen=self.seen, report=self.report)
        cursor.execute(f"CREATE TEMPORARY TABLE {self.stage} (line integer, raw text, e164 text, name text, "
                       "zones text[], variables jsonb, priority smallint) ON COMMIT DROP")
        cursor.execute(f"CREATE TEMPORARY TABLE {self.seen} (e164 text PRIMARY KEY) ON COMMIT DROP")
        cursor.execute(f"CREATE TEMPORARY TABLE {self.report} (line integer, raw text, code smallint) "
                       "ON COMMIT DROP")
        # Transaction-local settings, undone by ``close``: index probes only (see the module docstring),
        # no JIT, whose compilation costs more than these small statements, and room to sort a batch
        # in memory (with the default 4 MB both sorts went to disk).
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('jit'), current_setting('work_mem')")
        self._saved = cursor.fetchone()
        cursor.execute("SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true), "
                       "set_config('work_mem', '64MB', true)")

    def stage_rows(self, copy_data: bytes, rows: int) -> None:
        """COPY checked rows (staging table text format) into the staging table."""
        started = time.perf_counter()
        with self.cursor.copy(f"COPY {self.stage} ({STAGE_COLUMNS}) FROM STDIN") as copy:
            copy.write(copy_data)
        self.staged += rows
        self.timings.copy += time.perf_counter() - started

    def publish(self) -> tuple[int, int, list[tuple[int, str, str]]]:
        """Publish the staged rows and empty the staging table.

        Returns:
            Contacts inserted as PENDING, contacts inserted as DNC, and the report rows of the staged
            lines (line, raw value, reason) in line order.
        """
        cursor = self.cursor
        copied = time.perf_counter()
        self.staged = 0
        cursor.execute(self.sql, self.params)
        pending, dnc = cursor.fetchone()
        cursor.execute(f"SELECT line, raw, code FROM {self.report} ORDER BY line")  # noqa: S608 (our table name)
        report = [(line, raw, _REASONS[code]) for line, raw, code in cursor.fetchall()]
        # TRUNCATE, not DELETE: deleted rows would stay in the tables until commit and every later
        # chunk would scan them.
        cursor.execute(f"TRUNCATE {self.stage}, {self.report}")
        self.timings.publish += time.perf_counter() - copied
        return pending, dnc, report

    def close(self) -> None:
        """Restore the settings changed for the chunk statements (the temporary tables go at commit)."""
        self.cursor.execute("SELECT set_config('enable_seqscan', %s, true), set_config('jit', %s, true), "
                            "set_config('work_mem', %s, true)", list(self._saved))
