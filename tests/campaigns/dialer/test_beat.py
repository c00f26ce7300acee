"""The beat schedule names real tasks, and the task wrappers call their services."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
import time_machine
from django.conf import settings

from campaigns import tasks
from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.models import CallAttempt, Contact, ReportRollup
from config.celery_app import app
from tests.campaigns.dialer_setup import MIDDAY, NY, contacts, live_ua, running_campaign


def test_every_beat_entry_names_a_registered_task() -> None:
    app.loader.import_default_modules()  # what a worker does at start: autodiscovered task modules
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
    assert {"campaigns.dispatch_tick", "campaigns.refresh_report_rollups"} <= scheduled


def test_the_dispatcher_ticks_faster_than_a_second_so_calls_per_second_are_paced() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["dispatch-tick"]
    assert entry["schedule"] == settings.DIALER_TICK_S <= 0.5


@pytest.mark.django_db(transaction=True)
def test_each_task_wrapper_runs_its_service_against_the_real_database_and_redis(redis_client: redis.Redis) -> None:
    # given a running campaign with one due contact, a live UA, and an attempt whose lease ran out
    live_ua(redis_client, "ua-beat")
    campaign = running_campaign()
    due, stuck_owner = contacts(campaign, 2, zones=[NY])
    Contact.objects.filter(pk=stuck_owner.pk).update(status=ContactStatus.IN_PROGRESS)
    stuck = CallAttempt.objects.create(campaign=campaign, contact=stuck_owner, trunk=campaign.trunk,
                                       lease_expires_at=MIDDAY - dt.timedelta(seconds=1))
    with time_machine.travel(MIDDAY, tick=False):
        # when each beat task body runs, as a worker runs it
        tasks.reap_attempts()
        tasks.dispatch_tick()
        tasks.park_contacts()
        tasks.refresh_report_rollups()
    # then the reaper ended the stuck attempt, and the dispatcher claimed the due contact
    stuck.refresh_from_db()
    assert stuck.state == AttemptState.ENDED
    assert stuck.disposition == Disposition.FAILED_UNKNOWN
    claimed = CallAttempt.objects.filter(contact=due).exclude(pk=stuck.pk)
    assert claimed.count() == 1
    assert claimed.get().state == AttemptState.QUEUED
    assert ReportRollup.objects.filter(campaign=campaign).exists()
