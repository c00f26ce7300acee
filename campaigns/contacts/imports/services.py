"""Contact import jobs: create, confirm, run and fail a job (the only state changes of an import), and the run
itself: check the file in worker processes, stage it, publish it in one transaction, write the report."""


from __future__ import annotations

import csv
import heapq
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from campaigns.choices import ImportStatus
from campaigns.contacts.csv_export import write_csv
from campaigns.contacts.csv_input import (
    CsvFormatError,
    open_csv,
)
from campaigns.contacts.imports.error_report import REPORT_HEADER
from campaigns.contacts.imports.liveness import run_lock
from campaigns.contacts.imports.pipeline import checked_chunks, row_rules
from campaigns.contacts.imports.preview import check_region, detect_mapping, preview_csv
from campaigns.contacts.imports.publish import (
    ImportCounts,
    ImportTimings,
    publish_staged,
    recheck_do_not_call,
)
from campaigns.keys import IMPORT_LOCK_NAMESPACE
from campaigns.models import Campaign, Contact, ImportJob
from campaigns.task_queue import send_import
from webhooks import events as webhook_events

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
_PROGRESS_EVERY_S = 0.5


# --- job lifecycle ---------------------------------------------------------------------------


def create_import_job(campaign: Campaign, upload: File, *, default_region: str | None = None,
                      user: Any = None) -> ImportJob:
    """Store an uploaded CSV as an import job awaiting confirmation (status PREVIEW).

    Raises:
        CsvFormatError: the file cannot be used; nothing is stored then.
    """
    region = (default_region or campaign.default_region or "US").upper()
    check_region(region)
    original_name = Path(getattr(upload, "name", "") or "contacts.csv").name
    job = ImportJob(campaign=campaign, original_name=original_name, default_region=region,
                    created_by=user if getattr(user, "pk", None) else None)
    job.file.save(original_name, upload, save=False)
    try:
        preview = preview_csv(Path(job.file.path), region)
    except Exception:
        job.file.delete(save=False)  # a file that cannot be used is not kept
        raise
    job.mapping = preview.mapping
    job.rows_total = preview.rows_estimate
    job.save()
    return job


def confirm_import_job(job_id: int) -> ImportJob:
    """Move a previewed job to QUEUED and enqueue ``campaigns.run_import`` once that commits.

    A job that is not in PREVIEW (confirmed twice, already running) is returned unchanged.
    """
    with transaction.atomic():
        confirmed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PREVIEW).update(
            status=ImportStatus.QUEUED)
        if confirmed:
            transaction.on_commit(lambda: send_import(job_id))
        else:
            logger.info("import %s: not in preview, confirm ignored", job_id)
    return ImportJob.objects.get(pk=job_id)


def run_import_job(job_id: int, progress: ProgressCallback | None = None,
                   timings: ImportTimings | None = None) -> ImportJob:
    """Import a confirmed job's file: QUEUED -> RUNNING -> COMPLETED, or FAILED with the reason.

    ``progress(rows_done, rows_total)`` is called after each chunk. A job not in QUEUED (another
    worker has it, or it is finished) is returned unchanged. ``timings``, when given, is filled in
    with the seconds of each phase.

    Raises:
        Exception: an unexpected error is re-raised after the job is marked failed; a
            ``CsvFormatError`` is not (the job records it).
    """
    started = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=started, error="", rows_done=0)
    job = ImportJob.objects.select_related("campaign").get(pk=job_id)
    if not claimed:
        logger.info("import %s: not queued (%s), run ignored", job_id, job.status)
        return job
    timings = timings or ImportTimings()
    try:
        with run_lock(job_id):  # F19: held while this worker lives; see liveness.py
            _import(job, progress, timings)
    except CsvFormatError as exc:
        _fail(job_id, str(exc))
    except Exception as exc:
        _fail(job_id, f"{type(exc).__name__}: {exc}")
        raise
    job = ImportJob.objects.get(pk=job_id)
    started_vacuum = time.perf_counter()
    refresh_contacts_after_import(job)
    timings.vacuum = time.perf_counter() - started_vacuum
    return job


# Below this many new rows autovacuum catches up soon enough on its own.
VACUUM_AFTER_IMPORT_ROWS = 10_000


def refresh_contacts_after_import(job: ImportJob) -> bool:
    """VACUUM (ANALYZE) the contact table after a completed import that added ``VACUUM_AFTER_IMPORT_ROWS`` or more.

    Why: until a vacuum marks the new pages all-visible, every count of a campaign's contacts (the
    campaign list, the report, the live view) reads each contact's row instead of the index alone:
    2.8-4.9 s for a campaign list over 1,000,000 contacts, 0.16 s once vacuumed. The statistics also
    change (a campaign went from no contacts to many), and the dispatcher's claim is planned on them.
    Autovacuum would get there too, but only a minute or more later. Measured: 0.42 s for 1,000,000
    new rows. ``SKIP_LOCKED``: if autovacuum is already at it, there is nothing to wait for.

    Returns:
        Whether the vacuum ran (not inside a transaction, where PostgreSQL refuses it).
    """
    if job.status != ImportStatus.COMPLETED or job.imported + job.dnc < VACUUM_AFTER_IMPORT_ROWS:
        return False
    if connection.in_atomic_block:
        logger.info("import %s: inside a transaction, contact table not vacuumed", job.pk)
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE, SKIP_LOCKED) {Contact._meta.db_table}")
    return True


def import_contacts_file(campaign: Campaign, path: Path, *, default_region: str | None = None,
                         progress: ProgressCallback | None = None,
                         timings: ImportTimings | None = None) -> ImportJob:
    """The command line's path: store ``path`` as a job, confirm it and run it here and now.

    Raises:
        CsvFormatError: the file cannot be used (nothing stored), or it broke off mid-way (the job
            is marked failed with the same message).
    """
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise CsvFormatError(f"The file cannot be read: {exc.strerror or exc}.") from exc
    with fh:
        job = create_import_job(campaign, File(fh, name=path.name), default_region=default_region)
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PREVIEW).update(status=ImportStatus.QUEUED)
    job = run_import_job(job.pk, progress=progress, timings=timings)
    if job.status == ImportStatus.FAILED:
        raise CsvFormatError(job.error)
    return job


def _fail(job_id: int, reason: str) -> None:
    logger.warning("import %s failed: %s", job_id, reason)
    with transaction.atomic():
        if ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
                status=ImportStatus.FAILED, error=reason[:2000], finished_at=timezone.now()):
            webhook_events.import_finished(job_id)



class _ProgressWriter:
    """Writes rows_done through its own autocommit connection: the import's transaction is still open."""

    def __init__(self, job_id: int, total: int | None, callback: ProgressCallback | None) -> None:
        self.job_id, self.total, self.callback = job_id, total, callback
        self._conn: Any = None
        self._last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last >= _PROGRESS_EVERY_S:
            self._last = now
            if self._conn is None:
                self._conn = connection.get_new_connection(connection.get_connection_params())
                self._conn.autocommit = True
            with self._conn.cursor() as cursor:
                # Only this job's own non-key columns: no conflict with the import transaction's locks.
                cursor.execute("UPDATE campaigns_importjob SET rows_done = %s, rows_total = GREATEST(rows_total, %s) "
                               "WHERE id = %s AND status = %s", [done, done, self.job_id, ImportStatus.RUNNING])
        if self.callback is not None:
            self.callback(done, self.total)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _import(job: ImportJob, progress: ProgressCallback | None, timings: ImportTimings) -> None:
    source = open_csv(Path(job.file.path))
    mapping = job.mapping if job.mapping.get("phone") else detect_mapping(source)
    rules = row_rules(source, mapping, job.default_region)
    source.key_column = rules.phone  # the mapped phone column tells glued rows from multi-line values
    total = source.rows_estimate
    ImportJob.objects.filter(pk=job.pk).update(rows_total=total)
    writer = _ProgressWriter(job.pk, total, progress)
    counts = ImportCounts()
    started = time.perf_counter()
    stage, ranked = f"import_stage_{job.pk}", f"import_ranked_{job.pk}"
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejected, \
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report:
        rejected_writer = csv.writer(rejected)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # One import per campaign at a time: a second one would wait on this one's uncommitted
                # numbers anyway; the lock makes the wait explicit and the duplicate counts exact.
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_NAMESPACE, job.campaign_id])
                # Contact.import_job has no foreign key (see the model): this lock, held to commit, is
                # what keeps the job row from being deleted under the contacts that will point at it.
                cursor.execute("SELECT 1 FROM campaigns_importjob WHERE id = %s FOR KEY SHARE", [job.pk])
                if cursor.fetchone() is None:
                    raise CsvFormatError("The import job was deleted before it ran.")
                cursor.execute(f"CREATE TEMPORARY TABLE {stage} (line integer, raw text, e164 text, name text, "
                               "zones text[], variables jsonb, priority smallint, jurisdictions text[], consent jsonb) "
                               "ON COMMIT DROP")
                chunks = checked_chunks(source, rules, settings.IMPORT_BATCH_SIZE)
                while True:
                    waited = time.perf_counter()
                    result = next(chunks, None)
                    timings.parse += time.perf_counter() - waited
                    if result is None:
                        break
                    counts.rows += result.rows
                    counts.invalid += len(result.errors)
                    rejected_writer.writerows(result.errors)  # in line order: chunks come in file order
                    if result.valid:
                        copy_started = time.perf_counter()
                        with cursor.copy(f"COPY {stage} (line, raw, e164, name, zones, variables, priority, "
                                         "jurisdictions, consent) FROM STDIN") as copy:
                            copy.write(result.copy_data)
                        counts.valid += result.valid
                        timings.copy += time.perf_counter() - copy_started
                    writer(counts.rows)
                classified = publish_staged(cursor, stage, ranked, job, counts, timings)
                report_started = time.perf_counter()
                rejected.seek(0)
                rows_rejected = ((int(line), raw, reason) for line, raw, reason in csv.reader(rejected))
                write_csv([REPORT_HEADER], report)
                report_lines = write_csv(heapq.merge(rows_rejected, classified), report)
                moved = recheck_do_not_call(cursor, job)
                counts.imported -= moved
                counts.dnc += moved
                timings.report += time.perf_counter() - report_started
                report_name = ""
                if report_lines:
                    report.seek(0)
                    job.error_report.save(f"import-{job.pk}-report.csv", File(report), save=False)
                    report_name = job.error_report.name
                ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
                    status=ImportStatus.COMPLETED, finished_at=timezone.now(), rows_done=counts.rows,
                    rows_total=counts.rows, imported=counts.imported, duplicates=counts.duplicates,
                    invalid=counts.invalid, dnc=counts.dnc, error_report=report_name)
                webhook_events.import_finished(job.pk)  # outbox row, in the import's own transaction
                commit_started = time.perf_counter()
            timings.commit = time.perf_counter() - commit_started
        finally:
            writer.close()
    timings.total = time.perf_counter() - started
    logger.info("import %s: rows=%s imported=%s duplicates=%s invalid=%s dnc=%s; seconds: %s", job.pk, counts.rows,
                counts.imported, counts.duplicates, counts.invalid, counts.dnc, timings.summary())

