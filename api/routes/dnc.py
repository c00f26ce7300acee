"""Do-not-call: check a number, add one, remove one (opt-outs excepted: F25)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Router, Status

from api.problems import ApiProblem, not_found, validation_problem
from api.schemas import DncCheck, DncIn, DncOut
from api.v1 import problems, require
from campaigns.choices import DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.models import Campaign, DoNotCall
from campaigns.rules.phones import InvalidNumber, normalize_number

router = Router()


@router.get("", response={200: DncCheck, **problems()}, summary="Is a number on a do-not-call list?")
def check(request: HttpRequest, phone: str, campaign_id: int | None = None, region: str = "US") -> dict[str, Any]:
    require(request, "campaigns.view_donotcall")
    try:
        e164 = normalize_number(phone, region.upper()).e164
    except InvalidNumber as exc:
        raise validation_problem([{"field": "query.phone", "detail": str(exc)}]) from None
    scope = Q(campaign__isnull=True) if campaign_id is None else Q(campaign__isnull=True) | Q(campaign_id=campaign_id)
    entries = list(DoNotCall.objects.filter(scope, phone_e164=e164))
    return {"phone_e164": e164, "listed": bool(entries), "entries": entries}


@router.post("", response={201: DncOut, **problems(404)}, summary="Add a number (idempotent)")
def add(request: HttpRequest, payload: DncIn) -> Status[DoNotCall]:
    require(request, "campaigns.add_donotcall")
    campaign = None
    if payload.campaign_id is not None:
        campaign = Campaign.objects.filter(pk=payload.campaign_id).first()
        if campaign is None:
            raise not_found("campaign")
    try:
        entry = add_to_do_not_call(payload.phone, campaign=campaign, source=DncSource.API, note=payload.note,
                                   default_region=payload.default_region.upper())
    except InvalidNumber as exc:
        raise validation_problem([{"field": "body.phone", "detail": str(exc)}]) from None
    return Status(201, entry)


@router.delete("/{entry_id}", response={204: None, **problems(404, 409)}, summary="Remove an entry")
def remove(request: HttpRequest, entry_id: int) -> Status[None]:
    require(request, "campaigns.delete_donotcall")
    entry = DoNotCall.objects.filter(pk=entry_id).first()
    if entry is None:
        raise not_found("do-not-call entry")
    # F25: an opt-out is the person's own request and the record of it; it is not removed through the API.
    if entry.source == DncSource.OPT_OUT:
        raise ApiProblem(409, "opt-out-kept", "Opt-outs are kept", "An opt-out made during a call cannot be removed.")
    DoNotCall.objects.filter(pk=entry_id).delete()
    return Status(204, None)
