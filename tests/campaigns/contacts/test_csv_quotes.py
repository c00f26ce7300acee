"""Reading CSV records that a stray quote glued together: which records are broken, and their lines."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import pytest

from campaigns.contacts.csv_input import CsvSource, open_csv
from campaigns.contacts.csv_quotes import QuoteCheck, find_break


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data)
    return path


def test_glued_record_names_its_non_blank_lines_and_why(tmp_path: Path) -> None:
    path = _write(tmp_path, b'phone,name,height\n2125550101,Ann,5 ft\n2125550102,Bob,"5 ft\n2125550103,Cy,6 ft\n\n'
                            b'2125550104,Di,6"w\n2125550105,Eve,7 ft\n')
    rows = list(open_csv(path).rows())
    assert [(row.line, row.problem is None) for row in rows] == [(2, True), (3, False), (7, True)]
    problem = rows[1].problem
    assert problem is not None
    assert (problem.first_line, problem.last_line) == (3, 6)
    assert problem.lines == ((3, '2125550102,Bob,"5 ft'), (4, "2125550103,Cy,6 ft"), (6, '2125550104,Di,6"w'))
    assert problem.reason == ("Lines 3-6: a quote opened in line 3 is closed only in line 6, so these lines were read "
                              "as one record; check the quotes")


def test_record_of_another_width_than_the_header_is_broken(tmp_path: Path) -> None:
    # well-formed quotes and no phone number after the line break, but five fields for a header of three
    path = _write(tmp_path, b'phone,name,note\n2125550101,Ann,"x\nn/a",Bob,y\n2125550102,Cy,z\n')
    rows = list(open_csv(path).rows())
    assert rows[0].problem is not None
    assert rows[0].problem.lines == ((2, '2125550101,Ann,"x'), (3, 'n/a",Bob,y'))
    assert rows[1].problem is None


def test_without_a_phone_column_a_continuation_line_of_the_headers_width_is_a_glued_row() -> None:
    check = QuoteCheck(",", 3, None)
    glued = find_break(["a", "b", "5 ft\nc,d,e"], ['a,b,"5 ft\n', 'c,d,e"\n'], 2, check)
    address = find_break(["a", "b", "12 Main St\nApt 4"], ['a,b,"12 Main St\n', 'Apt 4"\n'], 2, check)
    assert glued is not None
    assert glued.lines == ((2, 'a,b,"5 ft'), (3, 'c,d,e"'))
    assert address is None


def test_a_value_with_two_multi_line_quotes_says_quoted_values_run_across_the_lines() -> None:
    fields = ["2125550101", "a\nb", "c\n2125550102,x,y"]
    broken = find_break(fields, ['2125550101,"a\n', 'b","c\n', '2125550102,x,y"\n'], 5, QuoteCheck(",", 3, 0))
    assert broken is not None
    assert broken.reason == ("Lines 5-7: quoted values run across these lines, so they were read as one record; "
                             "check the quotes")


def test_only_chunks_with_a_multi_line_record_carry_lines_and_only_those_records_lines(tmp_path: Path) -> None:
    # the bulk path: a chunk of one-line records is only csv.reader's lists
    data = (b"phone,note\n" + b"".join(b"21255501%02d,n\n" % i for i in range(6))
            + b'2125550198,c\n2125550199,"a\r\nb\nc"\n2125550197,d\n2125550196,"e\rf",g\n2125550195,h\n')
    chunks = list(open_csv(_write(tmp_path, data)).record_chunks(3))
    assert [chunk.lines is None for chunk in chunks] == [True, True, False, False]
    assert chunks[2].lines == {9: ['2125550199,"a\r\n', 'b\n', 'c"\n']}
    assert chunks[3].lines == {13: ['2125550196,"e\r', 'f",g\n']}


def test_scan_of_a_file_without_quotes_reads_no_record(tmp_path: Path, monkeypatch: Any) -> None:
    source = open_csv(_write(tmp_path, b"phone,note\n2125550101,a\n2125550102,b\n"))

    def fail(self: CsvSource, size: int) -> Any:
        raise AssertionError("read")

    monkeypatch.setattr(CsvSource, "record_chunks", fail)
    assert source.has_quotes is False
    assert list(source.broken_records()) == []


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_scan_finds_every_broken_record_in_line_order(tmp_path: Path, size: int, monkeypatch: Any) -> None:
    monkeypatch.setattr("campaigns.contacts.csv_input._SCAN_CHUNK", size)
    path = _write(tmp_path, b'phone,h\n2125550101,"5 ft\n2125550102,6"w\n2125550103,"a\nb"\n2125550104,x\n'
                            b'2125550105,"open\n2125550106,y\n')
    broken = list(open_csv(path).broken_records())
    assert [(b.first_line, b.last_line) for b in broken] == [(2, 3), (7, 8)]


def test_multi_line_value_before_the_phone_column_is_not_taken_for_glued_rows(tmp_path: Path) -> None:
    # the last line of the value goes on with the record's own phone number: that is no swallowed row
    path = _write(tmp_path, b'name,phone\n"Ann\nSmith",2125550101\n"Bob\n  Lee",2125550102\n')
    assert [(row.line, row.problem) for row in open_csv(path).rows()] == [(2, None), (4, None)]


# --- generated files: valid multi-line values are never flagged, stray quotes never lose a row silently ---------

_VALUES = ("Main St", "Apt 4", "Springfield, IL", "Suite 4, Building B", "5 ft", "O'Neil", "a, b, c", "12",
           "ref 123456", "Call 2125550199, ask Bob", "PO Box 12345")


def _generated(rnd: random.Random) -> tuple[str, int]:
    """A valid CSV (csv.writer) of 3-12 rows, some values over two lines; and its row count."""
    width = rnd.randint(1, 5)
    phone = rnd.randrange(width)
    header = [f"c{i}" if i != phone else "phone" for i in range(width)]
    rows = []
    for _ in range(rnd.randint(3, 12)):
        row = [rnd.choice(_VALUES) for _ in range(width)]
        row = [v + rnd.choice(["\n", "\r\n"]) + rnd.choice(_VALUES) if rnd.random() < 0.15 else v for v in row]
        row[phone] = f"+1212555{rnd.randint(0, 9999):04d}"
        rows.append(row)
    out = io.StringIO()
    csv.writer(out, lineterminator=rnd.choice(["\n", "\r\n"])).writerows([header, *rows])
    return out.getvalue(), len(rows)


def _with_stray_quotes(rnd: random.Random, text: str) -> str:
    """A quote put before a field of some data line, and often a closing one a few lines further."""
    lines = text.splitlines(keepends=True)
    opened = rnd.randrange(1, len(lines))
    parts = lines[opened].split(",")
    field = rnd.randrange(len(parts))
    parts[field] = '"' + parts[field]
    lines[opened] = ",".join(parts)
    if rnd.random() < 0.6 and opened + 1 < len(lines):
        closed = rnd.randrange(opened + 1, min(len(lines), opened + 6))
        body = lines[closed].rstrip("\r\n")
        cut = rnd.randrange(len(body) + 1)
        lines[closed] = body[:cut] + rnd.choice(['"w', '"']) + body[cut:] + lines[closed][len(body):]
    return "".join(lines)


def test_generated_files_flag_no_valid_multi_line_value(tmp_path: Path) -> None:
    rnd = random.Random(20240611)
    for _ in range(300):
        text, _count = _generated(rnd)
        path = _write(tmp_path, text.encode())
        problems = [row.problem for row in open_csv(path).rows() if row.problem is not None]
        assert problems == [], text


def test_generated_files_with_stray_quotes_account_for_every_row(tmp_path: Path) -> None:
    # every row the file was meant to hold is a record read, or a line reported (rows: valid or invalid)
    rnd = random.Random(20240612)
    for _ in range(300):
        text, count = _generated(rnd)
        text = _with_stray_quotes(rnd, text)
        source = open_csv(_write(tmp_path, text.encode()))
        if len(source.headers) != len(text.splitlines()[0].split(",")):
            continue  # the stray quote is in the header
        rows = list(source.rows())
        accounted = sum(1 if row.problem is None else len(row.problem.lines) for row in rows)
        assert accounted >= count, text
