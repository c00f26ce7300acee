"""Contacts by JSON meet the CSV import's checks, each bad row reported by index; do-not-call add/check/remove."""

from __future__ import annotations

import pytest

from campaigns.choices import ContactStatus, DncSource
from campaigns.models import Contact, DoNotCall
from tests.api.conftest import ApiClient
from tests.factories import CampaignFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db


def test_json_contacts_go_through_the_import_checks(api_client: ApiClient) -> None:
    campaign = CampaignFactory()
    DoNotCallFactory(phone_e164="+12125550199")
    rows = [
        {"phone": "+1 212 555 0101", "name": "Ann", "variables": {"plan": "gold", "first_name": "Ann"}},
        {"phone": "not a number"},
        {"phone": "(212) 555-0101"},  # the same number as row 0
        {"phone": "+12125550199"},  # on the do-not-call list
        {"phone": "+12125550102", "time_zone": "Mars/Olympus"},
        {"phone": "+12125550103", "variables": {"Bad Key": "x"}},
        {"phone": "+12125550104", "priority": 5},
    ]
    response = api_client.post(f"/api/v1/campaigns/{campaign.pk}/contacts", {"contacts": rows})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["received"], body["imported"], body["duplicates"], body["dnc"]) == (7, 2, 1, 1)
    assert body["invalid"] == 3
    reported = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reported) == {1, 2, 3, 4, 5}
    assert "duplicate" in reported[2]
    assert "do-not-call" in reported[3]
    assert "time zone" in reported[4]
    assert "variable name" in reported[5]
    ann = Contact.objects.get(phone_e164="+12125550101")
    # a variable named first_name stays a variable (the CSV detection would have made it the name column)
    assert ann.name == "Ann"
    assert ann.variables == {"first_name": "Ann", "plan": "gold"}
    assert Contact.objects.get(phone_e164="+12125550104").priority == 5
    assert Contact.objects.get(phone_e164="+12125550199").status == ContactStatus.DNC


def test_more_than_ten_thousand_contacts_are_refused(api_client: ApiClient) -> None:
    campaign = CampaignFactory()
    rows = [{"phone": f"+1212555{i:04d}"} for i in range(10_001)]
    response = api_client.post(f"/api/v1/campaigns/{campaign.pk}/contacts", {"contacts": rows})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("body.payload.contacts")


def test_do_not_call_add_check_remove(api_client: ApiClient) -> None:
    added = api_client.post("/api/v1/dnc", {"phone": "(646) 555-0100", "note": "asked by email"})
    assert added.status_code == 201
    assert added.json()["phone_e164"] == "+16465550100"
    assert added.json()["source"] == DncSource.API
    check = api_client.get("/api/v1/dnc", phone="+16465550100").json()
    assert check["listed"]
    assert check["entries"][0]["id"] == added.json()["id"]
    assert api_client.delete(f"/api/v1/dnc/{added.json()['id']}").status_code == 204
    assert not api_client.get("/api/v1/dnc", phone="+16465550100").json()["listed"]
    opt_out = DoNotCallFactory(source=DncSource.OPT_OUT)
    assert api_client.delete(f"/api/v1/dnc/{opt_out.pk}").status_code == 409
    assert DoNotCall.objects.filter(pk=opt_out.pk).exists()
    assert api_client.post("/api/v1/dnc", {"phone": "12"}).json()["errors"][0]["field"] == "body.phone"
