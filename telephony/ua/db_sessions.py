"""The UA worker's PostgreSQL sessions give up a transaction whose client went silent.

Why: a UA host that loses its network in the middle of a ledger write (the answer, the dial evidence) leaves its
backend "idle in transaction", holding the attempt's row lock. PostgreSQL notices a vanished client only through
TCP keepalive, two hours by default, and not at all behind a proxy or pooler that stays up. Meanwhile the reaper on
another host, the import publisher and the next claim block on that row. A UA's ledger transactions last
milliseconds, so the server ends any that stays idle past ``UA_DB_IDLE_IN_TRANSACTION_S`` (its locks go with it,
and the UA's spool replays the write once it is back), and probes the client's socket every few seconds.
"""

from __future__ import annotations

from typing import Any


def limit_idle_transactions(idle_in_transaction_s: float) -> None:
    """Apply the limits to every database connection this process opens from now on (Django's signal)."""
    from django.db.backends.signals import connection_created

    def _apply(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, false), "
                "set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false), "
                "set_config('tcp_keepalives_count', '3', false)",
                [str(int(idle_in_transaction_s * 1000))],
            )

    connection_created.connect(_apply, weak=False, dispatch_uid="ua-idle-transaction-limits")
