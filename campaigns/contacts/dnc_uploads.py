"""Do-not-call uploads as a background job (audit F15): the request stores the file, a worker adds the numbers.

Before, the whole list was read and inserted inside the upload request: a large list held a web worker for
minutes and broke at the proxy's timeout half-way. Now the request stores the file and enqueues
``campaigns.run_dnc_import`` (the bulk queue); the job's page shows progress until the counts are final.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from campaigns.choices import ImportStatus
from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.dnc import DncImportResult, import_do_not_call_csv, read_dnc_numbers
from campaigns.models import Campaign, DncUpload
from campaigns.task_queue import send_dnc_upload

logger = logging.getLogger(__name__)
ERRORS_KEPT = 50  # refused lines kept on the job; the rest are counted


def create_dnc_upload(upload: File, *, campaign: Campaign | None, default_region: str, user: Any = None) -> DncUpload:
    """Store an uploaded list as a QUEUED job and enqueue its run once that commits.

    Raises:
        CsvFormatError: the file cannot be used (no phone column, not text): said at once, nothing stored.
    """
    name = Path(getattr(upload, "name", "") or "do-not-call.csv").name
    with transaction.atomic():
        job = DncUpload(campaign=campaign, original_name=name, default_region=default_region,
                        created_by=user if getattr(user, "pk", None) else None)
        job.file.save(name, upload, save=False)
        try:
            next(iter(read_dnc_numbers(Path(job.file.path))), None)  # the header decides; rows are the worker's
        except Exception:
            job.file.delete(save=False)  # a file that cannot be used is not kept
            raise
        job.save()
        transaction.on_commit(lambda: send_dnc_upload(job.pk))
    return job


def run_dnc_upload(job_id: int) -> DncUpload:
    """Add the job's numbers to the do-not-call list: QUEUED -> RUNNING -> COMPLETED or FAILED.

    A job not in QUEUED (another worker has it, or it finished) is returned unchanged. The file is deleted
    once it has been read: the entries are what is kept.
    """
    claimed = DncUpload.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=timezone.now())
    job = DncUpload.objects.select_related("campaign").get(pk=job_id)
    if not claimed:
        logger.info("dnc upload %s: not queued (%s), run ignored", job_id, job.status)
        return job

    def progress(lines: int, counts: DncImportResult) -> None:
        DncUpload.objects.filter(pk=job_id).update(lines_done=lines, added=counts.added, already=counts.already,
                                                    invalid=counts.invalid, contacts_marked=counts.contacts_marked)

    try:
        result = import_do_not_call_csv(Path(job.file.path), campaign=job.campaign,
                                        default_region=job.default_region, progress=progress)
    except (CsvFormatError, OSError) as exc:
        reason = str(exc) if isinstance(exc, CsvFormatError) else f"The file cannot be read ({type(exc).__name__})."
        DncUpload.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED, error=reason[:2000], finished_at=timezone.now())
    else:
        DncUpload.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
            status=ImportStatus.COMPLETED, added=result.added, already=result.already, invalid=result.invalid,
            contacts_marked=result.contacts_marked, errors=[list(e) for e in result.errors[:ERRORS_KEPT]],
            finished_at=timezone.now())
    finally:
        job.file.delete(save=False)
        DncUpload.objects.filter(pk=job_id).update(file="")
    return DncUpload.objects.get(pk=job_id)
