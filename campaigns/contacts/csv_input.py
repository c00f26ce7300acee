"""Reading operator CSV files: encoding and delimiter sniffed, headers normalised, rows streamed.

Used by the contact import and the do-not-call upload. The file is never loaded whole: the
encoding check and the row estimate read it in 1 MiB blocks, and rows come from ``csv.reader``
over the open file.

A record that spans several physical lines is checked for a stray quote that glued rows together
(``campaigns.contacts.csv_quotes``); such a record comes with a ``BrokenRecord`` naming the lines it took, so
that they are reported instead of silently lost.
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, islice, repeat
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from campaigns.contacts.csv_quotes import BrokenRecord, QuoteCheck, find_break

_BLOCK = 1 << 20
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
_SCAN_CHUNK = 5000
DELIMITERS = (",", ";", "\t")
# csv's own per-field ceiling. Fields longer than the import's limit (1,000 characters by default)
# are rejected row by row; this one only stops a stray unclosed quote from swallowing the file.
CSV_FIELD_HARD_LIMIT = 1 << 20

# Header aliases, normalised (lower case, runs of non-alphanumerics -> "_"), in order of preference.
PHONE_ALIASES = (
    "phone", "phone_number", "phonenumber", "phone_no", "mobile", "mobile_number", "mobile_phone", "mobile_no",
    "cell", "cell_phone", "cellphone", "cell_number", "tel", "telephone", "telephone_number", "number",
    "msisdn", "e164", "phone_e164", "contact_number",
)
NAME_ALIASES = ("name", "full_name", "fullname", "contact_name")
FIRST_NAME_ALIASES = ("first_name", "firstname", "first", "given_name", "forename")
LAST_NAME_ALIASES = ("last_name", "lastname", "last", "surname", "family_name")
TIME_ZONE_ALIASES = ("time_zone", "timezone", "tz", "iana_time_zone", "zone")
PRIORITY_ALIASES = ("priority", "prio")
STATE_ALIASES = ("state", "us_state", "address_state", "state_code")

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class CsvFormatError(ValueError):
    """The file itself cannot be used (unreadable, empty, no phone column...); the message is for the operator."""


def normalize_header(header: str) -> str:
    """``" Phone Number "`` -> ``"phone_number"``; the key used for aliases and {{variables}}."""
    return _NON_ALNUM.sub("_", header.replace("\ufeff", "").strip().lower()).strip("_")


@dataclass(frozen=True)
class CsvRow:
    """One non-empty record: the line it starts on (1 = the header) and its fields.

    ``problem`` is set when the record spans several lines that a stray quote glued together: its
    fields are then not to be used, and ``problem.lines`` are the lines to report instead.
    """

    line: int
    fields: list[str]
    problem: BrokenRecord | None = None


class RecordChunk(NamedTuple):
    """Consecutive records as ``csv.reader`` returned them, and the physical lines they span.

    A NamedTuple: it is pickled to a worker process for every chunk, and that is cheapest for tuples.
    ``lines`` and ``check`` are only set for a chunk holding a record that spans several lines (rare):
    the physical lines of each such record by the line it starts on, and what judging it needs.
    """

    first_line: int  # the line the first record starts on (1 = the header)
    last_line: int  # the last line of the last record
    records: list[list[str]]
    lines: dict[int, list[str]] | None = None
    check: QuoteCheck | None = None

    def numbered(self) -> Iterator[tuple[int, list[str], BrokenRecord | None]]:
        """``(line, fields, problem)`` of every record that is not blank, as ``CsvSource.rows`` gives them."""
        line = self.first_line
        # Usual case: one record per line, so the lines are consecutive and need no counting.
        multiline = self.last_line - self.first_line + 1 != len(self.records)
        for fields in self.records:
            start = line
            problem = None
            if multiline:
                # Line breaks kept inside quoted fields, counted the way the file iterator splits lines.
                joined = "\t".join(fields)  # tab-joined: no "\r" + "\n" pair across two fields
                line += 1 + joined.count("\n") + joined.count("\r") - joined.count("\r\n")
                if line - start > 1 and self.lines is not None and self.check is not None:
                    problem = find_break(fields, self.lines[start], start, self.check)
            else:
                line += 1
            if not fields or (not fields[0].strip() and not "".join(fields).strip()):
                continue
            yield start, fields, problem


@dataclass
class CsvSource:
    """A CSV file ready to stream: how it is encoded and delimited, and its header."""

    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    keys: list[str] = field(default_factory=list)  # normalised, unique header names
    size_bytes: int = 0
    line_count: int = 0  # newline characters in the file: an upper bound for the record count
    has_quotes: bool = True  # False: no quote character anywhere, so no record can span lines
    key_column: int | None = None  # the phone column, which tells glued rows from multi-line values

    @property
    def quote_check(self) -> QuoteCheck:
        """What judging a record that spans several lines needs (see ``campaigns.contacts.csv_quotes``)."""
        return QuoteCheck(self.delimiter, len(self.headers), self.key_column)

    @property
    def rows_estimate(self) -> int:
        """Data records, assuming one line each (quoted newlines make it an over-estimate)."""
        return max(self.line_count - 1, 0)

    def column(self, aliases: tuple[str, ...]) -> int | None:
        """Index of the first header matching one of ``aliases`` (in the aliases' order), or None."""
        for alias in aliases:
            if alias in self.keys:
                return self.keys.index(alias)
        return None

    def record_chunks(self, size: int) -> Iterator[RecordChunk]:
        """Stream the data records after the header in chunks of ``size`` records, blank ones included.

        The bulk path of the contact import: ``csv.reader`` fills each chunk in C (``islice``), with no
        Python work per record in this process; line numbers, blank-record skipping and the check of
        records spanning several lines are left to ``RecordChunk.numbered``, which runs in the import's
        worker processes. Only a chunk whose records span more lines than it has records is looked into
        here, with C-level passes (``_multiline_spans``), and carries the physical lines of its
        multi-line records along for that check, read again by a second handle.

        Raises:
            CsvFormatError: as ``rows`` does, with the line of the record that cannot be read.
        """
        check = self.quote_check
        with self.path.open("r", encoding=self.encoding, newline="") as fh, \
                _PhysicalLines(self.path, self.encoding) as physical:
            reader = csv.reader(fh, delimiter=self.delimiter)
            try:
                for record in reader:
                    if record and any(value.strip() for value in record):
                        break  # the header
                else:
                    return
                while True:
                    first_line = reader.line_num + 1
                    records = list(islice(reader, size))
                    if not records:
                        return
                    last_line = reader.line_num
                    if last_line - first_line + 1 == len(records):
                        yield RecordChunk(first_line, last_line, records)
                    else:
                        lines = {start: physical.take(start, end)
                                 for start, end in _multiline_spans(records, first_line, last_line)}
                        yield RecordChunk(first_line, last_line, records, lines, check)
            except csv.Error:
                pass
        # Only on a broken file: read it again record by record, which raises with the exact line.
        for _ in self.rows():
            pass
        raise CsvFormatError("The file cannot be read as CSV; check for an unclosed quote.")  # pragma: no cover

    def rows(self) -> Iterator[CsvRow]:
        """Stream the data records after the header, skipping empty lines and all-blank records.

        A record spanning several lines that a stray quote glued together comes with its ``problem``.

        Raises:
            CsvFormatError: when the csv parser cannot continue (e.g. an unclosed quote).
        """
        check = self.quote_check
        with self.path.open("r", encoding=self.encoding, newline="") as fh, \
                _PhysicalLines(self.path, self.encoding) as physical:
            reader = csv.reader(fh, delimiter=self.delimiter)
            next_line = 1
            header_seen = False
            try:
                for record in reader:
                    line, next_line = next_line, reader.line_num + 1
                    if not record or not any(value.strip() for value in record):
                        continue
                    if not header_seen:
                        header_seen = True
                        continue
                    problem = None
                    if next_line - line > 1:
                        problem = find_break(record, physical.take(line, next_line - 1), line, check)
                    yield CsvRow(line, record, problem)
            except csv.Error as exc:
                raise CsvFormatError(
                    f"Line {next_line}: the file cannot be read as CSV past this point ({exc}); "
                    "check for an unclosed quote."
                ) from exc

    def broken_records(self) -> Iterator[BrokenRecord]:
        """Every record of the file that a stray quote glued together, in line order (a whole-file scan).

        A file without a quote character has none and is not read. Otherwise it is read as the bulk
        path reads it; only chunks holding a record that spans several lines are looked into.

        Raises:
            CsvFormatError: as ``rows`` does, when the file cannot be read past some line.
        """
        if not self.has_quotes:
            return
        for chunk in self.record_chunks(_SCAN_CHUNK):
            if chunk.lines is not None:
                yield from (problem for _, _, problem in chunk.numbered() if problem is not None)


def _multiline_spans(records: list[list[str]], first_line: int, last_line: int) -> list[tuple[int, int]]:
    """``(first, last)`` line of each record of a chunk that spans several lines.

    The passes over every record (joining, lengths, sums) are built-ins driven by ``map`` and
    ``accumulate``, so they run in C; the line breaks are then found with ``str.find`` (C) in the
    whole chunk's text, and Python only walks the few multi-line records. Line breaks are counted
    as ``RecordChunk.numbered`` counts them.
    """
    joined = list(map("\t".join, records))  # tab-joined: no "\r" + "\n" pair across two fields
    text = "\t".join(joined)
    ends = list(accumulate(map(operator.add, map(len, joined), repeat(1))))  # text[ends[i] - 1]: the tab after record i
    multiline: set[int] = set()
    for char in "\n\r":
        position = text.find(char)
        while position >= 0:
            index = bisect_right(ends, position)
            multiline.add(index)
            position = text.find(char, ends[index])  # on to the next record
    spans = []
    extra = 0  # lines taken by the line breaks of the records before
    for index in sorted(multiline):
        value = joined[index]
        breaks = value.count("\n") + value.count("\r") - value.count("\r\n")
        start = first_line + index + extra
        extra += breaks
        # A quote still open at the end of the file keeps the last line break: not a line of its own.
        spans.append((start, min(start + breaks, last_line)))
    return spans


class _PhysicalLines:
    """The file's physical lines on demand, through a second handle opened at the first need, forward only.

    Lines are split as ``csv.reader``'s ``line_num`` counts them (the same text-mode iterator), so a
    record's line numbers index them directly.
    """

    def __init__(self, path: Path, encoding: str) -> None:
        self._path, self._encoding = path, encoding
        self._fh: IO[str] | None = None
        self._read = 0  # lines consumed so far

    def __enter__(self) -> _PhysicalLines:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fh is not None:
            self._fh.close()

    def take(self, first: int, last: int) -> list[str]:
        """Lines ``first`` to ``last`` (1-based, inclusive), line endings kept; ``first`` past the last taken."""
        if self._fh is None:
            self._fh = self._path.open("r", encoding=self._encoding, newline="")
        skip = first - 1 - self._read
        if skip > 0:
            next(islice(self._fh, skip, skip), None)  # consumes ``skip`` lines in C
        lines = list(islice(self._fh, last - first + 1))
        self._read = first - 1 + len(lines)
        return lines


def open_csv(path: Path) -> CsvSource:
    """Sniff ``path``'s encoding, delimiter and header.

    Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252, else Latin-1.
    Delimiters: ``,`` ``;`` or tab, whichever splits the first records most consistently.

    Raises:
        CsvFormatError: the file is missing, empty, binary or has no header.
    """
    _raise_field_limit()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CsvFormatError(f"The file cannot be read: {exc.strerror or exc}.") from exc
    if size == 0:
        raise CsvFormatError("The file is empty.")
    encoding, line_count, has_quotes = _sniff_encoding(path)
    with path.open("r", encoding=encoding, newline="") as fh:
        sample = fh.read(_SNIFF_CHARS)
    if "\x00" in sample:
        raise CsvFormatError("This does not look like a CSV text file (it contains NUL bytes).")
    delimiter = _sniff_delimiter(sample)
    source = CsvSource(path=path, encoding=encoding, delimiter=delimiter, headers=[], size_bytes=size,
                       line_count=line_count, has_quotes=has_quotes)
    headers = _read_header(source)
    if headers is None:
        raise CsvFormatError("The file has no header row (it is empty or blank).")
    source.headers = [h.replace("\ufeff", "").strip() for h in headers]
    source.keys = _unique_keys(source.headers)
    # A one-column file without a phone header is a plain list of numbers (a do-not-call upload).
    source.key_column = source.column(PHONE_ALIASES)
    if source.key_column is None and len(source.headers) == 1:
        source.key_column = 0
    return source


def _raise_field_limit() -> None:
    if csv.field_size_limit() < CSV_FIELD_HARD_LIMIT:
        csv.field_size_limit(CSV_FIELD_HARD_LIMIT)


def _sniff_encoding(path: Path) -> tuple[str, int, bool]:
    """The first encoding that decodes the whole file, the file's newline count, and whether it has a quote."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252", "latin-1"]
    line_count = 0
    for index, encoding in enumerate(candidates):
        decoder = codecs.getincrementaldecoder(encoding)()
        newlines = 0
        quotes = False  # the byte 0x22: exact in the single-byte encodings and UTF-8, a superset in UTF-16
        try:
            with path.open("rb") as fh:
                while block := fh.read(_BLOCK):
                    decoder.decode(block)
                    newlines += block.count(b"\n")
                    quotes = quotes or b'"' in block
                decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            if index == len(candidates) - 1:
                raise CsvFormatError(f"The file is not readable text ({encoding}: {exc.reason}).") from exc
            continue
        line_count = newlines
        if encoding == "utf-16":
            line_count = newlines // 2  # each "\n" is one of two bytes; a rough count is enough here
        return encoding, line_count, quotes
    raise CsvFormatError("The file's encoding could not be recognised.")  # pragma: no cover (latin-1 always decodes)


def _sniff_delimiter(sample: str) -> str:
    """The delimiter giving a multi-column header that the following records agree with most."""
    # Drop a possibly cut last line so it does not count as a disagreeing record.
    if len(sample) == _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in _take(csv.reader(io.StringIO(sample), delimiter=delimiter), _SNIFF_RECORDS) if r]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        agreeing = sum(1 for r in records[1:] if len(r) == width)
        score = (agreeing / max(len(records) - 1, 1), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _take(reader: Iterator[list[str]], count: int) -> list[list[str]]:
    out = []
    for record in reader:
        out.append(record)
        if len(out) >= count:
            break
    return out


def _read_header(source: CsvSource) -> list[str] | None:
    with source.path.open("r", encoding=source.encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter)
        try:
            for record in reader:
                if record and any(value.strip() for value in record):
                    return record
        except csv.Error as exc:
            raise CsvFormatError(f"The header cannot be read as CSV ({exc}).") from exc
    return None


def _unique_keys(headers: list[str]) -> list[str]:
    keys: list[str] = []
    for position, header in enumerate(headers, start=1):
        key = normalize_header(header) or f"column_{position}"
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys
