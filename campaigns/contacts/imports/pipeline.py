"""The row checks of a contact import, run in a pool of worker processes one chunk at a time."""


from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import zoneinfo
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from campaigns.contacts.csv_input import (
    CsvFormatError,
    CsvSource,
    RecordChunk,
)
from campaigns.models import Contact
from campaigns.rules.phones import InvalidNumber, normalize_number
from compliance.consent_columns import ConsentError, consent_from_values
from compliance.jurisdictions import ImpossibleLocation, narrow_location, number_jurisdictions, number_zones

NAME_MAX_LENGTH = Contact._meta.get_field("name").max_length or 200
PRIORITY_MIN, PRIORITY_MAX = -32768, 32767  # SmallIntegerField
# How many checked chunks may wait for the database per worker: enough to keep both busy.
_IN_FLIGHT_PER_WORKER = 2
# Below this many rows a worker pool costs more to start than it saves.
_POOL_MIN_ROWS = 20_000


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
    state: int | None
    consent: tuple[tuple[str, int], ...]  # consent column key -> index (compliance.consent_columns)
    now: dt.datetime
    variables: tuple[tuple[int, str], ...]
    max_field: int


@dataclass
class _ChunkResult:
    rows: int = 0
    valid: int = 0
    copy_data: bytes = b""
    errors: list[tuple[int, str, str]] = field(default_factory=list)


_json_string = json.encoder.encode_basestring  # C-accelerated, non-ASCII kept


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
        zones, jurisdictions = number_zones(number.e164, number.time_zones), number_jurisdictions(number.e164)
        file_zone = fields[rules.time_zone].strip() if rules.time_zone is not None and rules.time_zone < count else ""
        file_state = fields[rules.state].strip() if rules.state is not None and rules.state < count else ""
        if file_zone or file_state:
            canonical = zones_by_lower.get(file_zone.lower(), "") if file_zone else ""
            if file_zone and not canonical:
                errors.append((line, raw, f"unknown time zone {file_zone!r} (use an IANA name such as "
                                          "America/New_York)"))
                continue
            try:
                # F12: the file may only narrow what the number says; an impossible zone or state is a row error.
                location = narrow_location(number.e164, zones, canonical, file_state)
            except ImpossibleLocation as exc:
                errors.append((line, raw, str(exc)))
                continue
            zones, jurisdictions = location.time_zones, location.jurisdictions
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
        consent = "\\N"
        if rules.consent:
            try:
                given = consent_from_values({k: fields[i] if i < count else "" for k, i in rules.consent},
                                            now=rules.now)
            except ConsentError as exc:
                errors.append((line, raw, str(exc)))
                continue
            if given is not None:
                consent = _copy_text(json.dumps({**asdict(given), "obtained_at": given.obtained_at.isoformat()}))
        # JSON built by hand: the keys are normalised headers ([a-z0-9_]), the values go through json's encoder.
        variables = ",".join([f'"{key}":{_json_string(fields[i].strip() if i < count else "")}'
                              for i, key in rules.variables])
        out.append(f"{line}\t{_copy_text(raw)}\t{number.e164}\t{_copy_text(name)}\t{{{','.join(zones)}}}\t"
                   f"{{{_copy_text(variables)}}}\t{priority}\t{{{','.join(jurisdictions)}}}\t{consent}\n")
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


def row_rules(source: CsvSource, mapping: dict[str, Any], region: str) -> _RowRules:
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
        name_last=index("name_last"), time_zone=index("time_zone"), priority=index("priority"), state=index("state"),
        consent=tuple((key, headers.index(h)) for key, h in (mapping.get("consent") or {}).items() if h in headers),
        now=timezone.now(),
        variables=tuple((i, source.keys[i]) for i, h in enumerate(headers) if h in wanted and i != phone),
        max_field=settings.IMPORT_MAX_FIELD_LENGTH,
    )


def checked_chunks(source: CsvSource, rules: _RowRules, size: int) -> Iterator[_ChunkResult]:
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


