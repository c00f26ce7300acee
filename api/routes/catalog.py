"""Agent profiles, trunks and caller IDs, read-only. A trunk's credentials are never in a response."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from api.problems import not_found
from api.schemas import AgentOut, AgentPage, CallerIdPage, TrunkOut, TrunkPage
from api.v1 import paginate, problems, require
from campaigns.models import AgentProfile
from telephony.models import CallerID, Trunk

router = Router()


@router.get("/agents", response={200: AgentPage, **problems()}, summary="List agent profiles")
def list_agents(request: HttpRequest, cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    require(request, "campaigns.view_agentprofile")
    return paginate(AgentProfile.objects.all(), cursor, limit)


@router.get("/agents/{agent_id}", response={200: AgentOut, **problems(404)}, summary="Read an agent profile")
def read_agent(request: HttpRequest, agent_id: int) -> AgentProfile:
    require(request, "campaigns.view_agentprofile")
    agent = AgentProfile.objects.filter(pk=agent_id).first()
    if agent is None:
        raise not_found("agent profile")
    return agent


@router.get("/trunks", response={200: TrunkPage, **problems()}, summary="List trunks (no credentials)")
def list_trunks(request: HttpRequest, cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    require(request, "telephony.view_trunk")
    # .only(): the password column is not even read.
    return paginate(Trunk.objects.only(*TrunkOut.model_fields), cursor, limit)


@router.get("/caller-ids", response={200: CallerIdPage, **problems()}, summary="List caller IDs")
def list_caller_ids(request: HttpRequest, trunk_id: int | None = None, cursor: str | None = None,
                    limit: int | None = None) -> dict[str, Any]:
    require(request, "telephony.view_callerid")
    qs = CallerID.objects.all()
    if trunk_id is not None:
        qs = qs.filter(trunk_id=trunk_id)
    return paginate(qs, cursor, limit)
