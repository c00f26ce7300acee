"""``POST /api/v1/calls``: call one number now through the dialer's gates; ``GET`` follows it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from api.calls import place_call
from api.direct_calls import direct_campaign
from api.problems import not_found
from api.routes.attempts import attempt_summary
from api.schemas import CallIn, CallOut
from api.v1 import problems, require
from campaigns.models import CallAttempt, Contact

router = Router()


def _call(contact: Contact) -> dict[str, Any]:
    attempts = CallAttempt.objects.filter(contact_id=contact.pk).defer("transcript", "usage").order_by("-id")[:20]
    return {"contact_id": contact.pk, "campaign_id": contact.campaign_id, "to": contact.phone_e164,
            "status": contact.status, "attempts": [attempt_summary(a) for a in attempts]}


@router.post("", response={202: CallOut, **problems(404, 409)},
             summary="Place one call now (or learn why it may not be dialed now, and when it could)")
def create_call(request: HttpRequest, payload: CallIn) -> Status[dict[str, Any]]:
    campaign_id = payload.campaign_id
    if campaign_id is None:
        # Without a campaign the engine may make and start one: the key needs what that needs too.
        require(request, "campaigns.add_callattempt", "campaigns.add_campaign", "campaigns.change_campaign")
        campaign_id = direct_campaign(payload.agent_profile_id or 0, payload.trunk_id or 0, payload.caller_id)
    else:
        require(request, "campaigns.add_callattempt")
    placed = place_call(campaign_id, payload.to, name=payload.name, time_zone=payload.time_zone,
                        variables=payload.variables)
    return Status(202, _call(placed.contact))


@router.get("/{contact_id}", response={200: CallOut, **problems(404)}, summary="A call's contact and its attempts")
def read_call(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    require(request, "campaigns.view_callattempt")
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise not_found("call")
    return _call(contact)
