"""The campaign page's control bar: start, pause, resume and cancel through the lifecycle services.

Each change is written to the campaign's History (the admin's ``LogEntry``) with the operator who made it, so
"who stopped the campaign at 14:02" has an answer. Cancel is for good, so it asks first (one page for the
button and for the list action).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from campaigns.budget import budget_state
from campaigns.choices import CONTACT_DIALABLE, CampaignStatus
from campaigns.models import CallAttempt, Campaign
from campaigns.services import (
    CampaignTransitionError,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    start_campaign,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


@dataclass(frozen=True)
class Step:
    """One lifecycle action as the page offers it."""

    name: str
    label: str
    service: Callable[[int], Campaign]
    past: str  # the History line and the message: "Started"
    allowed_from: frozenset[str]
    help: str
    confirm: bool = False


STEPS: tuple[Step, ...] = (
    Step("start", "Start", start_campaign, "Started", frozenset({CampaignStatus.DRAFT}),
         "Begin dialing the contacts inside their calling window."),
    Step("pause", "Pause", pause_campaign, "Paused", frozenset({CampaignStatus.RUNNING}),
         "Stop new dials now; calls in progress finish."),
    Step("resume", "Resume", resume_campaign, "Resumed", frozenset({CampaignStatus.PAUSED}),
         "Dial again where the campaign stopped."),
    Step("cancel", "Cancel\u2026", cancel_campaign, "Cancelled",
         frozenset({CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED}),
         "Stop for good: nothing more is dialed (asks first).", confirm=True),
)
BY_NAME = {step.name: step for step in STEPS}
KEPT_NOTE = ("This campaign has dialed, so it is kept with its call attempts (the record of the calls made) and "
             "cannot be deleted. Cancel it to stop it for good, or pause it.")


def _url(name: str, *args: object) -> str:
    return reverse(f"admin:campaigns_campaign_{name}", args=args)


def has_dialed(campaign_id: int) -> bool:
    """Whether any attempt refers to the campaign (then it is kept, not deleted)."""
    return CallAttempt.objects.filter(campaign_id=campaign_id).exists()


def lifecycle_context(campaign: Campaign, *, can_change: bool) -> dict[str, Any]:
    """What the control bar shows: each step enabled by the status, and the checklist before Start."""
    steps = []
    budget = budget_state(campaign.pk, campaign.budget, campaign.trunk.currency)
    for step in STEPS:
        allowed = can_change and campaign.status in step.allowed_from
        why_not = ("You may view this campaign but not change it." if not can_change
                   else f"Not possible while the campaign is {campaign.get_status_display().lower()}.")
        if allowed and step.name == "resume" and budget.reached:
            # resume_campaign refuses it anyway; the button says why before it is pressed.
            allowed, why_not = False, f"Its budget is spent ({budget.label}): raise the budget cap first."
        steps.append({"name": step.name, "label": step.label, "allowed": allowed, "confirm": step.confirm,
                      "help": step.help, "why_not": why_not, "url": _url(f"lifecycle_{step.name}", campaign.pk)})
    checklist = start_checklist(campaign) if campaign.status == CampaignStatus.DRAFT else []
    # Paused by the cap and the cap not raised since: the page says so (a raised cap shows the plain budget line).
    budget_paused = campaign.status == CampaignStatus.PAUSED and bool(campaign.budget_reached_at) and budget.reached
    return {"steps": steps, "checklist": checklist, "kept_note": KEPT_NOTE if has_dialed(campaign.pk) else "",
            "budget": budget, "budget_paused": budget_paused}


def start_checklist(campaign: Campaign) -> list[dict[str, Any]]:
    """What Start needs, each with ok/not ok: contacts to call, a caller ID on the trunk, the trunk enabled."""
    to_call = campaign.contacts.filter(status__in=CONTACT_DIALABLE).count()
    caller_ids = campaign.caller_ids.filter(active=True, trunk_id=campaign.trunk_id).count()
    trunk = campaign.trunk
    return [
        {"ok": to_call > 0, "text": f"{to_call} contact{'s' if to_call != 1 else ''} to call"
                                    + ("" if to_call else ": upload a CSV first")},
        {"ok": caller_ids > 0, "text": f"{caller_ids} active caller ID{'s' if caller_ids != 1 else ''} of trunk "
                                       f"\u201c{trunk}\u201d" + ("" if caller_ids else ": add one (required)")},
        {"ok": trunk.enabled, "text": f"trunk \u201c{trunk}\u201d {'enabled' if trunk.enabled else 'is disabled'}"},
    ]


def run_step(request: HttpRequest, model_admin: ModelAdmin, step: Step, campaign_ids: Iterable[int]) -> int:
    """Run one lifecycle service per campaign; log each change in its History; message the operator.

    Returns:
        How many campaigns changed.
    """
    done = 0
    for campaign_id in campaign_ids:
        try:
            campaign = step.service(campaign_id)
        except CampaignTransitionError as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
            continue
        model_admin.log_change(request, campaign, step.past)
        done += 1
    if done:
        model_admin.message_user(request, f"{done} campaign{'s' if done != 1 else ''} {step.past.lower()}.",
                                 messages.SUCCESS)
    return done


@require_http_methods(["POST"])
def campaign_transition(request: HttpRequest, campaign_id: int, *, step_name: str,
                        model_admin: ModelAdmin) -> HttpResponse:
    """Start, pause or resume (and a confirmed cancel) from the campaign page, then back to it."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    run_step(request, model_admin, BY_NAME[step_name], [campaign.pk])
    return HttpResponseRedirect(_url("change", campaign.pk))


@require_http_methods(["GET", "POST"])
def cancel_view(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """Cancel from the campaign page: a confirmation page (GET), then the cancel itself (POST)."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    if request.method == "POST":
        run_step(request, model_admin, BY_NAME["cancel"], [campaign.pk])
        return HttpResponseRedirect(_url("change", campaign.pk))
    return cancel_confirmation(request, model_admin, [campaign.pk], confirm_url=_url("lifecycle_cancel", campaign.pk),
                               back_url=_url("change", campaign.pk), via_action=False)


def cancel_confirmation(request: HttpRequest, model_admin: ModelAdmin, campaign_ids: Iterable[int], *,
                        confirm_url: str, back_url: str, via_action: bool) -> TemplateResponse:
    """The page that asks before cancelling: which campaigns, and how many contacts will not be called."""
    campaigns = list(Campaign.objects.filter(pk__in=list(campaign_ids)).order_by("pk")
                     .annotate(waiting=Count("contacts", filter=Q(contacts__status__in=sorted(CONTACT_DIALABLE)))))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "title": "Cancel for good?",
        "campaigns": campaigns,
        "confirm_url": confirm_url,
        "back_url": back_url,
        "via_action": via_action,
    }
    return TemplateResponse(request, "admin/campaigns/campaign/cancel_confirmation.html", context)
