"""The SIP outcome -> disposition table, and when a call may fail over."""

from __future__ import annotations

import pytest

from campaigns.choices import Disposition
from telephony.ua.sip_codes import CallOutcome, disposition_for, should_fail_over


@pytest.mark.parametrize(("code", "expected"), [
    (486, Disposition.BUSY), (600, Disposition.BUSY),
    (480, Disposition.NO_ANSWER), (408, Disposition.NO_ANSWER),
    (603, Disposition.REJECTED), (403, Disposition.REJECTED),
    (404, Disposition.INVALID_NUMBER), (484, Disposition.INVALID_NUMBER), (410, Disposition.INVALID_NUMBER),
    (500, Disposition.FAILED), (503, Disposition.FAILED), (407, Disposition.FAILED), (488, Disposition.FAILED),
])
def test_final_codes_before_answer_map_to_dispositions(code: int, expected: str) -> None:
    assert disposition_for(CallOutcome(sip_code=code)) == expected


def test_answered_call_is_human_until_amd_says_otherwise() -> None:
    assert disposition_for(CallOutcome(sip_code=200, answered=True)) == Disposition.HUMAN


def test_ring_timeout_is_no_answer_whatever_the_cancel_code() -> None:
    assert disposition_for(CallOutcome(sip_code=487, ring_timeout=True)) == Disposition.NO_ANSWER


def test_no_response_is_failed_even_when_pjsip_reports_408() -> None:
    assert disposition_for(CallOutcome(sip_code=408, network_error=True)) == Disposition.FAILED


def test_media_timeout_fails_an_answered_call() -> None:
    assert disposition_for(CallOutcome(sip_code=200, answered=True, media_timeout=True)) == Disposition.FAILED


@pytest.mark.parametrize("outcome", [CallOutcome(sip_code=503), CallOutcome(sip_code=500),
                                     CallOutcome(sip_code=408, network_error=True)])
def test_trunk_failures_before_answer_fail_over(outcome: CallOutcome) -> None:
    assert should_fail_over(outcome)


@pytest.mark.parametrize("outcome", [
    CallOutcome(sip_code=486), CallOutcome(sip_code=603), CallOutcome(sip_code=404), CallOutcome(sip_code=408),
    CallOutcome(sip_code=487, ring_timeout=True), CallOutcome(sip_code=200, answered=True),
])
def test_called_party_answers_and_answered_calls_never_fail_over(outcome: CallOutcome) -> None:
    assert not should_fail_over(outcome)


@pytest.mark.parametrize("flag", ["rang", "media_timeout", "ring_timeout", "answered"])
def test_any_sign_that_the_phone_may_have_rung_stops_a_failover_even_on_a_5xx(flag: str) -> None:
    # given a trunk failure code, and one sign that the called party was reached
    outcome = CallOutcome(sip_code=503, **{flag: True})
    # then the call is not placed again on the secondary trunk
    assert not should_fail_over(outcome)


@pytest.mark.parametrize(("code", "fails_over"), [(499, False), (500, True), (599, True), (600, False), (None, False)])
def test_only_5xx_codes_fail_over(code: int | None, fails_over: bool) -> None:
    assert should_fail_over(CallOutcome(sip_code=code)) is fails_over
