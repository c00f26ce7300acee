"""The report's figures on a small campaign worked out by hand (tests/campaigns/report_data.py)."""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, Disposition
from campaigns.models import CallAttempt, Campaign, ReportRollup
from campaigns.reports.report import build_campaign_report, distribution_from_counts, percentile_from_counts
from campaigns.reports.rollups import refresh_report_rollups, reset_report_rollup
from tests.campaigns.report_data import RATE_PER_MINUTE, add_attempt, at, build_report_campaign
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

TALK_BILLED_S = [62, 10, 30, 4, 20]  # ny_2 (61.2 s), la_1, la_2, kolkata_1, two_zones_1
FIRST_RESPONSES_MS = [500, 700, 900]


def test_funnel_counts_contacts_and_attempts_at_each_stage() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    stages = {s.key: (s.contacts, s.attempts) for s in report.funnel}
    assert stages == {
        "contacts": (8, None),
        "attempted": (6, 8),  # "never" and "cancelled" were not dialed; the ringing attempt was
        "connected": (4, 5),
        "human": (4, 4),  # ny, la, kolkata by disposition; two_zones by the machine detector
        "outcome": (2, 2),
    }
    assert report.attempts_total == 9
    assert report.attempts_dialed == 8
    assert report.attempts_not_dialed == 1
    assert report.attempts_in_flight == 1
    assert [s.share for s in report.funnel][:2] == [1.0, 6 / 8]


def test_a_campaign_without_attempts_reports_zeros_and_no_rates() -> None:
    campaign = CampaignFactory()

    report = build_campaign_report(campaign)

    assert [s.contacts for s in report.funnel] == [0, 0, 0, 0, 0]
    assert report.abandoned_rate is None
    assert report.answer_rate is None
    assert report.talk_seconds.p50 is None
    assert report.timeline == []
    assert report.cost_total == Decimal("0.00")


def test_talk_time_is_billed_seconds_with_mean_and_percentiles() -> None:
    data = build_report_campaign()

    talk = build_campaign_report(data.campaign).talk_seconds

    assert talk.count == len(TALK_BILLED_S)
    assert talk.mean == pytest.approx(statistics.fmean(TALK_BILLED_S))
    assert talk.p50 == pytest.approx(statistics.median(TALK_BILLED_S))
    assert talk.p90 == pytest.approx(statistics.quantiles(TALK_BILLED_S, n=10, method="inclusive")[8])


def test_first_response_percentiles_cover_every_turn() -> None:
    data = build_report_campaign()

    latency = build_campaign_report(data.campaign).first_response_ms

    assert latency.count == 3
    assert latency.p50 == 700
    assert latency.p90 == pytest.approx(statistics.quantiles(FIRST_RESPONSES_MS, n=10, method="inclusive")[8])


def test_abandoned_calls_are_human_answers_the_agent_did_not_speak_to_within_two_seconds() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    # la_2 (agent audio at 3.5 s) and kolkata_1 (never bridged); ny_2 spoke at 0.5 s; two_zones_1 has no time.
    assert report.abandoned == 2
    assert report.human_connected == 4
    assert report.abandoned_rate == 0.5
    assert report.audio_time_unknown == 1


def test_a_two_second_first_audio_is_not_abandoned_but_just_over_is() -> None:
    data = build_report_campaign()
    data.campaign.attempts.filter(pk=data.attempts["la_2"].pk).update(
        agent_first_audio_at=data.attempts["la_2"].answered_at + dt.timedelta(seconds=2))
    assert build_campaign_report(data.campaign).abandoned == 1

    # (an ended attempt corrected by hand: the rollup is reset, as reset_report_rollup documents)
    data.campaign.attempts.filter(pk=data.attempts["la_2"].pk).update(
        agent_first_audio_at=data.attempts["la_2"].answered_at + dt.timedelta(seconds=2, milliseconds=1))
    reset_report_rollup(data.campaign.pk)
    assert build_campaign_report(data.campaign).abandoned == 2


def test_answer_rate_is_bucketed_by_the_contacts_local_hour_across_zones() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    by_hour = {h.hour: (h.attempts, h.connected) for h in report.local_hours if h.attempts}
    # 10h: New York 10:10 (no answer), Los Angeles 10:05, Kolkata 10:10 (+05:30), Chicago 10:30 (first zone).
    # 14h: New York 14:20, Los Angeles 14:15, New York 14:40 (still ringing).
    assert by_hour == {10: (4, 3), 14: (3, 2)}
    assert report.local_hours[10].answer_rate == 0.75
    assert report.unknown_zone_attempts == 1
    assert len(report.local_hours) == 24


def test_attempts_per_hour_cover_the_dialing_span_in_hourly_bars() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign, display_zone=dt.UTC)

    assert report.timeline_bucket_hours == 1
    assert report.timeline[0].start == at(4)
    assert report.timeline[-1].start == at(21)
    assert len(report.timeline) == 18  # 04:00 to 21:00, empty hours included
    bars = {bar.start.hour: (bar.attempts, bar.connected) for bar in report.timeline if bar.attempts}
    assert bars == {4: (1, 1), 14: (1, 0), 15: (1, 1), 16: (1, 0), 17: (1, 1), 18: (2, 1), 21: (1, 1)}


def test_cost_uses_the_stored_cost_or_billed_seconds_at_the_trunk_rate() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    stored = Decimal("0.0500") + Decimal("0.5000")  # la_1 and two_zones_1
    priced = Decimal(62 + 30 + 4) * RATE_PER_MINUTE / 60  # ny_2, la_2 and kolkata_1 have no stored cost
    assert report.cost_total == (stored + priced).quantize(Decimal("0.01"))
    assert report.cost_per_connected == (report.cost_total / 5).quantize(Decimal("0.0001"))


def test_dispositions_count_ended_attempts() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    counts = {value: n for value, _, n, _ in report.dispositions}
    assert counts == {Disposition.HUMAN: 3, Disposition.NO_ANSWER: 1, Disposition.MACHINE: 1,
                      Disposition.AI_ERROR: 1, Disposition.BUSY: 1, Disposition.CANCELLED: 1}
    assert report.dispositions[0][0] == Disposition.HUMAN
    assert sum(share for *_, share in report.dispositions) == pytest.approx(1.0)


def test_outcomes_list_contacts_and_their_extracted_fields() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    outcomes = {o.label: o for o in report.outcomes}
    assert {label: o.contacts for label, o in outcomes.items()} == {"interested": 1, "not_interested": 1}
    interested = {f.name: f for f in outcomes["interested"].fields}
    assert list(interested) == ["callback_date", "budget"]  # schema order
    assert interested["budget"].top_values == [("1000", 1)]
    assert interested["callback_date"].filled == 1
    assert outcomes["not_interested"].description == "Declined."


def test_other_campaigns_attempts_do_not_leak_into_the_report() -> None:
    data = build_report_campaign()
    other = build_report_campaign()

    report = build_campaign_report(data.campaign)

    assert report.attempts_total == 9
    assert other.campaign.pk != data.campaign.pk


def test_percentiles_from_a_histogram_match_the_sorted_values() -> None:
    values = [3, 3, 3, 7, 8, 8, 15, 40]
    counts = [(v, values.count(v)) for v in sorted(set(values))]

    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        expected = statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] if 0 < q < 1 else (
            min(values) if q == 0 else max(values))
        assert percentile_from_counts(counts, q) == pytest.approx(expected)
    assert distribution_from_counts([]).mean is None


def _figures(report: object) -> dict[str, object]:
    names = ["funnel", "attempts_total", "attempts_dialed", "attempts_not_dialed", "attempts_in_flight",
             "dispositions", "timeline", "local_hours", "unknown_zone_attempts", "talk_seconds", "first_response_ms",
             "cost_total", "human_connected", "abandoned", "audio_time_unknown"]
    return {name: getattr(report, name) for name in names}


def test_the_rollup_stops_before_the_first_attempt_in_flight() -> None:
    data = build_report_campaign()

    report = build_campaign_report(data.campaign)

    assert report.rollup_through_attempt_id == data.attempts["ringing_1"].pk - 1
    assert ReportRollup.objects.get(campaign=data.campaign).through_attempt_id == report.rollup_through_attempt_id


def test_rollup_plus_newer_attempts_equals_a_full_recount() -> None:
    # given a report already rolled up to the attempt still ringing
    data = build_report_campaign()
    build_campaign_report(data.campaign)
    # when that call is answered by a person and ends, the contact reached before is called again, and a
    # contact never called is dialed
    ringing = data.attempts["ringing_1"]
    answered = at(18, 40, 7)
    CallAttempt.objects.filter(pk=ringing.pk).update(
        state=AttemptState.ENDED, disposition=Disposition.HUMAN, answered_at=answered, bridged_at=answered,
        agent_first_audio_at=answered + dt.timedelta(seconds=1), ended_at=answered + dt.timedelta(seconds=45),
        first_response_ms=[650])
    add_attempt(data.campaign, data.contacts["ny"], 3, at(19, 5), Disposition.HUMAN, answered_after_s=2,
                talk_s=12, first_audio_after_s=0.4, outcome="interested")
    add_attempt(data.campaign, data.contacts["never"], 1, at(19, 10), Disposition.NO_ANSWER)
    incremental = build_campaign_report(data.campaign)

    reset_report_rollup(data.campaign.pk)
    full = build_campaign_report(data.campaign)

    # then the rolled-up report and a recount from scratch agree on every figure
    assert _figures(incremental) == _figures(full)
    stages = {s.key: s.contacts for s in full.funnel}
    assert stages == {"contacts": 8, "attempted": 7, "connected": 5, "human": 5, "outcome": 2}
    assert incremental.rollup_through_attempt_id > data.attempts["ringing_1"].pk


def test_attempts_queued_in_the_last_minute_stay_out_of_the_rollup_but_count() -> None:
    # given every call ended, the newest queued just now (its claim could still be committing lower ids)
    data = build_report_campaign()
    ringing = data.attempts["ringing_1"]
    CallAttempt.objects.filter(pk=ringing.pk).update(state=AttemptState.ENDED, disposition=Disposition.NO_ANSWER,
                                                     ended_at=at(18, 41))
    fresh = add_attempt(data.campaign, data.contacts["never"], 1, at(19), Disposition.NO_ANSWER)
    CallAttempt.objects.filter(pk=fresh.pk).update(queued_at=timezone.now())

    report = build_campaign_report(data.campaign)

    assert report.rollup_through_attempt_id == ringing.pk
    assert report.attempts_total == 10
    assert {s.key: s.contacts for s in report.funnel}["attempted"] == 7


def test_the_beat_moves_the_rollups_of_active_and_recently_finished_campaigns_only() -> None:
    # given the report campaign running, and three more: finished 30 minutes ago, finished yesterday, a draft
    data = build_report_campaign()
    Campaign.objects.filter(pk=data.campaign.pk).update(status=CampaignStatus.RUNNING)
    now = timezone.now()
    recent = CampaignFactory(status=CampaignStatus.COMPLETED, finished_at=now - dt.timedelta(minutes=30))
    old = CampaignFactory(status=CampaignStatus.CANCELLED, finished_at=now - dt.timedelta(days=1))
    draft = CampaignFactory()
    for campaign in (recent, old, draft):
        add_attempt(campaign, ContactFactory(campaign=campaign), 1, at(9), Disposition.NO_ANSWER)

    # when the beat's refresh runs
    moved = refresh_report_rollups(now)

    # then the running and the recently finished campaign are rolled up; the report finds its rollup current
    assert set(moved) == {data.campaign.pk, recent.pk}
    assert moved[data.campaign.pk] == data.attempts["ringing_1"].pk - 1
    assert ReportRollup.objects.get(campaign=recent).through_attempt_id > 0
    assert not ReportRollup.objects.filter(campaign__in=[old, draft]).exists()
    assert build_campaign_report(data.campaign).rollup_through_attempt_id == moved[data.campaign.pk]


def test_answer_rate_leaves_out_calls_still_ringing() -> None:
    # D14: 10 ended calls of which 5 answered, then 4 still ringing and 1 answered and still talking
    campaign = CampaignFactory()
    for k in range(10):
        answered = k < 5
        add_attempt(campaign, ContactFactory(campaign=campaign), 1, at(12, k),
                    Disposition.HUMAN if answered else Disposition.NO_ANSWER,
                    answered_after_s=3 if answered else None, talk_s=20)
    for k in range(4):
        add_attempt(campaign, ContactFactory(campaign=campaign), 1, at(13, k), "", state=AttemptState.RINGING)
    add_attempt(campaign, ContactFactory(campaign=campaign), 1, at(13, 5), "", state=AttemptState.BRIDGED,
                answered_after_s=3)

    report = build_campaign_report(campaign)

    # then the rate is 6 answered of the 11 dialed calls whose answer is known, not 6 of 15
    assert (report.attempts_dialed, report.attempts_ringing) == (15, 4)
    assert report.answer_rate == pytest.approx(6 / 11)
