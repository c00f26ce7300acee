"""``manage.py demo``: demo trunk, agent and campaign, and the sample contacts imported (data only; ``make demo``
runs ``manage.py run_demo``, the whole flow against the simulated phone network).

Safe to run again: existing demo rows are reused and the re-import adds nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from campaigns.choices import AgentProvider
from campaigns.contacts.imports import CsvFormatError, import_contacts_file
from campaigns.models import AgentProfile, Campaign
from telephony.models import Trunk

SAMPLE_CONTACTS = Path(settings.BASE_DIR) / "docs" / "sample-contacts.csv"
DEMO_TRUNK = "demo-local-trunk"
DEMO_AGENT = "demo-local-agent"
DEMO_CAMPAIGN = "Demo: appointment follow-up"
DEMO_OUTCOMES: list[dict[str, object]] = [
    {"label": "interested", "description": "The person wants to hear more.", "fields": []},
    {"label": "not_interested", "description": "The person declined.", "fields": []},
    {"label": "call_back", "description": "The person asked to be called again later.",
     "fields": [{"name": "callback_at", "type": "datetime", "required": True,
                 "description": "When to call back, in the person's local time."}]},
    {"label": "opted_out", "description": "The person asked not to be called again.", "fields": []},
]


class Command(BaseCommand):
    help = "Create the demo trunk, agent profile and campaign, and import docs/sample-contacts.csv."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            trunk, trunk_new = Trunk.objects.get_or_create(
                name=DEMO_TRUNK, defaults={"host": "127.0.0.1", "port": 5080, "max_channels": 10})
            agent, agent_new = AgentProfile.objects.get_or_create(name=DEMO_AGENT, defaults={
                "provider": AgentProvider.LOCAL,
                "prompt_template": ("You are calling {{first_name}} from {{city}} to follow up on their appointment "
                                    "request. Ask whether they are still interested; offer a call back if now is "
                                    "not a good time; respect any request not to be called again."),
                "greeting": "Hello {{first_name}}, this is the appointment desk calling.",
                "outcome_schema": DEMO_OUTCOMES,
            })
            campaign, campaign_new = Campaign.objects.get_or_create(
                name=DEMO_CAMPAIGN, defaults={"agent": agent, "trunk": trunk, "default_region": "US"})
        for label, obj, new in (("trunk", trunk, trunk_new), ("agent profile", agent, agent_new),
                                ("campaign", campaign, campaign_new)):
            self.stdout.write(f"{'Created' if new else 'Found'} {label}: {obj} (id {obj.pk})")
        try:
            job = import_contacts_file(campaign, SAMPLE_CONTACTS, default_region="US")
        except CsvFormatError as exc:
            raise CommandError(f"The sample contacts could not be imported: {exc}") from exc
        self.stdout.write(f"Imported {SAMPLE_CONTACTS.name} (import job {job.pk}): {job.summary}")
        if job.error_report:
            self.stdout.write(f"Rows not imported and warnings, with reasons: {job.error_report.path}")
        self.stdout.write(
            f"Trunk {trunk.name} points at {trunk.host}:{trunk.port}. Nothing has been dialed: this command only "
            "prepares data, and starting the campaign is a separate step in the admin.")
