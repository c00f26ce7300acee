"""Every admin action needs the right to do what it does, not only to see the list (audit F16)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, DoNotCall
from telephony import admin as telephony_admin
from telephony.models import Trunk
from tests.factories import CampaignFactory, ContactFactory, TrunkFactory

pytestmark = pytest.mark.django_db


def staff_client(*codenames: str) -> Client:
    """A logged-in staff user holding only the named permissions (``app_label.codename``)."""
    user = User.objects.create_user(username=f"staff-{'-'.join(codenames) or 'none'}", password="x", is_staff=True)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def run_action(client: Client, changelist: str, action: str, pks: list[int]) -> Any:
    return client.post(reverse(changelist), {"action": action, "_selected_action": [str(pk) for pk in pks],
                                             "index": "0"})


class _CheckRecorder:
    def __init__(self) -> None:
        self.trunks: list[int] = []

    def __call__(self, trunk: Trunk) -> Any:
        self.trunks.append(trunk.pk)
        return type("Result", (), {"reachable": True, "auth_ok": True, "summary": lambda self: "ok"})()


def test_a_view_only_user_cannot_test_a_trunk(monkeypatch: pytest.MonkeyPatch) -> None:
    # given (E1b of the audit) a staff user who may only view trunks, and the check stubbed
    checks = _CheckRecorder()
    monkeypatch.setattr(telephony_admin, "check_trunk", checks)
    trunk = TrunkFactory()
    viewer = staff_client("telephony.view_trunk")
    # when they post the "Test trunk" action, then no check runs
    run_action(viewer, "admin:telephony_trunk_changelist", "test_trunk", [trunk.pk])
    assert checks.trunks == []
    # and a user who may change trunks still can
    editor = staff_client("telephony.view_trunk", "telephony.change_trunk")
    run_action(editor, "admin:telephony_trunk_changelist", "test_trunk", [trunk.pk])
    assert checks.trunks == [trunk.pk]


@pytest.mark.parametrize("action", ["start_campaigns", "pause_campaigns", "resume_campaigns", "cancel_campaigns"])
def test_a_view_only_user_cannot_change_a_campaigns_state(action: str) -> None:
    campaign = CampaignFactory(status=CampaignStatus.DRAFT)
    viewer = staff_client("campaigns.view_campaign")
    run_action(viewer, "admin:campaigns_campaign_changelist", action, [campaign.pk])
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


@pytest.mark.parametrize("action", ["add_to_dnc_global", "add_to_dnc_campaign"])
def test_adding_contacts_to_do_not_call_needs_the_right_to_add_entries(action: str) -> None:
    contact = ContactFactory()
    # a user who may edit contacts but not the do-not-call list
    editor = staff_client("campaigns.view_contact", "campaigns.change_contact")
    run_action(editor, "admin:campaigns_contact_changelist", action, [contact.pk])
    assert not DoNotCall.objects.exists()
    # with both rights, the action runs
    both = staff_client("campaigns.view_contact", "campaigns.change_contact", "campaigns.add_donotcall")
    run_action(both, "admin:campaigns_contact_changelist", action, [contact.pk])
    assert DoNotCall.objects.filter(phone_e164=contact.phone_e164).exists()


def test_every_admin_action_declares_its_permissions() -> None:
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        for action in model_admin.actions or []:
            func = getattr(model_admin, action) if isinstance(action, str) else action
            assert getattr(func, "allowed_permissions", None), f"{model.__name__}: {action} has no permissions="
