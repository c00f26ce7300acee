"""Creating and changing campaigns through the API, with optimistic concurrency (ETag / If-Match).

The admin changes campaigns through its form; the API has no form, so this module runs the same model
validation (``full_clean``: the database checks as messages) and adds the version check: the ETag is a digest
of the campaign's fields, and an update is applied only while the row, locked, still has the ETag the client
read. A concurrent change is refused (412) rather than lost.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from api.problems import ApiProblem, not_found, validation_problem
from campaigns.choices import CampaignStatus
from campaigns.models import AgentProfile, Campaign
from telephony.models import CallerID, Trunk

EDITABLE = ("name", "default_region", "window_days", "window_start", "window_end", "max_concurrent", "max_cps",
            "ring_timeout_s", "max_attempts", "amd_enabled", "machine_policy", "voicemail_message")
# Fields that may change only while nothing is being dialed.
_LOCKED_WHILE_ACTIVE = frozenset({"agent_id", "trunk_id", "caller_id_ids"})


def campaign_state(campaign: Campaign) -> dict[str, Any]:
    """The campaign as the API shows it, without its version."""
    state: dict[str, Any] = {f: getattr(campaign, f) for f in EDITABLE}
    # Local wall-clock times without an offset: JSON Schema's "time" format would demand one.
    state["window_start"] = campaign.window_start.strftime("%H:%M:%S")
    state["window_end"] = campaign.window_end.strftime("%H:%M:%S")
    state.update(id=campaign.pk, status=campaign.status, agent_id=campaign.agent_id, trunk_id=campaign.trunk_id,
                 caller_id_ids=sorted(c.pk for c in campaign.caller_ids.all()), created_at=campaign.created_at,
                 started_at=campaign.started_at, finished_at=campaign.finished_at)
    return state


def etag_of(state: dict[str, Any]) -> str:
    """A strong ETag of ``state``: changes whenever any field does (status included)."""
    canonical = json.dumps(state, sort_keys=True, default=str).encode()
    return '"' + hashlib.sha256(canonical).hexdigest()[:32] + '"'


def _problems(exc: ValidationError) -> ApiProblem:
    errors = [{"field": f"body.{name}" if name != "__all__" else "body", "detail": msg}
              for name, messages in exc.message_dict.items() for msg in messages]
    return validation_problem(errors)


def _apply(campaign: Campaign, changes: dict[str, Any]) -> list[int] | None:
    for name in EDITABLE:
        if name in changes and changes[name] is not None:
            setattr(campaign, name, changes[name])
    if changes.get("agent_id") is not None:
        if not AgentProfile.objects.filter(pk=changes["agent_id"]).exists():
            raise validation_problem([{"field": "body.agent_id", "detail": "no such agent profile"}])
        campaign.agent_id = changes["agent_id"]
    if changes.get("trunk_id") is not None:
        if not Trunk.objects.filter(pk=changes["trunk_id"]).exists():
            raise validation_problem([{"field": "body.trunk_id", "detail": "no such trunk"}])
        campaign.trunk_id = changes["trunk_id"]
    caller_ids = changes.get("caller_id_ids")
    if caller_ids is not None:
        found = set(CallerID.objects.filter(pk__in=caller_ids, trunk_id=campaign.trunk_id).values_list("pk", flat=True))
        missing = sorted(set(caller_ids) - found)
        if missing:
            raise validation_problem([{"field": "body.caller_id_ids",
                                       "detail": f"caller IDs {missing} do not exist on the campaign's trunk"}])
    try:
        campaign.full_clean(exclude=["caller_ids"])
    except ValidationError as exc:
        raise _problems(exc) from None
    return caller_ids


def create_campaign(fields: dict[str, Any]) -> Campaign:
    """A new draft campaign from the API's fields (validated like the admin's)."""
    campaign = Campaign(agent_id=0, trunk_id=0)
    with transaction.atomic():
        caller_ids = _apply(campaign, fields)
        campaign.save()
        if caller_ids is not None:
            campaign.caller_ids.set(caller_ids)
    return campaign


def update_campaign(campaign_id: int, if_match: str | None, changes: dict[str, Any]) -> Campaign:
    """Apply ``changes`` if the campaign still has the ETag ``if_match``.

    Raises:
        ApiProblem: 428 without If-Match; 412 when the campaign changed since it was read; 404; 409 when the
            agent, trunk or caller IDs change on a running or paused campaign; 422 on invalid values.
    """
    if not if_match:
        raise ApiProblem(428, "precondition-required", "If-Match required",
                         "Send the campaign's ETag (its version) as If-Match, so a concurrent change is not lost.")
    with transaction.atomic():
        # The row lock makes read-compare-write one step: two updates with the same ETag cannot both pass.
        campaign = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()
        if campaign is None:
            raise not_found("campaign")
        current = etag_of(campaign_state(campaign))
        if if_match.strip() not in (current, "*"):
            raise ApiProblem(412, "version-mismatch", "Campaign changed",
                             "The campaign changed since you read it; read it again and re-apply your change.",
                             current_version=current)
        touched = {k for k, v in changes.items() if v is not None}
        if touched & _LOCKED_WHILE_ACTIVE and campaign.status in {CampaignStatus.RUNNING, CampaignStatus.PAUSED}:
            raise ApiProblem(409, "campaign-active", "Campaign active",
                             "Pause is not enough: the agent, trunk and caller IDs change only in a draft.")
        caller_ids = _apply(campaign, changes)
        campaign.save()
        if caller_ids is not None:
            campaign.caller_ids.set(caller_ids)
    return campaign
