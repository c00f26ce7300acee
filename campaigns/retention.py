"""How long files are kept (audit F14): uploads, error reports and recordings expire; deleted rows take their files.

Retention (days, 0 = for ever): ``RETENTION_UPLOAD_DAYS`` for uploaded contact CSVs of finished imports,
``RETENTION_ERROR_REPORT_DAYS`` for their error reports, ``RETENTION_RECORDING_DAYS`` for call recordings (by the
attempt's end). The beat task ``campaigns.purge_expired_files`` deletes the files and clears the reference; the
rows stay (counts, outcomes, the call ledger). Deleting an import job deletes its files (a ``post_delete``
receiver), so no file outlives its row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from campaigns.choices import IMPORT_FINISHED
from campaigns.models import CallAttempt, DncUpload, ImportJob

logger = logging.getLogger(__name__)
BATCH = 500


@dataclass
class Purged:
    """How many files of each kind were deleted."""

    uploads: int = 0
    error_reports: int = 0
    recordings: int = 0


def purge_expired_files() -> Purged:
    """Delete every file older than its retention and clear its reference on the row."""
    purged = Purged()
    now = timezone.now()
    if settings.RETENTION_UPLOAD_DAYS:
        cutoff = now - timedelta(days=settings.RETENTION_UPLOAD_DAYS)
        purged.uploads = _purge_job_files("file", cutoff) + _purge_dnc_uploads(cutoff)
    if settings.RETENTION_ERROR_REPORT_DAYS:
        purged.error_reports = _purge_job_files(
            "error_report", now - timedelta(days=settings.RETENTION_ERROR_REPORT_DAYS))
    if settings.RETENTION_RECORDING_DAYS:
        purged.recordings = _purge_recordings(now - timedelta(days=settings.RETENTION_RECORDING_DAYS))
    if purged.uploads or purged.error_reports or purged.recordings:
        logger.info("retention: deleted %s upload(s), %s error report(s), %s recording(s)",
                    purged.uploads, purged.error_reports, purged.recordings)
    return purged


def _purge_job_files(field: str, cutoff: Any) -> int:
    jobs = (ImportJob.objects.filter(status__in=sorted(IMPORT_FINISHED), finished_at__lt=cutoff)
            .exclude(**{field: ""}).only("id", field)[:BATCH])
    count = 0
    for job in jobs:
        getattr(job, field).delete(save=False)  # the storage's file; a missing one is not an error
        ImportJob.objects.filter(pk=job.pk).update(**{field: ""})
        count += 1
    return count


def _purge_dnc_uploads(cutoff: Any) -> int:
    # A do-not-call list is deleted once read; one is left only when its job never ran to the end.
    count = 0
    for job in DncUpload.objects.filter(created_at__lt=cutoff).exclude(file="").only("id", "file")[:BATCH]:
        job.file.delete(save=False)
        DncUpload.objects.filter(pk=job.pk).update(file="")
        count += 1
    return count


def _purge_recordings(cutoff: Any) -> int:
    from campaigns.views.reports import recording_path  # the one resolver that keeps paths under the root

    attempts = (CallAttempt.objects.filter(ended_at__lt=cutoff).exclude(recording="")
                .values_list("id", "recording")[:BATCH])
    count = 0
    for attempt_id, relative in attempts:
        path = recording_path(relative)
        if path is not None:
            path.unlink(missing_ok=True)
        # The ledger row stays; only the reference to the deleted file goes.
        CallAttempt.objects.filter(pk=attempt_id, recording=relative).update(recording="")
        count += 1
    return count


@receiver(post_delete, sender=ImportJob, dispatch_uid="campaigns.retention.import_job_files")
def _delete_job_files(sender: type[ImportJob], instance: ImportJob, **kwargs: Any) -> None:
    # On commit: a delete that rolls back must not leave a row without its files.
    files = [field for field in (instance.file, instance.error_report) if field]
    transaction.on_commit(lambda: [field.delete(save=False) for field in files])
