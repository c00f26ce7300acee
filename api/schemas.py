"""Request and response bodies of ``/api/v1/`` (Pydantic, through django-ninja); they make the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import model_validator

MAX_CONTACTS_PER_REQUEST = 10_000


class Problem(Schema):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(None, description="Fields (or bulk rows) at fault.")


class Page(Schema):
    """Cursor pagination: pass ``next_cursor`` as ``cursor`` to get the next page; null means the last page."""

    next_cursor: str | None


# --- catalogue -------------------------------------------------------------------------------------------


class AgentOut(Schema):
    id: int
    name: str
    provider: str
    model: str
    voice: str
    max_call_s: int
    outcome_schema: list[dict[str, Any]]


class AgentPage(Page):
    items: list[AgentOut]


class TrunkOut(Schema):
    """A trunk, without its credentials (never sent by the API)."""

    id: int
    name: str
    host: str
    port: int
    transport: str
    auth_mode: str
    max_channels: int
    max_cps: Decimal
    enabled: bool


class TrunkPage(Page):
    items: list[TrunkOut]


class CallerIdOut(Schema):
    id: int
    trunk_id: int
    number: str
    label: str
    daily_cap: int
    active: bool


class CallerIdPage(Page):
    items: list[CallerIdOut]


# --- campaigns -------------------------------------------------------------------------------------------


class CampaignFields(Schema):
    """Fields a client may set (create) or change (update)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    agent_id: int | None = None
    trunk_id: int | None = None
    caller_id_ids: list[int] | None = None
    default_region: str | None = Field(None, min_length=2, max_length=2)
    window_days: list[int] | None = Field(None, description="Local weekdays, Monday = 0.")
    window_start: dt.time | None = None
    window_end: dt.time | None = None
    max_concurrent: int | None = Field(None, ge=1, le=10_000)
    max_cps: Decimal | None = Field(None, gt=0, le=1000, max_digits=6, decimal_places=2)
    ring_timeout_s: int | None = Field(None, ge=5, le=300)
    max_attempts: int | None = Field(None, ge=1, le=100)
    amd_enabled: bool | None = None
    machine_policy: Literal["hang_up", "leave_message"] | None = None
    voicemail_message: str | None = Field(None, max_length=5000)


class CampaignCreate(CampaignFields):
    name: str = Field(..., min_length=1, max_length=200)
    agent_id: int
    trunk_id: int


class CampaignOut(Schema):
    id: int
    name: str
    status: str
    agent_id: int
    trunk_id: int
    caller_id_ids: list[int]
    default_region: str
    window_days: list[int]
    window_start: str = Field(..., pattern=r"^\d{2}:\d{2}:\d{2}$", description="Local time, HH:MM:SS.")
    window_end: str = Field(..., pattern=r"^\d{2}:\d{2}:\d{2}$", description="Local time, HH:MM:SS.")
    max_concurrent: int
    max_cps: Decimal
    ring_timeout_s: int
    max_attempts: int
    amd_enabled: bool
    machine_policy: str
    voicemail_message: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    version: str = Field(..., description="The ETag of this state; send it as If-Match to update.")


class CampaignPage(Page):
    items: list[CampaignOut]


# --- contacts, imports, do-not-call ----------------------------------------------------------------------


class ContactIn(Schema):
    phone: str = Field(..., min_length=1, max_length=64, description="E.164, or national in the campaign's region.")
    name: str = Field("", max_length=200)
    time_zone: str | None = Field(None, max_length=64, description="IANA zone; default: from the number.")
    priority: int = Field(0, ge=-32768, le=32767)
    variables: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="Flat values for the prompt's {{variables}}.")


class ContactsIn(Schema):
    contacts: list[ContactIn] = Field(..., min_length=1, max_length=MAX_CONTACTS_PER_REQUEST)


class RejectedRow(Schema):
    index: int = Field(..., description="Position in the request's contacts list (0-based).")
    phone: str
    reason: str


class ContactsAdded(Schema):
    import_job_id: int
    received: int
    imported: int
    duplicates: int
    invalid: int
    dnc: int
    rejected: list[RejectedRow]


class ContactOut(Schema):
    id: int
    campaign_id: int
    phone_e164: str
    name: str
    time_zones: list[str]
    variables: dict[str, Any]
    status: str
    priority: int
    attempts: int
    next_attempt_at: dt.datetime | None
    last_disposition: str
    outcome: str
    outcome_fields: dict[str, Any]


class ContactPage(Page):
    items: list[ContactOut]


class ImportJobOut(Schema):
    id: int
    campaign_id: int
    status: str
    original_name: str
    rows_total: int | None
    rows_done: int
    imported: int
    duplicates: int
    invalid: int
    dnc: int
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class DncIn(Schema):
    phone: str = Field(..., min_length=1, max_length=64)
    campaign_id: int | None = Field(None, description="Blank: every campaign.")
    note: str = Field("", max_length=255)
    default_region: str = Field("US", min_length=2, max_length=2)


class DncOut(Schema):
    id: int
    phone_e164: str
    campaign_id: int | None
    source: str
    note: str
    created_at: dt.datetime


class DncCheck(Schema):
    phone_e164: str
    listed: bool
    entries: list[DncOut]


# --- attempts and calls ----------------------------------------------------------------------------------


class AttemptOut(Schema):
    id: int
    campaign_id: int
    contact_id: int
    attempt_number: int
    state: str
    disposition: str
    reason: str
    caller_id: str
    sip_code: int | None
    queued_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    talk_seconds: float | None
    amd_result: str
    outcome: str
    outcome_fields: dict[str, Any]
    cost: Decimal | None
    cost_currency: str = Field("", description="ISO 4217 currency of the cost: the carrying trunk's.")


class AttemptPage(Page):
    items: list[AttemptOut]


class TranscriptSegment(Schema):
    speaker: str
    text: str
    start_ms: int | None = None
    end_ms: int | None = None


class AttemptDetail(AttemptOut):
    transcript: list[TranscriptSegment] = Field(default_factory=list)
    recording_url: str | None = Field(None, description="Only for keys that may listen to recordings.")


class CallIn(Schema):
    """A campaign, or an agent profile and a trunk (the engine's direct-calls campaign of that pair)."""

    to: str = Field(..., min_length=1, max_length=64, description="The number to call.")
    campaign_id: int | None = Field(None, description="The campaign; or give agent_profile_id and trunk_id.")
    agent_profile_id: int | None = Field(None, description="Without a campaign: the agent profile to call with.")
    trunk_id: int | None = Field(None, description="Without a campaign: the trunk to call through.")
    caller_id: int | None = Field(None, description="Without a campaign: the id of a caller ID of the trunk "
                                                    "(default: every active one of the trunk).")
    name: str = Field("", max_length=200)
    time_zone: str | None = Field(None, max_length=64)
    variables: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _campaign_or_agent_and_trunk(self) -> CallIn:
        direct = (self.agent_profile_id, self.trunk_id, self.caller_id)
        if self.campaign_id is not None and any(v is not None for v in direct):
            raise ValueError("give campaign_id, or agent_profile_id and trunk_id, not both")
        if self.campaign_id is None and (self.agent_profile_id is None or self.trunk_id is None):
            raise ValueError("give campaign_id, or agent_profile_id and trunk_id")
        return self


class CallOut(Schema):
    """A call the dialer will place at its next tick, through the same gates as any dial."""

    contact_id: int
    campaign_id: int
    to: str
    status: str
    attempts: list[AttemptOut]
