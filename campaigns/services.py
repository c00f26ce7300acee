"""Campaign lifecycle: start, pause, resume, cancel, and completion when nothing is left.

Every transition is one conditional update (``WHERE status IN allowed``); when it matches no row the
campaign was in another state, and :class:`CampaignTransitionError` says which, for the admin to show.
Pausing or cancelling stops new dials at once: the dispatcher claims only for running campaigns (under the
campaign row lock) and ``originate`` re-checks the status just before dialing. Calls already in progress
finish normally.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.budget import CampaignSpend, budget_state
from campaigns.choices import ATTEMPT_IN_FLIGHT, CONTACT_DIALABLE, CampaignStatus
from campaigns.models import CallAttempt, Campaign, Contact
from compliance.choices import GovernorAction
from compliance.models import CampaignHistory
from webhooks import events as webhook_events

logger = logging.getLogger(__name__)


class CampaignTransitionError(ValueError):
    """A lifecycle action that does not apply to the campaign's current state (message is operator-facing)."""


def _transition(campaign_id: int, allowed: set[str], to: str, verb: str, **fields: object) -> Campaign:
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign_id, status__in=allowed).update(status=to, **fields)
        campaign = Campaign.objects.get(pk=campaign_id)
    if not updated:
        raise CampaignTransitionError(
            f"Cannot {verb} campaign \u201c{campaign.name}\u201d: it is {campaign.get_status_display().lower()}.")
    return campaign


def start_campaign(campaign_id: int) -> Campaign:
    """DRAFT -> RUNNING.

    Raises:
        CampaignTransitionError: not a draft, or it cannot dial (no active caller ID on its trunk, trunk off).
    """
    campaign = Campaign.objects.select_related("trunk").get(pk=campaign_id)
    if campaign.status == CampaignStatus.DRAFT:
        # Caller ID is mandatory for telemarketing (47 CFR 64.1601(e)); without one nothing could be dialed.
        if not campaign.caller_ids.filter(active=True, trunk_id=campaign.trunk_id).exists():
            raise CampaignTransitionError(
                f"Cannot start campaign \u201c{campaign.name}\u201d: add at least one active caller ID "
                f"of trunk \u201c{campaign.trunk}\u201d to it first.")
        if not campaign.trunk.enabled:
            raise CampaignTransitionError(
                f"Cannot start campaign \u201c{campaign.name}\u201d: trunk \u201c{campaign.trunk}\u201d is disabled.")
    return _transition(campaign_id, {CampaignStatus.DRAFT}, CampaignStatus.RUNNING, "start",
                       started_at=timezone.now())


def pause_campaign(campaign_id: int) -> Campaign:
    """RUNNING -> PAUSED: no new dial from now on; calls in progress finish."""
    return _transition(campaign_id, {CampaignStatus.RUNNING}, CampaignStatus.PAUSED, "pause")


def resume_campaign(campaign_id: int) -> Campaign:
    """PAUSED -> RUNNING, unless the campaign's spend has reached its budget cap.

    Raises:
        CampaignTransitionError: not paused, or its budget is spent (raise the cap first).
    """
    spend = CampaignSpend.objects.filter(campaign_id=OuterRef("pk"), amount__gte=OuterRef("budget"))
    with transaction.atomic():
        # The cap is checked in the UPDATE itself: spend added concurrently is either seen here or pauses it again.
        updated = (Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.PAUSED)
                   .filter(~Exists(spend)).update(status=CampaignStatus.RUNNING, budget_reached_at=None))
        campaign = Campaign.objects.select_related("trunk").get(pk=campaign_id)
    if updated:
        return campaign
    if campaign.status == CampaignStatus.PAUSED:
        state = budget_state(campaign.pk, campaign.budget, campaign.trunk.currency)
        raise CampaignTransitionError(
            f"Cannot resume campaign \u201c{campaign.name}\u201d: its budget is spent ({state.label}). "
            "Raise the budget cap first.")
    raise CampaignTransitionError(
        f"Cannot resume campaign \u201c{campaign.name}\u201d: it is {campaign.get_status_display().lower()}.")


def pause_campaign_at_budget(campaign_id: int) -> bool:
    """RUNNING -> PAUSED when the campaign's spend has reached its budget cap; True when this call paused it.

    One conditional update (running, with a cap, spend at or above it): a campaign paused or cancelled meanwhile,
    or whose cap was raised, is left alone. The pause is written to the campaign's engine history, with the spend.
    """
    spend = CampaignSpend.objects.filter(campaign_id=OuterRef("pk"), amount__gte=OuterRef("budget"))
    now = timezone.now()
    with transaction.atomic():
        updated = (Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING, budget__isnull=False)
                   .filter(Exists(spend)).update(status=CampaignStatus.PAUSED, budget_reached_at=now))
        if not updated:
            return False
        campaign = Campaign.objects.select_related("trunk").get(pk=campaign_id)
        state = budget_state(campaign.pk, campaign.budget, campaign.trunk.currency)
        CampaignHistory.objects.create(campaign_id=campaign_id, at=now, action=GovernorAction.PAUSE,
                                       reason=f"budget cap reached: {state.label}; paused")
    logger.info("campaign %s paused at its budget cap (%s)", campaign_id, state.label)
    return True


def cancel_campaign(campaign_id: int) -> Campaign:
    """DRAFT, RUNNING or PAUSED -> CANCELLED, for good. Calls in progress finish; nothing new is dialed."""
    return _transition(campaign_id, {CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED},
                       CampaignStatus.CANCELLED, "cancel", finished_at=timezone.now())


def complete_finished_campaigns(campaign_ids: Sequence[int] | None = None) -> list[int]:
    """RUNNING -> COMPLETED for campaigns with no contact left to dial and no attempt in flight.

    One conditional UPDATE: the emptiness is checked in the same statement that changes the status, so a
    contact made dialable concurrently is either seen or keeps the campaign running.

    Args:
        campaign_ids: Limit the check to these campaigns (default: every running campaign).

    Returns:
        The ids of the campaigns completed.
    """
    qs = Campaign.objects.filter(status=CampaignStatus.RUNNING)
    if campaign_ids is not None:
        qs = qs.filter(pk__in=list(campaign_ids))
    dialable = Contact.objects.filter(campaign=OuterRef("pk"), status__in=CONTACT_DIALABLE)
    in_flight = CallAttempt.objects.filter(campaign=OuterRef("pk"), state__in=ATTEMPT_IN_FLIGHT)
    ids = list(qs.filter(~Exists(dialable), ~Exists(in_flight)).values_list("pk", flat=True))
    if not ids:
        return []
    now = timezone.now()
    done = []
    for campaign_id in ids:
        # Re-checked in the UPDATE itself (a contact may have become dialable since the read above).
        with transaction.atomic():
            if Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).filter(
                    ~Exists(dialable), ~Exists(in_flight)).update(status=CampaignStatus.COMPLETED, finished_at=now):
                done.append(campaign_id)
                webhook_events.campaign_completed(campaign_id)  # outbox row, committed with the status
    return done


def complete_campaign(campaign_id: int) -> Campaign:
    """RUNNING -> COMPLETED when nothing is left to dial or in flight.

    Raises:
        CampaignTransitionError: not running, or contacts remain.
    """
    if complete_finished_campaigns([campaign_id]):
        return Campaign.objects.get(pk=campaign_id)
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        raise CampaignTransitionError(
            f"Cannot complete campaign \u201c{campaign.name}\u201d: it is {campaign.get_status_display().lower()}.")
    raise CampaignTransitionError(
        f"Cannot complete campaign \u201c{campaign.name}\u201d: contacts are still to be dialed or in a call.")
