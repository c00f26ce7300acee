"""What every uploaded-file job row has: who started it, when it ran, and why it failed (contact imports and
do-not-call uploads)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FileJob(models.Model):
    """Abstract: the audit fields of a job that a worker runs on an uploaded file."""

    error = models.TextField(blank=True, help_text="Why the file could not be processed.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]
