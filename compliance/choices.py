"""Status and kind sets of the compliance app."""

from __future__ import annotations

from django.db import models


class CampaignPurpose(models.TextChoices):
    """Why a campaign calls: decides the national do-not-call scrub and the consent it needs."""

    INFORMATIONAL = "informational", "Informational (reminders, service calls)"  # no national DNC scrub
    TELEMARKETING = "telemarketing", "Telemarketing (solicitation)"  # national DNC + written consent


class ConsentNeeded(models.TextChoices):
    """The consent a campaign needs on record before it dials a contact (the stricter of this and the purpose)."""

    NONE = "none", "None recorded"  # the operator vouches for consent outside the engine
    PRIOR_EXPRESS = "prior_express", "Prior express consent"
    WRITTEN = "prior_express_written", "Prior express written consent"


class ConsentKind(models.TextChoices):
    """The consent a person gave."""

    PRIOR_EXPRESS = "prior_express", "Prior express consent"
    WRITTEN = "prior_express_written", "Prior express written consent"


class ReassignedResult(models.TextChoices):
    """The Reassigned Numbers Database's answer for a number and a date (FCC DA 21-1649)."""

    YES = "yes", "Permanently disconnected since the date"  # reassigned: consent no longer valid
    NO = "no", "Not disconnected since the date"  # safe harbor
    NO_DATA = "no_data", "No data"


class GovernorAction(models.TextChoices):
    """What the abandonment governor did to a campaign."""

    THROTTLE = "throttle", "Concurrency lowered"
    PAUSE = "pause", "Paused"
    RESTORE = "restore", "Concurrency restored"


class DncRegistry(models.TextChoices):
    """Which national do-not-call list a download is from (area codes tell them apart: NANP codes are unique)."""

    US = "us", "US National Do Not Call Registry (FTC)"
    CA = "ca", "Canada's National Do Not Call List (CRTC)"
