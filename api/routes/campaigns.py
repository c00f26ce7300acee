"""Campaigns: list, create, read (with ETag), update (If-Match), start / pause / resume / cancel, report."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from api.campaign_edits import campaign_state, create_campaign, etag_of, update_campaign
from api.problems import ApiProblem, not_found
from api.schemas import CampaignCreate, CampaignFields, CampaignOut, CampaignPage
from api.v1 import paginate, problems, require
from campaigns import services as campaign_services
from campaigns.models import Campaign
from campaigns.reports.report import build_campaign_report

router = Router()


def _out(campaign: Campaign, response: HttpResponse | None = None) -> dict[str, Any]:
    state = campaign_state(campaign)
    state["version"] = etag_of(state)
    if response is not None:
        response["ETag"] = state["version"]
    return state


def _get(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.prefetch_related("caller_ids").filter(pk=campaign_id).first()
    if campaign is None:
        raise not_found("campaign")
    return campaign


@router.get("", response={200: CampaignPage, **problems()}, summary="List campaigns")
def list_campaigns(request: HttpRequest, status: str | None = None, cursor: str | None = None,
                   limit: int | None = None) -> dict[str, Any]:
    require(request, "campaigns.view_campaign")
    qs = Campaign.objects.prefetch_related("caller_ids")
    if status:
        qs = qs.filter(status=status)
    page = paginate(qs, cursor, limit)
    page["items"] = [_out(c) for c in page["items"]]
    return page


@router.post("", response={201: CampaignOut, **problems()}, summary="Create a draft campaign")
def create(request: HttpRequest, response: HttpResponse, payload: CampaignCreate) -> Status[dict[str, Any]]:
    require(request, "campaigns.add_campaign")
    campaign = create_campaign(payload.dict())
    return Status(201, _out(_get(campaign.pk), response))


@router.get("/{campaign_id}", response={200: CampaignOut, **problems(404)}, summary="Read a campaign")
def read(request: HttpRequest, response: HttpResponse, campaign_id: int) -> dict[str, Any]:
    require(request, "campaigns.view_campaign")
    return _out(_get(campaign_id), response)


@router.patch("/{campaign_id}", response={200: CampaignOut, **problems(404, 409, 412, 428)},
              summary="Change a campaign (send its version as If-Match)")
def update(request: HttpRequest, response: HttpResponse, campaign_id: int, payload: CampaignFields) -> dict[str, Any]:
    require(request, "campaigns.change_campaign")
    campaign = update_campaign(campaign_id, request.headers.get("If-Match"), payload.dict(exclude_unset=True))
    return _out(_get(campaign.pk), response)


def _transition(request: HttpRequest, response: HttpResponse, campaign_id: int, action: Any) -> dict[str, Any]:
    require(request, "campaigns.change_campaign")
    _get(campaign_id)
    try:
        action(campaign_id)
    except campaign_services.CampaignTransitionError as exc:
        raise ApiProblem(409, "invalid-transition", "Action not possible now", str(exc)) from None
    return _out(_get(campaign_id), response)


@router.post("/{campaign_id}/start", response={200: CampaignOut, **problems(404, 409)}, summary="Start a draft")
def start(request: HttpRequest, response: HttpResponse, campaign_id: int) -> dict[str, Any]:
    return _transition(request, response, campaign_id, campaign_services.start_campaign)


@router.post("/{campaign_id}/pause", response={200: CampaignOut, **problems(404, 409)}, summary="Pause")
def pause(request: HttpRequest, response: HttpResponse, campaign_id: int) -> dict[str, Any]:
    return _transition(request, response, campaign_id, campaign_services.pause_campaign)


@router.post("/{campaign_id}/resume", response={200: CampaignOut, **problems(404, 409)}, summary="Resume")
def resume(request: HttpRequest, response: HttpResponse, campaign_id: int) -> dict[str, Any]:
    return _transition(request, response, campaign_id, campaign_services.resume_campaign)


@router.post("/{campaign_id}/cancel", response={200: CampaignOut, **problems(404, 409)}, summary="Cancel for good")
def cancel(request: HttpRequest, response: HttpResponse, campaign_id: int) -> dict[str, Any]:
    return _transition(request, response, campaign_id, campaign_services.cancel_campaign)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@router.get("/{campaign_id}/report", response={200: dict[str, Any], **problems(404)},
            summary="The campaign report as JSON")
def report(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    require(request, "campaigns.view_campaign")
    campaign = _get(campaign_id)
    built = build_campaign_report(campaign)
    data = {f.name: _plain(getattr(built, f.name)) for f in dataclasses.fields(built) if f.name != "campaign"}
    data.update(campaign_id=campaign.pk, answer_rate=built.answer_rate, abandoned_rate=built.abandoned_rate,
                cost_per_connected=built.cost_per_connected)
    return data
