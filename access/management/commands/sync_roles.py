"""``manage.py sync_roles``: create or reset the shipped groups (also run after every migrate)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from access.roles import sync_roles


class Command(BaseCommand):
    help = "Create the groups operator, analyst, supervisor and admin and set their permissions (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in sync_roles().items():
            self.stdout.write(f"{role}: {count} permissions")
