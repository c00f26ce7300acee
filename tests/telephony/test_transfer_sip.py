"""Cold transfer at the SIP level, real pjsua2 against SIPp: REFER accepted (202, NOTIFY sipfrag 100 / 180 / 200),
REFER refused (403), a busy target (NOTIFY 486), and the bridged second call (answered, busy).

The UA worker runs the scripted hooks (`testing.scripted_hooks`): they stand in for the conversation and record
what the UA reports (`transfer:<method>:<code>`), so these tests pin the UA's SIP behaviour; the agent-driven
flow is in `test_transfer_calls.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
import redis

from campaigns.choices import Disposition
from testing.scripted_hooks import events_key
from testing.sipp import SippRun, header
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    WORKER_RTP_PORT,
    WORKER_SIP_PORT,
    dialable_contact,
    hand_to_pool,
    queue_attempt,
    running_worker,
    wait_ended,
)

pytestmark = pytest.mark.django_db(transaction=True)
TARGET = "+12125550999"


@pytest.fixture(scope="module")
def hooked_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A UA worker running the scripted hooks."""
    log = tmp_path_factory.mktemp("ua-transfer") / "worker.log"
    with running_worker(
        f"test-ua-transfer-{os.getpid()}",
        WORKER_SIP_PORT + 40,
        WORKER_RTP_PORT + 200,
        log,
        "--hooks",
        "testing.scripted_hooks:scripted_hooks",
    ) as name:
        yield name


def _events(r: redis.Redis, attempt_id: int) -> list[str]:
    return [x.decode() for x in r.lrange(events_key(attempt_id), 0, -1)]


def _run(registry: redis.Redis, peer: SippRun, script: str, timeout_s: float = 25):
    contact = dialable_contact(
        TrunkFactory(host="127.0.0.1", port=peer.port), max_call_s=40, variables={"script": script}
    )
    attempt = queue_attempt(contact)
    hand_to_pool(registry, attempt)
    return wait_ended(attempt, timeout_s=timeout_s)


def test_refer_accepted_follows_the_notifies_to_the_end_then_leaves(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    # given a callee that takes the REFER and reports 100, 180, then 200 in NOTIFY sipfrags
    peer = sipp("uas_refer_accepted.xml", rtp_echo=False)
    # when the call is transferred by REFER, keeping the call should it fail
    ended = _run(registry, peer, f"refer:{TARGET}")
    # then the REFER named the number through the trunk, every NOTIFY was answered 200, and our BYE followed
    assert peer.wait(10) == 0
    [refer] = peer.received("REFER")
    assert f"sip:{TARGET}@127.0.0.1:{peer.port}" in (header(refer, "Refer-To") or "")
    assert peer.received_responses().count(200) == 3
    assert len(peer.received("BYE")) == 1
    # and only the final sipfrag was reported, as a success
    events = _events(registry, ended.pk)
    assert [e for e in events if e.startswith("transfer:")] == ["transfer:refer:200"]
    assert ended.reason == "transferred"
    assert ended.transfer["status"] == 200
    assert ended.disposition == Disposition.HUMAN  # the scripted hooks set no disposition of their own


def test_refer_refused_keeps_the_call_for_the_fallback(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    # given a callee whose trunk refuses REFER (403) and which hangs up 2 s later
    peer = sipp("uas_refer_rejected.xml", rtp_echo=False)
    ended = _run(registry, peer, f"refer:{TARGET}")
    assert peer.wait(10) == 0
    events = _events(registry, ended.pk)
    # then the failure was reported with the REFER's own answer, and the call stayed up until the far end left
    assert "transfer:refer:403" in events
    assert events[-2:] == ["remote_hangup", "ended:remote hangup"]
    assert ended.transfer["status"] == 403


def test_refer_to_a_busy_target_reports_486_and_keeps_the_call(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    peer = sipp("uas_refer_busy.xml", rtp_echo=False)
    ended = _run(registry, peer, f"refer:{TARGET}")
    assert peer.wait(10) == 0
    events = _events(registry, ended.pk)
    assert [e for e in events if e.startswith("transfer:")] == ["transfer:refer:486"]
    assert events[-2:] == ["remote_hangup", "ended:remote hangup"]
    assert peer.received_responses().count(200) == 3  # both NOTIFYs answered, and its own BYE


def test_refer_that_fails_without_a_fallback_ends_the_call(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    # given hooks that ask for a plain transfer (no fallback of their own)
    peer = sipp("uas_refer_busy.xml", rtp_echo=False)
    ended = _run(registry, peer, f"transfer:{TARGET}")
    assert ended.reason == "transfer failed: 486"


def test_bridged_transfer_places_a_second_call_and_ends_with_the_target(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    # given a callee that waits for our BYE, and a target that answers, talks 2 s and hangs up
    caller = sipp("uas_answer.xml")
    target = sipp("uas_answer_remote_bye.xml", offset=1)
    # when the UA bridges a second call to the target's SIP URI
    ended = _run(registry, caller, f"bridge:sip:desk@127.0.0.1:{target.port}:10")
    # then the target got an INVITE naming the attempt, answered, and hung up; the caller's call ended with it
    assert target.wait(10) == 0
    assert caller.wait(10) == 0
    [invite] = target.received("INVITE")
    assert header(invite, "X-Attempt-Id") == str(ended.pk)
    assert f"desk@127.0.0.1:{target.port}" in invite.splitlines()[0]
    events = _events(registry, ended.pk)
    assert "transfer:bridge:200" in events
    assert ended.reason == "transfer target hung up"
    assert len(caller.received("BYE")) == 1


def test_bridged_transfer_to_a_busy_target_reports_486_and_keeps_the_caller(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    caller = sipp("uas_answer.xml")
    target = sipp("uas_busy.xml", offset=1)
    ended = _run(registry, caller, f"bridge:sip:desk@127.0.0.1:{target.port}:10;wait:1;hangup")
    events = _events(registry, ended.pk)
    assert "transfer:bridge:486" in events
    assert ended.reason == "script"  # the caller's call went on until the script hung up
    assert target.wait(10) == 0


def test_bridged_transfer_not_answered_in_time_is_cancelled(
    hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun]
) -> None:
    caller = sipp("uas_answer.xml")
    target = sipp("uas_ring_no_answer.xml", offset=1)
    ended = _run(registry, caller, f"bridge:sip:desk@127.0.0.1:{target.port}:5;wait:6;hangup")
    events = _events(registry, ended.pk)
    assert "transfer:bridge:487" in events
    assert len(target.received("CANCEL")) == 1
    assert ended.reason == "script"
