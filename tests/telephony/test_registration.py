"""REGISTER-mode trunks as a carrier expects: registered when the pool starts (before any call), refreshed, their
state on the trunk in the admin, and no call sent on a trunk whose registration failed.

A real UA worker process and SIPp as the registrar (digest: 401, then 200 for the right password, 403 for a
wrong one). Ports (loopback only): UA worker SIP 15100 and RTP 15500, SIPp 16100 and 16101.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from django.contrib import admin

from campaigns.choices import Disposition
from telephony.admin import TrunkAdmin
from telephony.choices import TrunkAuth
from telephony.models import Trunk
from telephony.registrations import trunk_registrations
from testing.sipp import SippRun
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    dialable_contact,
    hand_to_pool,
    queue_attempt,
    running_worker,
    wait_ended,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

UA_SIP_PORT = 15100
UA_RTP_PORT = 15500


def _register_trunk(port: int, password: str) -> Trunk:
    return TrunkFactory(host="127.0.0.1", port=port, auth_mode=TrunkAuth.REGISTER, username="trunkuser",
                        realm="trunk.test", password=password, register_expiry_s=120)


def test_register_trunks_register_at_start_refresh_show_their_state_and_a_failed_one_gets_no_call(
        registry: redis.Redis, sipp: Callable[..., SippRun], tmp_path: Path) -> None:
    # given two REGISTER-mode trunks: one with the right password (the registrar grants 8 s bindings), one wrong
    good_peer = sipp("uas_register.xml", 100, rtp_echo=False, calls=2, extra=["-aa"])
    bad_peer = sipp("uas_register.xml", 101, rtp_echo=False, calls=1, extra=["-aa"])
    good = _register_trunk(good_peer.port, "s3cret")
    bad = _register_trunk(bad_peer.port, "wrong")
    trunk_admin = TrunkAdmin(Trunk, admin.site)
    # when a UA process starts, with no call to make
    with running_worker(f"test-reg-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, tmp_path / "worker.log") as name:
        # then both trunks are registered, or tried, before any call
        wait_for(lambda: len(good_peer.received("REGISTER")) >= 2, 5, "the REGISTER of the good trunk")
        assert good_peer.sent_responses()[:2] == [401, 200]
        wait_for(lambda: bad_peer.sent_responses()[:2] == [401, 403], 5, "the refused REGISTER")
        # and the state is on the trunks (Redis, read by the admin)
        good_reg = wait_for(lambda: trunk_registrations(registry, good.pk).get(name), 5, "the good trunk's state")
        assert (good_reg.state, good_reg.code) == ("registered", 200)
        assert good_reg.last_success
        bad_reg = wait_for(lambda: trunk_registrations(registry, bad.pk).get(name), 5, "the bad trunk's state")
        assert (bad_reg.state, bad_reg.code) == ("failed", 403)
        assert bad_reg.last_success is None
        assert trunk_admin.registration(good).startswith("registered on 1 of 1 UA processes")
        assert "failing: 403" in trunk_admin.registration(bad)
        assert "last success never" in trunk_admin.registration(bad)
        # and the good binding is refreshed before it expires (8 s, refreshed ahead)
        wait_for(lambda: len(good_peer.received("REGISTER")) >= 3, 9, "the registration refresh")
        # when a call is handed to the pool on the trunk whose registration failed
        attempt = queue_attempt(dialable_contact(bad))
        hand_to_pool(registry, attempt)
        ended = wait_ended(attempt, timeout_s=15)
        # then it is not sent: no INVITE reached the registrar's host, and the attempt says why
        assert ended.disposition == Disposition.FAILED, ended.disposition
        assert f"trunk {bad.pk} registration failed: 403" in ended.reason, ended.reason
        assert ended.answered_at is None
        assert bad_peer.received("INVITE") == []
    assert not any(" INVITE " in body or body.startswith("INVITE") for _, body in good_peer.parsed())
