"""Enqueueing Celery tasks by name, so services never import the tasks module (which imports the services).

Call these after commit (`transaction.on_commit`): a task must never see a row its sender rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence

from config.celery_app import app

ORIGINATE = "campaigns.dialer.handoff"
RUN_IMPORT = "campaigns.run_import"
RUN_DNC_IMPORT = "campaigns.run_dnc_import"


def send_originates(attempt_ids: Sequence[int]) -> None:
    """One ``campaigns.dialer.handoff(attempt_id)`` task per attempt."""
    for attempt_id in attempt_ids:
        app.send_task(ORIGINATE, args=(attempt_id,))


def send_import(job_id: int) -> None:
    """The ``campaigns.run_import(job_id)`` task."""
    app.send_task(RUN_IMPORT, args=(job_id,))


def send_dnc_upload(job_id: int) -> None:
    """The ``campaigns.run_dnc_import(job_id)`` task (the bulk queue)."""
    app.send_task(RUN_DNC_IMPORT, args=(job_id,))
