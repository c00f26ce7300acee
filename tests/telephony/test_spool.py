"""The UA's durable event spool and the ledger writer: nothing a call produced is lost when the database is away.

The writer drives the real control-plane ledger (`CampaignLedger`) against the real database. The outage is
injected at the port: while it is "down", every ledger call raises `LedgerUnavailable`, which is exactly what
`CampaignLedger` raises when PostgreSQL cannot be reached (the process-level fault test cuts PostgreSQL itself).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition, DncSource
from campaigns.dialer.attempts import finish_attempt, mark_attempt_answered, mark_attempt_dialing
from campaigns.dialer.ledger import CampaignLedger
from campaigns.dialer.reaper import reap_stuck_attempts
from campaigns.models import CallAttempt, Contact, DoNotCall
from telephony.contract import Answered, CallEvent, CallResults, Ended, OptedOut, Ringing
from telephony.ua.ledger import DialDecision, LedgerUnavailable, LedgerWriter
from telephony.ua.spool import EventSpool
from tests.campaigns.dialer_setup import MIDDAY, running_campaign
from tests.factories import ContactFactory


class OutageLedger:
    """The real ledger behind a switch: while `down` is set, every call fails as a lost database does."""

    def __init__(self) -> None:
        self.real = CampaignLedger()
        self.down = threading.Event()
        self.recorded: list[str] = []

    def _check(self) -> None:
        if self.down.is_set():
            raise LedgerUnavailable("connection refused")

    def begin_dial(self, attempt_id: int, *, ua_name: str, sip_call_id: str) -> DialDecision:
        self._check()
        return self.real.begin_dial(attempt_id, ua_name=ua_name, sip_call_id=sip_call_id)

    def record(self, event: CallEvent) -> None:
        self._check()
        self.real.record(event)
        self.recorded.append(event.kind)

    def renew(self, attempt_id: int, trunk_id: int | None = None) -> bool:
        self._check()
        return self.real.renew(attempt_id, trunk_id)


def test_the_spool_keeps_events_across_a_restart_and_gives_opt_outs_first(tmp_path: Path) -> None:
    path = tmp_path / "ua-1.sqlite3"
    spool = EventSpool(path)
    spool.append(Ringing(1))
    spool.append(Answered(1))
    spool.append(OptedOut(1, number="+12125550100", how="dtmf"))
    spool.append(Ended(1, "opted_out"))
    spool.close()
    # when the UA starts again over the same file
    again = EventSpool(path)
    kinds = [item.event.kind for item in again.pending()]
    assert kinds == ["opted_out", "ringing", "answered", "ended"]
    first = again.pending()[0]
    again.acknowledge(first.seq)
    assert len(again) == 3


def test_a_poison_event_is_set_aside_not_lost(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "ua-1.sqlite3")
    seq = spool.append(Ended(9, "human"))
    spool.bury(seq)
    assert len(spool) == 0
    assert spool.buried_count() == 1


def _bridged_call() -> CallAttempt:
    campaign = running_campaign()
    person = ContactFactory(campaign=campaign, phone_e164="+12125550142", status=ContactStatus.IN_PROGRESS)
    attempt = CallAttempt.objects.create(campaign=campaign, contact=person, trunk=campaign.trunk,
                                         originated_at=MIDDAY, lease_expires_at=timezone.now() + timezone.timedelta(
                                             seconds=30))
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert mark_attempt_answered(attempt.pk)
    return attempt


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_the_lease_loses_no_opt_out_and_no_result(tmp_path: Path) -> None:
    # given a live call whose ledger goes away (the database is down)
    attempt = _bridged_call()
    ledger = OutageLedger()
    ledger.down.set()
    spool = EventSpool(tmp_path / "ua-1.sqlite3")
    writer = LedgerWriter(ledger, spool, busy_attempts=lambda: [attempt.pk], on_lost=lambda _: None,
                          lease_renew_s=0.2)
    writer.start()
    try:
        # when the person opts out and the call ends while it is down
        writer.submit(OptedOut(attempt.pk, number="+12125550142", how="dtmf"))
        writer.submit(Ended(attempt.pk, Disposition.OPTED_OUT, sip_code=200, reason="opted out (dtmf)",
                            results=CallResults(transcript=[{"speaker": "caller", "text": "stop calling me"}]),
                            trunk_id=attempt.trunk_id))
        time.sleep(1.0)
        assert not DoNotCall.objects.filter(phone_e164="+12125550142").exists()
        assert len(spool) == 2  # kept, not dropped
        # and the reaper runs meanwhile, after the lease ran out (its own database is up)
        CallAttempt.objects.filter(pk=attempt.pk).update(lease_expires_at=timezone.now() - timezone.timedelta(
            seconds=1))
        assert reap_stuck_attempts() == [attempt.pk]
        assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.REVIEW  # answered: no retry
        # then once the ledger is back everything lands: the opt-out first, then the real end
        ledger.down.clear()
        assert _wait(lambda: len(spool) == 0, 10)
    finally:
        writer.stop(timeout_s=2)
    assert ledger.recorded == ["opted_out", "ended"]
    entry = DoNotCall.objects.get(phone_e164="+12125550142", campaign=None)
    assert (entry.source, entry.note) == (DncSource.OPT_OUT, f"attempt {attempt.pk}: dtmf")
    ended = CallAttempt.objects.get(pk=attempt.pk)
    assert (ended.state, ended.disposition) == (AttemptState.ENDED, Disposition.OPTED_OUT)
    assert ended.transcript == [{"speaker": "caller", "text": "stop calling me"}]
    assert "reported late" in ended.reason
    person = Contact.objects.get(pk=attempt.contact_id)
    assert person.status == ContactStatus.DNC
    assert person.next_attempt_at is None
    assert person.attempts == 1  # counted once, by the reaper, not twice


@pytest.mark.django_db(transaction=True)
def test_an_outage_does_not_hang_up_a_live_call(tmp_path: Path) -> None:
    attempt = _bridged_call()
    ledger = OutageLedger()
    ledger.down.set()
    lost: list[int] = []
    writer = LedgerWriter(ledger, EventSpool(tmp_path / "ua-1.sqlite3"), busy_attempts=lambda: [attempt.pk],
                          on_lost=lost.append, lease_renew_s=0.1)
    writer.start()
    try:
        time.sleep(0.8)  # several renewals fail
        assert lost == []
        # but a call whose attempt ended in the ledger (cancelled by the operator) is hung up
        ledger.down.clear()
        assert finish_attempt(attempt.pk, disposition=Disposition.CANCELLED, reason="campaign cancelled")
        # (told again at each renewal until the call is gone: hanging up is idempotent)
        assert _wait(lambda: bool(lost), 5)
        assert set(lost) == {attempt.pk}
    finally:
        writer.stop(timeout_s=1)
