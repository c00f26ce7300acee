"""The do-not-call upload job's row (audit F15): an uploaded list is added by a worker, with progress.

Imported by ``campaigns.models`` (the app's model registry); kept apart to keep that module short.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from campaigns.choices import ImportStatus
from campaigns.jobs import FileJob


class DncUpload(FileJob):
    """One uploaded do-not-call list: QUEUED -> RUNNING -> COMPLETED or FAILED, with its counts."""

    campaign = models.ForeignKey("campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", help_text="Scope of the entries; empty means every campaign.")
    file = models.FileField(upload_to="dnc-uploads/%Y/%m/", blank=True)  # deleted once the job has run
    original_name = models.CharField(max_length=255, blank=True)
    default_region = models.CharField(max_length=2, default="US")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    lines_done = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    already = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    contacts_marked = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first refused lines: [line, value, reason].")

    class Meta(FileJob.Meta):
        constraints = [models.CheckConstraint(condition=Q(status__in=ImportStatus.values),
                                              name="dncupload_status_valid")]

    def __str__(self) -> str:
        return f"do-not-call upload {self.pk}"
