"""Status sets and their named groups."""

from __future__ import annotations

from django.db import models

# The UA pool produces dispositions, so it owns the set; the ledger stores and counts them.
from telephony.choices import Disposition


class CampaignStatus(models.TextChoices):
    """Lifecycle of a campaign."""

    DRAFT = "draft", "Draft"  # being set up; nothing is dialed
    RUNNING = "running", "Running"  # the dispatcher claims its due contacts
    PAUSED = "paused", "Paused"  # no new dials; calls in progress finish
    COMPLETED = "completed", "Completed"  # nothing left to dial or in flight
    CANCELLED = "cancelled", "Cancelled"  # stopped by the operator for good


CAMPAIGN_ACTIVE = frozenset({CampaignStatus.RUNNING, CampaignStatus.PAUSED})
CAMPAIGN_FINISHED = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED})


class ContactStatus(models.TextChoices):
    """Where a contact stands in its campaign."""

    PENDING = "pending", "Pending"  # never dialed, due now
    IN_PROGRESS = "in_progress", "In progress"  # an attempt is in flight
    RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"  # due again at next_attempt_at
    DONE = "done", "Done"  # reached with a final result
    FAILED = "failed", "Failed"  # attempts exhausted without a final result
    DNC = "dnc", "Do not call"  # on a do-not-call list
    INVALID = "invalid", "Invalid number"  # not a dialable number
    REVIEW = "review", "Needs review"  # a call was answered but its result was lost: a person decides, no auto-retry


CONTACT_DIALABLE = frozenset({ContactStatus.PENDING, ContactStatus.RETRY_SCHEDULED})
CONTACT_TERMINAL = frozenset({ContactStatus.DONE, ContactStatus.FAILED, ContactStatus.DNC, ContactStatus.INVALID})


class AttemptState(models.TextChoices):
    """The life of one dial."""

    QUEUED = "queued", "Queued"  # claimed by the dispatcher; originate not yet run
    DIALING = "dialing", "Dialing"  # INVITE sent
    RINGING = "ringing", "Ringing"  # 180/183 received
    ANSWERED = "answered", "Answered"  # 200 OK; AMD listening
    BRIDGED = "bridged", "Bridged"  # media flows to the AI
    ENDED = "ended", "Ended"  # final; see disposition


ATTEMPT_IN_FLIGHT = frozenset(
    {AttemptState.QUEUED, AttemptState.DIALING, AttemptState.RINGING, AttemptState.ANSWERED, AttemptState.BRIDGED}
)
ATTEMPT_TERMINAL = frozenset({AttemptState.ENDED})


RETRYABLE_DISPOSITIONS = frozenset(
    {Disposition.BUSY, Disposition.NO_ANSWER, Disposition.MACHINE, Disposition.VOICEMAIL_LEFT,
     Disposition.FAILED, Disposition.FAILED_UNKNOWN, Disposition.REJECTED, Disposition.AI_ERROR}
)


class AgentProvider(models.TextChoices):
    """Which AI the media bridge streams the call to."""

    OPENAI_REALTIME = "openai_realtime", "OpenAI Realtime"
    GEMINI_LIVE = "gemini_live", "Gemini Live"
    TWILIO_STREAM = "twilio_stream", "Twilio-Media-Streams agent server"
    LOCAL = "local", "Local agent (embedded)"


class TransferFallback(models.TextChoices):
    """What happens when a transfer target does not answer in time, is busy, or the transfer fails."""

    AGENT = "agent", "Back to the agent, with a message"  # the agent tells the caller and goes on
    CALLBACK = "callback", "Offer a call-back"  # the caller hears the offer; the attempt asks for a call-back
    END = "end", "End the call politely"  # a short message, then the hangup


class MachinePolicy(models.TextChoices):
    """What to do when an answering machine picks up."""

    HANG_UP = "hang_up", "Hang up"
    LEAVE_MESSAGE = "leave_message", "Leave a message after the beep"


class DncSource(models.TextChoices):
    """Where a do-not-call entry came from."""

    MANUAL = "manual", "Added by an operator"
    UPLOAD = "upload", "Uploaded list"
    OPT_OUT = "opt_out", "Opt-out during a call"
    API = "api", "API"


class ImportStatus(models.TextChoices):
    """Progress of a contact import."""

    PREVIEW = "preview", "Awaiting confirmation"  # uploaded; mapping shown, nothing imported
    QUEUED = "queued", "Queued"  # confirmed; the worker has not started
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"  # the file could not be processed; see error


IMPORT_FINISHED = frozenset({ImportStatus.COMPLETED, ImportStatus.FAILED})
