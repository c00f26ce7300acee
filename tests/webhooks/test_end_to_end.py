"""End to end through the API and the webhooks, with real processes: a key creates a campaign, adds contacts and
starts it; the dialer (Celery worker and beat), a UA worker with the media bridge, the local agent and the
simulated phone network make the calls; the Celery worker delivers the events, signed, to a real HTTP server
that checks each signature with the algorithm of docs/api.md.

Contacts: persona 0 (answers, talks: attempt.answered, attempt.ended, contact.completed), persona 3 (asks not to
be called: contact.opted_out) and persona 5 (busy, no retry rule left: contact.completed as failed), then the
campaign completes (campaign.completed). The receiver fails the first delivery it gets, so a retry is seen too.

Ports (loopback, inside the test run's network namespace): simulator 19120 (workers 19121-19122, RTP
48100-48131), UA worker SIP 19220 (TLS 19221, RTP 49100-49115), local agent 19320.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from api.keys import issue_api_key
from campaigns.choices import AgentProvider, ContactStatus
from campaigns.models import AgentProfile, CallAttempt, Campaign, RetryRule
from telephony.models import CallerID, Trunk
from tests.api.conftest import ALL_PERMS, ApiClient, group_with
from tests.process_stack import StackPorts, process_stack
from tests.telephony.conftest import wait_for
from tests.webhooks.receiver import Receiver
from webhooks.services import create_endpoint

SIM_PORT = 19120
SIM_RTP_BASE = 48100
UA_SIP_PORT = 19220
UA_RTP_PORT = 49100
AGENT_PORT = 19320
# (number pattern ending in the persona digit, its zone): one whose zone is inside 09:30-19:30 now is used.
CANDIDATES = [("+1212555014{}", "America/New_York"), ("+44207946001{}", "Europe/London"),
              ("+8135550001{}", "Asia/Tokyo"), ("+6129876001{}", "Australia/Sydney"),
              ("+3314555001{}", "Europe/Paris"), ("+1310555014{}", "America/Los_Angeles")]


def _numbers() -> str:
    now = timezone.now()
    for pattern, zone in CANDIDATES:
        if dt.time(9, 30) <= now.astimezone(zoneinfo.ZoneInfo(zone)).time() <= dt.time(19, 30):
            return pattern
    raise AssertionError("no candidate zone is inside 09:30-19:30 now")


@pytest.fixture(scope="module")
def stack(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Simulator, local agent, Celery worker and beat, one UA worker with the media bridge."""
    workdir = tmp_path_factory.mktemp("api-e2e")
    ports = StackPorts(simulator=SIM_PORT, simulator_rtp=SIM_RTP_BASE, ua_sip=UA_SIP_PORT, ua_rtp=UA_RTP_PORT,
                       agent=AGENT_PORT)
    with process_stack(workdir, ports, ["--ring", "0.5", "--max-ring", "30", "--max-call", "60", "--final-wait",
                                        "4", "--no-speech-timeout", "6", "--hangup-delay", "0.3"]):
        yield workdir


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.django_db(transaction=True)
def test_a_campaign_run_through_the_api_sends_signed_webhooks(stack: Path, receiver: Receiver) -> None:
    # given the telephony side (catalogue rows: the API reads them, the admin makes them)
    trunk = Trunk.objects.create(name="simulated network", host="127.0.0.1", port=SIM_PORT, max_channels=10,
                                 max_cps=Decimal("5"))
    caller = CallerID.objects.create(trunk=trunk, number="+14155550100")
    agent = AgentProfile.objects.create(
        name="e2e agent", provider=AgentProvider.LOCAL, url=f"ws://127.0.0.1:{AGENT_PORT}/v1", max_call_s=60,
        prompt_template="You are calling {{name}} about their plan.", greeting="Hello {{name}}, this is Ann.")
    api = ApiClient(issue_api_key("crm", groups=[group_with(*ALL_PERMS)]).secret)
    receiver.statuses = [503]  # the first delivery fails: it must be retried
    endpoint = create_endpoint(receiver.url)
    receiver.secret = endpoint.secret
    pattern = _numbers()

    # when a client creates the campaign, adds three contacts and starts it, all through the API
    created = api.post("/api/v1/campaigns", {
        "name": "API end to end", "agent_id": agent.pk, "trunk_id": trunk.pk, "caller_id_ids": [caller.pk],
        "window_days": [0, 1, 2, 3, 4, 5, 6], "window_start": "08:00", "window_end": "21:00", "max_concurrent": 3,
        "ring_timeout_s": 10, "max_attempts": 1, "amd_enabled": False}, headers={"Idempotency-Key": "camp-1"})
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    added = api.post(f"/api/v1/campaigns/{campaign_id}/contacts", {"contacts": [
        {"phone": pattern.format(d), "name": f"Person {d}"} for d in "035"]})
    assert added.status_code == 200, added.content
    assert added.json()["imported"] == 3, added.json()
    RetryRule.objects.filter(campaign_id=campaign_id).delete()
    assert api.post(f"/api/v1/campaigns/{campaign_id}/start").status_code == 200

    # then the campaign completes and every event arrives, signed, the first one after a retry
    def done() -> bool:
        return any(r.event["type"] == "campaign.completed" for r in receiver.received if r.verified)

    wait_for(done, 240, "campaign.completed to arrive", interval_s=1)
    # the first delivery (503) comes again after its backoff (30 s), with the same event id
    wait_for(lambda: [r.headers["webhook-id"] for r in receiver.received].count(
        receiver.received[0].headers["webhook-id"]) >= 2, 90, "the retry of the failed delivery", interval_s=1)
    assert all(r.verified for r in receiver.received), [r.headers for r in receiver.received if not r.verified]
    events = [r.event for r in receiver.received]
    ids = [e["id"] for e in events]
    assert ids[0] in ids[1:], "the first delivery failed (503) and must have been retried with the same id"
    unique = {e["id"]: e for e in events}.values()
    by_type: dict[str, list[dict[str, object]]] = {}
    for e in unique:
        by_type.setdefault(str(e["type"]), []).append(e)
    ended = {e["data"]["to"]: e["data"] for e in by_type["attempt.ended"]}  # type: ignore[index]
    assert set(ended) == {pattern.format(d) for d in "035"}
    assert ended[pattern.format("5")]["disposition"] == "busy"
    assert ended[pattern.format("0")]["disposition"] == "human"
    answered = {e["data"]["to"] for e in by_type["attempt.answered"]}  # type: ignore[index]
    assert {pattern.format("0"), pattern.format("3")} <= answered
    opted_out = [e["data"]["phone"] for e in by_type.get("contact.opted_out", [])]  # type: ignore[index]
    stop_calling = CallAttempt.objects.filter(contact__phone_e164=pattern.format("3"))
    assert opted_out == [pattern.format("3")], [(a.outcome, a.reason, a.transcript) for a in stop_calling]
    completed = {e["data"]["phone"]: e["data"]["status"] for e in by_type["contact.completed"]}  # type: ignore[index]
    assert completed[pattern.format("5")] == ContactStatus.FAILED
    assert completed[pattern.format("0")] == ContactStatus.DONE
    # per attempt, answered arrives before ended
    order = [(e["type"], e["data"].get("attempt_id")) for e in events]  # type: ignore[union-attr]
    for data in ended.values():
        key = data["attempt_id"]
        if ("attempt.answered", key) in order:
            assert order.index(("attempt.answered", key)) < order.index(("attempt.ended", key))
    assert Campaign.objects.get(pk=campaign_id).status == "completed"
