"""Writing CSV that is safe to open in a spreadsheet (no formula injection).

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return, which some spreadsheets
skip before reading a formula) is prefixed with a single quote, as OWASP recommends, so it is shown
as text instead of being evaluated. Phone numbers in E.164 start with ``+``: they get the quote too;
a spreadsheet shows ``'+14155550100`` as text, which is also what keeps the number intact.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as text, defused when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def write_csv(rows: Iterable[Iterable[Any]], fh: IO[str]) -> int:
    """Write ``rows`` (header first, if any) to ``fh`` with every cell passed through ``safe_cell``.

    Returns:
        The number of rows written.
    """
    writer = csv.writer(fh, lineterminator="\r\n")
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
