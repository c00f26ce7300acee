"""The ledger writes the times a call's events happened at its user agent, not the times they reached it."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.choices import Disposition
from campaigns.dialer.ledger import CampaignLedger
from campaigns.models import CallAttempt
from telephony.contract import Answered, Bridged, Ended, Ringing, event_from_json, event_to_json
from tests.campaigns.dialer_setup import dialing_attempt


@pytest.mark.django_db
def test_events_that_reach_the_ledger_late_keep_the_times_the_call_had() -> None:
    # given a call that rang, was answered, bridged and ended 2 s after the answer, 40 s ago (say the database
    # was away and the UA's spool replays its events now, through their JSON as the spool stores them)
    attempt = dialing_attempt("+12025550177")
    t0 = dt.datetime.now(dt.UTC).timestamp() - 40
    events = [Ringing(attempt.pk, at=t0), Answered(attempt.pk, at=t0 + 3), Bridged(attempt.pk, at=t0 + 3.5),
              Ended(attempt.pk, Disposition.HUMAN, sip_code=200, reason="max call length 2s reached", at=t0 + 5)]
    ledger = CampaignLedger()
    for event in events:
        ledger.record(event_from_json(event_to_json(event)))
    # then the attempt holds the call's own times, and the billed talk time is the call's 2 s
    ended = CallAttempt.objects.get(pk=attempt.pk)
    assert ended.ringing_at == dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    assert ended.answered_at == dt.datetime.fromtimestamp(t0 + 3, tz=dt.UTC)
    assert ended.bridged_at == dt.datetime.fromtimestamp(t0 + 3.5, tz=dt.UTC)
    assert ended.ended_at == dt.datetime.fromtimestamp(t0 + 5, tz=dt.UTC)
    assert ended.talk_seconds == pytest.approx(2.0, abs=1e-5)


def test_an_event_is_stamped_when_it_is_made() -> None:
    before = dt.datetime.now(dt.UTC).timestamp()
    event = Answered(7)
    assert before <= event.at <= dt.datetime.now(dt.UTC).timestamp()
