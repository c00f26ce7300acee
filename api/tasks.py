"""Celery tasks of the API: stored idempotent responses expire."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from api.models import IdempotencyRecord

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


@shared_task(name="api.purge_idempotency", ignore_result=True, soft_time_limit=50, time_limit=60, expires=3600)
def purge_idempotency() -> None:
    """Beat, hourly: forget idempotent responses older than 24 h (a key may then be used afresh)."""
    IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()
