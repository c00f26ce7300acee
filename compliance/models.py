"""Compliance records: company rules, campaign settings, consent, national do-not-call files, reassigned-number
results, the abandonment governor's state and history, and the evidence record of every dial.

Records that prove compliance (consent, registry versions, evidence) name campaigns, contacts and attempts by
id and copy what they need, without foreign keys that would cascade: they must outlive an archived or deleted
campaign for the retention period (TSR 16 CFR 310.5: five years).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from compliance.choices import (
    CampaignPurpose,
    ConsentKind,
    ConsentNeeded,
    DncRegistry,
    GovernorAction,
    ReassignedResult,
)

E164_REGEX = r"^\+[1-9][0-9]{6,14}$"


def _all_days() -> list[int]:
    return list(range(7))


class CompanyRule(models.Model):
    """The operator's own rules, applied to every contact on top of the law's; they can only narrow."""

    name = models.CharField(max_length=100, default="Company rules")
    enabled = models.BooleanField(default=True)
    window_start = models.TimeField(default=dt.time(0, 0))
    window_end = models.TimeField(default=dt.time(23, 59))
    window_days = ArrayField(models.PositiveSmallIntegerField(), default=_all_days,
                             help_text="Allowed local weekdays, Monday = 0.")
    no_holidays = models.BooleanField("No calls on US federal holidays", default=False)
    max_calls_24h = models.PositiveIntegerField(null=True, blank=True, help_text="Per number, across campaigns.")
    max_calls_7d = models.PositiveIntegerField(null=True, blank=True)
    max_calls_30d = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CampaignCompliance(models.Model):
    """A campaign's compliance settings; a campaign without a row is informational and needs no recorded consent."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="compliance")
    purpose = models.CharField(max_length=16, choices=CampaignPurpose.choices, default=CampaignPurpose.INFORMATIONAL)
    consent_needed = models.CharField(max_length=24, choices=ConsentNeeded.choices, default=ConsentNeeded.NONE)
    seller = models.CharField(max_length=200, blank=True, help_text="Who the calls are for (consent scope).")
    opening_disclosure = models.TextField(
        blank=True, help_text="Spoken first: who is calling and that the voice is automated (AI).")
    recording_notice = models.TextField(blank=True, help_text="Spoken where all-party consent to recording applies.")
    # CRTC ADAD Rules: calls to Canada identify the caller with a mailing address and a number to reach a person.
    callback_number = models.CharField(
        max_length=32, blank=True, help_text="A local or toll-free number where a person of the caller answers "
                                             "(spoken to contacts whose rules require it, e.g. Canada).")
    mailing_address = models.CharField(max_length=300, blank=True, help_text="The caller's mailing address (the same).")

    def __str__(self) -> str:
        return f"compliance of campaign {self.campaign_id}"

    @property
    def needs_written_consent(self) -> bool:
        """Telemarketing with an artificial (AI) voice needs prior express written consent (FCC 24-17)."""
        return self.purpose == CampaignPurpose.TELEMARKETING or self.consent_needed == ConsentNeeded.WRITTEN


class ConsentRecord(models.Model):
    """A person's consent to be called at a number: kind, source, time, the text agreed to, evidence."""

    phone_e164 = models.CharField("Phone (E.164)", max_length=16)
    kind = models.CharField(max_length=24, choices=ConsentKind.choices)
    seller = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=200, help_text="Where it was given: a form URL, a call, a paper form.")
    obtained_at = models.DateTimeField()
    text = models.TextField(blank=True, help_text="The exact words the person agreed to.")
    evidence_ref = models.CharField(max_length=300, blank=True, help_text="Where the proof is kept.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-obtained_at"]
        indexes = [models.Index(fields=["phone_e164", "obtained_at"], name="consent_phone_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(phone_e164__regex=E164_REGEX), name="consent_phone_e164"),
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.phone_e164} {self.obtained_at:%Y-%m-%d}"


class NationalDncList(models.Model):
    """One download of the National Do Not Call Registry (numbers of some area codes), with its date."""

    downloaded_at = models.DateTimeField(help_text="When the file was downloaded from the registry.")
    registry = models.CharField(max_length=2, choices=DncRegistry.choices, default=DncRegistry.US,
                                help_text="The US National Do Not Call Registry or Canada's National DNCL.")
    area_codes = ArrayField(models.CharField(max_length=3), default=list)
    numbers = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-downloaded_at"]

    def __str__(self) -> str:
        return f"national DNC {self.downloaded_at:%Y-%m-%d} ({self.numbers} numbers)"


class NationalDncNumber(models.Model):
    """A number on one registry download."""

    registry = models.ForeignKey(NationalDncList, on_delete=models.CASCADE, related_name="entries", db_index=False)
    phone_e164 = models.CharField(max_length=16)

    class Meta:
        indexes = [models.Index(fields=["phone_e164", "registry"], name="ndnc_phone_idx")]

    def __str__(self) -> str:
        return self.phone_e164


class ReassignedNumberResult(models.Model):
    """One Reassigned Numbers Database answer: was ``phone_e164`` permanently disconnected since ``date_asked``?"""

    phone_e164 = models.CharField(max_length=16)
    date_asked = models.DateField(help_text="The date asked about (usually the consent date).")
    result = models.CharField(max_length=8, choices=ReassignedResult.choices)
    queried_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-queried_at"]
        indexes = [models.Index(fields=["phone_e164", "date_asked"], name="rnd_phone_idx")]

    def __str__(self) -> str:
        return f"{self.phone_e164} since {self.date_asked}: {self.result}"


class CampaignGovernor(models.Model):
    """The abandonment governor's current view of a campaign: its 30-day rate and the concurrency it allows."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="governor")
    answered = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    rate = models.FloatField(default=0.0)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True,
                                                    help_text="Lowered concurrency; empty = the campaign's own.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"governor of campaign {self.campaign_id}: {self.rate:.2%}"


class CampaignHistory(models.Model):
    """Something the engine did to a campaign on its own, with the reason (shown in the live view)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField()
    action = models.CharField(max_length=10, choices=GovernorAction.choices)
    reason = models.TextField()
    rate = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}: {self.reason}"


class DialEvidence(models.Model):
    """Why one attempt was allowed to dial, written in the same transaction as the dial gate's update.

    No foreign keys: the record outlives the campaign and the contact for ``retain_until`` (TSR, 5 years).
    """

    attempt_id = models.BigIntegerField(unique=True)
    campaign_id = models.BigIntegerField()
    campaign_name = models.CharField(max_length=200)
    contact_id = models.BigIntegerField()
    phone_e164 = models.CharField(max_length=16)
    decided_at = models.DateTimeField()
    local_time = models.CharField(max_length=64, help_text="Local time at dial in the contact's first zone.")
    time_zones = ArrayField(models.CharField(max_length=64), default=list)
    jurisdictions = ArrayField(models.CharField(max_length=8), default=list)
    allowed_by = models.TextField(help_text="The rules that were open, and where.")
    caps = models.JSONField(default=list, help_text="Each cap checked: rule, limit, calls counted.")
    lists_checked = models.JSONField(default=dict, help_text="Do-not-call and reassigned-number checks, versions.")
    consent = models.JSONField(default=dict, blank=True, help_text="The consent record relied on.")
    caller_id = models.CharField(max_length=16, blank=True)
    disclosures = models.JSONField(default=list, blank=True, help_text="[{kind, text, offset_ms}] as played.")
    amd_result = models.CharField(max_length=10, blank=True)
    amd_at = models.DateTimeField(null=True, blank=True)
    retain_until = models.DateField()

    class Meta:
        ordering = ["-decided_at"]
        indexes = [models.Index(fields=["phone_e164", "decided_at"], name="evidence_phone_idx")]

    def __str__(self) -> str:
        return f"evidence of attempt {self.attempt_id}"
