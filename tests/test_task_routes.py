"""Bulk work has its own queue (audit F10): the dial path never waits behind an import."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from campaigns import task_queue
from config.celery_app import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("task", "queue"), [
    ("campaigns.run_import", "bulk"), ("campaigns.refresh_report_rollups", "bulk"),
    ("campaigns.purge_expired_files", "bulk"), ("campaigns.run_dnc_import", "bulk"),
    ("campaigns.fail_stale_imports", "bulk"),
    ("campaigns.dialer.handoff", "celery"), ("campaigns.dispatch_tick", "celery"),
    ("campaigns.reap_attempts", "celery"), ("campaigns.park_contacts", "celery")])
def test_each_task_goes_to_its_queue(task: str, queue: str) -> None:
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_an_import_waits_on_the_bulk_queue_and_an_originate_on_the_dial_queue(redis_client: redis.Redis) -> None:
    task_queue.send_import(1)
    task_queue.send_originates([2])
    assert redis_client.llen("bulk") == 1
    assert redis_client.llen("celery") == 1


def test_the_procfile_runs_one_worker_per_queue() -> None:
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)
    assert " -Q celery " in lines["worker"]
    assert " -Q bulk " in lines["bulk"]
