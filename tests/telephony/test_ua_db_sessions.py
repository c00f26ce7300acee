"""A UA worker's transaction whose client goes silent is ended by PostgreSQL, and its row locks with it.

The holder is a real process set up as a UA worker sets up its database sessions: it locks a contact row in a
transaction and then says nothing, as a UA host whose network vanished mid-write does (PostgreSQL cannot tell the
two apart, least of all behind a proxy that stays up). Another session must get the row soon after the limit;
without the limit it waits until its own lock timeout.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.db import OperationalError, connection, transaction

from tests.factories import ContactFactory
from tests.telephony.conftest import PROJECT_ROOT, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

_HOLDER = """
import sys, time
import django
django.setup()
from django.db import connection, transaction
if float(sys.argv[2]) > 0:
    from telephony.ua.db_sessions import limit_idle_transactions
    limit_idle_transactions(float(sys.argv[2]))
with transaction.atomic():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM campaigns_contact WHERE id = %s FOR UPDATE", [int(sys.argv[1])])
    print("locked", flush=True)
    time.sleep(600)  # silent from here on
"""


def _wait_for_the_row(contact_id: int, lock_timeout_s: float) -> float:
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout_s * 1000)}"])
        cursor.execute("UPDATE campaigns_contact SET priority = priority + 1 WHERE id = %s", [contact_id])
    return time.monotonic() - started


@pytest.mark.parametrize("limit_s", [2.0, 0.0], ids=["with the limit", "without"])
def test_a_silent_ua_transaction_gives_its_row_back(limit_s: float) -> None:
    contact = ContactFactory()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(contact.pk), str(limit_s)],  # noqa: S603
                              cwd=PROJECT_ROOT, env=worker_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        if limit_s:
            # then the row is free soon after the limit (the server ends the idle transaction)
            assert _wait_for_the_row(contact.pk, lock_timeout_s=20) < limit_s + 5
        else:
            # the contrast: without it the row stays locked for as long as anyone waits
            with pytest.raises(OperationalError, match="lock timeout"):
                _wait_for_the_row(contact.pk, lock_timeout_s=limit_s + 6)
    finally:
        holder.kill()
        holder.wait(timeout=10)
