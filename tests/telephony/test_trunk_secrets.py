"""Trunk passwords at rest (audit F8): encrypted, rotatable, and cleared when the trunk's endpoint changes."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from telephony import secrets
from telephony.choices import TrunkAuth
from telephony.models import Trunk
from tests.factories import TrunkFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-trunk-pass"
ENDPOINT = {"host": "sip.example.net", "port": 5060, "transport": "udp", "realm": "carrier.example"}


def _stored(trunk_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM telephony_trunk WHERE id = %s", [trunk_id])
        return str(cursor.fetchone()[0])


def _digest_trunk() -> Trunk:
    return TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="acct1", password=SECRET, **ENDPOINT)


def test_the_password_is_stored_as_a_token_and_read_back_in_clear() -> None:
    trunk = _digest_trunk()
    token = _stored(trunk.pk)
    assert SECRET not in token
    assert token.startswith(secrets.TOKEN_PREFIX)
    assert Trunk.objects.get(pk=trunk.pk).password == SECRET
    assert dict(Trunk.objects.values_list("id", "password"))[trunk.pk] == SECRET  # the UA's credential read


def test_rotation_re_encrypts_under_the_new_key_so_the_old_one_can_go(settings: pytest.FixtureRequest) -> None:
    # given a password under the current key
    trunk = _digest_trunk()
    old_keys = list(settings.TRUNK_SECRET_KEYS)  # type: ignore[attr-defined]
    new_key = Fernet.generate_key().decode()
    # when a new key is put first and the command runs
    settings.TRUNK_SECRET_KEYS = [new_key, *old_keys]  # type: ignore[attr-defined]
    call_command("rotate_trunk_secrets", stdout=io.StringIO())
    # then the new key alone opens it, and the old key alone no longer does
    settings.TRUNK_SECRET_KEYS = [new_key]  # type: ignore[attr-defined]
    assert Trunk.objects.get(pk=trunk.pk).password == SECRET
    settings.TRUNK_SECRET_KEYS = old_keys  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured):
        Trunk.objects.get(pk=trunk.pk)


@pytest.mark.parametrize("change", [{"host": "attacker.example"}, {"port": 5070}, {"transport": "tcp"},
                                    {"realm": "other.example"}])
def test_changing_the_endpoint_clears_the_stored_password(change: dict[str, object]) -> None:
    trunk = Trunk.objects.get(pk=_digest_trunk().pk)
    for name, value in change.items():
        setattr(trunk, name, value)
    trunk.save()
    assert Trunk.objects.get(pk=trunk.pk).password == ""


def test_other_changes_keep_the_stored_password() -> None:
    trunk = Trunk.objects.get(pk=_digest_trunk().pk)
    trunk.max_channels = 50
    trunk.save()
    assert Trunk.objects.get(pk=trunk.pk).password == SECRET


def _form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "carrier", **ENDPOINT, "auth_mode": TrunkAuth.DIGEST, "username": "acct1", "password": "",
        "register_expiry_s": "300", "srtp_policy": "disabled", "codecs": "PCMU,PCMA", "max_channels": "30",
        "max_cps": "5", "cost_per_minute": "0.01", "enabled": "on",
        "caller_ids-TOTAL_FORMS": "0", "caller_ids-INITIAL_FORMS": "0",
        "caller_ids-MIN_NUM_FORMS": "0", "caller_ids-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_the_admin_asks_for_the_password_again_when_the_host_changes(admin_client: Client) -> None:
    trunk = _digest_trunk()
    url = reverse("admin:telephony_trunk_change", args=[trunk.pk])
    response = admin_client.post(url, _form(name=trunk.name, host="attacker.example"))
    assert response.status_code == 200
    assert "Enter the password again" in str(response.context["adminform"].form.errors["password"])
    assert Trunk.objects.get(pk=trunk.pk).host == "sip.example.net"


def test_a_digest_trunk_needs_an_explicit_realm(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:telephony_trunk_add"), _form(password=SECRET, realm=""))
    assert response.status_code == 200
    assert "realm" in response.context["adminform"].form.errors
