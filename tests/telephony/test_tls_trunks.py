"""TLS trunks verify the server (F5): the trunk check and real UA calls against a TLS SIP peer on loopback.

The peer's certificates come from a test CA made for the test. A trunk that names that CA reaches a peer whose
certificate it signed for 127.0.0.1; a self-signed `CN=attacker.invalid` server, or a certificate of the right CA
for another name, is refused during the handshake: the peer never reads a SIP message.

Ports (loopback only): TLS peers 16950-16959; the UA worker of tests/telephony/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from django.utils import timezone

from campaigns.choices import Disposition
from campaigns.models import CallAttempt, Contact
from telephony.contract import OriginateCommand, TrunkSpec
from telephony.models import Trunk
from telephony.trunk_check import check_trunk
from telephony.ua_registry import push_command
from testing.sipp import header
from tests.factories import TrunkFactory
from tests.telephony.conftest import dialable_contact, hand_to_pool, queue_attempt, sealed, wait_ended
from tests.telephony.tls_peers import TestCa, TlsSipPeer, self_signed

pytestmark = pytest.mark.django_db(transaction=True)

PEER_PORT = 16950


@pytest.fixture(scope="module")
def test_ca() -> TestCa:
    """The CA the trunks of these tests trust."""
    return TestCa()


def _tls_trunk(port: int, ca: TestCa, **fields: object) -> Trunk:
    return TrunkFactory(host="127.0.0.1", port=port, transport="tls", tls_ca_pem=ca.pem, **fields)


# ---- the trunk check ---------------------------------------------------------------------------------------------


def test_trunk_check_reaches_a_tls_trunk_whose_certificate_its_ca_signed(test_ca: TestCa, tmp_path: Path) -> None:
    peer = TlsSipPeer(PEER_PORT, test_ca.issue("trunk", "127.0.0.1"), tmp_path)
    peer.start()
    result = check_trunk(_tls_trunk(PEER_PORT, test_ca), timeout_s=4)
    peer.join(10)
    assert result.reachable, result
    assert result.options_code == 200
    assert peer.received[0].startswith("OPTIONS sip:127.0.0.1:")
    assert "SIP/2.0/TLS" in header(peer.received[0].replace("\r\n", "\n"), "Via")


def test_trunk_check_refuses_a_self_signed_attacker_and_sends_no_options(test_ca: TestCa, tmp_path: Path) -> None:
    # given a server in the trunk's place with a self-signed certificate (E10 of the security audit)
    peer = TlsSipPeer(PEER_PORT + 1, self_signed("attacker.invalid"), tmp_path)
    peer.start()
    # when the trunk is checked, once with its own CA and once with the system's bundle
    results = [check_trunk(_tls_trunk(PEER_PORT + 1, test_ca), timeout_s=4)]
    peer.join(10)
    # then it is refused with the certificate's faults, and the server never read a SIP message
    result = results[0]
    assert not result.reachable
    assert result.options_code is None
    assert result.error.startswith("OPTIONS not sent: TLS server 127.0.0.1:"), result.error
    assert "CN=attacker.invalid" in result.error
    assert "untrusted" in result.error
    assert peer.accepted == 1
    assert peer.received == []
    assert result.summary() == result.error


def test_trunk_check_refuses_a_certificate_of_the_right_ca_for_another_host(test_ca: TestCa, tmp_path: Path) -> None:
    peer = TlsSipPeer(PEER_PORT + 2, test_ca.issue("sip.example.test", "sip.example.test"), tmp_path)
    peer.start()
    result = check_trunk(_tls_trunk(PEER_PORT + 2, test_ca), timeout_s=4)
    peer.join(10)
    assert not result.reachable
    assert "does not match" in result.error, result.error
    assert peer.received == []


def test_trunk_check_without_a_trunk_ca_uses_the_system_bundle(test_ca: TestCa, tmp_path: Path) -> None:
    # the test CA is in no system bundle: a trunk without its own CA does not trust the peer
    peer = TlsSipPeer(PEER_PORT + 3, test_ca.issue("trunk", "127.0.0.1"), tmp_path)
    peer.start()
    result = check_trunk(TrunkFactory(host="127.0.0.1", port=PEER_PORT + 3, transport="tls"), timeout_s=4)
    peer.join(10)
    assert not result.reachable
    assert "untrusted" in result.error, result.error
    assert peer.received == []


# ---- calls -----------------------------------------------------------------------------------------------------


def _contact(port: int, ca: TestCa, **fields: object) -> Contact:
    return dialable_contact(_tls_trunk(port, ca, **fields))


@pytest.mark.parametrize(("policy", "profile", "crypto"), [
    ("disabled", "RTP/AVP", False), ("optional", "RTP/AVP", True), ("mandatory", "RTP/SAVP", True)])
def test_tls_call_reaches_a_verified_trunk_and_offers_srtp_keys_as_its_policy_says(
        ua_worker: str, registry: redis.Redis, test_ca: TestCa, tmp_path: Path,
        policy: str, profile: str, crypto: bool) -> None:
    # given a TLS peer whose certificate the trunk's CA signed for the trunk's host (it answers 486)
    peer = TlsSipPeer(PEER_PORT + 4, test_ca.issue("trunk", "127.0.0.1"), tmp_path)
    peer.start()
    attempt = queue_attempt(_contact(PEER_PORT + 4, test_ca, srtp_policy=policy))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    peer.join(10)
    # then the INVITE went over TLS and the 486 was understood
    assert ended.disposition == Disposition.BUSY, ended.reason
    assert ended.sip_code == 486
    assert peer.received[0].startswith("INVITE sip:")
    assert ";transport=tls" in peer.received[0].split("\r\n", 1)[0]
    assert "SIP/2.0/TLS" in header(peer.received[0].replace("\r\n", "\n"), "Via")
    assert peer.received[1].startswith("ACK ")
    # and the SDES keys went in the offer only as the trunk's SRTP policy says (over TLS signalling only)
    sdp = peer.received[0].split("\r\n\r\n", 1)[1]
    assert f" {profile} " in sdp
    assert ("a=crypto:" in sdp) is crypto


@pytest.mark.parametrize(("certificate", "fault"), [
    ("self-signed attacker", "The certificate is untrusted"),
    ("right CA, other host", "does not match"),
])
def test_tls_call_to_an_unverified_server_is_not_sent(ua_worker: str, registry: redis.Redis, test_ca: TestCa,
                                                      tmp_path: Path, certificate: str, fault: str) -> None:
    # given a server in the trunk's place that the trunk must not trust
    port = PEER_PORT + 5 + (certificate == "right CA, other host")
    issued = (self_signed("attacker.invalid") if certificate == "self-signed attacker"
              else test_ca.issue("sip.example.test", "sip.example.test"))
    peer = TlsSipPeer(port, issued, tmp_path)
    peer.start()
    attempt = queue_attempt(_contact(port, test_ca))
    # when
    hand_to_pool(registry, attempt)
    ended = wait_ended(attempt)
    peer.join(10)
    # then the attempt fails naming the certificate's fault, and the server never read the INVITE
    assert ended.disposition == Disposition.FAILED
    assert ended.answered_at is None
    assert ended.reason.startswith(f"not sent: TLS server 127.0.0.1:{port}"), ended.reason
    assert fault in ended.reason
    assert peer.accepted >= 1
    assert peer.received == []


@pytest.mark.parametrize(("trunk_fields", "problem"), [
    ({"srtp_policy": "mandatory"},
     "SRTP mandatory needs the TLS transport: SDES keys travel in the SDP, which UDP signalling sends in clear"),
    ({"auth_mode": "digest", "username": "u", "realm": "*"}, "digest and REGISTER authentication need the "
     "provider's realm (a blank or '*' realm would answer a challenge from any realm)"),
])
def test_the_ua_refuses_an_insecure_trunk_before_any_invite(ua_worker: str, registry: redis.Redis,
                                                            trunk_fields: dict[str, str], problem: str) -> None:
    # given a command (sealed, as the dialer sends it) for a trunk the database rules would refuse
    port = PEER_PORT + 9
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=port))
    attempt = queue_attempt(contact)
    CallAttempt.objects.filter(pk=attempt.pk).update(originated_at=timezone.now())
    push_command(registry, ua_worker, sealed(OriginateCommand(
        attempt_id=attempt.pk, destination=contact.phone_e164,
        trunk=TrunkSpec(id=attempt.trunk_id, host="127.0.0.1", port=port, **trunk_fields),
        ring_timeout_s=5, max_call_s=5)))
    # when / then the UA refuses it with the rule, and nothing is sent
    ended = wait_ended(attempt)
    assert ended.disposition == Disposition.FAILED
    assert ended.reason == f"dial failed: trunk {attempt.trunk_id}: {problem}", ended.reason
