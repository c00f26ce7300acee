"""The records of who was called and who asked not to be are kept (audit F25): opt-outs cannot be deleted, call
attempts cannot be deleted, and a campaign or contact with attempts is refused a delete with a clear message."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from campaigns.choices import DncSource
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from tests.factories import CampaignFactory, ContactFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db


def _attempt(contact: Contact) -> CallAttempt:
    return CallAttempt.objects.create(campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk)


def _bulk_delete(client: Client, changelist: str, pks: list[int]) -> Any:
    """The "Delete selected" action as the confirmation page posts it (post=yes)."""
    return client.post(reverse(changelist), {"action": "delete_selected", "_selected_action": [str(p) for p in pks],
                                             "index": "0", "post": "yes"}, follow=True)


def _messages(response: Any) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


# --- opt-outs ----------------------------------------------------------------------------------------------


def test_an_opt_out_cannot_be_deleted_from_its_page(admin_client: Client) -> None:
    entry = DoNotCallFactory(source=DncSource.OPT_OUT)
    page = admin_client.get(reverse("admin:campaigns_donotcall_change", args=[entry.pk]))
    assert reverse("admin:campaigns_donotcall_delete", args=[entry.pk]) not in page.content.decode()
    response = admin_client.post(reverse("admin:campaigns_donotcall_delete", args=[entry.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert DoNotCall.objects.filter(pk=entry.pk).exists()


def test_a_bulk_delete_with_an_opt_out_deletes_nothing(admin_client: Client) -> None:
    opt_out = DoNotCallFactory(source=DncSource.OPT_OUT)
    manual = DoNotCallFactory(source=DncSource.MANUAL)
    response = _bulk_delete(admin_client, "admin:campaigns_donotcall_changelist", [opt_out.pk, manual.pk])
    assert "opt-outs are kept" in _messages(response)
    assert DoNotCall.objects.filter(pk__in=[opt_out.pk, manual.pk]).count() == 2


def test_entries_added_by_hand_can_still_be_deleted(admin_client: Client) -> None:
    manual = DoNotCallFactory(source=DncSource.MANUAL)
    uploaded = DoNotCallFactory(source=DncSource.UPLOAD)
    _bulk_delete(admin_client, "admin:campaigns_donotcall_changelist", [manual.pk, uploaded.pk])
    assert not DoNotCall.objects.filter(pk__in=[manual.pk, uploaded.pk]).exists()
    single = DoNotCallFactory(source=DncSource.MANUAL)
    admin_client.post(reverse("admin:campaigns_donotcall_delete", args=[single.pk]), {"post": "yes"})
    assert not DoNotCall.objects.filter(pk=single.pk).exists()


# --- call attempts and what they belong to -----------------------------------------------------------------


def test_call_attempts_cannot_be_deleted_from_the_admin(admin_client: Client) -> None:
    attempt = _attempt(ContactFactory())
    response = admin_client.post(reverse("admin:campaigns_callattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert CallAttempt.objects.filter(pk=attempt.pk).exists()


def test_the_database_protects_attempts_from_a_campaign_or_contact_delete() -> None:
    attempt = _attempt(ContactFactory())
    with pytest.raises(ProtectedError):
        attempt.contact.delete()
    with pytest.raises(ProtectedError):
        attempt.campaign.delete()
    assert CallAttempt.objects.filter(pk=attempt.pk).exists()


@pytest.mark.parametrize(("model", "field"), [("campaign", "campaign"), ("contact", "contact")])
def test_deleting_a_campaign_or_contact_with_attempts_is_refused_with_a_message(
        admin_client: Client, model: str, field: str) -> None:
    # given a contact that was called once
    attempt = _attempt(ContactFactory())
    obj = getattr(attempt, field)
    # when the operator confirms its delete page
    response = admin_client.post(reverse(f"admin:campaigns_{model}_delete", args=[obj.pk]), {"post": "yes"},
                                 follow=True)
    # then they are sent back to it, told why and what to do instead, and nothing is deleted
    assert response.redirect_chain[-1][0] == reverse(f"admin:campaigns_{model}_change", args=[obj.pk])
    text = _messages(response)
    assert "has call attempts" in text
    assert ("Cancel the campaign" if model == "campaign" else "do-not-call list") in text
    assert CallAttempt.objects.filter(pk=attempt.pk).exists()
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("model", ["campaign", "contact"])
def test_a_bulk_delete_including_one_with_attempts_deletes_nothing(admin_client: Client, model: str) -> None:
    called = ContactFactory()
    _attempt(called)
    other = ContactFactory()
    objs = [called.campaign, other.campaign] if model == "campaign" else [called, other]
    response = _bulk_delete(admin_client, f"admin:campaigns_{model}_changelist", [o.pk for o in objs])
    assert "cannot be deleted" in _messages(response)
    assert type(objs[0]).objects.filter(pk__in=[o.pk for o in objs]).count() == 2


def test_a_campaign_without_attempts_can_still_be_deleted(admin_client: Client) -> None:
    campaign = CampaignFactory()
    ContactFactory(campaign=campaign)
    admin_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
