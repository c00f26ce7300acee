"""An operator's review of a recorded outcome: correct it, or flag the call for a second listen.

The agent's outcome can be wrong (an objection recorded as interest). A correction changes the attempt's label,
and the contact's too when this attempt gave the contact its outcome. The agent's original label and the
reviewer's name, time and note are kept in the attempt's History (the admin's ``LogEntry``), so the report's
figures can be traced to who changed them and why. A flag changes nothing but the History.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from campaigns.choices import AttemptState
from campaigns.models import CallAttempt, Contact

FLAG_PREFIX = "Flagged for review"
CORRECTION_PREFIX = "Outcome corrected"


class OutcomeReviewError(ValueError):
    """The review cannot be applied (message is operator-facing)."""


def _log(user: AbstractBaseUser, attempt: CallAttempt, message: str) -> None:
    LogEntry.objects.log_actions(user_id=user.pk, queryset=[attempt], action_flag=CHANGE,
                                 change_message=message, single_object=True)


def correct_outcome(attempt_id: int, label: str, *, user: AbstractBaseUser, note: str, labels: list[str]) -> str:
    """Replace an ended attempt's outcome label (fields are kept) and keep who, when, from what and why.

    Returns:
        The History line written.

    Raises:
        OutcomeReviewError: the attempt has not ended, the label is not one of ``labels``, or nothing changes.
    """
    if label not in labels:
        raise OutcomeReviewError(f"\u201c{label}\u201d is not an outcome of this agent ({', '.join(labels)}).")
    with transaction.atomic():
        attempt = CallAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.state != AttemptState.ENDED:
            raise OutcomeReviewError("The call is still in progress: review its outcome once it has ended.")
        before = attempt.outcome
        if before == label:
            raise OutcomeReviewError(f"The outcome is already \u201c{label}\u201d.")
        CallAttempt.objects.filter(pk=attempt_id).update(outcome=label)
        # The contact's outcome came from its latest attempt with one: correct it only when that is this one.
        latest = (CallAttempt.objects.filter(contact_id=attempt.contact_id).exclude(outcome="")
                  .order_by("-attempt_number").values_list("pk", flat=True).first())
        if latest == attempt_id:
            Contact.objects.filter(pk=attempt.contact_id).update(outcome=label, updated_at=timezone.now())
        message = f"{CORRECTION_PREFIX} from {before or 'none'} to {label}" + (f": {note}" if note else "")
        _log(user, attempt, message)
    return message


def flag_attempt(attempt_id: int, *, user: AbstractBaseUser, note: str) -> str:
    """Mark a call for a second listen, with the reason; nothing else changes."""
    attempt = CallAttempt.objects.get(pk=attempt_id)
    message = FLAG_PREFIX + (f": {note}" if note else "")
    _log(user, attempt, message)
    return message


def attempt_reviews(attempt_id: int) -> list[LogEntry]:
    """The attempt's review history, oldest first."""
    content_type = ContentType.objects.get_for_model(CallAttempt)
    return list(LogEntry.objects.filter(content_type=content_type, object_id=str(attempt_id))
                .select_related("user").order_by("action_time", "pk"))
