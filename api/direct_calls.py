"""Calls placed with an agent profile and a trunk instead of a campaign: the engine's "direct calls" campaign.

Every call goes through a campaign, because the campaign carries the gates (status, calling window, limits,
attempts, caller IDs). A call that names only an agent profile and a trunk is placed through the one running
direct-calls campaign of that pair, made on first use with the federal default window (08:00-21:00 local, every
day) and the campaign defaults, and then follows exactly the path of a campaign call (``api.calls.place_call``).
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from api.problems import ApiProblem, validation_problem
from campaigns import services as campaign_services
from campaigns.choices import CampaignStatus
from campaigns.models import WEEKDAYS, AgentProfile, Campaign
from telephony.models import CallerID, Trunk

# TCPA (47 CFR 64.1200(c)(1)): no call before 8am or after 9pm at the called party's location.
FEDERAL_WINDOW = (dt.time(8, 0), dt.time(21, 0))


def _check_parts(agent_id: int, trunk_id: int, caller_id: int | None) -> tuple[AgentProfile, Trunk]:
    agent = AgentProfile.objects.filter(pk=agent_id).first()
    if agent is None:
        raise validation_problem([{"field": "body.agent_profile_id", "detail": "no such agent profile"}])
    trunk = Trunk.objects.filter(pk=trunk_id).first()
    if trunk is None:
        raise validation_problem([{"field": "body.trunk_id", "detail": "no such trunk"}])
    if caller_id is not None and not CallerID.objects.filter(pk=caller_id, trunk_id=trunk_id, active=True).exists():
        raise validation_problem([{"field": "body.caller_id",
                                   "detail": "no such active caller ID on this trunk"}])
    return agent, trunk


def _create(agent: AgentProfile, trunk: Trunk, caller_id: int | None) -> Campaign | None:
    """The new running direct-calls campaign, or None when a concurrent request made it first."""
    campaign = Campaign(name=f"Direct calls: {agent.name} via {trunk.name}"[:200], agent=agent, trunk=trunk,
                        direct_calls=True, window_days=list(WEEKDAYS), window_start=FEDERAL_WINDOW[0],
                        window_end=FEDERAL_WINDOW[1])
    # Caller ID is mandatory for telemarketing (47 CFR 64.1601(e)): the one named, or every active one of the
    # trunk; start_campaign refuses a campaign with none (same rule as a campaign started by hand).
    callers = [caller_id] if caller_id is not None else list(
        CallerID.objects.filter(trunk=trunk, active=True).values_list("pk", flat=True))
    try:
        # The partial unique index (agent, trunk) WHERE direct_calls is the serialisation point: a concurrent
        # first call waits on it, then fails here and uses the campaign the other made. A campaign that cannot
        # start is rolled back with its savepoint (no draft is left behind to block later calls).
        with transaction.atomic():
            campaign.save()
            campaign.caller_ids.set(callers)
            campaign_services.start_campaign(campaign.pk)
    except IntegrityError:
        return None
    except campaign_services.CampaignTransitionError as exc:
        raise ApiProblem(409, "cannot-start", "Direct-calls campaign cannot start", str(exc),
                         reason="cannot-start", retry_at=None) from None
    return campaign


def direct_campaign(agent_id: int, trunk_id: int, caller_id: int | None = None) -> int:
    """The id of the direct-calls campaign of (``agent_id``, ``trunk_id``), made and started on first use.

    A completed one (nothing was left to dial) runs again; a paused or cancelled one is left as the operator set
    it, and the call is then refused as any call of a campaign that is not running.

    Raises:
        ApiProblem: 422 unknown agent profile, trunk or caller ID; 409 when a new campaign cannot start.
    """
    agent, trunk = _check_parts(agent_id, trunk_id, caller_id)
    existing = Campaign.objects.filter(direct_calls=True, agent_id=agent_id, trunk_id=trunk_id).first()
    if existing is None:
        made = _create(agent, trunk, caller_id)
        if made is not None:
            return made.pk
        existing = Campaign.objects.get(direct_calls=True, agent_id=agent_id, trunk_id=trunk_id)
    if caller_id is not None:
        existing.caller_ids.add(caller_id)
    reopen(existing.pk)
    return existing.pk


def reopen(campaign_id: int) -> bool:
    """COMPLETED -> RUNNING for a direct-calls campaign (conditional update: a paused or cancelled one stays)."""
    return bool(Campaign.objects.filter(pk=campaign_id, direct_calls=True, status=CampaignStatus.COMPLETED)
                .update(status=CampaignStatus.RUNNING, finished_at=None))
