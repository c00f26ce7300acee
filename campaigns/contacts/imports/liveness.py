"""Whether an import's worker is still alive (audit F19): a RUNNING job never outlives its worker.

The worker running an import holds a session-level advisory lock on the job for the whole run. PostgreSQL releases
it when the worker's connection ends, however the worker ended (crash, SIGKILL, time limit, host loss). The beat
task then finds RUNNING jobs whose lock it can take and fails them with a reason the operator can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from campaigns.choices import ImportStatus
from campaigns.keys import IMPORT_RUN_LOCK_NAMESPACE
from campaigns.models import ImportJob

logger = logging.getLogger(__name__)

# A job claimed this recently may not have taken its lock yet (claim and lock are two statements).
STALE_AFTER = timedelta(seconds=60)
WORKER_LOST = "The worker running this import stopped before it finished; upload the file again."


@contextmanager
def run_lock(job_id: int) -> Iterator[None]:
    """Hold the job's run lock on this connection while the import runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job_id])


def fail_stale_imports() -> list[int]:
    """Fail every RUNNING import whose worker is gone (its run lock is free). Returns their ids."""
    failed = []
    cutoff = timezone.now() - STALE_AFTER
    for job_id in ImportJob.objects.filter(status=ImportStatus.RUNNING, started_at__lt=cutoff).values_list(
            "pk", flat=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job_id])
            free = cursor.fetchone()[0]
        if not free:
            continue  # its worker holds the lock: alive
        try:
            # Conditional: a job that finished meanwhile keeps its result.
            if ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
                    status=ImportStatus.FAILED, error=WORKER_LOST, finished_at=timezone.now()):
                logger.warning("import %s: worker lost, marked failed", job_id)
                failed.append(job_id)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job_id])
    return failed
