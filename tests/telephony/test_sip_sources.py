"""Who may send SIP to a UA worker (audit F27): trunks, configured networks, loopback; strangers get 403."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.ua.settings import UaSettings
from telephony.ua.sip_sources import SipSourcePolicy, source_ip
from testing.sipp import SippRun
from tests.telephony.conftest import WORKER_SIP_PORT

SCENARIOS = Path(__file__).parent / "sipp"


@pytest.mark.parametrize(
    ("src", "ip"),
    [
        ("192.0.2.7:5060", "192.0.2.7"),
        ("[2001:db8::1]:5061", "2001:db8::1"),
        ("2001:db8::2", "2001:db8::2"),
        ("garbage:5060", None),
        ("", None),
    ],
)
def test_the_source_ip_is_read_from_pjsips_address(src: str, ip: str | None) -> None:
    assert str(source_ip(src)) == ip if ip else source_ip(src) is None


def test_only_loopback_itself_configured_networks_and_trunk_hosts_are_allowed() -> None:
    # given loopback on, a carrier range, and a trunk added by its IP
    policy = SipSourcePolicy(["198.51.100.0/24", " ", "2001:db8:5::/48"], allow_loopback=True)
    policy.add_host("203.0.113.9")
    # then these may send SIP
    for src in ("127.0.0.1:5060", "[::1]:5060", "198.51.100.200:5060", "[2001:db8:5::7]:5060", "203.0.113.9:5080"):
        assert policy.allows(src), src
    # and other loopback addresses, neighbours and unreadable sources may not
    for src in ("127.0.0.2:5060", "203.0.113.10:5060", "10.0.0.1:5060", "[2001:db8:6::1]:5060", "nonsense"):
        assert not policy.allows(src), src


def test_loopback_can_be_refused_and_a_trunk_name_is_resolved() -> None:
    policy = SipSourcePolicy(allow_loopback=False)
    assert not policy.allows("127.0.0.1:5060")
    policy.add_host("localhost")  # what a trunk named by its host name adds: every address the name resolves to
    assert policy.allows("127.0.0.1:5060")
    policy.add_host("name.invalid")  # does not resolve: nothing added, nothing raised
    assert not policy.allows("10.1.2.3:5060")


def test_a_bad_network_fails_at_start_naming_the_setting(settings: pytest.FixtureRequest) -> None:
    with pytest.raises(ValueError, match="UA_SIP_ALLOWED_SOURCES: 'not-a-net'"):
        SipSourcePolicy(["not-a-net"])
    settings.UA_SIP_ALLOWED_SOURCES = ["10.0.0.0/8", "bad/99"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="UA_SIP_ALLOWED_SOURCES"):
        UaSettings.from_django(settings)


def _invite_from(ip: str, port: int, workdir: Path) -> SippRun:
    run = SippRun(
        SCENARIOS / "uac_invite_forbidden.xml", port=port, media_port=port + 1000, workdir=workdir, local_ip=ip
    )
    return run.start(remote=f"127.0.0.1:{WORKER_SIP_PORT}", rtp_echo=False, timeout_s=10)


@pytest.mark.django_db(transaction=True)
def test_an_invite_from_another_address_is_refused_403(ua_worker: str, tmp_path: Path) -> None:
    # given a running UA worker on 127.0.0.1 (loopback allowed, no trunk on 127.0.0.2)
    # when SIPp calls it from 127.0.0.2
    stranger = _invite_from("127.0.0.2", 16900, tmp_path)

    # then the INVITE is answered 403 Forbidden (the scenario expects exactly that, then ACKs)
    assert stranger.wait(15) == 0, stranger.error_file.read_text(errors="replace")[-2000:]
    assert stranger.received_responses()[-1] == 403


@pytest.mark.django_db(transaction=True)
def test_an_invite_from_an_allowed_address_is_not_refused_as_a_stranger(ua_worker: str, tmp_path: Path) -> None:
    # when SIPp calls the worker from loopback itself (an allowed source)
    allowed = _invite_from("127.0.0.1", 16910, tmp_path)

    # then it is not answered 403 (the workers take no inbound calls: pjsua2 declines it as before)
    assert allowed.wait(15) != 0
    responses = allowed.received_responses()
    assert responses, "the worker answered"
    assert 403 not in responses
    assert responses[-1] >= 400
