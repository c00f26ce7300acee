"""In-call control against SIPp: DTMF in (RFC 2833 and SIP INFO) and out, cold transfer, remote hangup."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from campaigns.choices import Disposition
from testing.scripted_hooks import events_key
from testing.sipp import SippRun, header, write_rtp_event_pcap
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
TELEPHONE_EVENT_PT = 120  # what this pjsua build offers for telephone-event


@pytest.fixture(scope="module")
def hooked_worker(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A UA worker running the scripted hooks (they stand in for the media work)."""
    log = tmp_path_factory.mktemp("ua-hooks") / "worker.log"
    with running_worker(f"test-ua-hooks-{os.getpid()}", WORKER_SIP_PORT + 20, WORKER_RTP_PORT + 100, log,
                        "--hooks", "testing.scripted_hooks:scripted_hooks") as name:
        yield name


def _events(r: redis.Redis, attempt_id: int) -> list[str]:
    return [x.decode() for x in r.lrange(events_key(attempt_id), 0, -1)]


def test_dtmf_both_ways_then_cold_transfer_ends_our_leg(
        hooked_worker: str, registry: redis.Redis, sipp: Callable[..., SippRun], tmp_path: Path) -> None:
    # given SIPp that sends "1" by RFC 2833 and "5" by SIP INFO, then accepts a REFER
    write_rtp_event_pcap(tmp_path / "dtmf-1.pcap", "1", payload_type=TELEPHONE_EVENT_PT)
    peer = sipp("uas_in_call.xml", rtp_echo=False)
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=peer.port),
                               variables={"script": "dtmf:7:sip_info;transfer:+12125550999"})
    attempt = queue_attempt(contact)
    # when the call runs the script: send "7" by SIP INFO, then transfer to a number
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt, timeout_s=20)
    # then both received digits reached the hooks with their method
    events = _events(registry, attempt.pk)
    assert events[0] == "answered"
    assert "dtmf:1:rfc2833" in events
    assert "dtmf:5:sip_info" in events
    # and SIPp received our digit and a REFER to the number through the trunk, and then our BYE
    assert peer.wait(10) == 0
    info = peer.received("INFO")
    assert len(info) == 1
    assert "Signal=7" in info[0].replace(" ", "")
    refer = peer.received("REFER")
    assert len(refer) == 1
    assert f"sip:+12125550999@127.0.0.1:{peer.port}" in header(refer[0], "Refer-To")
    assert len(peer.received("BYE")) == 1
    assert ended.disposition == Disposition.HUMAN
    assert ended.reason == "transferred"
    assert events[-1] == "ended:transferred"
    assert "remote_hangup" not in events


def test_remote_hangup_reaches_the_hook(hooked_worker: str, registry: redis.Redis,
                                        sipp: Callable[..., SippRun]) -> None:
    peer = sipp("uas_answer_remote_bye.xml")
    attempt = queue_attempt(dialable_contact(TrunkFactory(host="127.0.0.1", port=peer.port)))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.reason == "remote hangup"
    assert _events(registry, attempt.pk) == ["answered", "remote_hangup", "ended:remote hangup"]
    assert peer.wait(10) == 0
