"""The lines of one UA process: attempts holding one, and the second calls of transfers holding one more.

A line is one of the process's `max_calls` (pjsua2's call slots). An attempt holds one from the dial until its end
is spooled; a bridged or warm transfer's second call holds one more while it lives, because it is a call of its
own in pjsua (docs/transfer.md). The heartbeat advertises the free ones, so the dialer never sends a call to a
process whose lines the transfers have taken. Thread-safe: the main thread, the pjsua thread, the heartbeat and
the ledger thread all read it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Lines:
    """Line bookkeeping of a UA process.

    Args:
        max_calls: the process's lines.
        on_change: called (outside the lock) when a line comes free or a transfer takes one, so the heartbeat
            says so at once (an attempt's line was already counted by the registry's reservation).
    """

    def __init__(self, max_calls: int, on_change: Callable[[], None] | None = None) -> None:
        self.max_calls = max_calls
        self.on_change = on_change
        self._lock = threading.Lock()
        self._admitted: set[int] = set()  # attempts given a line, still passing the last gate before the dial
        self._attempts: set[int] = set()  # attempts holding a line, from dial until their end is spooled
        self._transfers: set[int] = set()  # attempts whose transfer's second call holds another line

    def attempts(self) -> list[int]:
        """Attempts holding a line since their dial (their leases are renewed; not those still at the gate)."""
        with self._lock:
            return sorted(self._attempts)

    def free(self) -> int:
        """Lines held by neither an attempt nor a transfer's second call."""
        with self._lock:
            return max(0, self.max_calls - self._held())

    def _held(self) -> int:
        return len(self._admitted) + len(self._attempts) + len(self._transfers)

    def holds(self, attempt_id: int) -> bool:
        """Whether the attempt holds a line here."""
        with self._lock:
            return attempt_id in self._attempts or attempt_id in self._admitted

    def take(self, attempt_id: int) -> bool:
        """Give a line to an attempt before its last gate; False when none is free (nothing is taken then)."""
        with self._lock:
            if self._held() >= self.max_calls:
                return False
            self._admitted.add(attempt_id)
            return True

    def dialing(self, attempt_id: int) -> None:
        """The attempt passed its last gate and is dialed: it holds its line until its end is spooled."""
        with self._lock:
            self._admitted.discard(attempt_id)
            self._attempts.add(attempt_id)

    def release(self, attempt_id: int) -> None:
        """The attempt's end is spooled (or it was not dialed): its line is free again."""
        with self._lock:
            self._admitted.discard(attempt_id)
            self._attempts.discard(attempt_id)
        self._changed()

    def take_transfer(self, attempt_id: int) -> bool:
        """Reserve a line for an attempt's transfer call; False when none is free (the transfer falls back)."""
        with self._lock:
            if attempt_id in self._transfers:
                return True
            if self._held() >= self.max_calls:
                return False
            self._transfers.add(attempt_id)
        self._changed()
        return True

    def release_transfer(self, attempt_id: int) -> None:
        """The attempt's transfer call ended (or was never placed): its line is free again."""
        with self._lock:
            if attempt_id not in self._transfers:
                return
            self._transfers.discard(attempt_id)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
