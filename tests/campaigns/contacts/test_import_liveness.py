"""An import whose worker died does not stay ``running`` for ever (audit F19)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from campaigns.choices import ImportStatus
from campaigns.contacts.imports import import_contacts_file
from campaigns.contacts.imports.liveness import WORKER_LOST, fail_stale_imports
from campaigns.keys import IMPORT_RUN_LOCK_NAMESPACE
from campaigns.models import ImportJob
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _other_connection() -> psycopg.Connection:
    """A second database session, as another worker process would have."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def _running_job(minutes_ago: int) -> ImportJob:
    return ImportJob.objects.create(campaign=CampaignFactory(), file=ContentFile(b"phone\n", name="c.csv"),
                                    status=ImportStatus.RUNNING,
                                    started_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_a_running_import_without_its_worker_is_failed_with_the_reason() -> None:
    job = _running_job(minutes_ago=5)
    assert fail_stale_imports() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.error) == (ImportStatus.FAILED, WORKER_LOST)
    assert job.finished_at is not None


def test_a_running_import_whose_worker_holds_its_lock_is_left_alone() -> None:
    job = _running_job(minutes_ago=5)
    with _other_connection() as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job.pk])
        assert fail_stale_imports() == []
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING
    # and once that worker's session is gone, the job is failed
    assert fail_stale_imports() == [job.pk]


def test_a_just_claimed_import_is_left_alone() -> None:
    _running_job(minutes_ago=0)
    assert fail_stale_imports() == []


def test_the_worker_holds_the_run_lock_while_it_imports(tmp_path: Path) -> None:
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text("phone\n+12125550100\n+12125550101\n")
    seen: list[bool] = []

    def progress(done: int, total: int | None) -> None:
        job_id = ImportJob.objects.get().pk
        with _other_connection() as other:
            row = other.execute("SELECT pg_try_advisory_lock(%s, %s)", [IMPORT_RUN_LOCK_NAMESPACE, job_id]).fetchone()
            seen.append(bool(row and row[0]))

    job = import_contacts_file(CampaignFactory(), csv_path, progress=progress)
    assert job.status == ImportStatus.COMPLETED
    assert seen  # the import reported progress at least once
    assert not any(seen)  # another session could never take the lock: the run was seen as alive
