"""CSV written by the project is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from campaigns.contacts.csv_export import safe_cell, write_csv


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+12125550101", "'+12125550101"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("Ann", "Ann"),
    ("a=b", "a=b"),
    ("", ""),
    (None, ""),
    (42, "42"),
    (-1, "'-1"),
])
def test_safe_cell_defuses_formulas_only(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_write_csv_quotes_and_defuses_every_cell() -> None:
    out = io.StringIO()
    count = write_csv([("line", "raw_value", "reason"), (3, '=cmd|"/c calc"!A1', "bad, very bad")], out)
    assert count == 2
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["line", "raw_value", "reason"], ["3", "'=cmd|\"/c calc\"!A1", "bad, very bad"]]
