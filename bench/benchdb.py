"""The benchmarks' own databases: each benchmark works in ``<name><suffix>`` beside the configured one."""

from __future__ import annotations

import os


def ensure_database(base_url: str, suffix: str) -> str:
    """Create ``<name><suffix>`` next to the database of ``base_url`` if missing; return its URL."""
    import psycopg

    head, name = base_url.rsplit("/", 1)
    bench_name = f"{name}{suffix}"
    with psycopg.connect(f"{head}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [bench_name]).fetchone():
            conn.execute(f'CREATE DATABASE "{bench_name}"')
    return f"{head}/{bench_name}"


def setup_django(db_url: str) -> None:
    """Point Django at the benchmark database and start it, without the query log of DEBUG."""
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "false"  # no query log in memory
    import django

    django.setup()
