"""Retry planning by disposition: delays, per-rule caps, the global cap, and what is never retried."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.choices import ContactStatus, Disposition
from campaigns.rules.retries import DEFAULT_RETRY_DELAY_S, Rule, plan_next_step

NOW = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)


def plan(disposition: str, *, counted: bool = True, attempts: int = 1, same: int = 1, cap: int = 5,
         rule: Rule | None = None, current: dt.datetime | None = None) -> tuple[str, dt.datetime | None]:
    step = plan_next_step(disposition=disposition, counted=counted, attempts=attempts, same_disposition_count=same,
                          campaign_max_attempts=cap, rule=rule, now=NOW, current_next_attempt_at=current)
    return step.status, step.next_attempt_at


@pytest.mark.parametrize("disposition", [Disposition.BUSY, Disposition.NO_ANSWER, Disposition.MACHINE,
                                         Disposition.FAILED, Disposition.FAILED_UNKNOWN, Disposition.AI_ERROR])
def test_retryable_without_rule_uses_the_default_delay(disposition: str) -> None:
    assert plan(disposition) == (ContactStatus.RETRY_SCHEDULED,
                                 NOW + dt.timedelta(seconds=DEFAULT_RETRY_DELAY_S[disposition]))


def test_a_rule_sets_the_delay() -> None:
    assert plan(Disposition.BUSY, rule=Rule(90, 3)) == (ContactStatus.RETRY_SCHEDULED, NOW + dt.timedelta(seconds=90))


def test_a_rule_caps_attempts_ending_that_way() -> None:
    assert plan(Disposition.NO_ANSWER, same=3, attempts=3, rule=Rule(90, 3)) == (ContactStatus.FAILED, None)


def test_the_campaign_cap_wins_over_a_rule() -> None:
    assert plan(Disposition.BUSY, attempts=5, rule=Rule(90, 10)) == (ContactStatus.FAILED, None)


@pytest.mark.parametrize("disposition", [Disposition.REJECTED, Disposition.VOICEMAIL_LEFT, Disposition.HUMAN])
def test_results_are_not_retried_without_a_rule(disposition: str) -> None:
    assert plan(disposition) == (ContactStatus.DONE, None)


def test_rejected_is_retried_only_when_a_rule_says_so() -> None:
    assert plan(Disposition.REJECTED, rule=Rule(3600, 2))[0] == ContactStatus.RETRY_SCHEDULED
    assert plan(Disposition.REJECTED, same=2, rule=Rule(3600, 2)) == (ContactStatus.DONE, None)


def test_opt_out_is_never_retried_even_with_a_rule() -> None:
    assert plan(Disposition.OPTED_OUT, rule=Rule(60, 9)) == (ContactStatus.DNC, None)


def test_invalid_number_closes_the_contact() -> None:
    assert plan(Disposition.INVALID_NUMBER) == (ContactStatus.INVALID, None)


def test_not_dialed_goes_back_to_the_queue_shortly() -> None:
    status, when = plan(Disposition.CANCELLED, counted=False, attempts=0)
    assert status == ContactStatus.PENDING
    assert NOW < when <= NOW + dt.timedelta(minutes=1)
    later = NOW + dt.timedelta(hours=2)
    assert plan(Disposition.CANCELLED, counted=False, attempts=2, current=later) == (
        ContactStatus.RETRY_SCHEDULED, later)


def test_no_celery_eta_or_countdown_schedules_anything_in_campaigns() -> None:
    # Redis redelivers ETA/countdown tasks after the visibility timeout (they would run twice): times live
    # in Postgres (next_attempt_at) and the beat tick picks them up.
    import re
    from pathlib import Path

    import campaigns

    root = Path(campaigns.__file__).parent
    offenders = [f"{path.name}:{n}" for path in root.rglob("*.py") if "migrations" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\b(eta|countdown)\s*=", line)]
    assert offenders == []


def test_a_counted_attempt_with_no_retry_delay_closes_the_contact_as_failed() -> None:
    # given a dialed attempt ending in a way no default delay covers, and no rule for it
    # when / then the contact is not retried and ran out of attempts
    assert plan(Disposition.CANCELLED) == (ContactStatus.FAILED, None)


@pytest.mark.parametrize("disposition", [Disposition.REJECTED, Disposition.VOICEMAIL_LEFT])
def test_a_retried_result_that_hits_a_cap_is_still_a_result(disposition: str) -> None:
    # given a rule that retries a decline or a delivered message
    rule = Rule(3600, 3)
    # when the campaign's cap, or the rule's own cap, is reached
    # then the contact is done (it was reached), not failed
    assert plan(disposition, attempts=5, same=1, rule=rule) == (ContactStatus.DONE, None)
    assert plan(disposition, attempts=3, same=3, rule=rule) == (ContactStatus.DONE, None)
