"""The error report of an import job: its header and its rows for display."""


from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from campaigns.models import ImportJob

REPORT_HEADER = ("line", "raw_value", "reason")



def iter_report(job: ImportJob) -> Iterator[list[str]]:
    """The rows of a finished job's report (without the header), for display."""
    if not job.error_report:
        return
    with job.error_report.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        next(reader, None)
        yield from reader
