"""Contact import: a CSV file into a campaign's contacts, with a per-row error report.

How a file goes in (stage, then publish, in one transaction):

1. The file is streamed in chunks of ``IMPORT_BATCH_SIZE`` records. A pool of worker processes,
   one per core, checks each chunk and normalises its numbers (``campaigns.rules.phones``). The main
   process COPYs each checked chunk into a temporary staging table. Only a few chunks are in flight
   at a time, so memory stays flat whatever the file size.
2. Once the whole file is staged, one statement ranks every row in SQL: repeated in the file,
   already in the campaign, on a do-not-call list. One INSERT (ON CONFLICT DO NOTHING only if needed) then
   publishes the new contacts. The report of duplicates, do-not-call numbers and numbers without a
   time zone is streamed back in line order and merged with the rows the workers rejected.
3. All of this runs in a single transaction, so nothing is visible (nor dialable) before the
   whole file is in. A crash rolls everything back, and the job is marked failed with the reason.
   Progress (rows done / total) goes through a second, autocommit connection, so operators see it
   while the transaction is open.

Every data row ends in exactly one of: imported, duplicate, invalid, do-not-call. A record that a
stray quote glued together from several lines (``campaigns.contacts.csv_quotes``) is not imported: each of
its non-blank lines is an invalid row of the report, with the lines and the reason, so the counts
add up to the lines of the file; the preview lists such records before the import is confirmed.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import json
import logging
import multiprocessing
import os
import tempfile
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.choices import ContactStatus, ImportStatus
from campaigns.contacts.csv_export import write_csv
from campaigns.contacts.csv_input import (
    FIRST_NAME_ALIASES,
    LAST_NAME_ALIASES,
    NAME_ALIASES,
    PHONE_ALIASES,
    PRIORITY_ALIASES,
    TIME_ZONE_ALIASES,
    CsvFormatError,
    CsvSource,
    RecordChunk,
    open_csv,
)
from campaigns.models import Campaign, Contact, ImportJob
from campaigns.rules.phones import InvalidNumber, is_supported_region, normalize_number
from campaigns.task_queue import send_import

logger = logging.getLogger(__name__)

__all__ = [
    "CsvFormatError",
    "ImportPreview",
    "ImportTimings",
    "confirm_import_job",
    "create_import_job",
    "import_contacts_file",
    "preview_csv",
    "refresh_contacts_after_import",
    "run_import_job",
]

ProgressCallback = Callable[[int, int | None], None]

NAME_MAX_LENGTH = Contact._meta.get_field("name").max_length or 200
PRIORITY_MIN, PRIORITY_MAX = -32768, 32767  # SmallIntegerField
# How many checked chunks may wait for the database per worker: enough to keep both busy.
_IN_FLIGHT_PER_WORKER = 2
# Below this many rows a worker pool costs more to start than it saves.
_POOL_MIN_ROWS = 20_000
_PROGRESS_EVERY_S = 0.5
# A DNC entry committed while the import ran is invisible to the chunk that scrubbed its number;
# entries this recent are checked again just before publishing.
_DNC_RECHECK_MARGIN_S = 600

REPORT_HEADER = ("line", "raw_value", "reason")
REASON_REPEATED = "duplicate: repeated in this file"
REASON_IN_CAMPAIGN = "duplicate: already in this campaign"
REASON_DNC = "on the do-not-call list: recorded as do-not-call, will not be dialed"
REASON_NO_ZONE = "imported without a time zone: will not be dialed until one is set"
# Broken records listed by the preview; the import reports them all.
PREVIEW_MAX_PROBLEMS = 20


# --- preview and mapping ---------------------------------------------------------------------


@dataclass
class ImportPreview:
    """What the operator sees before confirming an import."""

    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, Any]
    rows: list[dict[str, str]] = field(default_factory=list)
    rows_estimate: int | None = None
    # Records glued together by a stray quote (each reason names its lines), at most
    # PREVIEW_MAX_PROBLEMS; how many there are in all, and how many lines they hold.
    problems: list[str] = field(default_factory=list)
    problems_total: int = 0
    problem_lines: int = 0
    read_error: str = ""  # the file cannot be read past some line: the import will fail there


def detect_mapping(source: CsvSource) -> dict[str, Any]:
    """Which column holds the phone, name, time zone and priority; the rest become {{variables}}.

    Raises:
        CsvFormatError: no column looks like a phone number.
    """
    phone = source.column(PHONE_ALIASES)
    if phone is None:
        raise CsvFormatError(
            "No phone column found. Name one of the columns phone, phone_number, mobile or tel "
            f"(found: {', '.join(repr(h) for h in source.headers) or 'no headers'})."
        )
    full_name = source.column(NAME_ALIASES)
    first_name = source.column(FIRST_NAME_ALIASES)
    last_name = source.column(LAST_NAME_ALIASES)
    time_zone = source.column(TIME_ZONE_ALIASES)
    priority = source.column(PRIORITY_ALIASES)
    name = full_name if full_name is not None else first_name if first_name is not None else last_name
    name_last = last_name if full_name is None and first_name is not None else None
    special = {phone, time_zone, priority, full_name}
    return {
        "phone": source.headers[phone],
        "name": _header(source, name),
        "name_last": _header(source, name_last),
        "time_zone": _header(source, time_zone),
        "priority": _header(source, priority),
        "variables": [h for i, h in enumerate(source.headers) if i not in special],
    }


def _header(source: CsvSource, index: int | None) -> str | None:
    return None if index is None else source.headers[index]


def preview_csv(path: Path, default_region: str, max_rows: int = 10) -> ImportPreview:
    """Sniff ``path`` and return its detected mapping, first rows and broken records, importing nothing.

    The first rows leave out records glued together by a stray quote; those are looked for in the
    whole file (a C-level read, skipped for a file without quotes) and listed as ``problems``. A file
    that cannot be read past some line gets ``read_error``: the import will fail there.

    Raises:
        CsvFormatError: the file cannot be used (unreadable, empty, no phone column, bad region).
    """
    _check_region(default_region)
    source = open_csv(path)
    mapping = detect_mapping(source)
    rows: list[dict[str, str]] = []
    for row in source.rows():
        if len(rows) >= max_rows:
            break
        if row.problem is None:
            rows.append({h: (row.fields[i] if i < len(row.fields) else "") for i, h in enumerate(source.headers)})
    preview = ImportPreview(encoding=source.encoding, delimiter=source.delimiter, headers=source.headers,
                            mapping=mapping, rows=rows, rows_estimate=source.rows_estimate)
    try:
        for broken in source.broken_records():
            preview.problems_total += 1
            preview.problem_lines += len(broken.lines)
            if len(preview.problems) < PREVIEW_MAX_PROBLEMS:
                preview.problems.append(broken.reason)
    except CsvFormatError as exc:
        preview.read_error = str(exc)
    return preview


def _check_region(region: str) -> None:
    if not region or not is_supported_region(region):
        raise CsvFormatError(f"Unknown default region {region!r}: use a two-letter country code such as US or GB.")


# --- job lifecycle ---------------------------------------------------------------------------


def create_import_job(campaign: Campaign, upload: File, *, default_region: str | None = None,
                      user: Any = None) -> ImportJob:
    """Store an uploaded CSV as an import job awaiting confirmation (status PREVIEW).

    Raises:
        CsvFormatError: the file cannot be used; nothing is stored then.
    """
    region = (default_region or campaign.default_region or "US").upper()
    _check_region(region)
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
    ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
        status=ImportStatus.FAILED, error=reason[:2000], finished_at=timezone.now())


# --- row checks (run in worker processes) ----------------------------------------------------


@dataclass(frozen=True)
class _RowRules:
    """Everything a worker needs to check a row; sent once per worker."""

    region: str
    width: int
    headers: tuple[str, ...]
    phone: int
    name: int | None
    name_last: int | None
    time_zone: int | None
    priority: int | None
    variables: tuple[tuple[int, str], ...]
    max_field: int


@dataclass
class _ChunkResult:
    rows: int = 0
    valid: int = 0
    copy_data: bytes = b""
    errors: list[tuple[int, str, str]] = field(default_factory=list)


_json_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  (C-accelerated, non-ASCII kept)


def _copy_text(value: str) -> str:
    """``value`` escaped for COPY's text format (cheap when, as usual, there is nothing to escape)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value
_worker_rules: _RowRules | None = None
_zones_by_lower: dict[str, str] = {}


def _known_zones() -> dict[str, str]:
    if not _zones_by_lower:
        for name in zoneinfo.available_timezones():
            if name not in {"Factory", "localtime", "posixrules"}:
                _zones_by_lower[name.lower()] = name
    return _zones_by_lower


def _init_worker(rules: _RowRules) -> None:
    # One configuration per worker process, set by the pool initializer.
    global _worker_rules
    _worker_rules = rules
    _known_zones()


def _check_chunk(chunk: RecordChunk, rules: _RowRules | None = None) -> _ChunkResult:
    """Check and normalise a chunk; return its COPY text for the staging table and its errors."""
    rules = rules or _worker_rules
    assert rules is not None  # noqa: S101 (set by the pool initializer)
    zones_by_lower = _known_zones()
    out: list[str] = []
    errors: list[tuple[int, str, str]] = []
    width, max_field, region = rules.width, rules.max_field, rules.region
    rows = 0
    for line, fields, broken in chunk.numbered():
        if broken is not None:
            # Glued together by a stray quote: each of its lines is reported, none imported.
            rows += len(broken.lines)
            errors.extend((number, text[:200], broken.reason) for number, text in broken.lines)
            continue
        rows += 1
        count = len(fields)
        raw = fields[rules.phone].strip() if rules.phone < count else ""
        # One C-level pass over the fields for the usual, clean row; the reason is looked for only when
        # something is wrong.
        if count > width or max(map(len, fields)) > max_field or "\x00" in "".join(fields):
            reason = _field_problem(fields, rules)
            if reason is not None:
                errors.append((line, raw[:200], reason))
                continue
        try:
            number = normalize_number(raw, region)
        except InvalidNumber as exc:
            errors.append((line, raw, str(exc)))
            continue
        zones = number.time_zones
        if rules.time_zone is not None and rules.time_zone < count and (tz := fields[rules.time_zone].strip()):
            canonical = zones_by_lower.get(tz.lower())
            if canonical is None:
                errors.append((line, raw, f"unknown time zone {tz!r} (use an IANA name such as America/New_York)"))
                continue
            zones = (canonical,)
        priority = 0
        if rules.priority is not None and rules.priority < count and (text := fields[rules.priority].strip()):
            try:
                priority = int(text)
            except ValueError:
                priority = PRIORITY_MAX + 1
            if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
                errors.append((line, raw, f"priority {text!r} is not a whole number between "
                                          f"{PRIORITY_MIN} and {PRIORITY_MAX}"))
                continue
        name = fields[rules.name].strip() if rules.name is not None and rules.name < count else ""
        if rules.name_last is not None and rules.name_last < count and (last := fields[rules.name_last].strip()):
            name = f"{name} {last}" if name else last
        if len(name) > NAME_MAX_LENGTH:
            errors.append((line, raw, f"name is longer than {NAME_MAX_LENGTH} characters"))
            continue
        # JSON built by hand: the keys are normalised headers ([a-z0-9_]), the values go through json's encoder.
        variables = ",".join([f'"{key}":{_json_string(fields[i].strip() if i < count else "")}'
                              for i, key in rules.variables])
        out.append(f"{line}\t{_copy_text(raw)}\t{number.e164}\t{_copy_text(name)}\t{{{','.join(zones)}}}\t"
                   f"{{{_copy_text(variables)}}}\t{priority}\n")
    return _ChunkResult(rows=rows, valid=len(out), copy_data="".join(out).encode(), errors=errors)


def _field_problem(fields: list[str], rules: _RowRules) -> str | None:
    """Why a row's fields cannot be imported (too many, too long, NUL), or None (surplus blank fields)."""
    count, width, max_field = len(fields), rules.width, rules.max_field
    if count > width and any(v.strip() for v in fields[width:]):
        return f"{count} fields but the header has {width}"
    for i, value in enumerate(fields):
        if len(value) > max_field:
            column = rules.headers[i] if i < width else f"column {i + 1}"
            return f"field {column!r} is longer than {max_field} characters"
        if "\x00" in value:
            return "contains a NUL character"
    return None


# --- the import itself -----------------------------------------------------------------------


def _row_rules(source: CsvSource, mapping: dict[str, Any], region: str) -> _RowRules:
    headers = source.headers

    def index(key: str) -> int | None:
        header = mapping.get(key)
        if not header:
            return None
        if header not in headers:
            raise CsvFormatError(f"The {key.replace('_', ' ')} column {header!r} is not in the file.")
        return headers.index(header)

    phone = index("phone")
    if phone is None:
        raise CsvFormatError("No phone column is mapped.")
    wanted = set(mapping.get("variables") or [])
    return _RowRules(
        region=region, width=len(headers), headers=tuple(headers), phone=phone, name=index("name"),
        name_last=index("name_last"), time_zone=index("time_zone"), priority=index("priority"),
        variables=tuple((i, source.keys[i]) for i, h in enumerate(headers) if h in wanted and i != phone),
        max_field=settings.IMPORT_MAX_FIELD_LENGTH,
    )


def _checked_chunks(source: CsvSource, rules: _RowRules, size: int) -> Iterator[_ChunkResult]:
    """Checked chunks in file order; in a worker pool when the file is big and this process may fork."""
    workers = os.cpu_count() or 1
    # Celery's prefork children are daemonic and may not start processes: check in-process there.
    use_pool = (workers > 1 and source.rows_estimate >= _POOL_MIN_ROWS
                and not multiprocessing.current_process().daemon)
    if not use_pool:
        _known_zones()
        for chunk in source.record_chunks(size):
            yield _check_chunk(chunk, rules)
        return
    # fork: the workers only check rows; they never touch the inherited database connection.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(rules,)) as pool:
        pending: deque[Any] = deque()
        # This process only reads records (in C) and pickles them; the workers number, check and
        # normalise them. Reading and checking row by row here made this process the bottleneck.
        for chunk in source.record_chunks(size):
            pending.append(pool.apply_async(_check_chunk, (chunk,)))
            if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


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
class _Counts:
    rows: int = 0
    valid: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    dnc: int = 0


def _import(job: ImportJob, progress: ProgressCallback | None, timings: ImportTimings) -> None:
    source = open_csv(Path(job.file.path))
    mapping = job.mapping if job.mapping.get("phone") else detect_mapping(source)
    rules = _row_rules(source, mapping, job.default_region)
    source.key_column = rules.phone  # the mapped phone column tells glued rows from multi-line values
    total = source.rows_estimate
    ImportJob.objects.filter(pk=job.pk).update(rows_total=total)
    writer = _ProgressWriter(job.pk, total, progress)
    counts = _Counts()
    started = time.perf_counter()
    stage, ranked = f"import_stage_{job.pk}", f"import_ranked_{job.pk}"
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejected, \
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report:
        rejected_writer = csv.writer(rejected)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # One import per campaign at a time: a second one would wait on this one's uncommitted
                # numbers anyway; the lock makes the wait explicit and the duplicate counts exact.
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, job.campaign_id])
                # Contact.import_job has no foreign key (see the model): this lock, held to commit, is
                # what keeps the job row from being deleted under the contacts that will point at it.
                cursor.execute("SELECT 1 FROM campaigns_importjob WHERE id = %s FOR KEY SHARE", [job.pk])
                if cursor.fetchone() is None:
                    raise CsvFormatError("The import job was deleted before it ran.")
                cursor.execute(f"CREATE TEMPORARY TABLE {stage} (line integer, raw text, e164 text, name text, "
                               "zones text[], variables jsonb, priority smallint) ON COMMIT DROP")
                chunks = _checked_chunks(source, rules, settings.IMPORT_BATCH_SIZE)
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
                        with cursor.copy(f"COPY {stage} (line, raw, e164, name, zones, variables, priority) "
                                         "FROM STDIN") as copy:
                            copy.write(result.copy_data)
                        counts.valid += result.valid
                        timings.copy += time.perf_counter() - copy_started
                    writer(counts.rows)
                classified = _publish(cursor, stage, ranked, job, counts, timings)
                report_started = time.perf_counter()
                rejected.seek(0)
                rows_rejected = ((int(line), raw, reason) for line, raw, reason in csv.reader(rejected))
                write_csv([REPORT_HEADER], report)
                report_lines = write_csv(heapq.merge(rows_rejected, classified), report)
                moved = _recheck_do_not_call(cursor, job)
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
                commit_started = time.perf_counter()
            timings.commit = time.perf_counter() - commit_started
        finally:
            writer.close()
    timings.total = time.perf_counter() - started
    logger.info("import %s: rows=%s imported=%s duplicates=%s invalid=%s dnc=%s; seconds: %s", job.pk, counts.rows,
                counts.imported, counts.duplicates, counts.invalid, counts.dnc, timings.summary())


_LOCK_NAMESPACE = 0x1C0_7AC7  # pg_advisory_xact_lock(namespace, campaign id): contact imports

# Publishing, once the whole file is staged. Each staged row is ranked first: its place among the
# rows with the same number (the first one wins), whether the campaign already has the number, and
# whether it is on a do-not-call list (global or this campaign's). Then one INSERT publishes the
# first occurrence of every new number. One statement over the whole file measured several times
# faster than one per chunk at a million rows.
_RANK_SQL = """
CREATE TEMPORARY TABLE {ranked} ON COMMIT DROP AS
SELECT s.line, s.raw, s.e164, s.name, s.zones, s.variables, s.priority,
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
    INSERT INTO campaigns_contact (campaign_id, phone_e164, name, time_zones, variables, status, priority,
                                   attempts, last_disposition, outcome, outcome_fields, import_job_id,
                                   created_at, updated_at)
    SELECT %(campaign)s, e164, name, zones, variables,
           CASE WHEN dnc THEN %(dnc_status)s ELSE %(pending)s END, priority,
           0, '', '', '{{}}'::jsonb, %(job)s, %(now)s, %(now)s
    FROM {ranked} WHERE nth = 1 AND NOT existing
    ORDER BY line
    {on_conflict}
    RETURNING status
)
SELECT count(*) FILTER (WHERE status = %(pending)s), count(*) FILTER (WHERE status = %(dnc_status)s) FROM inserted
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


def _publish(cursor: Any, stage: str, ranked: str, job: ImportJob, counts: _Counts,
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


def _recheck_do_not_call(cursor: Any, job: ImportJob) -> int:
    """Mark do-not-call the new contacts whose number was listed while the import ran."""
    since = (job.started_at or timezone.now()) - dt.timedelta(seconds=_DNC_RECHECK_MARGIN_S)
    cursor.execute(
        "UPDATE campaigns_contact c SET status = %s, updated_at = %s FROM campaigns_donotcall d "
        "WHERE d.created_at >= %s AND (d.campaign_id IS NULL OR d.campaign_id = %s) "
        "AND c.campaign_id = %s AND c.phone_e164 = d.phone_e164 AND c.import_job_id = %s AND c.status = %s",
        [ContactStatus.DNC, timezone.now(), since, job.campaign_id, job.campaign_id, job.pk,
         ContactStatus.PENDING])
    return cursor.rowcount


def iter_report(job: ImportJob) -> Iterator[list[str]]:
    """The rows of a finished job's report (without the header), for display."""
    if not job.error_report:
        return
    with job.error_report.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        next(reader, None)
        yield from reader
