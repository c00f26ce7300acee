"""The admin and the import hold contact variables to a flat object of bounded texts (audit F18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.imports import import_contacts_file
from campaigns.models import Contact
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _post(client: Client, contact: Contact, variables: str) -> Any:
    return client.post(reverse("admin:campaigns_contact_change", args=[contact.pk]),
                       {"name": "Ada", "priority": "0", "variables": variables,
                        "call_attempts-TOTAL_FORMS": "0", "call_attempts-INITIAL_FORMS": "0",
                        "call_attempts-MIN_NUM_FORMS": "0", "call_attempts-MAX_NUM_FORMS": "1000"})


@pytest.mark.parametrize("variables", ['["a", "b"]', '{"plan": {"tier": 1}}', '{"plan": 5}'])
def test_the_admin_refuses_variables_that_are_not_a_flat_object_of_texts(admin_client: Client,
                                                                          variables: str) -> None:
    contact = ContactFactory(variables={"plan": "Gold"})
    response = _post(admin_client, contact, variables)
    assert response.status_code == 200
    assert "variables" in response.context["adminform"].form.errors
    assert Contact.objects.get(pk=contact.pk).variables == {"plan": "Gold"}


def test_the_admin_saves_a_flat_object_of_texts(admin_client: Client) -> None:
    contact = ContactFactory(variables={"plan": "Gold"})
    assert _post(admin_client, contact, '{"plan": "Silver"}').status_code == 302
    assert Contact.objects.get(pk=contact.pk).variables == {"plan": "Silver"}


def test_an_import_with_more_variable_columns_than_allowed_is_refused(tmp_path: Path, settings: Any) -> None:
    settings.CONTACT_MAX_VARIABLES = 3
    path = tmp_path / "wide.csv"
    path.write_text("phone,a,b,c,d\n+12125550100,1,2,3,4\n")
    with pytest.raises(CsvFormatError, match="at most 3 can become variables"):
        import_contacts_file(CampaignFactory(), path)
