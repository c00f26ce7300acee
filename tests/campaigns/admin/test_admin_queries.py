"""Admin list pages run a bounded number of queries, whatever the number of rows on the page (no N+1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import AttemptState, Disposition, ImportStatus
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, DoNotCall, ImportJob
from telephony.models import CallerID, Trunk
from tests.factories import AgentProfileFactory, CallerIDFactory, CampaignFactory, ContactFactory, TrunkFactory

pytestmark = pytest.mark.django_db

# Session, user, the page's rows, the paginator count and the filter choices: a fixed handful.
MAX_QUERIES = 12
FEW, MANY = 3, 40


def _campaigns(n: int) -> None:
    agent, trunk = AgentProfileFactory(), TrunkFactory()
    for campaign in CampaignFactory.create_batch(n, agent=agent, trunk=trunk):
        ContactFactory.create_batch(2, campaign=campaign)


def _contacts(n: int) -> None:
    ContactFactory.create_batch(n, campaign=CampaignFactory())


def _attempts(n: int) -> None:
    campaign = CampaignFactory()
    now = timezone.now()
    for contact in ContactFactory.create_batch(n, campaign=campaign):
        CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                   state=AttemptState.ENDED, disposition=Disposition.HUMAN,
                                   answered_at=now, ended_at=now)


def _dnc(n: int) -> None:
    campaign = CampaignFactory()
    start = DoNotCall.objects.count()
    DoNotCall.objects.bulk_create(
        DoNotCall(phone_e164=f"+1212555{i:04d}", campaign=campaign if i % 2 else None) for i in range(start, start + n)
    )


def _imports(n: int, admin_user: object) -> None:
    campaign = CampaignFactory()
    ImportJob.objects.bulk_create(
        ImportJob(campaign=campaign, file=f"imports/f{i}.csv", original_name=f"f{i}.csv",
                  status=ImportStatus.COMPLETED, rows_total=10, rows_done=10, created_by=admin_user)
        for i in range(n)
    )


def _trunks(n: int) -> None:
    backup = TrunkFactory()
    for trunk in TrunkFactory.create_batch(n, failover=backup):
        CallerIDFactory(trunk=trunk)


def _caller_ids(n: int) -> None:
    CallerIDFactory.create_batch(n, trunk=TrunkFactory())


def _agents(n: int) -> None:
    for agent in AgentProfileFactory.create_batch(n):
        CampaignFactory(agent=agent)


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


CHANGELISTS: list[tuple[str, type, Callable[..., None]]] = [
    ("campaigns_campaign", Campaign, _campaigns),
    ("campaigns_contact", Contact, _contacts),
    ("campaigns_callattempt", CallAttempt, _attempts),
    ("campaigns_donotcall", DoNotCall, _dnc),
    ("campaigns_importjob", ImportJob, _imports),
    ("campaigns_agentprofile", AgentProfile, _agents),
    ("telephony_trunk", Trunk, _trunks),
    ("telephony_callerid", CallerID, _caller_ids),
]


@pytest.mark.parametrize(("name", "model", "make"), CHANGELISTS, ids=[c[0] for c in CHANGELISTS])
def test_changelist_queries_do_not_grow_with_rows(
    admin_client: Client, admin_user: object, django_assert_max_num_queries: Callable,
    name: str, model: type, make: Callable[..., None],
) -> None:
    url = reverse(f"admin:{name}_changelist")
    args = (admin_user,) if make is _imports else ()

    # given a few rows
    make(FEW, *args)
    few = _query_count(admin_client, url)

    # when the page holds many more
    make(MANY, *args)
    assert model.objects.count() >= MANY
    with django_assert_max_num_queries(MAX_QUERIES):
        response = admin_client.get(url)

    # then every row is on the page and the query count is the same
    assert len(response.context["cl"].result_list) >= MANY
    assert _query_count(admin_client, url) == few
