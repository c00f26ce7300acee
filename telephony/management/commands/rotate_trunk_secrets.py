"""``manage.py rotate_trunk_secrets``: re-encrypt every stored trunk password under the first key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from telephony.secrets import rotate


class Command(BaseCommand):
    help = "Re-encrypt trunk passwords under the first TRUNK_SECRET_KEYS key (run before removing an old key)."

    def handle(self, *args: Any, **options: Any) -> None:
        # Raw SQL: the tokens are rotated as tokens, never decrypted into a model instance or a log line.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id, password FROM telephony_trunk WHERE password <> '' FOR UPDATE")
            rows = cursor.fetchall()
            for trunk_id, token in rows:
                cursor.execute("UPDATE telephony_trunk SET password = %s WHERE id = %s", [rotate(token), trunk_id])
        self.stdout.write(f"{len(rows)} trunk password(s) re-encrypted under the first key.")
