"""The events of the catalogue, built from the ledger inside the transaction of the change they report.

The campaigns services call these right after their state change, in the same transaction; each one costs a
single query when no endpoint subscribes (``emit_event`` looks for subscribers first).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from campaigns.models import CallAttempt, Campaign, Contact, ImportJob
from webhooks.models import EventType, WebhookEndpoint
from webhooks.outbox import emit_event


def _subscribed(event_type: str, campaign_id: int | None) -> bool:
    return any(e.wants(event_type, campaign_id) for e in WebhookEndpoint.objects.filter(enabled=True).only(
        "id", "events", "campaign_id", "enabled"))


def _attempt_data(attempt: CallAttempt) -> dict[str, Any]:
    return {"attempt_id": attempt.pk, "campaign_id": attempt.campaign_id, "contact_id": attempt.contact_id,
            "attempt_number": attempt.attempt_number, "to": attempt.contact.phone_e164,
            "caller_id": attempt.caller_id, "state": attempt.state, "disposition": attempt.disposition,
            "reason": attempt.reason, "sip_code": attempt.sip_code, "amd_result": attempt.amd_result,
            "outcome": attempt.outcome, "fields": attempt.outcome_fields, "talk_seconds": attempt.talk_seconds,
            "cost": attempt.cost, "cost_currency": attempt.cost_currency, "queued_at": attempt.queued_at,
            "answered_at": attempt.answered_at,
            "ended_at": attempt.ended_at, "contact_status": attempt.contact.status}


def attempt_event(event_type: str, attempt_id: int) -> None:
    """``attempt.answered`` or ``attempt.ended`` for one attempt (ordered per attempt on delivery)."""
    attempt = (CallAttempt.objects.select_related("contact").defer("transcript", "usage")
               .filter(pk=attempt_id).first())
    if attempt is None or not _subscribed(event_type, attempt.campaign_id):
        return
    emit_event(event_type, _attempt_data(attempt), campaign_id=attempt.campaign_id, subject=f"attempt:{attempt_id}")


def attempt_answered(attempt_id: int) -> None:
    """A person or a machine picked up."""
    attempt_event(EventType.ATTEMPT_ANSWERED, attempt_id)


def attempt_ended(attempt_id: int) -> None:
    """The attempt ended: disposition, outcome and its fields, talk time, cost."""
    attempt_event(EventType.ATTEMPT_ENDED, attempt_id)


def contact_completed(contact_id: int) -> None:
    """A contact reached a final result (done or failed)."""
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None or not _subscribed(EventType.CONTACT_COMPLETED, contact.campaign_id):
        return
    emit_event(EventType.CONTACT_COMPLETED, {
        "contact_id": contact.pk, "campaign_id": contact.campaign_id, "phone": contact.phone_e164,
        "name": contact.name, "status": contact.status, "attempts": contact.attempts,
        "last_disposition": contact.last_disposition, "outcome": contact.outcome, "fields": contact.outcome_fields,
    }, campaign_id=contact.campaign_id, subject=f"contact:{contact.pk}")


def contact_opted_out(e164: str, *, campaign_id: int | None, attempt_id: int | None = None) -> None:
    """A person asked not to be called (during a call): the number is on the do-not-call list from now on."""
    if not _subscribed(EventType.CONTACT_OPTED_OUT, campaign_id):
        return
    contact_ids = list(Contact.objects.filter(phone_e164=e164, **({"campaign_id": campaign_id} if campaign_id else {}))
                       .values_list("id", flat=True)[:100])
    emit_event(EventType.CONTACT_OPTED_OUT, {"phone": e164, "campaign_id": campaign_id, "attempt_id": attempt_id,
                                             "contact_ids": contact_ids},
               campaign_id=campaign_id, subject=f"attempt:{attempt_id}" if attempt_id else "")


def campaign_completed(campaign_id: int) -> None:
    """A campaign has nothing left to dial and nothing in flight."""
    if not _subscribed(EventType.CAMPAIGN_COMPLETED, campaign_id):
        return
    campaign = Campaign.objects.get(pk=campaign_id)
    counts = dict(Contact.objects.filter(campaign_id=campaign_id).values_list("status").annotate(n=Count("id")))
    emit_event(EventType.CAMPAIGN_COMPLETED, {
        "campaign_id": campaign_id, "name": campaign.name, "status": campaign.status,
        "finished_at": campaign.finished_at, "contacts_by_status": counts,
    }, campaign_id=campaign_id, subject=f"campaign:{campaign_id}")


def import_finished(job_id: int) -> None:
    """A contact import completed or failed."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or not _subscribed(EventType.IMPORT_FINISHED, job.campaign_id):
        return
    emit_event(EventType.IMPORT_FINISHED, {
        "import_job_id": job.pk, "campaign_id": job.campaign_id, "status": job.status, "rows": job.rows_total,
        "imported": job.imported, "duplicates": job.duplicates, "invalid": job.invalid, "dnc": job.dnc,
        "error": job.error,
    }, campaign_id=job.campaign_id, subject=f"import:{job.pk}")
