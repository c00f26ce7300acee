"""``POST /api/v1/calls`` with an agent profile and a trunk instead of a campaign: the engine's direct-calls
campaign of that pair, made once (also under two concurrent first calls), then the same gates as any call."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import time_machine
from django.db import connection

from campaigns.choices import CampaignStatus
from campaigns.models import CallAttempt, Campaign, Contact
from tests.api.conftest import ALL_PERMS, ApiClient
from tests.api.test_calls import NIGHT, tick
from tests.campaigns.dialer_setup import MIDDAY, live_ua
from tests.factories import AgentProfileFactory, CallerIDFactory, DoNotCallFactory, TrunkFactory

SATURDAY_NOON_NY = dt.datetime(2026, 6, 20, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def pair() -> dict[str, int]:
    trunk = TrunkFactory(max_channels=100)
    CallerIDFactory(trunk=trunk)
    return {"agent_profile_id": AgentProfileFactory().pk, "trunk_id": trunk.pk}


def direct(client: ApiClient, pair: dict[str, int], to: str = "+12125550123", when: dt.datetime = MIDDAY,
           **extra: Any) -> Any:
    with time_machine.travel(when, tick=False):
        return client.post("/api/v1/calls", {"to": to, **pair, **extra})


@pytest.mark.django_db(transaction=True)
def test_a_direct_call_makes_one_running_campaign_with_the_federal_window(
        api_client: ApiClient, redis_client: redis.Redis, pair: dict[str, int]) -> None:
    live_ua(redis_client)
    response = direct(api_client, pair)
    assert response.status_code == 202, response.content
    campaign = Campaign.objects.get(pk=response.json()["campaign_id"])
    assert campaign.direct_calls
    assert campaign.status == CampaignStatus.RUNNING
    assert (campaign.agent_id, campaign.trunk_id) == (pair["agent_profile_id"], pair["trunk_id"])
    assert campaign.name.startswith("Direct calls: ")
    assert (campaign.window_days, campaign.window_start, campaign.window_end) == (
        [0, 1, 2, 3, 4, 5, 6], dt.time(8, 0), dt.time(21, 0))
    assert campaign.caller_ids.count() == 1
    # the same path as a campaign call: the next tick claims it
    ids = tick(redis_client)
    assert CallAttempt.objects.get(pk__in=ids).contact_id == response.json()["contact_id"]
    # a second call (a Saturday: every day is in the federal window) goes through the same campaign
    again = direct(api_client, pair, to="+12125550124", when=SATURDAY_NOON_NY)
    assert again.status_code == 202, again.content
    assert again.json()["campaign_id"] == campaign.pk
    assert Campaign.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("setup", "reason"), [("dnc", "do-not-call"), ("night", "outside-calling-window")])
def test_a_direct_call_meets_the_same_gates(api_client: ApiClient, pair: dict[str, int], setup: str,
                                            reason: str) -> None:
    if setup == "dnc":
        DoNotCallFactory(phone_e164="+12125550123")
    response = direct(api_client, pair, when=NIGHT if setup == "night" else MIDDAY)
    assert response.status_code == 409, response.content
    assert response.json()["reason"] == reason
    if setup == "night":
        # 02:00 in New York; the federal window opens at 08:00 there (12:00 UTC)
        assert dt.datetime.fromisoformat(response.json()["retry_at"]) == dt.datetime(2026, 6, 17, 12, 0,
                                                                                    tzinfo=dt.UTC)
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_a_completed_direct_campaign_runs_again_and_a_paused_one_refuses(api_client: ApiClient,
                                                                         pair: dict[str, int]) -> None:
    first = direct(api_client, pair).json()
    Campaign.objects.filter(pk=first["campaign_id"]).update(status=CampaignStatus.COMPLETED)
    assert direct(api_client, pair, to="+12125550124").status_code == 202
    assert Campaign.objects.get(pk=first["campaign_id"]).status == CampaignStatus.RUNNING
    Campaign.objects.filter(pk=first["campaign_id"]).update(status=CampaignStatus.PAUSED)
    paused = direct(api_client, pair, to="+12125550125")
    assert paused.status_code == 409
    assert paused.json()["reason"] == "campaign-not-running"
    assert Campaign.objects.count() == 1


@pytest.mark.django_db
def test_a_trunk_without_a_caller_id_leaves_no_campaign(api_client: ApiClient) -> None:
    bare = {"agent_profile_id": AgentProfileFactory().pk, "trunk_id": TrunkFactory().pk}
    response = direct(api_client, bare)
    assert response.status_code == 409
    assert response.json()["reason"] == "cannot-start"
    assert not Campaign.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    {"to": "+12125550123"},
    {"to": "+12125550123", "agent_profile_id": 1},
    {"to": "+12125550123", "campaign_id": 1, "trunk_id": 1, "agent_profile_id": 1},
])
def test_a_campaign_or_an_agent_and_a_trunk(api_client: ApiClient, body: dict[str, Any]) -> None:
    assert api_client.post("/api/v1/calls", body).status_code == 422


@pytest.mark.django_db
def test_unknown_parts_and_a_caller_id_of_another_trunk(api_client: ApiClient, pair: dict[str, int]) -> None:
    for field, extra in (("body.agent_profile_id", {"agent_profile_id": 10**9}), ("body.trunk_id", {"trunk_id": 10**9}),
                         ("body.caller_id", {"caller_id": CallerIDFactory().pk})):
        response = direct(api_client, {**pair, **extra})
        assert response.status_code == 422, response.content
        assert response.json()["errors"][0]["field"] == field
    assert not Campaign.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["campaigns.add_campaign", "campaigns.change_campaign",
                                     "campaigns.add_callattempt"])
def test_a_key_without_the_permission_is_refused(make_client: Callable[..., ApiClient], pair: dict[str, int],
                                                 missing: str) -> None:
    client = make_client(*[p for p in ALL_PERMS if p != missing])
    response = direct(client, pair)
    assert response.status_code == 403
    assert response.json()["permission"] == missing
    assert not Campaign.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_direct_calls_make_one_campaign(make_client: Callable[..., ApiClient],
                                                             pair: dict[str, int]) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(2)
    # two keys: one key's requests would queue behind each other on its last-used update
    clients = {"+12125550123": make_client(*ALL_PERMS), "+12125550124": make_client(*ALL_PERMS)}

    def post(to: str) -> None:
        barrier.wait()
        results.append(direct(clients[to], pair, to=to))
        connection.close()

    # given a lock that holds every campaign insert, so both requests have found no campaign when they insert
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(f"LOCK TABLE {Campaign._meta.db_table} IN SHARE MODE")
        threads = [threading.Thread(target=post, args=(to,)) for to in ("+12125550123", "+12125550124")]
        for t in threads:
            t.start()
        with connection.cursor() as probe:  # until both inserts wait on the lock (or 10 s)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                probe.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                              [Campaign._meta.db_table])
                if probe.fetchone()[0] >= 2:
                    break
                time.sleep(0.05)
        cursor.execute("COMMIT")
    for t in threads:
        t.join(10)
    assert sorted(r.status_code for r in results) == [202, 202], [r.content for r in results]
    assert Campaign.objects.count() == 1
    assert {r.json()["campaign_id"] for r in results} == {Campaign.objects.get().pk}
    assert Contact.objects.filter(campaign=Campaign.objects.get()).count() == 2
