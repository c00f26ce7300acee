"""Reading operator CSV files: encoding and delimiter sniffed, headers normalised, rows streamed.

Used by the contact import and the do-not-call upload. The file is never loaded whole: the
encoding check and the row estimate read it in 1 MiB blocks, and rows come from ``csv.reader``
over the open file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import NamedTuple

_BLOCK = 1 << 20
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
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

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


class CsvFormatError(ValueError):
    """The file itself cannot be used (unreadable, empty, no phone column...); the message is for the operator."""


def normalize_header(header: str) -> str:
    """``" Phone Number "`` -> ``"phone_number"``; the key used for aliases and {{variables}}."""
    return _NON_ALNUM.sub("_", header.replace("\ufeff", "").strip().lower()).strip("_")


@dataclass(frozen=True)
class CsvRow:
    """One non-empty record: the line it starts on (1 = the header) and its fields."""

    line: int
    fields: list[str]


class RecordChunk(NamedTuple):
    """Consecutive records as ``csv.reader`` returned them, and the physical lines they span.

    A NamedTuple: it is pickled to a worker process for every chunk, and that is cheapest for tuples.
    """

    first_line: int  # the line the first record starts on (1 = the header)
    last_line: int  # the last line of the last record
    records: list[list[str]]

    def numbered(self) -> Iterator[tuple[int, list[str]]]:
        """``(line, fields)`` of every record that is not blank, as ``CsvSource.rows`` numbers them."""
        line = self.first_line
        # Usual case: one record per line, so the lines are consecutive and need no counting.
        multiline = self.last_line - self.first_line + 1 != len(self.records)
        for fields in self.records:
            start = line
            if multiline:
                # Line breaks kept inside quoted fields, counted the way the file iterator splits lines.
                joined = "\t".join(fields)  # tab-joined: no "\r" + "\n" pair across two fields
                line += 1 + joined.count("\n") + joined.count("\r") - joined.count("\r\n")
            else:
                line += 1
            if not fields or (not fields[0].strip() and not "".join(fields).strip()):
                continue
            yield start, fields


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
        Python work per record in this process; line numbers and blank-record skipping are left to
        ``RecordChunk.numbered``, which runs in the import's worker processes.

        Raises:
            CsvFormatError: as ``rows`` does, with the line of the record that cannot be read.
        """
        with self.path.open("r", encoding=self.encoding, newline="") as fh:
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
                    yield RecordChunk(first_line, reader.line_num, records)
            except csv.Error:
                pass
        # Only on a broken file: read it again record by record, which raises with the exact line.
        for _ in self.rows():
            pass
        raise CsvFormatError("The file cannot be read as CSV; check for an unclosed quote.")  # pragma: no cover

    def rows(self) -> Iterator[CsvRow]:
        """Stream the data records after the header, skipping empty lines and all-blank records.

        Raises:
            CsvFormatError: when the csv parser cannot continue (e.g. an unclosed quote).
        """
        with self.path.open("r", encoding=self.encoding, newline="") as fh:
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
                    yield CsvRow(line, record)
            except csv.Error as exc:
                raise CsvFormatError(
                    f"Line {next_line}: the file cannot be read as CSV past this point ({exc}); "
                    "check for an unclosed quote."
                ) from exc


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
    encoding, line_count = _sniff_encoding(path)
    with path.open("r", encoding=encoding, newline="") as fh:
        sample = fh.read(_SNIFF_CHARS)
    if "\x00" in sample:
        raise CsvFormatError("This does not look like a CSV text file (it contains NUL bytes).")
    delimiter = _sniff_delimiter(sample)
    source = CsvSource(path=path, encoding=encoding, delimiter=delimiter, headers=[], size_bytes=size,
                       line_count=line_count)
    headers = _read_header(source)
    if headers is None:
        raise CsvFormatError("The file has no header row (it is empty or blank).")
    source.headers = [h.replace("\ufeff", "").strip() for h in headers]
    source.keys = _unique_keys(source.headers)
    return source


def _raise_field_limit() -> None:
    if csv.field_size_limit() < CSV_FIELD_HARD_LIMIT:
        csv.field_size_limit(CSV_FIELD_HARD_LIMIT)


def _sniff_encoding(path: Path) -> tuple[str, int]:
    """The first encoding that decodes the whole file, and the file's newline count."""
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
        try:
            with path.open("rb") as fh:
                while block := fh.read(_BLOCK):
                    decoder.decode(block)
                    newlines += block.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            if index == len(candidates) - 1:
                raise CsvFormatError(f"The file is not readable text ({encoding}: {exc.reason}).") from exc
            continue
        line_count = newlines
        if encoding == "utf-16":
            line_count = newlines // 2  # each "\n" is one of two bytes; a rough count is enough here
        return encoding, line_count
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
