"""The UA's durable event spool: what a call produced survives a database outage and a UA restart.

Every event a call emits (`telephony.contract`) is appended here *before* the ledger is told. The ledger
thread replays the spool in order and deletes an event only once the ledger acknowledged it, so an event is
written at least once; the ledger's transitions are idempotent, so at-least-once is enough.

Order of replay: opt-outs first (compliance: "stop calling me" must reach the do-not-call list before anything
else, whatever else is stuck), then everything else by sequence. An event for an attempt stays behind the
earlier events of the same attempt (the sequence keeps ringing before answered before ended).

Storage: one SQLite file per UA worker name, WAL mode. Why SQLite: a crash-safe append-only log with ordered
reads and deletes, in the standard library. Durability: opt-outs and ends are committed with
``synchronous=FULL`` (fsync before the call goes on); progress events (ringing, answered, bridged) with
``NORMAL``, because losing one only loses a timestamp, never a result.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from telephony.contract import CallEvent, Ended, OptedOut, event_from_json, event_to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id INTEGER NOT NULL,
    priority INTEGER NOT NULL,          -- 0: opt-out, 1: everything else
    body TEXT NOT NULL,
    created REAL NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_order ON events (priority, seq);
CREATE TABLE IF NOT EXISTS buried (     -- events the ledger refused MAX_TRIES times: kept for a person to read
    seq INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    buried REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SpooledEvent:
    """One event waiting for the ledger, with its place in the spool."""

    seq: int
    event: CallEvent
    tries: int


class EventSpool:
    """An append-only, crash-safe queue of call events on local disk.

    Thread-safe: the pjsua side appends, the ledger thread reads and acknowledges.

    Args:
        path: The SQLite file (created with its folder).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._wakeup = threading.Condition(self._lock)

    def append(self, event: CallEvent) -> int:
        """Write `event` durably (fsync for opt-outs and ends) and return its sequence number."""
        durable = isinstance(event, OptedOut | Ended)
        with self._lock:
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            cursor = self._db.execute(
                "INSERT INTO events (attempt_id, priority, body, created) VALUES (?, ?, ?, ?)",
                (event.attempt_id, 0 if isinstance(event, OptedOut) else 1, event_to_json(event), time.time()))
            self._wakeup.notify_all()
            return int(cursor.lastrowid or 0)

    def pending(self, limit: int = 100) -> list[SpooledEvent]:
        """Events not yet acknowledged, opt-outs first, then in the order they were written."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body, tries FROM events ORDER BY priority, seq LIMIT ?", (limit,)).fetchall()
        return [SpooledEvent(int(seq), event_from_json(body), int(tries)) for seq, body, tries in rows]

    def attempt_ids(self) -> set[int]:
        """The attempts with events still waiting (read from the index column; no event is decoded)."""
        with self._lock:
            return {int(row[0]) for row in self._db.execute("SELECT DISTINCT attempt_id FROM events")}

    def acknowledge(self, seq: int) -> None:
        """The ledger recorded event `seq`: drop it."""
        with self._lock:
            self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))

    def failed(self, seq: int) -> None:
        """The ledger could not take event `seq` this time; count the try (it stays in place)."""
        with self._lock:
            self._db.execute("UPDATE events SET tries = tries + 1 WHERE seq = ?", (seq,))

    def bury(self, seq: int) -> None:
        """Set event `seq` aside (kept in the file's `buried` table), so the events behind it can go on."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO buried SELECT seq, attempt_id, body, created, ? FROM events "
                             "WHERE seq = ?", (time.time(), seq))
            self._db.execute("DELETE FROM events WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def buried_count(self) -> int:
        """How many events were set aside."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM buried").fetchone()[0])

    def wait(self, timeout_s: float) -> None:
        """Block until something is appended or `timeout_s` passes."""
        with self._lock:
            self._wakeup.wait(timeout_s)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        """Close the file (pending events stay for the next start)."""
        with self._lock:
            self._db.close()
