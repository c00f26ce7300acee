"""The beat schedule names real tasks, and the task wrappers call their services."""

from __future__ import annotations

from django.conf import settings

from config.celery_app import app


def test_every_beat_entry_names_a_registered_task() -> None:
    app.loader.import_default_modules()  # what a worker does at start: autodiscovered task modules
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
    assert {"campaigns.dispatch_tick", "campaigns.refresh_report_rollups"} <= scheduled


def test_the_dispatcher_ticks_faster_than_a_second_so_calls_per_second_are_paced() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["dispatch-tick"]
    assert entry["schedule"] == settings.DIALER_TICK_S <= 0.5
