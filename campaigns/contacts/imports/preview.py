"""Preview of a contact CSV before it is imported: the detected column mapping, the first rows, broken records."""


from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from campaigns.contacts.csv_input import (
    FIRST_NAME_ALIASES,
    LAST_NAME_ALIASES,
    NAME_ALIASES,
    PHONE_ALIASES,
    PRIORITY_ALIASES,
    STATE_ALIASES,
    TIME_ZONE_ALIASES,
    CsvFormatError,
    CsvSource,
    open_csv,
)
from campaigns.rules.phones import is_supported_region
from compliance.consent_columns import CONSENT_COLUMNS

# Broken records listed by the preview; the import reports them all.
PREVIEW_MAX_PROBLEMS = 20


def check_region(region: str) -> None:
    if not region or not is_supported_region(region):
        raise CsvFormatError(f"Unknown default region {region!r}: use a two-letter country code such as US or GB.")



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
    # Consent columns (compliance.consent_columns) become consent records, not prompt variables.
    consent = {key: source.headers[i] for key, aliases in CONSENT_COLUMNS.items()
               if (i := source.column(aliases)) is not None}
    special = {phone, time_zone, priority, full_name} | {source.headers.index(h) for h in consent.values()}
    variables = [h for i, h in enumerate(source.headers) if i not in special]
    # F18: every other column becomes a variable sent with each call; a bounded number of them.
    if len(variables) > settings.CONTACT_MAX_VARIABLES:
        raise CsvFormatError(f"The file has {len(variables)} columns besides phone, name, time zone and priority; "
                             f"at most {settings.CONTACT_MAX_VARIABLES} can become variables. Remove the others.")
    mapping: dict[str, Any] = {
        "phone": source.headers[phone],
        "name": _header(source, name),
        "name_last": _header(source, name_last),
        "time_zone": _header(source, time_zone),
        "priority": _header(source, priority),
        "variables": variables,
    }
    # A US state of the contact's address: its rules are added to the number's (it stays a variable too).
    state = source.column(STATE_ALIASES)
    if state is not None:
        mapping["state"] = source.headers[state]
    if consent:
        mapping["consent"] = consent
    return mapping


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
    check_region(default_region)
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


