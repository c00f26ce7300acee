"""The sensitive-data permissions and the export log (audit F4)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SensitiveData(models.Model):
    """Holds no rows: it carries the permissions on personal data beyond a model's own view permission.

    Seeing a campaign's report (``campaigns.view_campaign``) shows aggregate figures only. A transcript is the
    conversation itself (``access.read_transcript``); a contacts export is the whole list leaving the system
    (``access.export_contacts``). Listening needs ``campaigns.listen_recording``; an attempt's details (number,
    name, SIP result) need ``campaigns.view_callattempt``.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("read_transcript", "Can read call transcripts"),
            ("export_contacts", "Can export contacts and their outcomes"),
        ]
        verbose_name = "sensitive data"
        verbose_name_plural = "sensitive data"

    def __str__(self) -> str:
        return "sensitive data"


class ExportKind(models.TextChoices):
    """What was exported."""

    CONTACTS_CSV = "contacts_csv", "Campaign contacts (CSV)"  # every contact of a campaign with its outcome
    IMPORT_ERRORS = "import_errors", "Import error report (CSV)"  # rejected rows of an import, raw values


class ExportRecord(models.Model):
    """One export of personal data: who, when, what. Kept; nobody may change or delete it from the admin."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)  # kept when the user is deleted
    kind = models.CharField(max_length=32, choices=ExportKind.choices)
    object_id = models.BigIntegerField()  # the campaign's or the import job's id
    description = models.CharField(max_length=300)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(kind__in=ExportKind.values),
                                              name="exportrecord_kind_valid")]

    def __str__(self) -> str:
        return f"{self.username} exported {self.get_kind_display()} #{self.object_id} at {self.created_at:%Y-%m-%d}"
