"""The admin's trunk check: OPTIONS and REGISTER through pjsua2 against SIPp."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from telephony.choices import TrunkAuth
from telephony.trunk_check import check_trunk
from testing.sipp import SippRun, header
from tests.factories import TrunkFactory

pytestmark = pytest.mark.django_db


def test_reachable_trunk_answers_options_with_a_round_trip_time(sipp: Callable[..., SippRun]) -> None:
    peer = sipp("uas_options.xml", rtp_echo=False)
    result = check_trunk(TrunkFactory(host="127.0.0.1", port=peer.port))
    assert result.reachable
    assert result.options_code == 200
    assert 0 < result.rtt_ms < 1000
    assert result.auth_ok is None
    assert peer.wait(5) == 0
    assert len(peer.received("OPTIONS")) == 1
    assert "reachable (200" in result.summary()


def test_nothing_listening_is_unreachable() -> None:
    result = check_trunk(TrunkFactory(host="127.0.0.1", port=16999), timeout_s=2)
    assert not result.reachable
    assert "unreachable" in result.summary()
    # the check itself ran to its end (a crashed child would say "the check failed (exit -6)")
    assert result.error == "no answer to OPTIONS within 2 s"


def test_register_trunk_with_right_credentials_registers_then_unregisters(sipp: Callable[..., SippRun]) -> None:
    # given a registrar (SIPp answers the OPTIONS on its own with -aa)
    peer = sipp("uas_register.xml", rtp_echo=False, calls=2, extra=["-aa"])
    trunk = TrunkFactory(host="127.0.0.1", port=peer.port, auth_mode=TrunkAuth.REGISTER, username="trunkuser",
                         realm="trunk.test", password="s3cret")
    # when
    result = check_trunk(trunk)
    # then
    assert result.reachable
    assert result.register_code == 200
    assert result.auth_ok is True
    assert "REGISTER 200 OK; auth ok" in result.summary()
    peer.stop()
    assert peer.sent_responses() == [200, 401, 200, 200]
    registers = peer.received("REGISTER")
    assert len(registers) == 3  # challenged, authenticated, then the binding removed
    assert 'username="trunkuser"' in header(registers[1], "Authorization")
    assert "expires=0" in registers[2].lower() or header(registers[2], "Expires") == "0"


def test_register_trunk_with_wrong_credentials_reports_auth_failed(sipp: Callable[..., SippRun]) -> None:
    peer = sipp("uas_register.xml", rtp_echo=False, calls=2, extra=["-aa"])
    trunk = TrunkFactory(host="127.0.0.1", port=peer.port, auth_mode=TrunkAuth.REGISTER, username="trunkuser",
                         realm="trunk.test", password="wrong")
    result = check_trunk(trunk)
    assert result.reachable
    assert result.register_code == 403
    assert result.auth_ok is False
    assert "auth FAILED" in result.summary()
    peer.stop()
    assert peer.sent_responses() == [200, 401, 403]


def test_admin_test_trunk_action_shows_the_result(admin_client: Client, sipp: Callable[..., SippRun]) -> None:
    # given a reachable trunk
    peer = sipp("uas_options.xml", rtp_echo=False)
    trunk = TrunkFactory(name="sipp-peer", host="127.0.0.1", port=peer.port)
    # when the operator runs the action on it
    response = admin_client.post(reverse("admin:telephony_trunk_changelist"),
                                 {"action": "test_trunk", "_selected_action": [trunk.pk]}, follow=True)
    # then the page reports it reachable with a round-trip time
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert shown[0].startswith("sipp-peer: reachable (200 OK, ")
    assert " ms)" in shown[0]
    assert len(peer.received("OPTIONS")) == 1
