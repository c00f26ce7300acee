"""The trunk form refuses a host that is not one and codecs the user agent does not have (D7)."""

from __future__ import annotations

import pytest

from telephony.forms import SUPPORTED_CODECS, TrunkAdminForm

pytestmark = pytest.mark.django_db


def _form(**overrides: str) -> TrunkAdminForm:
    data = {"name": "carrier", "enabled": "on", "host": "sip.example.com", "port": "5060", "transport": "udp",
            "auth_mode": "ip", "srtp_policy": "disabled", "codecs": "PCMU,PCMA", "max_channels": "10",
            "max_cps": "1", "cost_per_minute": "0.01", "register_expiry_s": "300"}
    return TrunkAdminForm(data={**data, **overrides})


@pytest.mark.parametrize("host", ["not a host!", "sip://example.com", "example.com:5060", "-bad.example.com", ""])
def test_a_host_that_is_not_a_name_or_address_is_refused(host: str) -> None:
    form = _form(host=host)
    assert not form.is_valid()
    assert "host" in form.errors


@pytest.mark.parametrize("host", ["sip.example.com", "127.0.0.1", "::1", "[2001:db8::1]", "localhost"])
def test_names_and_addresses_are_accepted(host: str) -> None:
    form = _form(host=host)
    assert form.is_valid(), form.errors


def test_unknown_codecs_are_named_in_the_error() -> None:
    form = _form(codecs="FOO,BAR")
    assert not form.is_valid()
    assert form.errors["codecs"] == [
        f"Unknown codecs FOO, BAR: use names from {', '.join(SUPPORTED_CODECS)}, most preferred first."]


def test_codecs_are_normalised() -> None:
    form = _form(codecs=" pcma, PCMU ,pcma")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["codecs"] == "PCMA,PCMU"


def test_the_form_knows_the_codecs_the_user_agent_can_offer() -> None:
    from telephony.ua import manager  # pjsua2: imported here so the other tests need no native module

    assert set(SUPPORTED_CODECS) == set(manager._CODEC_IDS)
