"""What happens to a contact after an attempt ends: retry later, or close it (retry rules per disposition).

The next time is stored in ``Contact.next_attempt_at`` and picked up by the dispatcher tick; nothing here
schedules work in Celery (a countdown would be redelivered by Redis after its visibility timeout).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from campaigns.choices import ContactStatus, Disposition

# Used when a campaign has no rule for a disposition: delay before the next try; attempts are then capped by
# the campaign's global max attempts only.
DEFAULT_RETRY_DELAY_S: Mapping[str, int] = {
    Disposition.BUSY: 600,
    Disposition.NO_ANSWER: 3600,
    Disposition.MACHINE: 3600,
    Disposition.FAILED: 900,
    Disposition.FAILED_UNKNOWN: 900,
    Disposition.AI_ERROR: 900,
}
# Closed unless the campaign has a rule for them: a person declined, or a message was delivered.
RETRY_ONLY_WITH_RULE = frozenset({Disposition.REJECTED, Disposition.VOICEMAIL_LEFT})
# A result: the contact is done.
FINAL_RESULT = frozenset({Disposition.HUMAN, Disposition.TRANSFERRED, Disposition.VOICEMAIL_LEFT,
                          Disposition.REJECTED})
# An attempt that did not reach the network; it does not count against the contact.
NOT_DIALED_DELAY_S = 30


@dataclass(frozen=True, slots=True)
class Rule:
    """A retry rule: wait ``delay_s``, at most ``max_attempts`` attempts ending with this disposition."""

    delay_s: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class NextStep:
    """The contact's new status and due time."""

    status: str
    next_attempt_at: dt.datetime | None


def plan_next_step(*, disposition: str, counted: bool, attempts: int, same_disposition_count: int,
                   campaign_max_attempts: int, rule: Rule | None, now: dt.datetime,
                   current_next_attempt_at: dt.datetime | None) -> NextStep:
    """Decide the contact's next step after an attempt.

    Args:
        disposition: How the attempt ended.
        counted: Whether the attempt reached the network (counts against the contact).
        attempts: The contact's counted attempts including this one.
        same_disposition_count: Counted attempts of this contact that ended with ``disposition``, this one
            included.
        campaign_max_attempts: The global cap per contact.
        rule: The campaign's rule for ``disposition``, if any.
        now: The current time.
        current_next_attempt_at: The contact's due time before this attempt.

    Returns:
        The status and next_attempt_at to store.
    """
    if disposition == Disposition.OPTED_OUT:
        # Compliance: an opt-out is never called again, whatever the rules say.
        return NextStep(ContactStatus.DNC, None)
    if disposition == Disposition.INVALID_NUMBER:
        return NextStep(ContactStatus.INVALID, None)
    if not counted:
        # Not dialed (campaign paused, window closed, no capacity): back in the queue, a little later.
        status = ContactStatus.RETRY_SCHEDULED if attempts else ContactStatus.PENDING
        later = now + dt.timedelta(seconds=NOT_DIALED_DELAY_S)
        return NextStep(status, max(later, current_next_attempt_at) if current_next_attempt_at else later)
    if disposition in (Disposition.HUMAN, Disposition.TRANSFERRED):
        return NextStep(ContactStatus.DONE, None)
    if disposition in RETRY_ONLY_WITH_RULE and rule is None:
        return NextStep(ContactStatus.DONE, None)
    if disposition in FINAL_RESULT and disposition not in RETRY_ONLY_WITH_RULE:
        return NextStep(ContactStatus.DONE, None)
    if attempts >= campaign_max_attempts:
        return NextStep(_closed_status(disposition), None)
    if rule is not None:
        if same_disposition_count >= rule.max_attempts:
            return NextStep(_closed_status(disposition), None)
        delay = rule.delay_s
    else:
        default = DEFAULT_RETRY_DELAY_S.get(disposition)
        if default is None:
            return NextStep(_closed_status(disposition), None)
        delay = default
    return NextStep(ContactStatus.RETRY_SCHEDULED, now + dt.timedelta(seconds=delay))


def _closed_status(disposition: str) -> str:
    # A person's decline or a delivered message is a result; anything else ran out of attempts.
    return ContactStatus.DONE if disposition in FINAL_RESULT else ContactStatus.FAILED
