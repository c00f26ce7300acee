"""The port through which the UA pool reports to the control plane, and the thread that drives it.

`Ledger` is a Protocol the control plane implements (`campaigns.dialer.ledger.CampaignLedger`, named by the
``UA_LEDGER`` setting), so `telephony` never imports `campaigns`. The UA calls it for three things:

- `begin_dial`: the last gate before the INVITE (QUEUED -> DIALING only if the world still allows the call);
- `record`: one event of a call (`telephony.contract`), idempotent, so a replay after a crash is harmless;
- `renew`: the lease heartbeat of a live call.

`LedgerWriter` is the UA's thread that feeds the ledger from the durable `EventSpool` and renews leases. A ledger
that cannot be reached (`LedgerUnavailable`: the database is down) never loses an event: it stays in the spool
and is replayed, opt-outs first, until acknowledged, also after a restart of the UA.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from telephony.contract import CallEvent, Ended
from telephony.ua.spool import EventSpool

logger = logging.getLogger(__name__)

# A poison event (the ledger raises something other than LedgerUnavailable) is retried this many times, then
# set aside in the spool's file for a person to read; it never blocks the events behind it for long.
MAX_TRIES = 8
BACKOFF_MAX_S = 5.0


class LedgerUnavailable(Exception):
    """The ledger's store cannot be reached now; try again later (nothing was written)."""


@dataclass(frozen=True)
class DialDecision:
    """The answer of the last gate: dial, or why not (the ledger has then ended the attempt not dialed)."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


class Ledger(Protocol):
    """What the UA pool needs from the control plane's ledger."""

    def begin_dial(self, attempt_id: int, *, ua_name: str, sip_call_id: str) -> DialDecision:
        """Move the attempt QUEUED -> DIALING if it may be dialed now; else end it not dialed with the reason.

        Raises:
            LedgerUnavailable: the store cannot be reached (then do not dial).
        """
        ...

    def record(self, event: CallEvent) -> None:
        """Record one call event; idempotent (a replayed event changes nothing the second time).

        Raises:
            LedgerUnavailable: the store cannot be reached (the event stays spooled).
        """
        ...

    def renew(self, attempt_id: int, trunk_id: int | None = None) -> bool:
        """Extend the leases of a live call on `trunk_id` (the trunk carrying it now); False when the attempt
        has ended elsewhere (hang up).

        Raises:
            LedgerUnavailable: the store cannot be reached (keep the call; try again).
        """
        ...


def load_ledger(path: str) -> Ledger:
    """Build the ledger named "package.module:callable" (the ``UA_LEDGER`` setting)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"UA_LEDGER must be 'module:callable', got {path!r}")
    factory: Callable[[], Ledger] = getattr(importlib.import_module(module_name), attribute)
    return factory()


class LedgerWriter(threading.Thread):
    """Replays the spool into the ledger in order, and renews the leases of live calls.

    Args:
        ledger: The control plane's ledger.
        spool: This UA's durable event spool.
        busy_attempts: The attempts holding a line now (their leases are renewed).
        trunk_of: The trunk carrying an attempt's call now (None: the attempt's own), for the renewal.
        on_lost: Called with an attempt id whose ledger row ended elsewhere while its call is up (hang up).
        lease_renew_s: Seconds between lease renewals.
    """

    def __init__(self, ledger: Ledger, spool: EventSpool, *, busy_attempts: Callable[[], list[int]],
                 on_lost: Callable[[int], None], lease_renew_s: float,
                 trunk_of: Callable[[int], int | None] = lambda attempt_id: None) -> None:
        super().__init__(name="ledger", daemon=True)
        self.ledger = ledger
        self.spool = spool
        self.busy_attempts = busy_attempts
        self.on_lost = on_lost
        self.trunk_of = trunk_of
        self.lease_renew_s = lease_renew_s
        self.stopping = threading.Event()
        self.finished = 0
        self.failures = 0  # consecutive LedgerUnavailable, for the backoff
        self._next_renew = time.monotonic() + lease_renew_s

    def submit(self, event: CallEvent) -> None:
        """Spool `event` (durably) for the ledger; returns once it is on disk. Any thread."""
        self.spool.append(event)

    def holding(self) -> set[int]:
        """Attempts whose events are still in the spool (the reaper must leave them alone)."""
        return self.spool.attempt_ids()

    def run(self) -> None:
        while not self.stopping.is_set():
            delivered_all = self.drain_once()
            self._renew_if_due()
            if delivered_all:
                self.spool.wait(max(0.0, min(self._next_renew - time.monotonic(), 1.0)))
            else:
                # The ledger is unreachable or refused an event: back off, but keep renewing on schedule.
                self.stopping.wait(min(BACKOFF_MAX_S, 0.2 * 2 ** min(self.failures, 5)))

    def drain_once(self) -> bool:
        """Deliver pending events in order until the spool is empty or the ledger fails. True when empty."""
        while True:
            batch = self.spool.pending()
            if not batch:
                self.failures = 0
                return True
            for item in batch:
                try:
                    self.ledger.record(item.event)
                except LedgerUnavailable:
                    self.failures += 1
                    if self.failures in (1, 10) or self.failures % 100 == 0:
                        logger.warning("ledger unavailable; %d events kept in the spool (attempt %s %s waits)",
                                       len(self.spool), item.event.attempt_id, item.event.kind)
                    return False
                except Exception:  # one poison event must not stop the others for ever
                    self.spool.failed(item.seq)
                    logger.exception("ledger refused attempt %s %s (try %d)", item.event.attempt_id,
                                     item.event.kind, item.tries + 1)
                    if item.tries + 1 >= MAX_TRIES:
                        self.spool.bury(item.seq)
                        logger.error("attempt %s %s set aside in %s after %d tries", item.event.attempt_id,
                                     item.event.kind, self.spool.path, MAX_TRIES)
                    self.failures += 1
                    return False
                self.spool.acknowledge(item.seq)
                self.failures = 0
                if isinstance(item.event, Ended):
                    self.finished += 1

    def _renew_if_due(self) -> None:
        if time.monotonic() < self._next_renew:
            return
        self._next_renew = time.monotonic() + self.lease_renew_s
        for attempt_id in self.busy_attempts():
            try:
                alive = self.ledger.renew(attempt_id, self.trunk_of(attempt_id))
            except LedgerUnavailable:
                # Why no hang-up: the call is fine, only the ledger is away. The reaper leaves attempts of a live
                # UA alone, and the results wait in the spool.
                logger.warning("lease renewal of attempt %s deferred: ledger unavailable", attempt_id)
                continue
            except Exception:
                logger.exception("lease renewal of attempt %s failed", attempt_id)
                continue
            if not alive:
                # The dialer no longer holds this attempt (cancelled, or ended elsewhere): stop talking off the books.
                logger.warning("attempt %s ended in the ledger while its call is up; hanging up", attempt_id)
                self.on_lost(attempt_id)

    def stop(self, timeout_s: float) -> None:
        """Deliver what can be delivered within `timeout_s`, then stop (the rest stays spooled)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.spool):
            if not self.drain_once():
                time.sleep(0.2)
        self.stopping.set()
        self.join(timeout=5)
