"""Real pjsua2 calls from a UA worker process to SIPp on loopback, checked in the ledger and in SIPp's trace."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
import redis
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.dialer.leases import count_leases, trunk_scope
from campaigns.models import CallAttempt, Contact
from telephony.choices import TrunkAuth
from telephony.contract import HangupCommand, OriginateCommand, TrunkSpec
from telephony.ua_registry import push_command
from testing.sipp import SippRun, header
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    TEST_MEDIA_TIMEOUT_S,
    WORKER_RTP_PORT,
    dialable_contact,
    hand_to_pool,
    queue_attempt,
    sealed,
    wait_ended,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

SippStarter = Callable[..., SippRun]


def _contact(port: int, **trunk_fields: object) -> Contact:
    return dialable_contact(TrunkFactory(host="127.0.0.1", port=port, **trunk_fields))


def _state(attempt: CallAttempt) -> str:
    return CallAttempt.objects.values_list("state", flat=True).get(pk=attempt.pk)


def test_answered_call_hung_up_by_us_records_talk_time_and_sipp_sees_our_headers(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given SIPp answering with an RTP echo
    peer = sipp("uas_answer.xml")
    contact = _contact(peer.port, send_pai=True)
    attempt = queue_attempt(contact)
    # when the pool dials, and we hang up 1.5 s after the answer
    ua = hand_to_pool(registry, attempt)
    wait_for(lambda: _state(attempt) == AttemptState.ANSWERED, 10, "the answer")
    time.sleep(1.5)
    push_command(registry, ua, sealed(HangupCommand(attempt.pk)))
    ended = wait_ended(attempt)
    # then the ledger has the whole story
    assert ended.state == AttemptState.ENDED
    assert ended.disposition == Disposition.HUMAN
    assert ended.sip_code == 200
    assert ended.ua_name == ua
    assert ended.caller_id
    assert ended.dialing_at <= ended.ringing_at <= ended.answered_at <= ended.ended_at
    assert 1.3 <= ended.talk_seconds <= 4
    assert ended.reason == "hangup requested"
    # and SIPp saw one INVITE carrying our caller ID, PAI and attempt id, then our BYE
    assert peer.wait(10) == 0
    invites = peer.received("INVITE")
    assert len(invites) == 1
    assert header(invites[0], "X-Attempt-Id") == str(attempt.pk)
    # From and To carry the trunk's host and port as configured, like the Request-URI
    assert f"<sip:{ended.caller_id}@127.0.0.1:{peer.port}>" in header(invites[0], "From")
    assert f"sip:{contact.phone_e164}@127.0.0.1:{peer.port}" in header(invites[0], "To")
    assert f"<sip:{ended.caller_id}@127.0.0.1:{peer.port}>" in header(invites[0], "P-Asserted-Identity")
    assert header(invites[0], "Call-ID") == ended.sip_call_id
    assert invites[0].startswith(f"INVITE sip:{contact.phone_e164}@127.0.0.1:{peer.port} ")
    sdp = invites[0].split("\n\n", 1)[1] if "\n\n" in invites[0] else invites[0]
    assert sdp.index("PCMU/8000") < sdp.index("PCMA/8000")
    assert len(peer.received("BYE")) == 1
    assert peer.final_stats()["SuccessfulCall(C)"] == "1"


def test_remote_bye_mid_call_ends_the_attempt_as_answered(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given SIPp answering, then hanging up itself after 2 s
    peer = sipp("uas_answer_remote_bye.xml")
    attempt = queue_attempt(_contact(peer.port))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    # then
    assert ended.disposition == Disposition.HUMAN
    assert ended.sip_code == 200
    assert ended.reason == "remote hangup"
    assert 1.5 <= ended.talk_seconds <= 4
    assert peer.wait(10) == 0
    assert len(peer.sent("BYE")) == 1
    assert peer.received_responses()[-1] == 200  # our 200 OK to its BYE


def test_busy_maps_to_busy_and_schedules_the_retry_step(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    peer = sipp("uas_busy.xml")
    attempt = queue_attempt(_contact(peer.port))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.BUSY
    assert ended.sip_code == 486
    assert ended.answered_at is None
    assert peer.wait(10) == 0
    assert peer.sent_responses()[-1] == 486
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.attempts == 1
    assert contact.last_disposition == Disposition.BUSY
    assert contact.status != ContactStatus.IN_PROGRESS


def test_ringing_without_answer_is_cancelled_at_the_ring_timeout(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given SIPp that rings forever, and a campaign ring timeout of 5 s
    peer = sipp("uas_ring_no_answer.xml")
    attempt = queue_attempt(_contact(peer.port))
    started = time.monotonic()
    # when
    hand_to_pool(registry, attempt)
    wait_for(lambda: _state(attempt) == AttemptState.RINGING, 5, "ringing")
    ended = wait_ended(attempt, timeout_s=15)
    # then it was cancelled after about 5 s and counted as no answer
    assert 4.5 <= time.monotonic() - started <= 9
    assert ended.disposition == Disposition.NO_ANSWER
    assert ended.sip_code == 487
    assert ended.ringing_at is not None
    assert ended.answered_at is None
    assert "ring timeout" in ended.reason
    assert peer.wait(10) == 0
    assert len(peer.received("CANCEL")) == 1


def test_503_on_the_primary_fails_over_to_the_secondary(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a free primary trunk answering 503 and a secondary at 6.00 a minute that answers then hangs up
    primary_peer = sipp("uas_503.xml", offset=1)
    secondary_peer = sipp("uas_answer_remote_bye.xml", offset=2)
    secondary = TrunkFactory(host="127.0.0.1", port=secondary_peer.port, cost_per_minute=Decimal("6.00"))
    contact = _contact(primary_peer.port, failover=secondary, cost_per_minute=Decimal("0"))
    attempt = queue_attempt(contact)
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    # then
    assert ended.disposition == Disposition.HUMAN
    assert ended.sip_code == 200
    assert primary_peer.wait(10) == 0
    assert secondary_peer.wait(10) == 0
    assert primary_peer.sent_responses()[-1] == 503
    assert ended.reason == (f"remote hangup (on failover trunk {secondary.pk} after 503 from trunk "
                            f"{contact.campaign.trunk_id})")
    assert len(secondary_peer.received("INVITE")) == 1
    assert header(secondary_peer.received("INVITE")[0], "X-Attempt-Id") == str(attempt.pk)
    # and the call is on the books of the trunk that carried it, at that trunk's rate
    assert (ended.trunk_id, ended.failed_over, ended.primary_trunk_id) == (
        secondary.pk, True, contact.campaign.trunk_id)
    assert ended.talk_seconds is not None
    assert ended.talk_seconds > 0
    expected = (Decimal(str(ended.talk_seconds)) * Decimal("6.00") / 60).quantize(Decimal("0.0001"))
    assert abs(ended.cost - expected) <= Decimal("0.0002")
    assert ended.cost > 0
    # and both trunks' channel leases were given back (in Redis, right after the ledger's commit)
    wait_for(lambda: count_leases(registry, trunk_scope(secondary.pk, 0)) == 0, 2, "the secondary's lease back")
    wait_for(lambda: count_leases(registry, trunk_scope(contact.campaign.trunk_id, 0)) == 0, 2,
             "the primary's lease back")


def test_no_failover_once_the_phone_rang(ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a primary that sends 180 Ringing, then fails with 503
    primary_peer = sipp("uas_ring_then_503.xml", offset=1)
    secondary_peer = sipp("uas_answer.xml", offset=2)
    secondary = TrunkFactory(host="127.0.0.1", port=secondary_peer.port)
    attempt = queue_attempt(_contact(primary_peer.port, failover=secondary))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    # then the person is not rung a second time through the secondary
    assert ended.disposition == Disposition.FAILED
    assert ended.sip_code == 503
    assert ended.ringing_at is not None
    assert (ended.trunk_id, ended.failed_over) == (attempt.trunk_id, False)
    time.sleep(0.5)
    assert secondary_peer.received("INVITE") == []


def test_busy_on_the_primary_never_fails_over(ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    primary_peer = sipp("uas_busy.xml", offset=1)
    secondary_peer = sipp("uas_answer.xml", offset=2)
    secondary = TrunkFactory(host="127.0.0.1", port=secondary_peer.port)
    attempt = queue_attempt(_contact(primary_peer.port, failover=secondary))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.BUSY
    time.sleep(0.5)
    assert secondary_peer.received("INVITE") == []


def _digest_params(value: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="?([^",]*)"?', value.removeprefix("Digest ")))


def _digest_is_valid(authorization: str, *, password: str, method: str = "INVITE") -> bool:
    """RFC 2617 digest check (no qop), the way the trunk would verify it."""
    p = _digest_params(authorization)
    ha1 = hashlib.md5(f"{p['username']}:{p['realm']}:{password}".encode()).hexdigest()  # noqa: S324 - RFC 2617
    ha2 = hashlib.md5(f"{method}:{p['uri']}".encode()).hexdigest()  # noqa: S324 - RFC 2617
    return p["response"] == hashlib.md5(f"{ha1}:{p['nonce']}:{ha2}".encode()).hexdigest()  # noqa: S324


def test_407_challenge_is_answered_with_the_trunk_credentials(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a trunk that challenges with 407
    peer = sipp("uas_auth_accept.xml")
    attempt = queue_attempt(_contact(peer.port, auth_mode=TrunkAuth.DIGEST, username="trunkuser", realm="trunk.test",
                                     password="s3cret"))
    # when
    ua = hand_to_pool(registry, attempt)
    wait_for(lambda: _state(attempt) == AttemptState.ANSWERED, 10, "the answer")
    push_command(registry, ua, sealed(HangupCommand(attempt.pk)))
    ended = wait_ended(attempt)
    # then the call went through and the digest we sent verifies against the trunk's password
    assert ended.disposition == Disposition.HUMAN
    assert ended.sip_code == 200
    assert peer.wait(10) == 0
    invites = peer.received("INVITE")
    assert len(invites) == 2
    assert header(invites[0], "Proxy-Authorization") is None
    credentials = header(invites[1], "Proxy-Authorization")
    assert _digest_params(credentials)["username"] == "trunkuser"
    assert _digest_params(credentials)["realm"] == "trunk.test"
    assert _digest_is_valid(credentials, password="s3cret")
    assert "s3cret" not in invites[1]
    assert peer.sent_responses()[0] == 407


def test_wrong_credentials_fail_cleanly_without_a_loop(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a trunk that rejects our answer to its challenge with a second 407
    peer = sipp("uas_auth_reject.xml")
    attempt = queue_attempt(_contact(peer.port, auth_mode=TrunkAuth.DIGEST, username="trunkuser", realm="trunk.test",
                                     password="wrong"))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    # then one answered challenge, no loop, and the attempt failed (not "rejected" by the person)
    assert ended.disposition == Disposition.FAILED
    assert ended.sip_code == 407
    assert ended.answered_at is None
    assert peer.wait(10) == 0
    invites = peer.received("INVITE")
    assert len(invites) == 2
    assert not _digest_is_valid(header(invites[1], "Proxy-Authorization"), password="s3cret")
    assert peer.sent_responses() == [407, 407]


def test_rtp_stopping_mid_call_ends_it_as_failed_by_media_timeout(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given SIPp sending 7 s of RTP after the answer, then nothing
    peer = sipp("uas_media_stops.xml", rtp_echo=False)
    attempt = queue_attempt(_contact(peer.port))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt, timeout_s=30)
    # then our media timeout hung up about TEST_MEDIA_TIMEOUT_S after the last packet
    assert ended.disposition == Disposition.FAILED
    assert "media timeout" in ended.reason
    assert 7 + TEST_MEDIA_TIMEOUT_S - 1 <= ended.talk_seconds <= 7 + TEST_MEDIA_TIMEOUT_S + 2.5
    assert peer.wait(10) == 0
    assert len(peer.received("BYE")) == 1


def test_expired_tampered_unsigned_and_stale_commands_are_never_dialed(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a peer that would answer, and queued attempts of a running campaign inside its window
    peer = sipp("uas_answer.xml", offset=5)
    registry.delete("ce:ua:rejected")  # the test Redis db is not flushed between runs: count this run's refusals
    contact = _contact(peer.port)
    attempts = [queue_attempt(contact)]
    for _ in range(3):
        other = Contact.objects.create(campaign=contact.campaign, phone_e164=f"+1202555{len(attempts):04d}",
                                       time_zones=contact.time_zones)
        attempts.append(queue_attempt(other))

    def command(attempt: CallAttempt) -> OriginateCommand:
        return OriginateCommand(attempt_id=attempt.pk, destination=attempt.contact.phone_e164,
                                trunk=TrunkSpec(id=attempt.trunk_id, host="127.0.0.1", port=peer.port),
                                ring_timeout_s=5, max_call_s=10)

    # when the UA receives: a command that expired a minute ago; one whose body was changed after sealing;
    # a plain JSON command nobody signed; and a genuine fresh one for a campaign paused since the claim
    push_command(registry, ua_worker, sealed(command(attempts[0]), now=time.time() - 60))
    tampered = json.loads(sealed(command(attempts[1])))
    tampered["body"] = tampered["body"].replace(attempts[1].contact.phone_e164, "+19005550199")
    push_command(registry, ua_worker, json.dumps(tampered))
    push_command(registry, ua_worker, json.dumps(command(attempts[2]).to_wire()))
    CallAttempt.objects.filter(pk=attempts[3].pk).update(lease_expires_at=timezone.now() + dt.timedelta(seconds=30))
    contact.campaign.__class__.objects.filter(pk=contact.campaign_id).update(status="paused")
    push_command(registry, ua_worker, sealed(command(attempts[3])))
    # then nothing is dialed; the refusals are recorded (ids and reasons), the stale one ended not dialed
    wait_for(lambda: CallAttempt.objects.get(pk=attempts[3].pk).state == AttemptState.ENDED, 10,
             "the paused campaign's attempt to be ended by the gate")
    time.sleep(1.0)
    assert peer.received("INVITE") == []
    assert CallAttempt.objects.filter(pk__in=[a.pk for a in attempts], dialing_at__isnull=False).count() == 0
    refused = [json.loads(x) for x in registry.lrange("ce:ua:rejected", 0, -1)]
    reasons = {r["attempt_id"]: r["reason"] for r in refused if r["ua"] == ua_worker}
    assert reasons[attempts[0].pk].startswith("expired")
    assert [r["reason"] for r in refused if r["attempt_id"] is None].count("bad or missing signature") == 1
    assert any(r["reason"] == "not a sealed command" for r in refused)
    stale = CallAttempt.objects.get(pk=attempts[3].pk)
    assert (stale.disposition, stale.reason) == (Disposition.CANCELLED, "campaign paused at dial time")
    peer.stop()


def test_redelivered_originate_command_never_dials_twice(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a call already dialed and ended
    peer = sipp("uas_busy.xml")
    attempt = queue_attempt(_contact(peer.port))
    ua = hand_to_pool(registry, attempt)
    wait_ended(attempt)
    assert peer.wait(10) == 0
    # when the same originate command reaches the UA again (a redelivery), pointing at a fresh peer
    again = sipp("uas_busy.xml", offset=3)
    push_command(registry, ua, sealed(OriginateCommand(
        attempt_id=attempt.pk, destination=attempt.contact.phone_e164,
        trunk=TrunkSpec(id=attempt.trunk_id, host="127.0.0.1", port=again.port), ring_timeout_s=5, max_call_s=60)))
    time.sleep(1.5)
    # then nothing is dialed: the attempt is not queued any more
    assert again.received("INVITE") == []
    assert CallAttempt.objects.get(pk=attempt.pk).disposition == Disposition.BUSY


def test_tcp_trunk_places_the_call_over_tcp(ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    peer = sipp("uas_answer_remote_bye.xml", extra=["-t", "t1"])
    attempt = queue_attempt(_contact(peer.port, transport="tcp"))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.HUMAN
    assert peer.wait(10) == 0
    invite = peer.received("INVITE")[0]
    assert "SIP/2.0/TCP" in header(invite, "Via")
    assert ";transport=tcp" in invite.split("\n", 1)[0]


@pytest.mark.parametrize("policy", ["disabled", "optional"])
def test_srtp_keys_are_never_offered_over_plain_signalling(ua_worker: str, registry: redis.Redis,
                                                           sipp: SippStarter, policy: str) -> None:
    # given a UDP peer that is busy (only the offer matters here); F5: SDES keys only over TLS
    peer = sipp("uas_busy.xml")
    attempt = queue_attempt(_contact(peer.port, srtp_policy=policy))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.BUSY, ended.reason
    assert peer.wait(10) == 0
    sdp = peer.received("INVITE")[0]
    port = int(re.search(r"m=audio (\d+) ", sdp).group(1))
    assert WORKER_RTP_PORT <= port < WORKER_RTP_PORT + 16  # this process's own RTP range
    assert " RTP/AVP " in sdp
    assert "a=crypto:" not in sdp


def test_register_trunk_registers_before_dialing_and_refreshes(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    # given a registrar granting 8 s bindings (it answers nothing else, so the INVITE goes unanswered)
    peer = sipp("uas_register.xml", rtp_echo=False, calls=2, extra=["-aa"])
    attempt = queue_attempt(_contact(peer.port, auth_mode=TrunkAuth.REGISTER, username="trunkuser", realm="trunk.test",
                                     password="s3cret", register_expiry_s=120))
    # when the pool dials through it
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt, timeout_s=20)
    # then the REGISTER (answered 401, then 200 with our digest) came before the INVITE
    received = [body.split(" ", 1)[0] for direction, body in peer.parsed() if "received" in direction]
    assert received[:2] == ["REGISTER", "REGISTER"]
    assert received.index("INVITE") > 1
    assert peer.sent_responses()[:2] == [401, 200]
    # and the binding was refreshed before it expired (8 s, refreshed 5 s ahead)
    wait_for(lambda: len(peer.received("REGISTER")) >= 3, 8, "the registration refresh")
    assert ended.answered_at is None
    peer.stop()


def test_404_marks_the_number_invalid_and_it_is_not_retried(
        ua_worker: str, registry: redis.Redis, sipp: SippStarter) -> None:
    peer = sipp("uas_not_found.xml")
    attempt = queue_attempt(_contact(peer.port))
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.INVALID_NUMBER
    assert ended.sip_code == 404
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.status == ContactStatus.INVALID
    assert contact.next_attempt_at is None
    assert peer.wait(10) == 0


def test_max_call_length_hangs_up_an_answered_call(ua_worker: str, registry: redis.Redis,
                                                   sipp: SippStarter) -> None:
    # given an originate command (as the dialer builds it) with a 2 s call limit
    peer = sipp("uas_answer.xml")
    contact = _contact(peer.port)
    attempt = queue_attempt(contact)
    CallAttempt.objects.filter(pk=attempt.pk).update(originated_at=timezone.now())
    push_command(registry, ua_worker, sealed(OriginateCommand(
        attempt_id=attempt.pk, destination=contact.phone_e164,
        trunk=TrunkSpec(id=attempt.trunk_id, host="127.0.0.1", port=peer.port, codecs=("PCMA", "PCMU")),
        ring_timeout_s=5, max_call_s=2)))
    # when / then it is hung up by us after 2 s of talk
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.HUMAN
    assert ended.reason == "max call length 2s reached"
    assert 1.8 <= ended.talk_seconds <= 3.5
    assert peer.wait(10) == 0
    assert len(peer.received("BYE")) == 1
    # and the trunk's codec order (PCMA first here) is the order of the SDP offer
    sdp = peer.received("INVITE")[0]
    assert sdp.index("PCMA/8000") < sdp.index("PCMU/8000")


