"""Import a National Do Not Call Registry download (10-digit numbers, one per line) with its download date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.services import import_national_dnc


class Command(BaseCommand):
    """``manage.py import_national_dnc FILE --downloaded-at 2026-12-01T08:00:00+00:00 [--area-codes 212,305]
    [--registry ca]`` (``ca``: Canada's National DNCL)."""

    help = "Import a National Do Not Call Registry file with its download date."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--downloaded-at", required=True, help="ISO 8601 with an offset.")
        parser.add_argument("--area-codes", default="", help="Area codes the download covers (default: those seen).")
        parser.add_argument("--registry", default="us", choices=["us", "ca"],
                            help="us: the FTC's registry; ca: Canada's National DNCL (CRTC).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            downloaded_at = dt.datetime.fromisoformat(options["downloaded_at"])
        except ValueError as exc:
            raise CommandError(f"--downloaded-at: {exc}") from exc
        if downloaded_at.tzinfo is None:
            raise CommandError("--downloaded-at needs an offset, e.g. 2026-12-01T08:00:00+00:00")
        codes = [c.strip() for c in options["area_codes"].split(",") if c.strip()]
        with options["file"].open(encoding="utf-8", errors="replace") as fh:
            try:
                result = import_national_dnc(fh, downloaded_at=downloaded_at, file_name=options["file"].name,
                                             area_codes=codes, registry=options["registry"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"registry {result.registry_id}: {result.numbers} numbers, area codes "
                          f"{','.join(result.area_codes)}; rejected lines: {list(result.rejected_lines)[:20]}")
