"""The simulator's JSON-lines log: one record per call, appended by whichever process handled it.

Several worker processes append to the same file. Each record is written as one `write` of one line while
holding an exclusive `flock` on the file, so lines never interleave.

Record fields (`kind` = "call"): `call_id` (SIP Call-ID), `number`, `persona`, `worker`, `started_at` (ISO 8601
UTC), `events` (`[{"ms", "event", ...}]`: SIP progress and hang-ups), `said` (`[{"text", "start_ms",
"end_ms"}]`), `heard` (speech segments of the received audio, `[{"start_ms", "end_ms"}]`), `final_code`,
`ended_by` ("caller", "callee" or "rejected"), `duration_ms`, `wav` (path or null), and per persona
`voicemail` (`greeting_end_ms`, `beep_end_ms`, `message_start_after_beep_ms`) or `interruption`
(`start_ms`, `agent_stopped_after_ms`). Every `ms` counts from the INVITE's arrival.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line (creates the directory; safe across processes).

    Args:
        path: the log file.
        record: a JSON-serialisable dict.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # Why the lock: O_APPEND alone does not promise one write per line for long records.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.write(fd, line)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a log, oldest first (an absent file has none; a torn last line is skipped)."""
    target = Path(path)
    if not target.exists():
        return []
    records = []
    for line in target.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def find_call(path: str | Path, *, call_id: str | None = None, number: str | None = None) -> dict[str, Any] | None:
    """The latest call record matching a SIP Call-ID and/or a dialed number (None when absent)."""
    for record in reversed(read_records(path)):
        if record.get("kind") != "call":
            continue
        if call_id is not None and record.get("call_id") != call_id:
            continue
        if number is not None and record.get("number") != number:
            continue
        return record
    return None
