"""``manage.py import_contacts CAMPAIGN_ID FILE.csv [--default-region US]``: import a contact file now."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.contacts.imports import CsvFormatError, import_contacts_file
from campaigns.models import Campaign

_PRINT_EVERY_S = 2.0


class Command(BaseCommand):
    help = ("Import contacts from a CSV file into a campaign. Exits 0 when the file was processed (bad rows "
            "are counted and listed in the job's report), non-zero when the file itself cannot be read.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("file", type=Path)
        parser.add_argument("--default-region", default=None,
                            help="Country used to read national-format numbers (default: the campaign's).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            campaign = Campaign.objects.get(pk=options["campaign_id"])
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"No campaign with id {options['campaign_id']}.") from exc
        path: Path = options["file"]
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= _PRINT_EVERY_S:
                last[0] = now
                self.stdout.write(f"{done} rows read" + (f" of about {total}" if total else ""))

        self.stdout.write(f"Importing {path} into campaign {campaign.pk} ({campaign.name})...")
        try:
            job = import_contacts_file(campaign, path, default_region=options["default_region"], progress=progress)
        except CsvFormatError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{job.rows_done} rows read in import job {job.pk}.")
        if job.error_report:
            self.stdout.write(f"Per-row report: {job.error_report.path}")
        if job.imported == 0 and job.dnc == 0 and job.duplicates > 0:
            self.stdout.write("Nothing new: every valid number is already in this campaign.")
        self.stdout.write(job.summary)
