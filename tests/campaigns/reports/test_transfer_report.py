"""The report's transfer figures and the abandon accounting of a caller left on hold for a person."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import Disposition
from campaigns.reports.report import build_campaign_report
from compliance.governor import abandonment_counts
from tests.campaigns.report_data import add_attempt, at, build_report_campaign
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _transfer(accepted: bool, answer_ms: int | None, *, fallback: str = "", abandoned: bool = False) -> dict:
    return {
        "target": "Sales desk",
        "method": "bridge",
        "accepted": accepted,
        "answer_ms": answer_ms,
        "sip_code": 200 if accepted else (None if abandoned else 486),
        "fallback": fallback,
        "abandoned": abandoned,
    }


def _with_transfers():
    data = build_report_campaign()
    rows = [
        (Disposition.TRANSFERRED, _transfer(True, 2000)),
        (Disposition.TRANSFERRED, _transfer(True, 4000)),
        (Disposition.TRANSFERRED, _transfer(True, 6000)),
        (Disposition.HUMAN, _transfer(False, None, fallback="end")),
        (Disposition.HUMAN, _transfer(False, None, abandoned=True)),
    ]
    for k, (disposition, record) in enumerate(rows):
        contact = ContactFactory(campaign=data.campaign, time_zones=["Europe/London"])
        add_attempt(
            data.campaign,
            contact,
            1,
            at(10, k),
            disposition,
            answered_after_s=3,
            talk_s=60,
            first_audio_after_s=0.5,
            transfer=record,
        )
    return data


def test_the_report_counts_transfers_offered_answered_accepted_and_time_to_answer() -> None:
    data = _with_transfers()
    report = build_campaign_report(data.campaign)
    t = report.transfers
    assert (t.offered, t.answered, t.accepted, t.fell_back, t.abandoned) == (5, 3, 3, 1, 1)
    assert t.answer_ms_p50 == 4000
    assert t.answer_ms_p90 == pytest.approx(5600)
    assert t.accepted_rate == pytest.approx(0.6)


def test_a_caller_who_hung_up_on_hold_for_a_person_is_abandoned() -> None:
    # given the report campaign (2 abandoned of 4 human answers) plus the five transfer calls
    data = _with_transfers()
    report = build_campaign_report(data.campaign)
    # then the transferred calls count as human answers, and the one left on hold as abandoned
    assert report.human_connected == 4 + 5
    assert report.abandoned == 2 + 1


def test_the_governor_counts_the_caller_left_on_hold_as_abandoned() -> None:
    data = build_report_campaign()
    now = timezone.now()
    before = abandonment_counts([data.campaign.pk], now)[data.campaign.pk]
    contact = ContactFactory(campaign=data.campaign, time_zones=["Europe/London"])
    add_attempt(
        data.campaign,
        contact,
        1,
        now - dt.timedelta(minutes=5),
        Disposition.HUMAN,
        answered_after_s=3,
        talk_s=30,
        first_audio_after_s=0.5,
        transfer=_transfer(False, None, abandoned=True),
    )
    after = abandonment_counts([data.campaign.pk], now)[data.campaign.pk]
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_the_report_page_shows_the_transfer_card() -> None:
    data = _with_transfers()
    user = User.objects.create_superuser("boss", "boss@example.test", "x")
    client = Client()
    client.force_login(user)
    body = client.get(reverse("admin:campaigns_campaign_report", args=[data.campaign.pk])).content.decode()
    assert 'id="card-transfers"' in body
    assert "3 / 5" in body
    assert "hung up on hold" in body
