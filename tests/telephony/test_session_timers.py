"""Session timers (RFC 4028) with the engine as the refresher: a far end that asks for a short Session-Expires
(90 s, its Min-SE) and names us refresher gets our refresh at half the interval, and the call outlives the
interval; a far end that does not answer the refresh gets a BYE and the attempt says why.

Each test lasts the length of a real session interval (about 95 s): pjsip's floor for Session-Expires is 90 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from campaigns.choices import AttemptState, Disposition
from campaigns.models import CallAttempt
from testing.sipp import SippRun, header
from tests.factories import TrunkFactory
from tests.telephony.conftest import dialable_contact, hand_to_pool, queue_attempt, wait_ended, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SippStarter = Callable[..., SippRun]
INTERVAL_S = 90


def _answered_call(registry: redis.Redis, peer: SippRun) -> tuple[CallAttempt, float]:
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=peer.port), max_call_s=300)
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    wait_for(lambda: CallAttempt.objects.filter(pk=attempt.pk, state=AttemptState.ANSWERED).exists(), 10,
             "the answer")
    return attempt, time.monotonic()


def test_the_ua_refreshes_a_short_session_and_the_call_outlives_the_interval(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a far end that answers with Session-Expires: 90;refresher=uac (and allows UPDATE)
    peer = sipp("uas_session_timer_uac_refresh.xml", timeout_s=200)
    attempt, answered = _answered_call(registry, peer)
    # when the call runs, the UA refreshes it at half the interval, and again before the next expiry
    wait_for(lambda: peer.received("UPDATE"), 60, "our first session refresh", interval_s=0.2)
    first = time.monotonic() - answered
    wait_for(lambda: len(peer.received("UPDATE")) >= 2, 60, "our second session refresh", interval_s=0.2)
    second = time.monotonic() - answered
    ended = wait_ended(attempt, timeout_s=30)
    # then the call survived past the 90 s interval and ended by the far end's BYE
    assert ended.disposition == Disposition.HUMAN
    assert ended.reason == "remote hangup", ended.reason
    assert ended.talk_seconds > INTERVAL_S, ended.talk_seconds
    assert INTERVAL_S / 2 - 5 <= first <= INTERVAL_S / 2 + 5, first
    assert second - first <= INTERVAL_S / 2 + 5, (first, second)
    # (our INVITE offered session timers: 1800 s, accepting down to 90 s)
    invite = peer.received("INVITE")[0]
    assert header(invite, "Session-Expires").startswith("1800"), header(invite, "Session-Expires")
    assert header(invite, "Min-SE") == "90"
    update = peer.received("UPDATE")[0]
    assert "refresher=uac" in header(update, "Session-Expires")
    assert peer.wait(10) == 0
    print(f"session refreshed at {first:.1f} s and {second:.1f} s; call lasted {ended.talk_seconds:.1f} s")


def test_a_far_end_that_does_not_answer_the_refresh_gets_a_bye(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a far end that names us refresher of a 90 s session, then never answers our refresh
    peer = sipp("uas_session_timer_refresh_unanswered.xml", offset=1, timeout_s=200)
    attempt, answered = _answered_call(registry, peer)
    # when / then the UA ends the call with a BYE within the interval, and says why
    ended = wait_ended(attempt, timeout_s=INTERVAL_S + 30)
    assert ended.disposition == Disposition.HUMAN
    assert ended.reason.startswith("session refresh failed"), ended.reason
    assert ended.talk_seconds <= INTERVAL_S + 2, ended.talk_seconds
    assert peer.wait(10) == 0
    assert len(peer.received("BYE")) == 1
    print(f"unanswered refresh: ended after {time.monotonic() - answered:.1f} s: {ended.reason}")
