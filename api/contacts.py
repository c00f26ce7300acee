"""Contacts sent as JSON go in through the CSV import itself, so they meet exactly the same checks.

The rows are written as a CSV file (one record per row, the line each starts on remembered), imported by
``campaigns.contact_import`` with an explicit column mapping, and the import's per-row report is read back
and keyed by the row's position in the request. Phones, zones (F12 included, as the import applies it),
duplicates, do-not-call and field limits are therefore the import's own rules, not a copy of them.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from django.core.files import File

from campaigns.choices import ImportStatus
from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.imports.error_report import iter_report
from campaigns.contacts.imports.services import create_import_job, run_import_job
from campaigns.models import Campaign, ImportJob

_COLUMNS = ("phone", "name", "time_zone", "priority")
_VARIABLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass
class JsonImport:
    """The import job and the rows it did not import, by their index in the request."""

    job: ImportJob
    received: int
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (index, phone, reason)
    refused_before_import: int = 0  # rows that could not even be written as CSV (variable names, NUL)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def add_contacts(campaign: Campaign, rows: list[dict[str, Any]]) -> JsonImport:
    """Import ``rows`` (phone, name, time_zone, priority, variables) into ``campaign`` now, as one import job.

    Raises:
        CsvFormatError: the rows cannot be imported at all (the job records why).
    """
    rejected: list[tuple[int, str, str]] = []
    keys = sorted({k for row in rows for k in (row.get("variables") or {})})
    bad_keys = {k for k in keys if not _VARIABLE_KEY.match(k) or k in _COLUMNS}
    variables = [k for k in keys if k not in bad_keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*_COLUMNS, *variables])
    line = 2  # the header is line 1
    index_of_line: dict[int, int] = {}
    for index, row in enumerate(rows):
        row_vars = row.get("variables") or {}
        phone = _text(row.get("phone"))
        wrong = sorted(set(row_vars) & bad_keys)
        if wrong:
            rejected.append((index, phone, f"variable name {wrong[0]!r} must be lower case letters, digits and _ "
                                           f"and not one of {', '.join(_COLUMNS)}"))
            continue
        values = [phone, _text(row.get("name")), _text(row.get("time_zone")), _text(row.get("priority", 0)),
                  *(_text(row_vars.get(k)) for k in variables)]
        if any("\x00" in v for v in values):
            rejected.append((index, phone, "contains a NUL character"))
            continue
        start = buffer.tell()
        writer.writerow(values)
        index_of_line[line] = index
        line += buffer.getvalue().count("\n", start)
    refused = len(rejected)
    mapping = {"phone": "phone", "name": "name", "name_last": None, "time_zone": "time_zone",
               "priority": "priority", "variables": variables}
    with tempfile.NamedTemporaryFile("w+b", suffix=".csv") as fh:
        fh.write(buffer.getvalue().encode())
        fh.flush()
        fh.seek(0)
        job = create_import_job(campaign, File(fh, name="api-contacts.csv"))
    # The explicit mapping: a variable called first_name stays a variable (detection would make it the name).
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PREVIEW).update(status=ImportStatus.QUEUED,
                                                                            mapping=mapping)
    job = run_import_job(job.pk)
    if job.status == ImportStatus.FAILED:
        raise CsvFormatError(job.error)
    for line_text, raw, reason in iter_report(job):
        line_no = int(line_text)
        if line_no in index_of_line:
            rejected.append((index_of_line[line_no], raw, reason))
    rejected.sort()
    return JsonImport(job=job, received=len(rows), rejected=rejected, refused_before_import=refused)
