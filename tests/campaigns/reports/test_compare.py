"""The campaign comparison: figures worked out by hand for two small campaigns, costs kept in their own currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from campaigns.choices import ContactStatus, Disposition
from campaigns.models import Campaign
from campaigns.reports.compare import compare_campaigns
from campaigns.views.compare import parse_ids
from tests.campaigns.report_data import add_attempt, at
from tests.factories import CampaignFactory, ContactFactory, TrunkFactory

pytestmark = pytest.mark.django_db


def _campaign(name: str, currency: str, calls: list[tuple[str, float, str]]) -> Campaign:
    """A campaign with one contact per call: (disposition, talk seconds, outcome); a 0.60 a minute trunk.

    A human call's agent speaks 0.5 s after the answer, except a talk of 7 s, whose agent speaks after 3 s
    (an abandoned call).
    """
    campaign = CampaignFactory(name=name, trunk=TrunkFactory(cost_per_minute=Decimal("0.6000"), currency=currency))
    for i, (disposition, talk_s, outcome) in enumerate(calls):
        contact = ContactFactory(campaign=campaign, status=ContactStatus.DONE, outcome=outcome)
        answered = disposition in (Disposition.HUMAN, Disposition.MACHINE)
        add_attempt(
            campaign,
            contact,
            1,
            at(15, i),
            disposition,
            answered_after_s=5 if answered else None,
            talk_s=talk_s,
            first_audio_after_s=(3 if talk_s == 7 else 0.5) if answered else None,
            amd_result="human" if disposition == Disposition.HUMAN else "",
            outcome=outcome,
            cost=Decimal(talk_s) / 100 if answered else None,
            cost_currency=currency if answered else "",
        )
    return campaign


def _two() -> tuple[Campaign, Campaign]:
    spring = _campaign(
        "Spring",
        "USD",
        [
            (Disposition.HUMAN, 60, "interested"),
            (Disposition.HUMAN, 7, "not_interested"),
            (Disposition.HUMAN, 33, "interested"),
            (Disposition.NO_ANSWER, 0, ""),
        ],
    )
    autumn = _campaign(
        "Autumn",
        "EUR",
        [(Disposition.HUMAN, 40, "not_interested"), (Disposition.MACHINE, 20, ""), (Disposition.BUSY, 0, "")],
    )
    return spring, autumn


def test_campaigns_side_by_side_with_their_rates_and_cost_per_outcome() -> None:
    spring, autumn = _two()

    comparison = compare_campaigns([spring, autumn])

    left, right = comparison.columns
    # contact rate: a person answered, of contacts dialed
    assert (left.contacts_dialed, left.contacts_reached, left.contact_rate) == (4, 3, 0.75)
    assert (right.contacts_dialed, right.contacts_reached) == (3, 1)
    # abandon rate: the 7 s call's agent spoke 3 s after the answer
    assert (left.abandoned, left.human_connected, left.abandon_rate) == (1, 3, 1 / 3)
    assert (right.abandoned, right.abandon_rate) == (0, 0.0)
    # cost per outcome: all the campaign's spend (1.00 USD) over the contacts with the outcome
    assert left.cost_total == Decimal("1.00")
    assert left.outcomes["interested"].cost_each == Decimal("0.50")
    assert left.outcomes["not_interested"].cost_each == Decimal("1.00")
    assert right.outcomes["not_interested"].cost_each == Decimal("0.60")
    assert right.outcomes["not_interested"].currency == "EUR"
    # every label either recorded is a row; a campaign without it has no cell
    rows = dict(comparison.outcome_rows())
    assert rows["interested"][1] is None
    # spend is summed per currency, never across
    assert comparison.spend_by_currency == [("EUR", Decimal("0.60")), ("USD", Decimal("1.00"))]


def test_fewer_than_two_campaigns_is_refused_with_a_clear_message() -> None:
    spring, _ = _two()
    with pytest.raises(ValueError, match="between 2 and 6"):
        compare_campaigns([spring])


@pytest.mark.parametrize(("values", "ids"), [(["3", "1"], [3, 1]), (["1,2,2"], [1, 2]), ([""], [])])
def test_ids_are_read_in_order_without_repeats(values: list[str], ids: list[int]) -> None:
    assert parse_ids(values) == ids


def test_a_bad_id_is_named() -> None:
    with pytest.raises(ValueError, match="x1"):
        parse_ids(["2,x1"])


def _viewer() -> Client:
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_both_columns_and_the_spend_per_currency() -> None:
    spring, autumn = _two()
    url = reverse("admin:campaigns_campaign_compare")

    body = _viewer().get(f"{url}?ids={spring.pk}&ids={autumn.pk}").content.decode()

    assert body.index(">Spring<") < body.index(">Autumn<")
    assert "33.3%" in body  # Spring's abandon rate
    assert "0.50 USD" in body
    assert "0.60 EUR" in body
    assert "<strong>0.60 EUR</strong> + <strong>1.00 USD</strong>" in body


def test_the_page_names_what_is_wrong_with_the_choice() -> None:
    spring, _ = _two()
    url = reverse("admin:campaigns_campaign_compare")
    client = _viewer()
    assert "No campaign with id 999999" in client.get(f"{url}?ids={spring.pk},999999").content.decode()
    assert "between 2 and 6" in client.get(f"{url}?ids={spring.pk}").content.decode()
    assert "is not a campaign id" in client.get(f"{url}?ids=abc").content.decode()


def test_the_list_action_opens_the_comparison_of_the_selection() -> None:
    spring, autumn = _two()
    response = _viewer().post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "compare_selected", "_selected_action": [autumn.pk, spring.pk]},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:campaigns_campaign_compare')}?ids={spring.pk},{autumn.pk}"
