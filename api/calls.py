"""``POST /api/v1/calls``: one call now, through the same gates as any dial, or the reason it may not dial now.

The call is not dialed by this request. The contact is made due now at the top priority of its campaign, and
the dispatcher's next tick (``DIALER_TICK_S``, 0.25 s by default) claims it through the very statement that
claims every contact: campaign running, calling window in each of the contact's zones, do-not-call, the
campaign's and the trunk's concurrent calls, calls per second, a free user-agent line. ``originate`` then
checks the world again. What this module adds is an answer a client can act on: the gates are looked at first,
and a call that may not be dialed now is refused with the reason and, when known, the time it could be.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from api.problems import ApiProblem, not_found, validation_problem
from campaigns.choices import AttemptState, CampaignStatus, ContactStatus
from campaigns.contacts.dnc import is_on_do_not_call
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.rules.phones import InvalidNumber, normalize_number
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening

TOP_PRIORITY = 32767  # Contact.priority is a SmallIntegerField: the dispatcher claims these first
CAPACITY_RETRY_S = 5
# A contact may be called again through the API from these states (not: in flight, do-not-call, needs review).
_REOPENABLE = frozenset({ContactStatus.PENDING, ContactStatus.RETRY_SCHEDULED, ContactStatus.DONE,
                         ContactStatus.FAILED})


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """The contact the dialer will call at its next tick."""

    contact: Contact
    campaign: Campaign


def _refuse(slug: str, title: str, detail: str, *, retry_at: dt.datetime | None = None,
            retry_after_s: int | None = None) -> ApiProblem:
    extra: dict[str, Any] = {"reason": slug, "retry_at": retry_at.isoformat() if retry_at else None}
    headers = {}
    if retry_after_s is not None:
        extra["retry_after_s"] = retry_after_s
        headers["Retry-After"] = str(retry_after_s)
    return ApiProblem(409, slug, title, detail, headers=headers, **extra)


def _zones_for(number_zones: tuple[str, ...], requested: str | None) -> list[str]:
    if not requested:
        return list(number_zones)
    try:
        zoneinfo.ZoneInfo(requested)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise validation_problem([{"field": "body.time_zone", "detail": f"unknown time zone {requested!r}"}]) from None
    # F12: a zone that the number cannot be in would move the calling window (a New York number called at
    # 22:30 because its row said Asia/Tokyo). Only a zone among the number's candidates narrows them.
    if number_zones and requested not in number_zones:
        raise validation_problem([{"field": "body.time_zone",
                                   "detail": f"{requested} is not a zone of this number ({', '.join(number_zones)})"}])
    return [requested]


def place_call(campaign_id: int, to: str, *, name: str = "", time_zone: str | None = None,
               variables: dict[str, Any] | None = None, now: dt.datetime | None = None) -> PlacedCall:
    """Make ``to`` due now at the top priority of the campaign, or refuse with the gate that stops it.

    Raises:
        ApiProblem: 404 unknown campaign; 422 bad number or zone; 409 with ``reason`` (campaign not running,
            do-not-call, outside the calling window with ``retry_at``, at capacity with ``retry_after_s``,
            a call already in progress, attempts exhausted, needs review).
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("trunk").filter(pk=campaign_id).first()
    if campaign is None:
        raise not_found("campaign")
    try:
        number = normalize_number(to, campaign.default_region)
    except InvalidNumber as exc:
        raise validation_problem([{"field": "body.to", "detail": str(exc)}]) from None
    zones = _zones_for(number.time_zones, time_zone)
    if campaign.status != CampaignStatus.RUNNING:
        raise _refuse("campaign-not-running", "Campaign not running",
                      f"The campaign is {campaign.status}; calls are placed only while it runs.")
    if not zones:
        raise validation_problem([{"field": "body.time_zone",
                                   "detail": "no time zone is known for this number: give one"}])
    # Do-not-call (TSR 16 CFR 310.4(b)(1)(iii), and the campaign's own list): never, so no retry time.
    if is_on_do_not_call(number.e164, campaign.pk):
        raise _refuse("do-not-call", "On the do-not-call list", "This number may not be called.")
    window = CallingWindow.of(campaign)
    # TCPA: 8am-9pm (narrowed by the campaign's window) at the called party's location, in every candidate zone.
    if not contact_in_window(zones, now, window):
        opening = next_window_opening(zones, now, window)
        raise _refuse("outside-calling-window", "Outside the calling window",
                      "The number's local time is outside the campaign's calling window.", retry_at=opening)
    # One read for both limits, over the in-flight partial index (as the dispatcher's plan counts them).
    in_flight = (CallAttempt.objects.exclude(state=AttemptState.ENDED)
                 .filter(Q(campaign_id=campaign.pk) | Q(trunk_id=campaign.trunk_id))
                 .aggregate(campaign=Count("id", filter=Q(campaign_id=campaign.pk)),
                            trunk=Count("id", filter=Q(trunk_id=campaign.trunk_id))))
    if in_flight["campaign"] >= campaign.max_concurrent:
        raise _refuse("at-capacity", "Campaign at capacity",
                      f"The campaign already has {campaign.max_concurrent} calls in flight.",
                      retry_after_s=CAPACITY_RETRY_S)
    if in_flight["trunk"] >= campaign.trunk.max_channels:
        raise _refuse("trunk-at-capacity", "Trunk at capacity",
                      "Every channel of the campaign's trunk is in use.", retry_after_s=CAPACITY_RETRY_S)
    return PlacedCall(contact=_make_due(campaign, number.e164, zones, name, variables or {}, now), campaign=campaign)


def _make_due(campaign: Campaign, e164: str, zones: list[str], name: str, variables: dict[str, Any],
              now: dt.datetime) -> Contact:
    with transaction.atomic():
        # The unique (campaign, phone) row is the serialisation point: a concurrent request for the same
        # number waits for this lock and then sees the contact in progress or already due.
        Contact.objects.bulk_create([Contact(campaign=campaign, phone_e164=e164, name=name, time_zones=zones,
                                             variables=variables, status=ContactStatus.PENDING)],
                                    ignore_conflicts=True)
        contact = Contact.objects.select_for_update(no_key=True).get(campaign=campaign, phone_e164=e164)
        if contact.status == ContactStatus.IN_PROGRESS:
            raise _refuse("call-in-progress", "A call is in progress",
                          "This contact is being called now.", retry_after_s=CAPACITY_RETRY_S)
        if contact.status == ContactStatus.DNC:
            raise _refuse("do-not-call", "On the do-not-call list", "This contact may not be called.")
        if contact.status not in _REOPENABLE:
            raise _refuse("contact-needs-review", "Contact not callable",
                          f"The contact is {contact.get_status_display().lower()}; a person decides first.")
        if contact.attempts >= campaign.max_attempts:
            raise _refuse("attempts-exhausted", "Attempts exhausted",
                          f"The contact was called {contact.attempts} times, the campaign's maximum.")
        fields: dict[str, Any] = {"status": ContactStatus.PENDING, "priority": TOP_PRIORITY, "next_attempt_at": now,
                                  "time_zones": zones, "updated_at": now}
        if name:
            fields["name"] = name
        if variables:
            fields["variables"] = {**(contact.variables or {}), **variables}
        Contact.objects.filter(pk=contact.pk).update(**fields)
        contact.refresh_from_db()
    return contact
