"""The ledger: agents, campaigns, contacts, call attempts, do-not-call entries and imports.

PostgreSQL is the source of truth; every rule that must hold under concurrency is a database
constraint here, not only a check in Python. One exception, explained at ``Contact.import_job``:
that provenance link is kept by a row lock instead of a foreign key.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from campaigns.choices import (
    ATTEMPT_TERMINAL,
    CONTACT_DIALABLE,
    AgentProvider,
    AttemptState,
    CampaignStatus,
    ContactStatus,
    Disposition,
    DncSource,
    ImportStatus,
    MachinePolicy,
)
from campaigns.jobs import FileJob
from campaigns.outcome_schema import validate_outcome_schema
from media.bridge.config import DEFAULT_KEY_ENVS, DEFAULT_URLS
from media.endpoints import EndpointRefused, check_agent_endpoint
from telephony.agent_endpoints import endpoint_policy

E164_REGEX = r"^\+[1-9][0-9]{6,14}$"
WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday = 0, as datetime.weekday()


def default_window_days() -> list[int]:
    """Monday to Friday."""
    return [0, 1, 2, 3, 4]


def default_outcome_schema() -> list[dict[str, object]]:
    """A schema every new agent starts from."""
    return [
        {"label": "interested", "description": "The person wants to hear more.", "fields": []},
        {"label": "not_interested", "description": "The person declined.", "fields": []},
    ]


class AgentProfile(models.Model):
    """Which AI speaks on a campaign's calls, what it is told, and what it must record."""

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=20, choices=AgentProvider.choices, default=AgentProvider.LOCAL)
    model = models.CharField(max_length=100, blank=True, help_text="Provider model name, e.g. gpt-realtime.")
    voice = models.CharField(max_length=50, blank=True)
    url = models.CharField(
        max_length=300, blank=True, help_text="WebSocket URL; blank uses the provider's default."
    )
    api_key_env = models.CharField(
        "API key environment variable", max_length=100, blank=True,
        help_text="Name of the environment variable holding the key. Keys are never stored here.",
    )
    prompt_template = models.TextField(
        help_text="Instructions; {{variable}} refers to the contact's value, which the AI receives in a separate "
        "data section, as data, never as instructions."
    )
    greeting = models.TextField(blank=True, help_text="First words; {{variables}} allowed.")
    outcome_schema = models.JSONField(
        default=default_outcome_schema, validators=[validate_outcome_schema],
        help_text='List of outcomes: [{"label": "...", "description": "...", "fields": '
        '[{"name": "...", "type": "string|integer|number|boolean|date|datetime", "required": false}]}]',
    )
    max_call_s = models.PositiveIntegerField("Max call length (s)", default=600)
    fallback_message = models.TextField(
        default="Sorry, we are having technical difficulties. We will call you back later. Goodbye.",
        help_text="Spoken locally when the AI connection fails.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(max_call_s__gte=10), name="agent_max_call_gte_10"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuse a URL or key variable outside the deployment's allow-lists (media/endpoints.py).

        F1/F7: the UA sends the named variable's value to this URL on every answered call, so a profile must not
        name another secret (DATABASE_URL...) nor point a key at a host of the operator's choosing.
        """
        super().clean()
        if self.provider == AgentProvider.TWILIO_STREAM and not self.url:
            raise ValidationError({"url": "A Twilio-protocol agent needs the WebSocket URL of its server."})
        # What the UA will use when a field is blank is checked like a typed value.
        default_url = settings.LOCAL_AGENT_URL if self.provider == AgentProvider.LOCAL else DEFAULT_URLS.get(
            self.provider, "")
        try:
            # Why the token flag: a local agent off loopback is allowed only with LOCAL_AGENT_TOKEN (F22).
            check_agent_endpoint(self.provider, self.url or default_url,
                                 self.api_key_env or DEFAULT_KEY_ENVS.get(self.provider, ""), endpoint_policy(),
                                 token=bool(settings.LOCAL_AGENT_TOKEN))
        except EndpointRefused as exc:
            raise ValidationError({exc.field: exc.message}) from None


# The campaign's AMD decision deadline, in ms: the form's validators and the database check share it.
AMD_DECISION_MS_MIN, AMD_DECISION_MS_MAX = 1000, 10000

class Campaign(models.Model):
    """A list of contacts to call with one agent, through one trunk, inside a calling window."""

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # Agent
    agent = models.ForeignKey(AgentProfile, on_delete=models.PROTECT, related_name="campaigns")
    # Telephony
    trunk = models.ForeignKey("telephony.Trunk", on_delete=models.PROTECT, related_name="campaigns")
    caller_ids = models.ManyToManyField("telephony.CallerID", blank=True, related_name="campaigns")
    default_region = models.CharField(
        max_length=2, default="US", help_text="ISO country used to read national-format numbers."
    )
    # Schedule: evaluated in each contact's own time zone, and never wider than 08:00-21:00 there.
    window_days = ArrayField(models.PositiveSmallIntegerField(), default=default_window_days,
                             help_text="Local weekdays to call on, Monday = 0.")
    window_start = models.TimeField(default=dt.time(9, 0))
    window_end = models.TimeField(default=dt.time(20, 0))
    # Limits
    max_concurrent = models.PositiveIntegerField("Max concurrent calls", default=5)
    max_cps = models.DecimalField("Max calls per second", max_digits=6, decimal_places=2, default=Decimal("1"))
    ring_timeout_s = models.PositiveIntegerField("Ring timeout (s)", default=30)
    # Retries (per-disposition rules are RetryRule rows)
    max_attempts = models.PositiveIntegerField("Max attempts per contact", default=3)
    # Answering machines
    amd_enabled = models.BooleanField("Detect answering machines", default=True)
    amd_max_decision_ms = models.PositiveIntegerField(
        "AMD decision deadline (ms)", default=5000,
        validators=[MinValueValidator(AMD_DECISION_MS_MIN), MaxValueValidator(AMD_DECISION_MS_MAX)],
        help_text=f"After answer, the detector decides human, machine or unknown within this time "
                  f"({AMD_DECISION_MS_MIN}-{AMD_DECISION_MS_MAX}).")
    amd_greet_immediately = models.BooleanField(
        "Agent greets at once", default=False,
        help_text="The agent speaks at answer while detection goes on; otherwise it stays silent until a "
                  "person is detected. A machine found later still gets the machine policy.")
    amd_late_beep = models.BooleanField("Listen for a late beep", default=True, help_text=(
        "Undecided at the deadline, the agent is connected; a machine's beep within 15 s still gets the machine "
        "policy. Listening ends once the far end falls quiet to listen."))
    machine_policy = models.CharField(max_length=16, choices=MachinePolicy.choices, default=MachinePolicy.HANG_UP)
    voicemail_message = models.TextField(blank=True, help_text="Left after the beep; {{variables}} allowed.")
    opt_out_digit = models.CharField(max_length=1, blank=True, default="9", help_text="DTMF digit to opt out.")
    # Spend: billed seconds x the rate of the trunk that carried each call, in that trunk's currency (a failover
    # trunk shares it). The campaign pauses itself when its spend reaches the cap (campaigns/budget.py).
    budget = models.DecimalField(
        "Budget cap", max_digits=12, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="The campaign pauses itself once its calls have cost this much, in its trunk's currency. "
                  "Calls in progress finish, so the spend can end slightly above. Blank: no cap.")
    budget_reached_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the campaign paused itself at its budget cap.")
    # The engine's own campaign for calls placed through the API with an agent profile and a trunk (no campaign):
    # one per (agent, trunk), made on first use (api/direct_calls.py).
    direct_calls = models.BooleanField(default=False, editable=False,
                                       help_text="Made by the engine for calls placed without a campaign.")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(max_concurrent__gte=1), name="campaign_max_concurrent_gte_1"),
            # Two concurrent first direct calls for one (agent, trunk) make one campaign: the second insert fails.
            models.UniqueConstraint(fields=["agent", "trunk"], condition=Q(direct_calls=True),
                                    name="campaign_one_direct_per_agent_trunk"),
            models.CheckConstraint(condition=Q(max_cps__gt=0), name="campaign_max_cps_gt_0"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="campaign_max_attempts_gte_1"),
            # Why a ceiling: a person who said "hello?" and heard nothing for 10 s has hung up.
            models.CheckConstraint(condition=Q(amd_max_decision_ms__gte=AMD_DECISION_MS_MIN,
                                               amd_max_decision_ms__lte=AMD_DECISION_MS_MAX),
                                   name="campaign_amd_max_decision_ms_range"),
            models.CheckConstraint(condition=Q(ring_timeout_s__gte=5, ring_timeout_s__lte=300),
                                   name="campaign_ring_timeout_range"),
            models.CheckConstraint(condition=Q(window_start__lt=models.F("window_end")),
                                   name="campaign_window_start_before_end"),
            models.CheckConstraint(condition=Q(window_days__contained_by=WEEKDAYS) & Q(window_days__len__gte=1),
                                   name="campaign_window_days_valid"),
            models.CheckConstraint(condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"),
            models.CheckConstraint(condition=Q(opt_out_digit__regex=r"^[0-9*#]?$"), name="campaign_opt_out_digit"),
            models.CheckConstraint(condition=Q(budget__isnull=True) | Q(budget__gt=0), name="campaign_budget_gt_0"),
        ]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]

    def __str__(self) -> str:
        return self.name


class RetryRule(models.Model):
    """When to call a contact again after an attempt ended with a given disposition."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="retry_rules")
    disposition = models.CharField(max_length=20, choices=Disposition.choices)
    delay_s = models.PositiveIntegerField("Delay (s)", default=3600)
    max_attempts = models.PositiveIntegerField(
        default=3, help_text="Most attempts that may end this way before the contact is closed."
    )

    class Meta:
        ordering = ["campaign", "disposition"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "disposition"], name="retryrule_unique_per_disposition"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="retryrule_max_attempts_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.disposition}: after {self.delay_s}s, up to {self.max_attempts}"


class Contact(models.Model):
    """A person to call in one campaign."""

    # No index of its own: (campaign, phone) and (campaign, status) lead with it. Each index costs every
    # import row and every dispatcher claim an insert.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    phone_e164 = models.CharField("Phone (E.164)", max_length=16)
    name = models.CharField(max_length=200, blank=True)
    # Every IANA zone the number may be in. Empty = unknown: the dialer will not call it.
    # Several = called only when all of them are inside the window (the strictest reading).
    time_zones = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # Every state jurisdiction that governs the contact ("US-FL"): its number's area code and its address when
    # the contact file gives one (compliance.jurisdictions). The state rules of each must all hold.
    jurisdictions = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ContactStatus.choices, default=ContactStatus.PENDING)
    priority = models.SmallIntegerField(default=0, help_text="Higher is dialed first.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    outcome_fields = models.JSONField(default=dict, blank=True)
    # Which import created the contact: provenance only (SET_NULL when the job is deleted). No database
    # foreign key: PostgreSQL would queue one check per imported row and run them all at commit (about
    # 3.5 s per million rows), each re-locking the same job row. The import locks that row once instead
    # (FOR KEY SHARE, held to commit) and ``_lock_import_job_before_delete`` makes a delete wait for it,
    # so a link never outlives its job. The index stays: it serves SET_NULL on delete.
    import_job = models.ForeignKey("ImportJob", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="contacts", db_constraint=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "phone_e164"], name="contact_unique_number_per_campaign"),
            models.CheckConstraint(condition=Q(phone_e164__regex=E164_REGEX), name="contact_phone_e164"),
            models.CheckConstraint(condition=Q(status__in=ContactStatus.values), name="contact_status_valid"),
        ]
        indexes = [
            # The dispatcher's queue: due, dialable contacts of one campaign in dial order.
            # Never-dialed contacts (no next_attempt_at) come first at a priority: they are due since import,
            # and the index scan reaches them without walking past retries scheduled for later.
            models.Index(
                "campaign", models.F("priority").desc(), models.F("next_attempt_at").asc(nulls_first=True), "id",
                name="contact_dispatch_idx",
                condition=Q(status__in=sorted(CONTACT_DIALABLE)),
            ),
            models.Index(fields=["campaign", "status"], name="contact_campaign_status_idx"),
            # The campaign report counts outcomes without reading the contacts that have none.
            models.Index(fields=["campaign", "outcome"], condition=~Q(outcome=""), name="contact_outcome_idx"),
            models.Index(fields=["phone_e164"], name="contact_phone_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'contact'} {self.phone_e164}"

    @property
    def time_zone_known(self) -> bool:
        """Whether the dialer may evaluate this contact's calling window."""
        return bool(self.time_zones)


class CallAttempt(models.Model):
    """One dial of one contact. Its id is the idempotency key everywhere on the dial path."""

    # No single-column indexes: (campaign, state) and (contact, attempt_number) lead with these columns.
    # PROTECT (F25): the attempts are the record of every call made; deleting a campaign or a contact must not
    # take them along. Campaigns are cancelled, not deleted, once they have dialed.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="attempts", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="call_attempts", db_index=False)
    attempt_number = models.PositiveIntegerField(default=1)
    trunk = models.ForeignKey("telephony.Trunk", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="attempts")
    caller_id = models.CharField("Presented caller ID", max_length=16, blank=True)
    failed_over = models.BooleanField(default=False, help_text="The primary trunk failed before ringing; "
                                      "the call went out on its failover trunk (the trunk above).")
    primary_trunk = models.ForeignKey("telephony.Trunk", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", db_index=False,
                                      help_text="The trunk tried first, when the call failed over.")
    state = models.CharField(max_length=10, choices=AttemptState.choices, default=AttemptState.QUEUED)
    disposition = models.CharField(max_length=20, choices=Disposition.choices, blank=True)
    reason = models.TextField(blank=True, help_text="Why it ended the way it did.")
    ua_name = models.CharField("User agent process", max_length=100, blank=True)
    sip_call_id = models.CharField("SIP Call-ID", max_length=255, blank=True)
    sip_code = models.PositiveSmallIntegerField("Final SIP code", null=True, blank=True)
    sip_reason = models.CharField(max_length=255, blank=True)
    # Timestamps of each state
    queued_at = models.DateTimeField(auto_now_add=True)
    dialing_at = models.DateTimeField(null=True, blank=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    bridged_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Set by the media bridge when the agent's first audio is played to the callee; the report's
    # "abandoned" measure (no agent speech within 2 s of answer) reads it.
    agent_first_audio_at = models.DateTimeField(null=True, blank=True)
    # What happened on the call
    amd_result = models.CharField("AMD result", max_length=10, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    outcome_fields = models.JSONField(default=dict, blank=True)
    outcome_error = models.TextField(blank=True, help_text="Why the recorded outcome failed validation.")
    transcript = models.JSONField(default=list, blank=True,
                                  help_text='Segments: [{"speaker", "text", "start_ms", "end_ms"}].')
    recording = models.CharField(max_length=300, blank=True, help_text="Path under the recordings root.")
    first_response_ms = ArrayField(models.PositiveIntegerField(), default=list, blank=True,
                                   help_text="Per turn: end of caller speech to first agent audio played.")
    usage = models.JSONField(default=dict, blank=True, help_text="Tokens or other usage the provider reported.")
    transfer = models.JSONField(
        default=dict, blank=True,
        help_text="A transfer to a person: target, method, time to answer, accepted, fallback (docs/transfer.md).")
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True,
                                     help_text="ISO 4217 currency of the cost: the carrying trunk's when charged.")
    # Dialer bookkeeping: when originate handed the attempt to a user agent (the idempotency gate of a
    # redelivered originate), and until when the attempt is alive without news (the reaper's clock).
    originated_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("listen_recording", "Can listen to call recordings")]
        constraints = [
            # At most one dial in flight per contact: the database refuses a second one.
            models.UniqueConstraint(fields=["contact"], condition=~Q(state__in=sorted(ATTEMPT_TERMINAL)),
                                    name="attempt_one_in_flight_per_contact"),
            models.UniqueConstraint(fields=["contact", "attempt_number"], name="attempt_unique_number"),
            models.CheckConstraint(condition=Q(state__in=AttemptState.values), name="attempt_state_valid"),
            models.CheckConstraint(
                condition=Q(state=AttemptState.ENDED, ended_at__isnull=False) | ~Q(state=AttemptState.ENDED),
                name="attempt_ended_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "state"], name="attempt_campaign_state_idx"),
            models.Index(fields=["campaign", "queued_at"], name="attempt_campaign_queued_idx"),
            models.Index(fields=["state", "queued_at"], name="attempt_state_queued_idx",
                         condition=~Q(state=AttemptState.ENDED)),
            # The report's transfer figures read only the attempts that have a transfer record.
            models.Index(fields=["campaign"], name="attempt_transfer_idx", condition=~Q(transfer={})),
            # The dispatcher's in-flight counts per campaign and trunk (ended attempts pile up; these do not).
            models.Index(fields=["campaign", "trunk"], name="attempt_in_flight_idx",
                         condition=~Q(state=AttemptState.ENDED)),
            # The reaper's scan: in-flight attempts by lease expiry.
            models.Index(fields=["lease_expires_at"], name="attempt_lease_idx",
                         condition=~Q(state=AttemptState.ENDED)),
            # A caller ID's calls today (its daily cap, re-counted when Redis lost the counter).
            models.Index(fields=["caller_id", "queued_at"], name="attempt_callerid_day_idx"),
            # The campaign report reads only the attempts newer than its rollup (campaigns/reports/).
            models.Index(fields=["campaign", "id"], name="attempt_report_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} ({self.state})"

    @property
    def talk_seconds(self) -> float | None:
        """Seconds from answer to end, when both happened."""
        if self.answered_at and self.ended_at:
            return (self.ended_at - self.answered_at).total_seconds()
        return None


class DoNotCall(models.Model):
    """A number that must not be called: everywhere (no campaign) or in one campaign."""

    phone_e164 = models.CharField("Phone (E.164)", max_length=16)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="do_not_call", help_text="Blank = every campaign.")
    source = models.CharField(max_length=10, choices=DncSource.choices, default=DncSource.MANUAL)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call entries"  # "4 do-not-call entries", "Delete selected ..." (D16)
        constraints = [
            models.UniqueConstraint(fields=["phone_e164"], condition=Q(campaign__isnull=True),
                                    name="dnc_unique_global"),
            models.UniqueConstraint(fields=["phone_e164", "campaign"], condition=Q(campaign__isnull=False),
                                    name="dnc_unique_per_campaign"),
            models.CheckConstraint(condition=Q(phone_e164__regex=E164_REGEX), name="dnc_phone_e164"),
        ]
        indexes = [models.Index(fields=["phone_e164"], name="dnc_phone_idx")]

    def __str__(self) -> str:
        return self.phone_e164

    @property
    def scope(self) -> str:
        """'global' or 'campaign'."""
        return "campaign" if self.campaign_id else "global"


class ImportJob(FileJob):
    """One upload of a contact CSV into a campaign, with its counts and per-row error report."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PREVIEW)
    default_region = models.CharField(max_length=2, default="US")
    mapping = models.JSONField(default=dict, blank=True, help_text="Detected columns and variables.")
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    dnc = models.PositiveIntegerField("Do not call", default=0)
    error_report = models.FileField(upload_to="import-errors/%Y/%m/", blank=True)

    class Meta(FileJob.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ImportStatus.values), name="import_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name or f'import {self.pk}'} into {self.campaign}"

    @property
    def summary(self) -> str:
        """The one-line result, as the CLI prints it."""
        return f"imported={self.imported} duplicates={self.duplicates} invalid={self.invalid} dnc={self.dnc}"


class ReportRollup(models.Model):
    """The campaign report's aggregates of every attempt up to ``through_attempt_id``, all of them ended.

    Ended attempts do not change, so their aggregates are kept here and the report only aggregates the
    attempts after the watermark (campaigns/reports/). ``data`` holds the partial aggregates as JSON.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True,
                                    related_name="report_rollup")
    through_attempt_id = models.BigIntegerField(default=0)
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"report rollup of campaign {self.campaign_id} through attempt {self.through_attempt_id}"


__all__ = [
    "AgentProfile",
    "CallAttempt",
    "Campaign",
    "CampaignSpend",
    "Contact",
    "DoNotCall",
    "ImportJob",
    "ReportRollup",
    "RetryRule",
]


@receiver(pre_delete, sender=ImportJob)
def _lock_import_job_before_delete(sender: type[ImportJob], instance: ImportJob, **kwargs: object) -> None:
    """Wait for a running import of this job to commit before its contacts are unlinked.

    The collector sends this before it runs SET_NULL on ``Contact.import_job``. A running import holds
    FOR KEY SHARE on the job row until it commits; taking FOR UPDATE here waits for that, so the
    SET_NULL update that follows (a new statement, so a new snapshot) also sees the contacts the
    import has just committed. Without it they would keep the id of a deleted job.
    """
    ImportJob.objects.filter(pk=instance.pk).select_for_update().values_list("pk").first()


from campaigns.budget import CampaignSpend  # noqa: E402  (a model of this app, kept in its own module)
from campaigns.dnc_uploads import DncUpload  # noqa: E402, F401  (a model of this app, kept in its own module)
from campaigns.transfer_targets import TransferTarget  # noqa: E402, F401  (a model of this app, kept in its own module)
