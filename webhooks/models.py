"""Webhook endpoints, the outbox of events, and one delivery row per event and endpoint (the delivery log)."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    """The event catalogue (docs/api.md shows an example of each)."""

    ATTEMPT_ANSWERED = "attempt.answered", "A call was answered"
    ATTEMPT_ENDED = "attempt.ended", "A call attempt ended"
    CONTACT_OPTED_OUT = "contact.opted_out", "A person asked not to be called"
    CONTACT_COMPLETED = "contact.completed", "A contact reached a final result"
    CAMPAIGN_COMPLETED = "campaign.completed", "A campaign has nothing left to dial"
    IMPORT_FINISHED = "import.finished", "A contact import finished"


class DeliveryStatus(models.TextChoices):
    """Where one delivery of one event to one endpoint stands."""

    PENDING = "pending", "Pending"  # due at next_attempt_at
    DELIVERED = "delivered", "Delivered"  # the endpoint answered 2xx
    FAILED = "failed", "Failed"  # retries exhausted (at least WEBHOOK_RETRY_HORIZON_S after the first try)
    CANCELLED = "cancelled", "Cancelled"  # the endpoint was disabled or deleted before it got through


class WebhookEndpoint(models.Model):
    """A URL that receives signed events: every campaign's, or one campaign's."""

    url = models.URLField(max_length=500, help_text="https:// (http:// only to loopback in development).")
    description = models.CharField(max_length=200, blank=True)
    campaign = models.ForeignKey("campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="webhook_endpoints", help_text="Blank: events of every campaign.")
    events = ArrayField(models.CharField(max_length=40, choices=EventType.choices), default=list, blank=True,
                        help_text="Blank: every event type.")
    # Two secrets: deliveries are signed with both while a rotation is under way (the receiver accepts either).
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str, campaign_id: int | None) -> bool:
        """Whether this endpoint subscribes to ``event_type`` of ``campaign_id``."""
        return (self.enabled and (not self.events or event_type in self.events)
                and (self.campaign_id is None or self.campaign_id == campaign_id))


class WebhookEvent(models.Model):
    """The outbox: one row per event, written in the same transaction as the change it reports."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                                help_text="Receivers de-duplicate on this.")
    type = models.CharField(max_length=40, choices=EventType.choices)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    # The attempt (or other object) the event is about: deliveries of one subject go out in order.
    subject = models.CharField(max_length=60, blank=True)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)  # decimals and datetimes as strings
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["type", "created_at"], name="webhook_event_type_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: its attempts so far, the last answer, and when it is due again."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    tries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sender's queue: due pending deliveries.
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=Q(status="pending")),
            models.Index(fields=["endpoint", "status"], name="webhook_delivery_endpoint_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id} ({self.status})"
