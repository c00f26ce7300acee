"""Statements prepared once per connection (``campaigns.dialer.prepared``)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from campaigns.dialer.prepared import execute_prepared, positional


def test_named_placeholders_become_numbered_once_per_name() -> None:
    text, names = positional("a = %(x)s AND b = %(y)s OR c = %(x)s AND d LIKE '+1%%'")
    assert text == "a = $1 AND b = $2 OR c = $1 AND d LIKE '+1%'"
    assert names == ("x", "y")


@pytest.mark.django_db
def test_a_prepared_statement_is_prepared_once_and_survives_a_rollback() -> None:
    sql = "SELECT %(a)s::int + %(b)s::int, %(a)s::int"
    with connection.cursor() as cursor:
        assert execute_prepared(cursor, "test_sum", sql, {"a": 2, "b": 3}) == (5, 2)
        try:
            with transaction.atomic():
                assert execute_prepared(cursor, "test_sum", sql, {"a": 1, "b": 1}) == (2, 1)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert execute_prepared(cursor, "test_sum", sql, {"a": 4, "b": 4}) == (8, 4)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'test_sum_%%'")
        assert cursor.fetchone() == (1,)
