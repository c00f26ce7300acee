"""The campaign's live view: calls in progress, dials per minute, and which limit holds dialing back now.

Read-only and cheap at any campaign size: the in-flight attempts are few (at most the campaign cap) and come
from the partial in-flight index; the per-minute dials read one campaign's last 15 minutes of attempts.
The limits are the dispatcher's own (campaigns/dispatch.py ``plan_tick``), named in words for the operator:
the calling window, the campaign cap, the trunk's channels, calls per second, the caller IDs' daily caps and
the user agents' free lines.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import redis
from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.urls import reverse

from campaigns.budget import budget_state
from campaigns.choices import ATTEMPT_IN_FLIGHT, CONTACT_DIALABLE, CampaignStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.rules.windows import CallingWindow, zones_in_window
from telephony.models import CallerID
from telephony.ua_registry import total_free_lines

LIVE_CALLS_SHOWN = 50
SPARK_MINUTES = 15


def parse_iso(text: str) -> dt.datetime:
    """An ISO time as written by the live stats (always with its offset)."""
    return dt.datetime.fromisoformat(text)


def utc_label(when: dt.datetime | None) -> str:
    """``2026-12-07 13:00:05 UTC``: the console's one date-time form."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""


def local_label(when: dt.datetime | None, zones: list[str]) -> str:
    """The contact's wall-clock time beside a UTC time: ``08:00 America/New_York`` (first candidate zone)."""
    if when is None or not zones:
        return ""
    try:
        zone = zoneinfo.ZoneInfo(zones[0])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ""
    return f"{when.astimezone(zone):%H:%M} {zones[0]}"


def live_calls(campaign_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """The campaign's calls in progress: number, the person's local time, state, duration so far, AMD verdict."""
    rows = (CallAttempt.objects.filter(campaign_id=campaign_id, state__in=sorted(ATTEMPT_IN_FLIGHT))
            .select_related("contact").order_by("queued_at", "id")[:LIVE_CALLS_SHOWN])
    calls = []
    for a in rows:
        since = a.answered_at or a.ringing_at or a.dialing_at or a.queued_at
        calls.append({
            "id": a.pk,
            "number": a.contact.phone_e164,
            "name": a.contact.name,
            "local_time": local_label(now, list(a.contact.time_zones)),
            "state": a.state,
            "state_label": a.get_state_display(),
            "seconds": max(0, int((now - since).total_seconds())) if since else 0,
            "talking": a.answered_at is not None,
            "amd": a.amd_result or "",
            "caller_id": a.caller_id,
            "url": reverse("admin:campaigns_campaign_report_attempt", args=[campaign_id, a.pk]),
        })
    return calls


def dials_per_minute(campaign_id: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Dials and answers per minute over the last 15 minutes, oldest first, empty minutes included."""
    start = (now - dt.timedelta(minutes=SPARK_MINUTES - 1)).replace(second=0, microsecond=0)
    counts = {row["minute"]: row for row in (
        CallAttempt.objects.filter(campaign_id=campaign_id, queued_at__gte=start, originated_at__isnull=False)
        .exclude(disposition=Disposition.CANCELLED)
        .annotate(minute=TruncMinute("queued_at")).values("minute")
        .annotate(dials=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False))).order_by())}
    out = []
    for i in range(SPARK_MINUTES):
        minute = start + dt.timedelta(minutes=i)
        row = counts.get(minute, {})
        out.append({"minute": minute.strftime("%H:%M"), "dials": row.get("dials", 0),
                    "answered": row.get("answered", 0)})
    return out


def _caller_ids_at_cap(campaign: Campaign, now: dt.datetime) -> tuple[int, int]:
    """(caller IDs at their daily cap, active caller IDs) of the campaign on its trunk, counted from the ledger."""
    day_start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    pool = list(CallerID.objects.filter(campaigns=campaign.pk, trunk_id=campaign.trunk_id, active=True)
                .values_list("number", "daily_cap"))
    if not pool:
        return 0, 0
    used = dict(CallAttempt.objects.filter(caller_id__in=[n for n, _ in pool], queued_at__gte=day_start,
                                           originated_at__isnull=False)
                .values_list("caller_id").annotate(n=Count("id")).order_by())
    return sum(1 for number, cap in pool if used.get(number, 0) >= cap), len(pool)


def holding_back(campaign: Campaign, now: dt.datetime, r: redis.Redis | None, *, in_flight: int,
                 dialed_last_minute: int) -> dict[str, Any]:
    """Which limit holds dialing back now, in the order the dispatcher applies them, and every limit's reading.

    Returns:
        ``{"binding": key or None, "text": one line for the operator, "limits": [{key, label, value, full}]}``.
    """
    limits: list[dict[str, Any]] = []

    def limit(key: str, label: str, value: str, full: bool) -> None:
        limits.append({"key": key, "label": label, "value": value, "full": full})

    budget = budget_state(campaign.pk, campaign.budget, campaign.trunk.currency)
    if budget.cap is not None:  # checked first by the dispatcher: past its cap, a campaign dials nothing
        limit("budget", "Budget cap", budget.label, budget.reached)
    window = CallingWindow.of(campaign)
    open_zones = zones_in_window(now, window)
    due = Contact.objects.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                                 campaign_id=campaign.pk, status__in=sorted(CONTACT_DIALABLE))
    due_in_window = due.filter(time_zones__contained_by=open_zones).exclude(time_zones=[]).exists() \
        if open_zones else False
    limit("window", "Calling window", "open for some contacts" if due_in_window else "no due contact inside it",
          not due_in_window)
    limit("campaign_cap", "Campaign cap", f"{in_flight} / {campaign.max_concurrent} calls",
          in_flight >= campaign.max_concurrent)
    trunk = campaign.trunk
    trunk_busy = CallAttempt.objects.filter(trunk_id=trunk.pk, state__in=sorted(ATTEMPT_IN_FLIGHT)).count()
    limit("trunk_channels", f"Trunk \u201c{trunk.name}\u201d channels", f"{trunk_busy} / {trunk.max_channels}",
          trunk_busy >= trunk.max_channels or not trunk.enabled)
    rate = float(min(campaign.max_cps, trunk.max_cps))
    per_minute = rate * 60
    limit("cps", "Calls per second", f"{dialed_last_minute} dialed in the last minute at most {rate:g}/s",
          per_minute > 0 and dialed_last_minute >= 0.9 * per_minute)
    capped, pool = _caller_ids_at_cap(campaign, now)
    limit("caller_ids", "Caller IDs", f"{pool - capped} of {pool} under their daily cap", pool == 0 or capped == pool)
    free = total_free_lines(r) if r is not None else None
    limit("ua_lines", "Free user-agent lines", "unknown (Redis unavailable)" if free is None else str(free),
          free == 0)

    if campaign.status == CampaignStatus.PAUSED and campaign.budget_reached_at and budget.reached:
        return {"binding": "budget", "text": f"Not dialing: paused at its budget cap ({budget.label}).",
                "limits": limits}
    if campaign.status != CampaignStatus.RUNNING:
        return {"binding": "status", "text": f"Not dialing: the campaign is {campaign.get_status_display().lower()}.",
                "limits": limits}
    binding = next((item for item in limits if item["full"]), None)
    if binding is None:
        text = "Nothing holds dialing back: calls start as contacts become due."
    elif binding["key"] == "window":
        text = "Held by the calling window: no waiting contact is due inside its window now."
    else:
        text = f"Held by {binding['label'].lower()}: {binding['value']}."
    return {"binding": binding["key"] if binding else None, "text": text, "limits": limits}
