"""The demo campaign (``manage.py run_demo``): its data, its progress while it runs, and its printed summary.

A demo run creates a fresh campaign each time on a trunk pointing at the simulated phone network
(``simulate_pstn``) and an agent profile of the local agent, imports docs/sample-contacts.csv into it and
lets the real dialer call it. Its calling window is every day 08:00-21:00 in each contact's own zone, the
legal maximum (TCPA, 47 CFR 64.1200(c)(1)): contacts whose zone is outside it at the moment wait for their
window and are reported as waiting, never called. The demo is over when nothing is in flight and no
contact inside its window is left to dial.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.choices import (
    ATTEMPT_IN_FLIGHT,
    CONTACT_DIALABLE,
    CONTACT_TERMINAL,
    AgentProvider,
    CampaignStatus,
    Disposition,
    MachinePolicy,
)
from campaigns.contacts.imports import import_contacts_file
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, ImportJob, RetryRule
from campaigns.reports.report import CampaignReport
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening
from telephony.models import CallerID, Trunk

SAMPLE_CONTACTS = Path(settings.BASE_DIR) / "docs" / "sample-contacts.csv"
DEMO_TRUNK = "demo-local-trunk"
DEMO_AGENT = "demo-local-agent"
DEMO_CALLER_ID = "+14155550100"
DEMO_CAMPAIGN_PREFIX = "Demo run"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 (the printed login of a loopback-only demo)
# The demo's superuser only on a database whose name says it is not production (F24).
DEMO_DATABASE_MARKERS = ("demo", "dev", "campaign_engine", "test")
OVERRIDE_FLAG = "--i-know-this-is-not-production"
# TCPA: 8 a.m. to 9 p.m. at the called party's location; the demo uses all of it, never more.
DEMO_WINDOW_START = dt.time(8, 0)
DEMO_WINDOW_END = dt.time(21, 0)

DEMO_OUTCOMES: list[dict[str, object]] = [
    {"label": "interested", "description": "The person wants to hear more.", "fields": []},
    {"label": "not_interested", "description": "The person declined.", "fields": []},
    {"label": "call_back", "description": "The person asked to be called again later.",
     "fields": [{"name": "callback_at", "type": "datetime", "required": True,
                 "description": "When to call back, in the person's local time."}]},
    {"label": "opted_out", "description": "The person asked not to be called again.", "fields": []},
]
# The local agent reads the "Key: text" lines; a hosted model reads the whole prompt.
DEMO_PROMPT = """You are Sam from the appointment desk, calling {{first_name}} in {{city}} to follow up on their
appointment request. Ask whether they are still interested; offer a call back if now is not a good time;
respect any request not to be called again, and record the outcome before you say goodbye.
Greeting: Hello {{first_name}}, this is Sam from the appointment desk.
Question: Are you still interested in booking your appointment?
Closing: Great, a colleague will send you the details. Thank you, goodbye.
"""
# With answering-machine detection on, the agent is connected after the person's first words: a greeting makes
# it speak at once then instead of waiting for the person to say something again.
DEMO_GREETING = "Hello {{first_name}}, this is Sam from the appointment desk."
DEMO_VOICEMAIL = "Hello {{first_name}}, this is Sam from the appointment desk. Please call us back. Goodbye."


@dataclass(frozen=True)
class DemoOptions:
    """How the demo campaign is set up.

    Attributes:
        simulator_host: Where the trunk sends calls (the simulated network's front).
        simulator_port: Its SIP port.
        ring_timeout_s: Ring timeout of the campaign (the no-answer persona rings until it).
        retry_delay_s: Delay before a busy / no-answer contact is called again.
        max_concurrent: The campaign's concurrent call cap.
        agent_url: The agent profile's WebSocket URL; blank uses the UA's LOCAL_AGENT_URL setting.
        contacts_csv: The contacts file imported into the campaign.
    """

    simulator_host: str = "127.0.0.1"
    simulator_port: int = 5080
    ring_timeout_s: int = 8
    retry_delay_s: int = 15
    max_concurrent: int = 8
    agent_url: str = ""
    contacts_csv: Path = SAMPLE_CONTACTS

    def __post_init__(self) -> None:
        if not 1 <= self.simulator_port <= 65535:
            raise ValueError(f"DemoOptions.simulator_port must be 1-65535, got {self.simulator_port}")
        if not 5 <= self.ring_timeout_s <= 300:
            raise ValueError(f"DemoOptions.ring_timeout_s must be 5-300, got {self.ring_timeout_s}")
        if self.retry_delay_s < 1:
            raise ValueError(f"DemoOptions.retry_delay_s must be >= 1, got {self.retry_delay_s}")
        if self.max_concurrent < 1:
            raise ValueError(f"DemoOptions.max_concurrent must be >= 1, got {self.max_concurrent}")


def demo_retry_rules(retry_delay_s: int) -> dict[str, tuple[int, int]]:
    """Retry rules of the demo campaign: disposition -> (delay s, most attempts ending that way).

    Busy and no answer are retried after a short delay so the demo shows retries in minutes; anything
    else that would otherwise be retried (the defaults wait 15 min to an hour) is closed after one try so
    the demo finishes.
    """
    return {
        Disposition.BUSY: (retry_delay_s, 3),
        Disposition.NO_ANSWER: (retry_delay_s, 2),
        Disposition.MACHINE: (retry_delay_s, 1),
        Disposition.FAILED: (retry_delay_s, 1),
        Disposition.FAILED_UNKNOWN: (retry_delay_s, 1),
        Disposition.AI_ERROR: (retry_delay_s, 1),
    }


@dataclass(frozen=True)
class DemoSetup:
    """What ``create_demo_campaign`` made."""

    campaign: Campaign
    import_job: ImportJob
    cancelled_earlier: list[int]


class NotADemoDatabase(Exception):
    """The demo would create its well-known superuser on a database that may not be a demo one."""


def demo_database_refusal(*, debug: bool, database_name: str) -> str | None:
    """Why the demo must not run against this database, or None when it may.

    F24: the demo creates (or re-enables) the superuser demo/demo. On a shared or production database that is a
    known admin login, so it runs only with DEBUG on and a database named like a demo or development one.
    """
    if not debug:
        return "DEBUG is off, so this may be a production deployment"
    name = database_name.lower()
    if not any(marker in name for marker in DEMO_DATABASE_MARKERS):
        return (f"the database {database_name!r} is not named like a demo or development one "
                f"(its name contains none of: {', '.join(DEMO_DATABASE_MARKERS)})")
    return None


def ensure_demo_superuser(username: str = DEMO_USER, password: str = DEMO_PASSWORD, *,
                          allow_any_database: bool = False) -> bool:
    """Create the demo's admin login, or reset its password and rights. Returns True when created.

    Args:
        username: the login.
        password: its password (set without the password validators: it is printed by the demo).
        allow_any_database: skip the demo-database check (``--i-know-this-is-not-production``).

    Raises:
        NotADemoDatabase: DEBUG is off or the database is not named like a demo one, and no override.
    """
    if not allow_any_database:
        refusal = demo_database_refusal(debug=settings.DEBUG, database_name=str(connection.settings_dict["NAME"]))
        if refusal is not None:
            raise NotADemoDatabase(f"Refusing to create the {username}/{password} superuser: {refusal}. "
                                   f"Pass {OVERRIDE_FLAG} if this database is not production.")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username, defaults={"email": ""})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
    return created


def create_demo_campaign(options: DemoOptions, *, now: dt.datetime | None = None) -> DemoSetup:
    """A fresh draft demo campaign with its contacts imported; earlier unfinished demo runs are cancelled.

    The trunk, caller ID and agent profile are reused across runs (and brought back to the demo's values).
    Earlier demo campaigns still running or paused are cancelled so that only this run dials.

    Returns:
        The campaign (draft: ``start_campaign`` starts it), the import job and the cancelled campaigns' ids.
    """
    now = now or timezone.now()
    with transaction.atomic():
        trunk, _ = Trunk.objects.update_or_create(name=DEMO_TRUNK, defaults={
            "host": options.simulator_host, "port": options.simulator_port, "transport": "udp", "auth_mode": "ip",
            "max_channels": max(10, options.max_concurrent), "max_cps": Decimal("5"),
            "cost_per_minute": Decimal("0.0100"), "enabled": True, "failover": None})
        caller_id, _ = CallerID.objects.update_or_create(
            trunk=trunk, number=DEMO_CALLER_ID, defaults={"label": "Demo caller ID", "active": True})
        agent, _ = AgentProfile.objects.update_or_create(name=DEMO_AGENT, defaults={
            "provider": AgentProvider.LOCAL, "url": options.agent_url, "prompt_template": DEMO_PROMPT,
            "greeting": DEMO_GREETING, "outcome_schema": DEMO_OUTCOMES, "max_call_s": 90})
        earlier = list(Campaign.objects.filter(
            name__startswith=DEMO_CAMPAIGN_PREFIX,
            status__in=[CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED],
        ).values_list("pk", flat=True))
        # Only one demo run dials at a time: an earlier run left running would compete for the lines.
        Campaign.objects.filter(pk__in=earlier).update(status=CampaignStatus.CANCELLED, finished_at=now)
        campaign = Campaign.objects.create(
            name=f"{DEMO_CAMPAIGN_PREFIX} {now.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
            agent=agent, trunk=trunk, default_region="US",
            window_days=list(range(7)), window_start=DEMO_WINDOW_START, window_end=DEMO_WINDOW_END,
            max_concurrent=options.max_concurrent, max_cps=Decimal("2"), ring_timeout_s=options.ring_timeout_s,
            max_attempts=3, amd_enabled=True, machine_policy=MachinePolicy.LEAVE_MESSAGE,
            voicemail_message=DEMO_VOICEMAIL, opt_out_digit="9")
        campaign.caller_ids.add(caller_id)
        RetryRule.objects.bulk_create([
            RetryRule(campaign=campaign, disposition=disposition, delay_s=delay, max_attempts=most)
            for disposition, (delay, most) in demo_retry_rules(options.retry_delay_s).items()])
    job = import_contacts_file(campaign, options.contacts_csv, default_region="US")
    return DemoSetup(campaign=campaign, import_job=job, cancelled_earlier=earlier)


@dataclass(frozen=True)
class WaitingContact:
    """A dialable contact outside its calling window now."""

    contact_id: int
    phone_e164: str
    name: str
    zones: list[str]
    local_time: str
    opens_at: dt.datetime | None


@dataclass(frozen=True)
class DemoProgress:
    """One look at a running demo campaign.

    ``dialed`` counts attempts handed to a user agent, ``in_flight`` attempts not ended, ``done`` contacts
    in a final state; ``callable`` is every contact except those waiting for their window.
    """

    campaign_status: str
    contacts: int
    done: int
    dialed: int
    in_flight: int
    due_in_window: int
    waiting: list[WaitingContact] = field(default_factory=list)

    @property
    def callable(self) -> int:
        """Contacts that are, or were, inside their window during the run."""
        return self.contacts - len(self.waiting)

    @property
    def finished(self) -> bool:
        """Nothing in flight and nothing left to dial inside its window."""
        return self.in_flight == 0 and self.due_in_window == 0


def waiting_contacts(campaign: Campaign, now: dt.datetime) -> list[WaitingContact]:
    """Dialable contacts of the campaign that are outside their calling window at ``now``."""
    window = CallingWindow.of(campaign)
    waiting = []
    rows = Contact.objects.filter(campaign=campaign, status__in=CONTACT_DIALABLE).order_by("id").values_list(
        "id", "phone_e164", "name", "time_zones")
    for contact_id, phone, name, zones in rows:
        # Compliance: the same test the dispatcher's claim makes (every candidate zone inside the window).
        if contact_in_window(zones, now, window):
            continue
        local = ", ".join(_local_time(z, now) for z in zones) or "zone unknown"
        waiting.append(WaitingContact(contact_id, phone, name, list(zones), local,
                                      next_window_opening(zones, now, window)))
    return waiting


def _local_time(zone: str, now: dt.datetime) -> str:
    try:
        return f"{now.astimezone(zoneinfo.ZoneInfo(zone)):%a %H:%M} {zone}"
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{zone} (unknown zone)"


SCHEDULED_LATER = dt.timedelta(minutes=10)


def read_demo_progress(campaign_id: int, *, now: dt.datetime | None = None) -> DemoProgress:
    """Where the demo campaign stands: contacts done, attempts dialed and in flight, contacts waiting."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign_id)
    contacts = Contact.objects.filter(campaign_id=campaign_id).aggregate(
        total=Count("id"), done=Count("id", filter=Q(status__in=CONTACT_TERMINAL)))
    attempts = CallAttempt.objects.filter(campaign_id=campaign_id).aggregate(
        dialed=Count("id", filter=(Q(dialing_at__isnull=False) | Q(originated_at__isnull=False))
                     & ~Q(disposition=Disposition.CANCELLED)),
        in_flight=Count("id", filter=Q(state__in=ATTEMPT_IN_FLIGHT)))
    waiting = waiting_contacts(campaign, now)
    waiting_ids = {w.contact_id for w in waiting}
    dialable = Contact.objects.filter(campaign_id=campaign_id, status__in=CONTACT_DIALABLE)
    # A call-back the person asked for (tomorrow at 10, their time) is scheduled, not due: the demo does not
    # wait for it. Retries of the demo's rules come within seconds and are waited for.
    later = sum(1 for pk in dialable.filter(next_attempt_at__gt=now + SCHEDULED_LATER).values_list("pk", flat=True)
                if pk not in waiting_ids)
    return DemoProgress(campaign_status=campaign.status, contacts=contacts["total"], done=contacts["done"],
                        dialed=attempts["dialed"], in_flight=attempts["in_flight"],
                        due_in_window=dialable.count() - len(waiting) - later, waiting=waiting)


def progress_bar(progress: DemoProgress, elapsed_s: float, width: int = 20) -> str:
    """One terminal line (under 80 columns): a bar of contacts done over callable contacts, and the counts."""
    total = max(progress.callable, 1)
    filled = min(width, round(width * progress.done / total))
    waiting = f", {len(progress.waiting)} wait" if progress.waiting else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.callable} done, "
            f"{progress.dialed} dialed, {progress.in_flight} in flight{waiting} ({elapsed_s:.0f} s)")


def calls_outside_window(campaign: Campaign) -> int:
    """Attempts dialed while their contact was outside the campaign's window (the demo's compliance check)."""
    window = CallingWindow.of(campaign)
    rows = CallAttempt.objects.filter(campaign=campaign, dialing_at__isnull=False).values_list(
        "dialing_at", "contact__time_zones")
    # dialing_at__isnull=False above: every dialed_at is set.
    return sum(1 for dialed_at, zones in rows
               if dialed_at is not None and not contact_in_window(zones, dialed_at, window))


def report_summary_lines(report: CampaignReport, *, outside_window: int,
                         waiting: list[WaitingContact]) -> list[str]:
    """The report's headline figures as ``label: value`` lines (what ``run_demo`` prints at the end)."""
    funnel = {stage.key: stage for stage in report.funnel}
    statuses = ", ".join(f"{value} {n}" for value, _, n in report.contacts_by_status if n)
    dispositions = ", ".join(f"{value} {n}" for value, _, n, _ in report.dispositions) or "none"
    outcomes = ", ".join(f"{o.label} {o.contacts}" for o in report.outcomes) or "none"
    talk = report.talk_seconds
    lines = [
        f"Campaign: {report.campaign.name} (id {report.campaign.pk}, {report.campaign.get_status_display()})",
        f"Contacts: {report.contacts_total}",
        f"Contacts by status: {statuses}",
        f"Attempts: {report.attempts_total} ({report.attempts_dialed} dialed, {report.attempts_not_dialed} "
        f"not dialed, {report.attempts_in_flight} in flight)",
        f"Dispositions: {dispositions}",
        f"Funnel (contacts): attempted {funnel['attempted'].contacts}, connected {funnel['connected'].contacts}, "
        f"human {funnel['human'].contacts}, outcome recorded {funnel['outcome'].contacts}",
        f"Outcomes: {outcomes}",
    ]
    for outcome in report.outcomes:
        for summary in outcome.fields:
            top = ", ".join(f"{value} ({n})" for value, n in summary.top_values[:3])
            lines.append(f"Outcome field {outcome.label}.{summary.name}: {summary.filled} filled"
                         + (f": {top}" if top else ""))
    lines += [
        "Talk time (s): " + (f"{talk.count} calls, mean {talk.mean:.1f}, p50 {talk.p50:.0f}, p90 {talk.p90:.0f}"
                             if talk.count and talk.mean is not None else "none"),
        f"Abandoned: {report.abandoned} of {report.human_connected} human-answered calls",
        f"Cost: {report.cost_total}",
        f"Calls outside their window: {outside_window}",
        f"Waiting for their window: {len(waiting)}",
    ]
    by_zone: dict[tuple[str, dt.datetime | None], list[WaitingContact]] = {}
    for w in waiting:
        by_zone.setdefault((w.local_time, w.opens_at), []).append(w)
    for (local_time, opens_at), group in by_zone.items():
        opens = f"window opens {opens_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if opens_at else "no window known"
        lines.append(f"  {len(group)} waiting at local {local_time} ({opens}): "
                     + ", ".join(w.phone_e164 for w in group))
    return lines
