"""A small campaign whose report figures can be worked out by hand (see ``ReportData``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact
from tests.factories import AgentProfileFactory, CampaignFactory, ContactFactory, TrunkFactory

DAY = dt.datetime(2026, 6, 2, tzinfo=dt.UTC)  # summer time: New York -4, Chicago -5, Los Angeles -7
RATE_PER_MINUTE = Decimal("0.6000")  # one cent per second
SCHEMA = [
    {"label": "interested", "description": "Wants to hear more.",
     "fields": [{"name": "callback_date", "type": "date"}, {"name": "budget", "type": "number"}]},
    {"label": "not_interested", "description": "Declined.", "fields": [{"name": "reason", "type": "string"}]},
]
INJECTED_REASON = '=HYPERLINK("http://evil.example","click")'
INJECTED_NAME = "@SUM(1+1)"


@dataclass
class ReportData:
    """The campaign and the rows the tests look at."""

    campaign: Campaign
    contacts: dict[str, Contact] = field(default_factory=dict)
    attempts: dict[str, CallAttempt] = field(default_factory=dict)


def at(hour: int, minute: int = 0, second: float = 0) -> dt.datetime:
    """A UTC time on the test day."""
    return DAY + dt.timedelta(hours=hour, minutes=minute, seconds=second)


def add_attempt(campaign: Campaign, contact: Contact, number: int, dialed: dt.datetime | None, disposition: str,
                *, state: str = AttemptState.ENDED, answered_after_s: float | None = None, talk_s: float = 0,
                bridged: bool = True, first_audio_after_s: float | None = None, **fields: Any) -> CallAttempt:
    """Create one attempt dialed at ``dialed`` (None: never dialed) with the given call facts."""
    answered = dialed + dt.timedelta(seconds=answered_after_s) if dialed and answered_after_s is not None else None
    if state != AttemptState.ENDED:
        ended = None
    elif answered:
        ended = answered + dt.timedelta(seconds=talk_s)
    else:
        ended = (dialed or at(0)) + dt.timedelta(seconds=20)
    attempt = CallAttempt.objects.create(
        campaign=campaign, contact=contact, attempt_number=number, trunk=campaign.trunk, state=state,
        disposition=disposition if state == AttemptState.ENDED else "", originated_at=dialed, dialing_at=dialed,
        answered_at=answered, ended_at=ended,
        bridged_at=answered + dt.timedelta(milliseconds=200) if answered and bridged else None,
        agent_first_audio_at=answered + dt.timedelta(seconds=first_audio_after_s)
        if answered and first_audio_after_s is not None else None,
        **fields,
    )
    # queued_at is stamped on insert; put it at the dial like the dispatcher would.
    CallAttempt.objects.filter(pk=attempt.pk).update(queued_at=dialed or at(0))
    attempt.refresh_from_db()
    return attempt


def build_report_campaign() -> ReportData:
    """Eight contacts in several zones and nine attempts covering every stage and measure of the report.

    By hand (see tests/campaigns/reports/test_report.py): contacts 8, attempted 6, connected 4, human 4, outcome 2;
    dialed attempts 8 (one still ringing), not dialed 1; talk seconds (billed) 62, 10, 30, 4, 20;
    first responses 500, 700, 900 ms; abandoned 2 of 4 human-answered calls, one with no agent-audio time;
    local hour 10: 4 dialed / 3 connected, hour 14: 3 / 2, one attempt to a contact without a zone.
    """
    trunk = TrunkFactory(cost_per_minute=RATE_PER_MINUTE)
    campaign = CampaignFactory(name="Renewals", trunk=trunk, agent=AgentProfileFactory(outcome_schema=SCHEMA))
    data = ReportData(campaign)

    def contact(key: str, zones: list[str], **extra: Any) -> Contact:
        data.contacts[key] = ContactFactory(campaign=campaign, time_zones=zones, **extra)
        return data.contacts[key]

    ny = contact("ny", ["America/New_York"], status=ContactStatus.DONE, attempts=2, outcome="interested",
                 outcome_fields={"callback_date": "2026-07-01", "budget": 1000},
                 last_disposition=Disposition.HUMAN)
    la = contact("la", ["America/Los_Angeles"], name=INJECTED_NAME, status=ContactStatus.DONE, attempts=2,
                 outcome="not_interested", outcome_fields={"reason": INJECTED_REASON},
                 last_disposition=Disposition.HUMAN)
    kolkata = contact("kolkata", ["Asia/Kolkata"], status=ContactStatus.FAILED, attempts=1,
                      last_disposition=Disposition.HUMAN)
    # Two candidate zones: the report reads the first (Chicago 10:30, New York would say 11:30).
    two_zones = contact("two_zones", ["America/Chicago", "America/New_York"], status=ContactStatus.RETRY_SCHEDULED,
                        attempts=1, last_disposition=Disposition.AI_ERROR)
    no_zone = contact("no_zone", [], status=ContactStatus.RETRY_SCHEDULED, attempts=1,
                      last_disposition=Disposition.BUSY)
    contact("never", ["America/New_York"])
    cancelled = contact("cancelled", ["America/New_York"])
    ringing = contact("ringing", ["America/New_York"], status=ContactStatus.IN_PROGRESS)

    a = data.attempts
    a["ny_1"] = add_attempt(campaign, ny, 1, at(14, 10), Disposition.NO_ANSWER, sip_code=480)
    a["ny_2"] = add_attempt(campaign, ny, 2, at(18, 20), Disposition.HUMAN, answered_after_s=5, talk_s=61.2,
                            first_audio_after_s=0.5, amd_result="human", sip_code=200, outcome="interested",
                            outcome_fields={"callback_date": "2026-07-01", "budget": 1000},
                            first_response_ms=[500, 700], recording=f"{campaign.pk}/ny-2.wav",
                            transcript=[{"speaker": "caller", "text": "Yes, speaking.", "start_ms": 2100,
                                         "end_ms": 2900},
                                        {"speaker": "agent", "text": "Hi, this is <Acme> calling.", "start_ms": 400,
                                         "end_ms": 1900}])
    a["la_1"] = add_attempt(campaign, la, 1, at(17, 5), Disposition.MACHINE, answered_after_s=8, talk_s=10,
                            bridged=False, amd_result="machine", sip_code=200, cost=Decimal("0.0500"))
    # The agent spoke 3.5 s after answer: abandoned.
    a["la_2"] = add_attempt(campaign, la, 2, at(21, 15), Disposition.HUMAN, answered_after_s=4, talk_s=30,
                            first_audio_after_s=3.5, sip_code=200, outcome="not_interested",
                            outcome_fields={"reason": INJECTED_REASON}, first_response_ms=[900])
    # Answered at 04:40 UTC = 10:10 in Kolkata (+05:30); never bridged to the agent: abandoned.
    a["kolkata_1"] = add_attempt(campaign, kolkata, 1, at(4, 40), Disposition.HUMAN, answered_after_s=3,
                                 talk_s=4, bridged=False, sip_code=200)
    # A person by the machine detector (AI failed); bridged, but no agent-audio time: not counted abandoned.
    a["two_zones_1"] = add_attempt(campaign, two_zones, 1, at(15, 30), Disposition.AI_ERROR, answered_after_s=6,
                                   talk_s=20, amd_result="human", sip_code=200, cost=Decimal("0.5000"))
    a["no_zone_1"] = add_attempt(campaign, no_zone, 1, at(16, 0), Disposition.BUSY, sip_code=486)
    a["cancelled_1"] = add_attempt(campaign, cancelled, 1, None, Disposition.CANCELLED)
    a["ringing_1"] = add_attempt(campaign, ringing, 1, at(18, 40), "", state=AttemptState.RINGING)
    return data
