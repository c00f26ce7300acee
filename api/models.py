"""API keys, stored idempotent responses and the audit of writes made through the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiKey(models.Model):
    """A secret that authenticates a user or a service; its permissions are those of its groups.

    Only a SHA-256 digest of the secret is stored: the key is shown once when created. The digest needs no
    salt or slow hash because the secret is 32 random bytes (not guessable like a password).
    """

    name = models.CharField(max_length=100, help_text="What or who uses the key, e.g. 'CRM sync'.")
    # The first characters of the key, shown in lists so an operator can tell keys apart; also the lookup.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="api_keys", help_text="The person the key acts for (blank: a service).")
    groups = models.ManyToManyField(Group, blank=True, related_name="api_keys",
                                    help_text="The key may do what these groups may do.")
    rate_per_minute = models.PositiveIntegerField(default=600, help_text="Requests per minute, then 429.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Blank: never.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class IdempotencyRecord(models.Model):
    """The response to a POST made with an ``Idempotency-Key``, replayed when the same key comes again.

    The row is inserted in the same transaction as the POST's own changes, so a second request with the same
    key waits on the unique index until the first commits (then replays it) or rolls back (then runs itself).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class AuditEntry(models.Model):
    """One write made through the API: who (key and user), what (method, path, object), when, with what result."""

    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="audit_entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=255, blank=True)
    replayed = models.BooleanField(default=False, help_text="Answered from a stored idempotent response.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["api_key", "created_at"], name="audit_key_created_idx")]
        constraints = [models.CheckConstraint(condition=Q(status_code__gte=100), name="audit_status_code")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status_code}"
