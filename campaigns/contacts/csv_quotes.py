"""Records that a stray quote glued together: how they are recognised, and which lines they took.

Why: in CSV a quote at the start of a field opens a quoted value, and that value runs, line breaks
included, up to the next quote. One stray quote typed into a spreadsheet cell (``"5 ft``) makes
``csv.reader`` read the lines after it, whole contact rows among them, as part of one value, until
another quote happens to close it (``6"w`` four lines further) or the file ends. Nothing fails: the
rows in between are silently gone. Yet a quoted value may really hold line breaks (an address
``"12 Main St\\nApt 4"``): that is valid CSV, common in exports, and must stay one record.

Only a record that spans several physical lines can have swallowed others, and the reader knows
those without looking at every record (a chunk's line count differs from its record count), so
nothing here runs for the usual record. A record spanning several lines is **broken** when one of
these holds:

1. **Its quoting is not valid CSV** when read strictly: a quote that never closes (the record ran to
   the end of the file), or a closing quote followed by more text (``6"w``) instead of the delimiter
   or the line end. Writers (spreadsheets, databases, Python's ``csv``) never produce either; a stray
   quote nearly always does, since what ends it is another stray quote.
2. **Its field count differs from the header's** (fewer, or more with something in the surplus):
   the glued lines brought their own fields along. A real multi-line value is one field of a record
   of the usual width.
3. **One of its lines reads as a record of its own**: laid out again line by line with the quotes
   ignored (a multi-line value cut at its line breaks and at the delimiter, as the rows a stray
   quote swallowed would be), a physical line has at least as many parts as the header has
   columns, and its part in the phone column comes from inside a multi-line value and looks like a
   phone number (digits and phone punctuation only, 7 digits or more). This catches the stray quote
   that a well-formed quote happens to close, e.g. an inch mark at the end of a field (``5'10"``) a
   few rows down. The phone test is what keeps legitimate values apart: an address line
   ``Springfield, IL`` splits in two like a row of a two-column file would, but ``Springfield`` is
   no phone number; and the record's own phone next to a multi-line name
   (``"Ann\\nSmith",2125550101``) is a field of its own, not inside the value. With no phone column
   known, a line made only of the value's parts, exactly as many as the header's columns (2 or
   more), decides.

Known limits, chosen knowingly (a false alarm costs one re-upload, a miss costs rows silently):
a multi-line value holding a line shaped like a row, with a phone number in the phone column's
place (a note ``"call back on\\n2125550199, ask for Bob"`` in a two-column file), is reported as
broken; and rows glued by a well-formed closing quote, none of them with a phone number inside the
value and the record of the header's width, go undetected (each would have been an invalid row).
Records on one line are not judged here: a quote inside a field (``5" 10``) keeps the row whole,
and a row with surplus fields is rejected by the import with its line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import NamedTuple

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PHONE = re.compile(r"\s*\+?[\d\s().\-/]+")
_MIN_PHONE_DIGITS = 7  # shorter is no number a contact list holds


class QuoteCheck(NamedTuple):
    """What judging a multi-line record needs to know about the file (small: it is pickled with chunks)."""

    delimiter: str
    width: int  # the header's field count
    key: int | None  # the phone column, if known


@dataclass(frozen=True)
class BrokenRecord:
    """A record that took in lines it should not have, and why; its lines are reported, not imported."""

    first_line: int
    last_line: int
    reason: str
    lines: tuple[tuple[int, str], ...]  # (line number, text) of each non-blank physical line


def find_break(fields: list[str], lines: list[str], first_line: int, check: QuoteCheck) -> BrokenRecord | None:
    """Judge one record that spans several physical lines (see the module docstring for the rules).

    Args:
        fields: The record as ``csv.reader`` returned it.
        lines: The physical lines it was read from, line endings kept.
        first_line: The line number of ``lines[0]`` (1 = the first line of the file).
        check: The file's delimiter, header width and phone column.

    Returns:
        The broken record with its lines and a reason for the operator, or None for a sound record.
    """
    last_line = first_line + len(lines) - 1
    unclosed = False
    broken = False
    if not _strict_parse_ok(lines, check.delimiter):
        broken = True
        # A quote still open at the end of the record: closing it makes the record valid.
        unclosed = _strict_parse_ok([*lines, '"'], check.delimiter)
    elif _width_differs(fields, check.width) or _swallows_rows(fields, check):
        broken = True
    if not broken:
        return None
    return BrokenRecord(first_line, last_line, _reason(fields, first_line, last_line, unclosed),
                        _data_lines(lines, first_line, check.delimiter))


def _strict_parse_ok(lines: list[str], delimiter: str) -> bool:
    try:
        for _ in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error:
        return False
    return True


def _width_differs(fields: list[str], width: int) -> bool:
    if len(fields) < width:
        return True
    return len(fields) > width and any(value.strip() for value in fields[width:])


def _swallows_rows(fields: list[str], check: QuoteCheck) -> bool:
    """Whether a physical line of the record reads as a row of its own (rule 3 of the module docstring).

    The record is laid out again line by line, the quotes ignored: a value holding line breaks is
    cut at them and, as a stray quote's rows would be, at the delimiter; every other value stays
    one part. Each part remembers whether it came from inside such a value, because the record's
    own phone number (a separate field) must not count.
    """
    delimiter, width, key = check.delimiter, check.width, check.key
    lines: list[list[tuple[str, bool]]] = [[]]  # per physical line: (part, from inside a multi-line value)
    for value in fields:
        segments = _LINE_BREAK.split(value)
        if len(segments) == 1:
            lines[-1].append((value, False))
            continue
        for number, segment in enumerate(segments):
            if number:
                lines.append([])
            lines[-1].extend((part, True) for part in segment.split(delimiter))
    for parts in lines:
        if key is None:
            if width >= 2 and len(parts) == width and all(inside for _, inside in parts):
                return True
        elif len(parts) >= width and key < len(parts) and parts[key][1] and _looks_like_phone(parts[key][0]):
            return True
    return False


def _looks_like_phone(value: str) -> bool:
    """Digits and the usual phone punctuation only, at least 7 digits: ``+1 (212) 555-0101``, not ``ref 123456``."""
    return _PHONE.fullmatch(value) is not None and sum(ch.isdigit() for ch in value) >= _MIN_PHONE_DIGITS


def _reason(fields: list[str], first_line: int, last_line: int, unclosed: bool) -> str:
    where = f"Lines {first_line}-{last_line}"
    if unclosed:
        return (f"{where}: a quote opened in line {first_line} is never closed, so these lines were read as one "
                "record; check the quotes")
    # The first value holding a line break opened in the first line; where does it end?
    breaks = next((len(_LINE_BREAK.findall(value)) for value in fields if _LINE_BREAK.search(value)), 0)
    if first_line + breaks == last_line:
        return (f"{where}: a quote opened in line {first_line} is closed only in line {last_line}, so these lines "
                "were read as one record; check the quotes")
    return f"{where}: quoted values run across these lines, so they were read as one record; check the quotes"


def _data_lines(lines: list[str], first_line: int, delimiter: str) -> tuple[tuple[int, str], ...]:
    """The non-blank physical lines (blank ones hold no record: they are skipped everywhere else too)."""
    blank = ' \t"' + delimiter
    out = []
    for number, text in enumerate(lines, start=first_line):
        text = text.rstrip("\r\n")
        if text.strip(blank):
            out.append((number, text.strip()))
    return tuple(out)
