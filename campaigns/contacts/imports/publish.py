"""Publishing a staged import in SQL: rank every row (repeated, already in the campaign, do-not-call), insert the new
contacts, stream the report of what was not imported."""


from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.choices import ContactStatus
from campaigns.models import ImportJob

# A DNC entry committed while the import ran is invisible to the chunk that scrubbed its number;
# entries this recent are checked again just before publishing.
_DNC_RECHECK_MARGIN_S = 600

REASON_REPEATED = "duplicate: repeated in this file"
REASON_IN_CAMPAIGN = "duplicate: already in this campaign"
REASON_DNC = "on the do-not-call list: recorded as do-not-call, will not be dialed"
REASON_NO_ZONE = "imported without a time zone: will not be dialed until one is set"



@dataclass
class ImportTimings:
    """Seconds spent in each phase of one import, for the benchmark and the log line.

    ``parse`` is the time the main process waited for checked chunks (reading and checking not
    hidden behind the database work); ``copy`` is the COPY into the staging table. ``vacuum`` comes
    after the job completed (``refresh_contacts_after_import``) and is not in ``total``.
    """

    parse: float = 0.0
    copy: float = 0.0
    rank: float = 0.0
    insert: float = 0.0
    report: float = 0.0
    commit: float = 0.0
    total: float = 0.0
    vacuum: float = 0.0

    def summary(self) -> str:
        """``parse=.. copy=.. rank=.. insert=.. report=.. commit=.. total=..`` in seconds."""
        return " ".join(f"{name}={getattr(self, name):.2f}" for name in self.__dataclass_fields__)


@dataclass
class ImportCounts:
    rows: int = 0
    valid: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    dnc: int = 0



# Publishing, once the whole file is staged. Each staged row is ranked first: its place among the
# rows with the same number (the first one wins), whether the campaign already has the number, and
# whether it is on a do-not-call list (global or this campaign's). Then one INSERT publishes the
# first occurrence of every new number. One statement over the whole file measured several times
# faster than one per chunk at a million rows.
_RANK_SQL = """
CREATE TEMPORARY TABLE {ranked} ON COMMIT DROP AS
SELECT s.line, s.raw, s.e164, s.name, s.zones, s.variables, s.priority, s.jurisdictions, s.consent,
       -- "C" collation: the partition only needs equal numbers together, not a locale's order.
       row_number() OVER (PARTITION BY s.e164 COLLATE "C" ORDER BY s.line) AS nth,
       EXISTS (SELECT 1 FROM campaigns_contact c
               WHERE c.campaign_id = %(campaign)s AND c.phone_e164 = s.e164) AS existing,
       EXISTS (SELECT 1 FROM campaigns_donotcall d
               WHERE d.phone_e164 = s.e164 AND (d.campaign_id IS NULL OR d.campaign_id = %(campaign)s)) AS dnc
FROM {stage} s
"""
_INSERT_SQL = """
WITH inserted AS (
    INSERT INTO campaigns_contact (campaign_id, phone_e164, name, time_zones, jurisdictions, variables, status,
                                   priority, attempts, last_disposition, outcome, outcome_fields, import_job_id,
                                   created_at, updated_at)
    SELECT %(campaign)s, e164, name, zones, jurisdictions, variables,
           CASE WHEN dnc THEN %(dnc_status)s ELSE %(pending)s END, priority,
           0, '', '', '{{}}'::jsonb, %(job)s, %(now)s, %(now)s
    FROM {ranked} WHERE nth = 1 AND NOT existing
    ORDER BY line
    {on_conflict}
    RETURNING status
)
SELECT count(*) FILTER (WHERE status = %(pending)s), count(*) FILTER (WHERE status = %(dnc_status)s) FROM inserted
"""
_CONSENT_SQL = """
INSERT INTO compliance_consentrecord (phone_e164, kind, seller, source, obtained_at, text, evidence_ref, created_at)
SELECT e164, consent->>'kind', consent->>'seller', consent->>'source', (consent->>'obtained_at')::timestamptz,
       consent->>'text', consent->>'evidence_ref', %(now)s
FROM {ranked} WHERE nth = 1 AND consent IS NOT NULL
ORDER BY line
"""
_UNIQUE_NUMBER = "contact_unique_number_per_campaign"
_ON_CONFLICT = "ON CONFLICT (campaign_id, phone_e164) DO NOTHING"
_REPORT_SQL = """
SELECT line, raw, CASE WHEN nth > 1 THEN 1 WHEN existing THEN 2 WHEN dnc THEN 3 ELSE 4 END
FROM {ranked}
WHERE nth > 1 OR existing OR dnc OR cardinality(zones) = 0
ORDER BY line
"""
_REASONS = {1: REASON_REPEATED, 2: REASON_IN_CAMPAIGN, 3: REASON_DNC, 4: REASON_NO_ZONE}


def publish_staged(cursor: Any, stage: str, ranked: str, job: ImportJob, counts: ImportCounts,
             timings: ImportTimings) -> Iterator[tuple[int, str, str]]:
    """Insert the staged file's new contacts (uncommitted); return its report rows in line order."""
    params = {"job": job.pk, "campaign": job.campaign_id, "now": timezone.now(),
              "pending": ContactStatus.PENDING, "dnc_status": ContactStatus.DNC}
    # The ranking sorts the whole file by number: give it room to do so in memory. JIT compiling
    # these statements costs more than it saves (the planner over-estimates simple expressions).
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute("SET LOCAL jit = off")
    started = time.perf_counter()
    cursor.execute(_RANK_SQL.format(stage=stage, ranked=ranked), params)
    cursor.execute(f"DROP TABLE {stage}")
    ranked_at = time.perf_counter()
    timings.rank += ranked_at - started
    try:
        # Without ON CONFLICT first, in a savepoint: the speculative insertion ON CONFLICT needs costs
        # about 15% of the insert, and a conflict is nearly impossible (imports into one campaign are
        # serialised and the ranking has seen every committed contact).
        with transaction.atomic():
            cursor.execute(_INSERT_SQL.format(ranked=ranked, on_conflict=""), params)
            pending, dnc = cursor.fetchone()
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != _UNIQUE_NUMBER:
            raise
        # A contact with one of the numbers was committed since the ranking: keep it, count the row
        # as a duplicate.
        cursor.execute(_INSERT_SQL.format(ranked=ranked, on_conflict=_ON_CONFLICT), params)
        pending, dnc = cursor.fetchone()
    # Consent given in the file: a record per number (first occurrence), whatever became of the contact row.
    cursor.execute(_CONSENT_SQL.format(ranked=ranked), params)
    timings.insert += time.perf_counter() - ranked_at
    counts.imported += pending
    counts.dnc += dnc
    counts.duplicates += counts.valid - pending - dnc
    return _report_rows(ranked)


def _report_rows(ranked: str) -> Iterator[tuple[int, str, str]]:
    # A server-side cursor: the report of a big file is streamed, not fetched whole.
    with connection.connection.cursor(name=f"{ranked}_report") as report:
        report.itersize = 5000
        report.execute(_REPORT_SQL.format(ranked=ranked))
        for line, raw, code in report:
            yield line, raw, _REASONS[code]


def recheck_do_not_call(cursor: Any, job: ImportJob) -> int:
    """Mark do-not-call the new contacts whose number was listed while the import ran."""
    since = (job.started_at or timezone.now()) - dt.timedelta(seconds=_DNC_RECHECK_MARGIN_S)
    cursor.execute(
        "UPDATE campaigns_contact c SET status = %s, updated_at = %s FROM campaigns_donotcall d "
        "WHERE d.created_at >= %s AND (d.campaign_id IS NULL OR d.campaign_id = %s) "
        "AND c.campaign_id = %s AND c.phone_e164 = d.phone_e164 AND c.import_job_id = %s AND c.status = %s",
        [ContactStatus.DNC, timezone.now(), since, job.campaign_id, job.campaign_id, job.pk,
         ContactStatus.PENDING])
    return cursor.rowcount

