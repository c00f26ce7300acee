"""One line per contact: why it waits and what happens next, with UTC and the contact's own time side by side.

"Retry after busy (1 of 3) at 20:39 UTC (15:39 America/New_York)", "Waits for its window: opens 08:00
Europe/Paris (07:00 UTC)", "Retries exhausted: busy 3 of 3", "On the do-not-call list". The counts come from the
same rules the dialer applies (campaigns/rules/retries.py), so the line says what the dialer will do.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Count

from campaigns.choices import CampaignStatus, ContactStatus
from campaigns.models import CallAttempt, Contact, RetryRule
from campaigns.rules.retries import DEFAULT_RETRY_DELAY_S
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening


def _both(when: dt.datetime, zones: list[str]) -> str:
    """``20:39 UTC (15:39 America/New_York)``, with the date when it is not today in UTC."""
    utc = when.astimezone(dt.UTC)
    fmt = "%H:%M" if utc.date() == dt.datetime.now(dt.UTC).date() else "%Y-%m-%d %H:%M"
    text = f"{utc:{fmt}} UTC"
    if zones:
        try:
            local = when.astimezone(zoneinfo.ZoneInfo(zones[0]))
            text += f" ({local:%a %H:%M} {zones[0]})"
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return text


def _retry_count(contact: Contact) -> tuple[int, int | None]:
    """(attempts ending with the last disposition, the rule's maximum or None when no rule applies)."""
    same = CallAttempt.objects.filter(contact_id=contact.pk, disposition=contact.last_disposition,
                                      dialing_at__isnull=False).count()
    rule = RetryRule.objects.filter(campaign_id=contact.campaign_id, disposition=contact.last_disposition).first()
    return same, rule.max_attempts if rule else None


def explain_contact(contact: Contact, now: dt.datetime | None = None) -> str:
    """Why the contact is where it is, and what the dialer does next, in one line."""
    now = now or dt.datetime.now(dt.UTC)
    campaign = contact.campaign
    zones = list(contact.time_zones)
    status = contact.status
    last = contact.get_last_disposition_display().lower() if contact.last_disposition else ""
    if status == ContactStatus.DNC:
        return "On the do-not-call list: never called again."
    if status == ContactStatus.INVALID:
        return "Not a dialable number: never called."
    if status == ContactStatus.IN_PROGRESS:
        return "In a call now."
    if status == ContactStatus.REVIEW:
        return ("Answered, but the call's result was lost: listen to the attempt, then Retry now or leave it. "
                "It is not retried by itself.")
    if status == ContactStatus.DONE:
        if contact.outcome:
            return f"Done: outcome {contact.outcome.replace('_', ' ')}."
        return f"Done after {last or 'its last call'}."
    if status == ContactStatus.FAILED:
        same, rule_max = _retry_count(contact)
        if contact.attempts >= campaign.max_attempts:
            return f"Retries exhausted: {contact.attempts} of {campaign.max_attempts} attempts per contact ({last})."
        if rule_max is not None:
            return f"Retries exhausted: {last} {same} of {rule_max}."
        return f"Closed after {last}: no retry for it."
    # Pending or retry scheduled: waiting.
    if not zones:
        return "No known time zone: never dialed (its calling window cannot be evaluated)."
    if campaign.status != CampaignStatus.RUNNING:
        return f"Waits: the campaign is {campaign.get_status_display().lower()}."
    window = CallingWindow.of(campaign)
    if contact.next_attempt_at and contact.next_attempt_at > now:
        if status == ContactStatus.RETRY_SCHEDULED and contact.last_disposition:
            same, rule_max = _retry_count(contact)
            cap = rule_max if rule_max is not None else campaign.max_attempts
            kind = f"retry after {last} ({same} of {cap})" if contact.last_disposition in DEFAULT_RETRY_DELAY_S \
                or rule_max is not None else f"call back ({last})"
            if contact.outcome:
                kind = f"call back as asked ({contact.outcome.replace('_', ' ')})"
            return f"{kind[0].upper()}{kind[1:]} at {_both(contact.next_attempt_at, zones)}."
        return f"Due at {_both(contact.next_attempt_at, zones)}."
    if not contact_in_window(zones, now, window):
        opens = next_window_opening(zones, now, window)
        if opens is None:
            return "Waits for its window: it does not open within a week."
        return f"Waits for its window: opens {_both(opens, zones)}."
    return "Due now: dialed as soon as a line is free."


def attempts_by_disposition(contact_id: int) -> dict[str, int]:
    """The contact's dialed attempts per disposition (for the contact page's summary)."""
    return dict(CallAttempt.objects.filter(contact_id=contact_id, dialing_at__isnull=False)
                .values_list("disposition").annotate(n=Count("id")).order_by())
