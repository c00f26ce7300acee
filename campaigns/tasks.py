"""Celery tasks: thin wrappers that take ids, re-read the world and call one service."""

from __future__ import annotations

from celery import shared_task

from campaigns.contacts.dnc_uploads import run_dnc_upload
from campaigns.contacts.imports import run_import_job
from campaigns.contacts.imports.liveness import fail_stale_imports as fail_stale
from campaigns.dialer.claim import park_contacts_outside_window, run_dispatch_tick
from campaigns.dialer.handoff import originate_attempt
from campaigns.dialer.reaper import reap_stuck_attempts
from campaigns.reports.rollups import refresh_report_rollups as refresh
from campaigns.retention import purge_expired_files as purge
from campaigns.services import complete_finished_campaigns

# ---------------------------------------------------------------------------------------------------------
# Dialer. No ETA/countdown anywhere: times live in Postgres (next_attempt_at, lease_expires_at) and the
# beat ticks pick them up.


@shared_task(name="campaigns.dispatch_tick", ignore_result=True, soft_time_limit=10, time_limit=15, expires=1)
def dispatch_tick() -> None:
    """Beat, every DIALER_TICK_S (0.25 s): claim due contacts of running campaigns and enqueue their originates."""
    run_dispatch_tick()


@shared_task(name="campaigns.dialer.handoff", ignore_result=True, acks_late=True, soft_time_limit=10, time_limit=15)
def originate(attempt_id: int) -> None:
    """Hand one queued attempt to a user agent. Idempotent by the attempt row, hence ``acks_late``."""
    originate_attempt(attempt_id)


@shared_task(name="campaigns.park_contacts", ignore_result=True, soft_time_limit=50, time_limit=60, expires=10)
def park_contacts() -> None:
    """Beat, every 10 s: move due contacts outside their calling window to their next window opening."""
    park_contacts_outside_window()


@shared_task(name="campaigns.reap_attempts", ignore_result=True, soft_time_limit=50, time_limit=60, expires=10)
def reap_attempts() -> None:
    """Beat, every 10 s: resolve attempts whose lease expired; complete campaigns with nothing left."""
    reap_stuck_attempts()
    complete_finished_campaigns()


@shared_task(name="campaigns.refresh_report_rollups", ignore_result=True, soft_time_limit=240, time_limit=300,
             expires=60)
def refresh_report_rollups() -> None:
    """Beat, every 60 s: move the report rollups of active and recently finished campaigns forward."""
    refresh()


# ---------------------------------------------------------------------------------------------------------
# Contact import.


@shared_task(name="campaigns.run_import", ignore_result=True, soft_time_limit=3500, time_limit=3600)
def run_import(job_id: int) -> None:
    """Import a confirmed contact file. Runs once per job: the QUEUED -> RUNNING update is the guard."""
    run_import_job(job_id)


@shared_task(name="campaigns.fail_stale_imports", ignore_result=True, soft_time_limit=50, time_limit=60, expires=60)
def fail_stale_imports() -> None:
    """Beat, every 60 s: fail imports whose worker died (F19), so none stays ``running`` for ever."""
    fail_stale()


@shared_task(name="campaigns.purge_expired_files", ignore_result=True, soft_time_limit=240, time_limit=300,
             expires=3600)
def purge_expired_files() -> None:
    """Beat, hourly: delete uploads, error reports and recordings past their retention (F14)."""
    purge()


@shared_task(name="campaigns.run_dnc_import", ignore_result=True, soft_time_limit=1700, time_limit=1800)
def run_dnc_import(job_id: int) -> None:
    """Add an uploaded do-not-call list (F15). Runs once per job: the QUEUED -> RUNNING update is the guard."""
    run_dnc_upload(job_id)
