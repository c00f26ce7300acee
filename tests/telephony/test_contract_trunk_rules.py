"""The trunk security rules of the contract (F5), one function for the form, the UA and the trunk check."""

from __future__ import annotations

import pytest

from telephony.contract import TrunkSpec
from telephony.trunk_rules import PEM_CERTIFICATE, trunk_security_errors

CA = f"{PEM_CERTIFICATE}\nMIIB\n-----END CERTIFICATE-----\n"
REALM = ("digest and REGISTER authentication need the provider's realm (a blank or '*' realm would answer a "
         "challenge from any realm)")


def _errors(**overrides: str) -> dict[str, str]:
    fields = {"transport": "tls", "auth_mode": "digest", "realm": "carrier.example", "srtp_policy": "disabled",
              "tls_ca_pem": ""}
    return trunk_security_errors(**{**fields, **overrides})


def test_a_trunk_that_keeps_every_rule_has_no_errors() -> None:
    assert _errors() == {}
    assert _errors(srtp_policy="mandatory", tls_ca_pem=CA) == {}
    assert _errors(auth_mode="ip", realm="") == {}  # IP-authenticated trunks answer no challenge


@pytest.mark.parametrize("auth_mode", ["digest", "register"])
@pytest.mark.parametrize("realm", ["", "*", " * ", "   "])
def test_digest_and_register_trunks_name_their_realm(auth_mode: str, realm: str) -> None:
    assert _errors(auth_mode=auth_mode, realm=realm) == {"realm": REALM}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_mandatory_srtp_needs_tls_and_says_which_transport_sends_the_keys_in_clear(transport: str) -> None:
    assert _errors(transport=transport, srtp_policy="mandatory") == {
        "srtp_policy": f"SRTP mandatory needs the TLS transport: SDES keys travel in the SDP, which "
                       f"{transport.upper()} signalling sends in clear"}


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_optional_srtp_is_allowed_on_every_transport(transport: str) -> None:
    assert _errors(transport=transport, srtp_policy="optional") == {}


def test_a_trunk_ca_applies_to_tls_only_and_must_be_pem() -> None:
    assert _errors(transport="udp", tls_ca_pem=CA) == {"tls_ca_pem": "a CA certificate applies to TLS trunks only"}
    assert _errors(tls_ca_pem="MIIB") == {
        "tls_ca_pem": f"the CA certificate must be PEM text starting with {PEM_CERTIFICATE}"}
    assert _errors(transport="udp", tls_ca_pem="  \n") == {}  # blank: the system's bundle


def test_a_spec_names_its_trunk_in_each_problem() -> None:
    spec = TrunkSpec(id=7, host="h", transport="udp", auth_mode="digest", username="u", srtp_policy="mandatory")
    assert spec.security_problems() == [f"trunk 7: {REALM}", "trunk 7: SRTP mandatory needs the TLS transport: "
                                        "SDES keys travel in the SDP, which UDP signalling sends in clear"]
    assert TrunkSpec(id=7, host="h").security_problems() == []


def test_the_trunk_ca_is_resolved_by_the_ua_never_carried_on_the_wire() -> None:
    failover = TrunkSpec(id=2, host="b", transport="tls")
    spec = TrunkSpec(id=1, host="a", transport="tls", failover=failover).with_tls_ca(CA, "other")
    assert spec.tls_ca_pem == CA
    assert spec.failover is not None
    assert spec.failover.tls_ca_pem == "other"
    assert "tls_ca_pem" not in spec.to_wire()
    assert CA not in repr(spec)
    # a changed CA is another pjsua2 account (and so another verifying transport)
    assert spec.account_key() != spec.with_tls_ca("").account_key()
