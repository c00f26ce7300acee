"""Reading operator CSV files: encodings, delimiters, quoting, headers, and files that cannot be used."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from campaigns.contacts.csv_input import CsvFormatError, normalize_header, open_csv


def _write(tmp_path: Path, data: bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    return [(row.line, row.fields) for row in open_csv(path).rows()]


def test_utf8_with_bom_reads_the_first_header_cleanly(tmp_path: Path) -> None:
    path = _write(tmp_path, codecs.BOM_UTF8 + "Phone,Name\n+12125550101,Zoë\n".encode())
    source = open_csv(path)
    assert (source.encoding, source.headers, source.keys) == ("utf-8-sig", ["Phone", "Name"], ["phone", "name"])
    assert _rows(path) == [(2, ["+12125550101", "Zoë"])]


def test_utf8_without_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "phone,name\n+12125550101,José\n".encode())
    assert open_csv(path).encoding == "utf-8"
    assert _rows(path)[0][1][1] == "José"


def test_windows_1252_is_recognised(tmp_path: Path) -> None:
    # "€" is 0x80 in Windows-1252 and not valid UTF-8
    path = _write(tmp_path, "phone;name;note\n+12125550101;Renée;10€\n".encode("cp1252"))
    source = open_csv(path)
    assert (source.encoding, source.delimiter) == ("cp1252", ";")
    assert _rows(path) == [(2, ["+12125550101", "Renée", "10€"])]


def test_latin1_when_windows_1252_cannot_decode(tmp_path: Path) -> None:
    # 0x81 is undefined in Windows-1252
    path = _write(tmp_path, b"phone,name\n+12125550101,Bj\xf6rn\x81\n")
    assert open_csv(path).encoding == "latin-1"
    assert _rows(path)[0][1][1] == "Björn\x81"


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "phone\tname\n+12125550101\tAoife\n".encode("utf-16"))
    source = open_csv(path)
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert _rows(path) == [(2, ["+12125550101", "Aoife"])]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    # the values themselves contain the other candidates
    lines = [["phone", "name", "note"], ["+1 212 555 0101", "Smith; John", "a,b"], ["2125550102", "Ann", "c"]]
    quoted = [[f'"{v}"' if any(d in v for d in ",;\t") else v for v in line] for line in lines]
    path = _write(tmp_path, "\n".join(delimiter.join(line) for line in quoted).encode())
    source = open_csv(path)
    assert source.delimiter == delimiter
    assert [fields for _, fields in _rows(path)] == lines[1:]


def test_quoted_field_with_newlines_keeps_line_numbers_of_record_starts(tmp_path: Path) -> None:
    path = _write(tmp_path, b'phone,note\n+12125550101,"two\nlines"\n+12125550102,x\r\n+12125550103,"a\r\nb\r\nc"\n'
                            b"2125550104,y\n")
    assert _rows(path) == [(2, ["+12125550101", "two\nlines"]), (4, ["+12125550102", "x"]),
                           (5, ["+12125550103", "a\r\nb\r\nc"]), (8, ["2125550104", "y"])]


def test_empty_lines_and_blank_records_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\n\nphone,name\n\n+12125550101,Ann\n , \n\n2125550102,Bob\n")
    assert _rows(path) == [(5, ["+12125550101", "Ann"]), (8, ["2125550102", "Bob"])]


def test_headers_normalised_and_made_unique(tmp_path: Path) -> None:
    path = _write(tmp_path, b" Phone Number ,FIRST-NAME,First Name,,e.mail\n1,2,3,4,5\n")
    source = open_csv(path)
    assert source.keys == ["phone_number", "first_name", "first_name_2", "column_4", "e_mail"]
    assert normalize_header("\ufeffTel.") == "tel"


def test_row_estimate_counts_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, b"phone\n1\n2\n3\n")
    assert open_csv(path).rows_estimate == 3


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"^The file is empty\.$"):
        open_csv(_write(tmp_path, b""))


def test_blank_file_has_no_header(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"^The file has no header row \(it is empty or blank\)\.$"):
        open_csv(_write(tmp_path, b"\n \n\n"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"^The file cannot be read: No such file or directory\.$"):
        open_csv(tmp_path / "nope.csv")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="NUL bytes"):
        open_csv(_write(tmp_path, b"phone\x00\x01\x02\n\x00\x00"))


def test_unclosed_quote_stops_with_the_line_it_starts_on(tmp_path: Path) -> None:
    # given a quote that never closes and more than the csv field limit after it
    path = _write(tmp_path, b'phone,note\n+12125550101,ok\n+12125550102,"never closed\n' + b"x" * (1 << 20) + b"\n")
    rows = open_csv(path).rows()
    assert next(rows).line == 2
    with pytest.raises(CsvFormatError, match=r"^Line 3: the file cannot be read as CSV past this point"):
        next(rows)


# --- record chunks (the import's bulk path) must number and skip exactly as rows() does ----------

_CHUNK_CASES = [
    b'phone,note\n+12125550101,"two\nlines"\n+12125550102,x\r\n+12125550103,"a\r\nb\r\nc"\n2125550104,y\n',
    b"\n\nphone,name\n\n+12125550101,Ann\n , \n\n2125550102,Bob\n",
    b'phone,note\r1,"old\rmac"\r2,b\r\r3,c\r',
    b'phone,a,b\n1,"x\r",\n2,,"\ny"\n3,"",""\n,,\n4,"q""uote\n",z',
    # glued by stray quotes: closed mid-field (a blank line among the lines), then never closed
    b'phone,n,h\n2125550101,a,"5 ft\n2125550102,b,6 ft\n\n2125550103,c,6"w\n2125550104,d,e\n2125550105,"open\n'
    b"2125550106,f,g\n",
]


@pytest.mark.parametrize("data", _CHUNK_CASES)
@pytest.mark.parametrize("size", [1, 2, 3, 1000])
def test_record_chunks_number_and_skip_records_as_rows_does(tmp_path: Path, data: bytes, size: int) -> None:
    path = _write(tmp_path, data)
    source = open_csv(path)
    chunked = [row for chunk in source.record_chunks(size) for row in chunk.numbered()]
    assert chunked == [(row.line, row.fields, row.problem) for row in source.rows()]
    assert chunked  # every case has data rows


def test_record_chunks_stop_on_an_unclosed_quote_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b'phone,note\n+12125550101,ok\n+12125550102,"never closed\n' + b"x" * (1 << 20) + b"\n")
    with pytest.raises(CsvFormatError, match=r"^Line 3: the file cannot be read as CSV past this point"):
        list(open_csv(path).record_chunks(1000))
