"""Statements prepared on the server once per database connection, for the dial path's hot statements whose
planning costs more than their run (``PREPARE`` / ``EXECUTE`` in SQL, as ``campaigns.dialer.handoff`` does).

Django binds parameters on the client and switches psycopg's own preparing off; psycopg's, when on, also sends
``DEALLOCATE ALL`` after any rollback, which would drop the statements prepared in SQL here and in the handoff.
"""

from __future__ import annotations

import functools
import hashlib
import re
import weakref
from typing import Any

from django.db import connection

_NAMED = re.compile(r"%\((\w+)\)s|%%")
# Names prepared on each raw connection. A prepared statement outlives transactions but not its connection;
# on a reconnect Django hands out a new connection object, absent here, so the statement is prepared again.
_prepared_on: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=64)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``%(name)s`` placeholders as ``$1..$n`` (one number per name, in order of first use), ``%%`` as ``%``;
    returns the text and the names in number order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def execute_prepared(cursor: Any, prefix: str, sql: str, params: dict[str, object]) -> tuple[Any, ...] | None:
    """Run ``sql`` (named placeholders) as a statement prepared once per connection; returns its first row.

    The statement is named ``prefix`` plus a digest of its text, so a text that changes (other rules in
    effect) is another statement, not a wrong plan. Parameter types are inferred by the server from the
    statement (cast where the context does not say).
    """
    _execute(cursor, prefix, sql, params)
    return cursor.fetchone() if cursor.description else None


def execute_prepared_all(cursor: Any, prefix: str, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
    """As ``execute_prepared``, returning every row."""
    _execute(cursor, prefix, sql, params)
    return list(cursor.fetchall()) if cursor.description else []


def _execute(cursor: Any, prefix: str, sql: str, params: dict[str, object]) -> None:
    text, names = positional(sql)
    name = _statement_name(prefix, text)
    raw = connection.connection
    done = _prepared_on.setdefault(raw, set())
    if name not in done:
        cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f"PREPARE {name} AS {text}")
        done.add(name)
    placeholders = ", ".join(["%s"] * len(names))
    cursor.execute(f"EXECUTE {name}({placeholders})", [params[n] for n in names])


@functools.lru_cache(maxsize=64)
def _statement_name(prefix: str, text: str) -> str:
    return f"{prefix}_{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]}"
