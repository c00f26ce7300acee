"""The control plane's side of the UA pool's `Ledger` port: call events become ledger transitions.

Wired by the ``UA_LEDGER`` setting (``campaigns.dialer.ledger:CampaignLedger``), so the UA pool (`telephony.ua`)
reports without importing `campaigns`. Every method turns a lost database connection into `LedgerUnavailable`,
which tells the UA to keep the event in its spool and try again; every write is idempotent, so the replay of
an event that did land changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.db import InterfaceError, OperationalError, close_old_connections

from campaigns.choices import DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.dialer import attempts
from campaigns.dialer.leases import acquire_leases, trunk_scope
from campaigns.redis_client import get_redis
from telephony.contract import Answered, Bridged, CallEvent, Ended, OptedOut, Ringing
from telephony.ua.ledger import DialDecision, LedgerUnavailable

logger = logging.getLogger(__name__)


@contextmanager
def _database() -> Iterator[None]:
    """Map a dropped or unreachable database to `LedgerUnavailable` (and drop the broken connection)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        close_old_connections()
        raise LedgerUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _utc(at: float) -> dt.datetime:
    """An event's Unix time as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(at, tz=dt.UTC)


class CampaignLedger:
    """Implements `telephony.ua.ledger.Ledger` with the campaigns services."""

    def begin_dial(self, attempt_id: int, *, ua_name: str, sip_call_id: str) -> DialDecision:
        """The last gate before the INVITE (`attempts.mark_attempt_dialing`)."""
        with _database():
            close_old_connections()  # a connection idle past its age is replaced before the gate, not after
            return attempts.mark_attempt_dialing(attempt_id, ua_name=ua_name, sip_call_id=sip_call_id)

    def record(self, event: CallEvent) -> None:
        """Apply one call event to the ledger (idempotent)."""
        with _database():
            # The times the UA saw, not when the event reached us (see telephony.contract): a lagging or
            # replayed event keeps its time, and the billed talk time is the call's.
            if isinstance(event, Ringing):
                attempts.mark_attempt_ringing(event.attempt_id, _utc(event.at))
            elif isinstance(event, Answered):
                attempts.mark_attempt_answered(event.attempt_id, _utc(event.at))
            elif isinstance(event, Bridged):
                attempts.mark_attempt_bridged(event.attempt_id, _utc(event.at))
            elif isinstance(event, OptedOut):
                # Compliance (TCPA 47 CFR 64.1200(d)(3)): recorded the moment the callee asks, before the goodbye
                # and the hangup, company-wide: the same number in other campaigns becomes do-not-call in the
                # same transaction. The note's suffix names how (dtmf, phrase, agent).
                add_to_do_not_call(event.number, campaign=None, source=DncSource.OPT_OUT,
                                   note=f"attempt {event.attempt_id}: {event.how}"[:255], attempt_id=event.attempt_id)
            elif isinstance(event, Ended):
                attempts.finish_attempt(
                    event.attempt_id, disposition=event.disposition, sip_code=event.sip_code,
                    sip_reason=event.sip_reason, reason=event.reason, results=event.results.stored_fields() or None,
                    trunk_id=event.trunk_id, failed_over=event.failed_over, primary_trunk_id=event.primary_trunk_id,
                    ended_at=_utc(event.at))
            else:  # pragma: no cover - the contract's set is closed
                raise ValueError(f"unknown event {event!r}")

    def renew(self, attempt_id: int, trunk_id: int | None = None) -> bool:
        """The lease heartbeat of a live call (on the trunk that carries it now)."""
        with _database():
            return attempts.renew_attempt_leases(attempt_id, trunk_id=trunk_id)

    def take_trunk_channel(self, attempt_id: int, trunk_id: int, max_channels: int) -> bool:
        """A channel on the failover trunk for `attempt_id` (Redis only), before its INVITE goes out."""
        try:
            return acquire_leases(get_redis(), [trunk_scope(trunk_id, max_channels)], attempt_id)
        except redis.RedisError as exc:
            raise LedgerUnavailable(f"Redis: {exc}") from exc
