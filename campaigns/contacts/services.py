"""An operator's changes to one contact's place in the queue: retry now, schedule a call-back.

Both are conditional updates on the contact's status (the dialer may move it at the same moment): a contact in
a call, on the do-not-call list or with an invalid number is never put back in the queue. Neither bypasses the
calling window: the dispatcher still dials only inside it (TCPA), so "retry now" means "as soon as the window and
a line allow".
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from campaigns.choices import ContactStatus
from campaigns.contacts.dnc import is_on_do_not_call
from campaigns.models import Contact
from campaigns.rules.callbacks import callback_at
from campaigns.rules.windows import CallingWindow

# Statuses an operator may put back in the queue. Not DNC or invalid (compliance and a number that cannot ring),
# not in progress (the call's end moves it on).
REQUEUEABLE = frozenset({ContactStatus.PENDING, ContactStatus.RETRY_SCHEDULED, ContactStatus.FAILED,
                         ContactStatus.DONE, ContactStatus.REVIEW})


class ContactQueueError(ValueError):
    """The contact cannot be put back in the queue (message is operator-facing)."""


def _requeue(contact_id: int, when: dt.datetime) -> Contact:
    contact = Contact.objects.select_related("campaign").get(pk=contact_id)
    if contact.status not in REQUEUEABLE:
        raise ContactQueueError(f"{contact.phone_e164} is {contact.get_status_display().lower()}: "
                                "it cannot be put back in the queue.")
    # Do-not-call: a number put on a list since the contact's last call is never queued again.
    if is_on_do_not_call(contact.phone_e164, contact.campaign_id):
        raise ContactQueueError(f"{contact.phone_e164} is on the do-not-call list: it will not be called.")
    status = ContactStatus.RETRY_SCHEDULED if contact.attempts else ContactStatus.PENDING
    updated = Contact.objects.filter(Q(status__in=sorted(REQUEUEABLE)), pk=contact_id).update(
        status=status, next_attempt_at=when, updated_at=timezone.now())
    if not updated:
        raise ContactQueueError(f"{contact.phone_e164} changed meanwhile (a call started): try again.")
    contact.refresh_from_db()
    return contact


def retry_contact_now(contact_id: int) -> Contact:
    """Put the contact back in the queue, due now (dialed once its window is open and a line is free).

    Raises:
        ContactQueueError: in a call, on the do-not-call list, or an invalid number.
    """
    return _requeue(contact_id, timezone.now())


def schedule_contact_callback(contact_id: int, day: dt.date, at: dt.time) -> Contact:
    """Call the contact back at a wall-clock time in their own zone, moved into the campaign's window.

    Args:
        contact_id: The contact.
        day: The day, as the person reads their calendar.
        at: The time on their clock (in the contact's first zone).

    Raises:
        ContactQueueError: the contact cannot be queued, has no known zone, or the window never opens then.
    """
    contact = Contact.objects.select_related("campaign").get(pk=contact_id)
    when = callback_at(f"{day.isoformat()}T{at:%H:%M}", list(contact.time_zones),
                       CallingWindow.of(contact.campaign), timezone.now())
    if when is None:
        raise ContactQueueError(f"{contact.phone_e164} has no known time zone or its window does not open then: "
                                "no call-back can be placed.")
    return _requeue(contact_id, when)
