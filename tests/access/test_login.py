"""Accounts (audit F24): login throttling, and TOTP for staff when the deployment requires it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_otp.admin import OTPAdminSite
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.apps import require_otp

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-correct-horse-battery"


def _login(client: Client, username: str, password: str, **extra: str) -> int:
    response = client.post(reverse("admin:login"), {"username": username, "password": password,
                                                    "next": reverse("admin:index"), **extra})
    return response.status_code


def test_five_failed_logins_lock_the_username_out_from_that_address() -> None:
    User.objects.create_user("ops", password=PASSWORD, is_staff=True)
    client = Client()
    for _ in range(4):
        assert _login(client, "ops", "wrong") == 200  # the form again, with an error
    assert _login(client, "ops", "wrong") == 429  # the fifth failure locks the pair out
    # then even the right password is refused
    assert _login(client, "ops", PASSWORD) == 429
    # another user from the same address is not locked out
    User.objects.create_user("analyst", password=PASSWORD, is_staff=True)
    assert _login(client, "analyst", PASSWORD) == 302


@pytest.fixture
def otp_admin() -> Iterator[None]:
    original = admin.site.__class__
    require_otp(admin.site)
    yield
    admin.site.__class__ = original


def test_with_otp_required_a_password_alone_does_not_open_the_admin(otp_admin: None) -> None:
    user = User.objects.create_user("ops", password=PASSWORD, is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    assert _login(client, "ops", PASSWORD) == 200  # the form asks for the code
    assert client.get(reverse("admin:index")).status_code == 302  # still at the login page


def test_with_otp_required_the_right_code_opens_the_admin(otp_admin: None) -> None:
    user = User.objects.create_user("ops", password=PASSWORD, is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
    assert _login(client, "ops", PASSWORD, otp_device=device.persistent_id, otp_token=code) == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_otp_is_off_unless_the_deployment_requires_it() -> None:
    assert not isinstance(admin.site, OTPAdminSite)
