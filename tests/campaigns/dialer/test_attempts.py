"""Attempt transitions and their end: conditional, idempotent, and the contact moves on by the rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import redis
import time_machine
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import (
    disposition_for_sip_failure,
    finish_attempt,
    mark_attempt_answered,
    mark_attempt_bridged,
    mark_attempt_dialing,
    mark_attempt_ringing,
)
from campaigns.dialer.leases import acquire_leases, attempt_scopes, count_leases
from campaigns.models import CallAttempt, Contact, DoNotCall, RetryRule
from tests.campaigns.dialer_setup import MIDDAY
from tests.factories import ContactFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db


def _attempt(contact: Contact | None = None, *, state: str = AttemptState.QUEUED, handed_off: bool = True,
             number: int = 1) -> CallAttempt:
    contact = contact or ContactFactory(status=ContactStatus.IN_PROGRESS,
                                        campaign__status=CampaignStatus.RUNNING)
    return CallAttempt.objects.create(
        campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk, state=state,
        attempt_number=number, originated_at=timezone.now() if handed_off else None,
        dialing_at=timezone.now() if state != AttemptState.QUEUED else None,
        lease_expires_at=timezone.now() + timedelta(seconds=30))


def test_the_happy_path_moves_through_every_state() -> None:
    attempt = _attempt()
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", sip_call_id="abc", now=MIDDAY)
    assert mark_attempt_ringing(attempt.pk)
    assert mark_attempt_answered(attempt.pk)
    assert mark_attempt_bridged(attempt.pk)
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.BRIDGED
    assert attempt.ua_name == "ua-1"
    assert attempt.sip_call_id == "abc"
    assert None not in (attempt.dialing_at, attempt.ringing_at, attempt.answered_at, attempt.bridged_at)


def test_a_second_dialing_report_loses() -> None:
    attempt = _attempt()
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert not mark_attempt_dialing(attempt.pk, ua_name="ua-2", now=MIDDAY)
    attempt.refresh_from_db()
    assert attempt.ua_name == "ua-1"


def test_transitions_out_of_order_are_refused() -> None:
    attempt = _attempt()
    assert not mark_attempt_ringing(attempt.pk)
    assert not mark_attempt_bridged(attempt.pk)
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert mark_attempt_answered(attempt.pk)  # 200 OK without 180 is fine
    assert not mark_attempt_ringing(attempt.pk)


def test_finish_is_idempotent() -> None:
    attempt = _attempt(state=AttemptState.DIALING)
    assert finish_attempt(attempt.pk, disposition=Disposition.BUSY, sip_code=486)
    assert not finish_attempt(attempt.pk, disposition=Disposition.HUMAN)
    attempt.refresh_from_db()
    assert attempt.disposition == Disposition.BUSY
    assert attempt.contact.attempts == 1


def test_no_transition_after_the_end() -> None:
    attempt = _attempt(state=AttemptState.RINGING)
    finish_attempt(attempt.pk, disposition=Disposition.NO_ANSWER)
    assert not mark_attempt_answered(attempt.pk)


def test_finish_rejects_an_unknown_disposition() -> None:
    attempt = _attempt()
    with pytest.raises(ValueError, match="disposition"):
        finish_attempt(attempt.pk, disposition="maybe")


def test_human_answer_records_results_cost_and_closes_the_contact() -> None:
    attempt = _attempt(state=AttemptState.DIALING)
    _set_schema(attempt, [{"label": "interested", "fields": [{"name": "day", "type": "string"}]}])
    trunk = attempt.trunk
    trunk.cost_per_minute = Decimal("0.0120")
    trunk.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        mark_attempt_answered(attempt.pk)
    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        assert finish_attempt(attempt.pk, disposition=Disposition.HUMAN, sip_code=200, results={
            "outcome": "interested", "outcome_fields": {"day": "monday"},
            "transcript": [{"speaker": "agent", "text": "hi", "start_ms": 0, "end_ms": 500}]})
    attempt.refresh_from_db()
    assert attempt.cost == Decimal("0.0180")
    assert attempt.transcript[0]["text"] == "hi"
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.DONE
    assert contact.outcome == "interested"
    assert contact.outcome_fields == {"day": "monday"}
    assert contact.last_disposition == Disposition.HUMAN


def _set_schema(attempt: CallAttempt, schema: list[dict[str, object]]) -> None:
    agent = attempt.campaign.agent
    agent.outcome_schema = schema
    agent.save(update_fields=["outcome_schema"])


@pytest.mark.parametrize(("results", "error"), [
    ({"outcome": "interested", "outcome_fields": {}}, "unknown outcome label 'interested'"),
    ({"outcome": "sale", "outcome_fields": {"amount": "lots"}}, "field 'amount': expected number, got 'lots'"),
    ({"outcome": "sale", "outcome_fields": {"amount": 3, "card": "4111"}}, "unknown field 'card'"),
])
def test_an_outcome_outside_the_agents_schema_is_stored_for_review_not_as_a_label(
    results: dict[str, object], error: str,
) -> None:
    # given a campaign whose agent records "sale" (with an amount) or "no_sale"
    attempt = _attempt(state=AttemptState.DIALING)
    _set_schema(attempt, [{"label": "sale", "fields": [{"name": "amount", "type": "number"}]}, {"label": "no_sale"}])
    mark_attempt_answered(attempt.pk)

    # when the call ends with an outcome the schema does not have (F13: a made-up or talked-into label)
    assert finish_attempt(attempt.pk, disposition=Disposition.HUMAN, results=results)

    # then the label is blank, what was sent is kept for review, and the contact carries no such outcome
    attempt.refresh_from_db()
    assert attempt.outcome == ""
    assert attempt.outcome_fields == {"invalid_label": results["outcome"], "invalid_fields": results["outcome_fields"]}
    assert attempt.outcome_error == error
    assert Contact.objects.get(pk=attempt.contact_id).outcome == ""


def test_busy_is_retried_after_the_rules_delay() -> None:
    attempt = _attempt(state=AttemptState.DIALING)
    RetryRule.objects.create(campaign=attempt.campaign, disposition=Disposition.BUSY, delay_s=120, max_attempts=2)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        finish_attempt(attempt.pk, disposition=Disposition.BUSY, sip_code=486)
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.RETRY_SCHEDULED
    assert contact.next_attempt_at == now + timedelta(seconds=120)


def test_rule_max_attempts_closes_the_contact() -> None:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS, attempts=1)
    RetryRule.objects.create(campaign=contact.campaign, disposition=Disposition.BUSY, delay_s=60, max_attempts=2)
    first = _attempt(contact, state=AttemptState.DIALING, number=1)
    CallAttempt.objects.filter(pk=first.pk).update(state=AttemptState.ENDED, disposition=Disposition.BUSY,
                                                   ended_at=timezone.now())
    second = _attempt(contact, state=AttemptState.DIALING, number=2)
    finish_attempt(second.pk, disposition=Disposition.BUSY)
    contact.refresh_from_db()
    assert contact.status == ContactStatus.FAILED
    assert contact.attempts == 2


def test_campaign_max_attempts_is_a_global_cap() -> None:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS, attempts=2)
    contact.campaign.max_attempts = 3
    contact.campaign.save()
    attempt = _attempt(contact, state=AttemptState.DIALING, number=3)
    finish_attempt(attempt.pk, disposition=Disposition.NO_ANSWER)
    contact.refresh_from_db()
    assert contact.status == ContactStatus.FAILED


def test_a_person_who_rejected_is_never_retried_without_a_rule() -> None:
    attempt = _attempt(state=AttemptState.RINGING)
    finish_attempt(attempt.pk, disposition=Disposition.REJECTED, sip_code=603)
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.DONE
    assert contact.next_attempt_at is None


def test_a_rule_may_allow_retrying_a_rejection() -> None:
    attempt = _attempt(state=AttemptState.RINGING)
    RetryRule.objects.create(campaign=attempt.campaign, disposition=Disposition.REJECTED, delay_s=86400,
                             max_attempts=2)
    finish_attempt(attempt.pk, disposition=Disposition.REJECTED, sip_code=603)
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.RETRY_SCHEDULED


def test_opt_out_puts_the_number_on_the_company_list() -> None:
    attempt = _attempt(state=AttemptState.BRIDGED)
    RetryRule.objects.create(campaign=attempt.campaign, disposition=Disposition.OPTED_OUT, delay_s=60,
                             max_attempts=5)
    finish_attempt(attempt.pk, disposition=Disposition.OPTED_OUT)
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.DNC
    assert DoNotCall.objects.filter(phone_e164=contact.phone_e164, campaign=None).exists()


def test_invalid_number_marks_the_contact_invalid() -> None:
    attempt = _attempt(state=AttemptState.DIALING)
    finish_attempt(attempt.pk, disposition=Disposition.INVALID_NUMBER, sip_code=404)
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.INVALID


def test_not_dialed_does_not_count_against_the_contact() -> None:
    attempt = _attempt(handed_off=False)
    finish_attempt(attempt.pk, disposition=Disposition.CANCELLED, reason="campaign paused")
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.attempts == 0
    assert contact.status == ContactStatus.PENDING
    assert contact.next_attempt_at is not None


def test_dnc_added_during_the_call_stops_any_retry() -> None:
    attempt = _attempt(state=AttemptState.RINGING)
    DoNotCallFactory(phone_e164=attempt.contact.phone_e164)
    finish_attempt(attempt.pk, disposition=Disposition.NO_ANSWER)
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.DNC


def test_finish_releases_the_attempts_leases(redis_client: redis.Redis,
                                             django_capture_on_commit_callbacks: object) -> None:
    attempt = _attempt(state=AttemptState.BRIDGED)
    campaign = attempt.campaign
    scopes = attempt_scopes(campaign.pk, campaign.max_concurrent, attempt.trunk_id, attempt.trunk.max_channels)
    acquire_leases(redis_client, scopes, attempt.pk)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        finish_attempt(attempt.pk, disposition=Disposition.HUMAN)
    assert [count_leases(redis_client, s) for s in scopes] == [0, 0]


@pytest.mark.parametrize(
    ("code", "rang", "expected"),
    [
        (603, True, Disposition.REJECTED),
        (603, False, Disposition.REJECTED),
        (486, True, Disposition.REJECTED),  # a person declined while it rang
        (486, False, Disposition.BUSY),  # the line was busy
        (600, False, Disposition.BUSY),
        (404, False, Disposition.INVALID_NUMBER),
        (484, False, Disposition.INVALID_NUMBER),
        (480, True, Disposition.NO_ANSWER),
        (408, True, Disposition.NO_ANSWER),
        (503, False, Disposition.FAILED),
        (500, True, Disposition.FAILED),
    ],
)
def test_sip_failures_map_to_dispositions(code: int, rang: bool, expected: str) -> None:
    assert disposition_for_sip_failure(code, rang=rang) == expected


def test_a_failure_before_dialing_does_not_count_against_the_contact() -> None:
    # e.g. the UA found no free SIP line for a command it received: no INVITE was sent
    attempt = _attempt(state=AttemptState.QUEUED)
    finish_attempt(attempt.pk, disposition=Disposition.FAILED, reason="no free SIP line")
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.attempts == 0
    assert contact.status == ContactStatus.PENDING
