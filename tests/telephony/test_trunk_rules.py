"""F5 rules of a trunk's configuration: explicit digest realm, SRTP mandatory only over TLS, a readable TLS CA.

Checked in the form (through the model's `clean`), in the database (constraints) and in the migration that adds
them (which names the rows it cannot repair).
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from telephony.forms import TrunkAdminForm
from tests.factories import TrunkFactory
from tests.telephony.tls_peers import TestCa

pytestmark = pytest.mark.django_db

_MIGRATION = importlib.import_module("telephony.migrations.0003_siptls_tls_ca_realm_srtp")


def _form(**overrides: str) -> TrunkAdminForm:
    data = {"name": "carrier", "enabled": "on", "host": "sip.example.com", "port": "5061", "transport": "tls",
            "auth_mode": "ip", "srtp_policy": "disabled", "codecs": "PCMU,PCMA", "max_channels": "10",
            "max_cps": "1", "cost_per_minute": "0.01", "register_expiry_s": "300"}
    return TrunkAdminForm(data={**data, **overrides})


@pytest.mark.parametrize("realm", ["", "*", "  "])
def test_a_digest_trunk_without_an_explicit_realm_is_refused(realm: str) -> None:
    form = _form(auth_mode="digest", username="acct", password="pw", realm=realm)
    assert not form.is_valid()
    assert form.errors["realm"] == ["Digest and REGISTER authentication need the provider's realm (a blank or '*' "
                                    "realm would answer a challenge from any realm)."]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_mandatory_srtp_is_refused_without_tls(transport: str) -> None:
    form = _form(transport=transport, srtp_policy="mandatory")
    assert not form.is_valid()
    assert form.errors["srtp_policy"] == [
        f"SRTP mandatory needs the TLS transport: SDES keys travel in the SDP, which {transport.upper()} signalling "
        "sends in clear."]


def test_mandatory_srtp_over_tls_with_a_ca_is_accepted() -> None:
    form = _form(srtp_policy="mandatory", tls_ca_pem=TestCa().pem)
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(("fields", "message"), [
    ({"transport": "udp", "tls_ca_pem": "PEM"}, "A CA certificate applies to TLS trunks only."),
    ({"tls_ca_pem": "hello"}, "The CA certificate must be PEM text starting with -----BEGIN CERTIFICATE-----."),
    ({"tls_ca_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "not a readable PEM"),
])
def test_a_ca_that_cannot_verify_anything_is_refused(fields: dict[str, str], message: str) -> None:
    form = _form(**fields)
    assert not form.is_valid()
    assert message.lower() in form.errors["tls_ca_pem"][0].lower()


@pytest.mark.parametrize(("fields", "constraint"), [
    ({"auth_mode": "digest", "username": "u", "realm": ""}, "trunk_digest_has_realm"),
    ({"auth_mode": "register", "username": "u", "realm": "*"}, "trunk_digest_has_realm"),
    ({"transport": "tcp", "srtp_policy": "mandatory"}, "trunk_mandatory_srtp_over_tls"),
])
def test_the_database_refuses_insecure_rows_written_around_the_form(fields: dict[str, str], constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        TrunkFactory(**fields)


def test_the_migration_names_each_trunk_it_cannot_repair() -> None:
    # given rows from before the rules (written with the constraints out of the way; the test's transaction
    # restores them)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE telephony_trunk DROP CONSTRAINT trunk_digest_has_realm")
        cursor.execute("ALTER TABLE telephony_trunk DROP CONSTRAINT trunk_mandatory_srtp_over_tls")
    good = TrunkFactory(auth_mode="digest", username="u", realm="carrier.example")
    blank = TrunkFactory(name="old-digest", auth_mode="digest", username="u", realm="")
    clear = TrunkFactory(name="old-srtp", transport="udp", srtp_policy="mandatory")
    # when / then the migration stops with a message naming them and what to change
    with pytest.raises(RuntimeError) as refused:
        _MIGRATION.refuse_insecure_trunks(apps, None)
    text = str(refused.value)
    assert f"trunk {blank.pk} (old-digest): digest authentication without a realm" in text
    assert f"trunk {clear.pk} (old-srtp): SRTP mandatory over UDP" in text
    assert f"trunk {good.pk} " not in text
