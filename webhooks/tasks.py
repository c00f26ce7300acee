"""Celery tasks of the webhooks: the sender (beat, every second, and kicked after each event commits)."""

from __future__ import annotations

from celery import shared_task

from webhooks.delivery import send_due


@shared_task(name="webhooks.deliver_due", ignore_result=True, soft_time_limit=50, time_limit=60, expires=5)
def deliver_due() -> None:
    """Send due deliveries. Concurrent runs share the work: each claims rows with SKIP LOCKED."""
    send_due()
