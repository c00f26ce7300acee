"""State changes of the access app: recording an export."""

from __future__ import annotations

from django.http import HttpRequest

from access.models import ExportKind, ExportRecord


def record_export(request: HttpRequest, kind: ExportKind, object_id: int, description: str) -> ExportRecord:
    """Log one export of personal data (who, when, what), before the file is sent.

    Written before the response streams, so an export that is cut off half-way is still on record.
    """
    user = request.user
    return ExportRecord.objects.create(
        user=user if user.is_authenticated else None, username=user.get_username()[:150], kind=kind,
        object_id=object_id, description=description[:300], remote_addr=request.META.get("REMOTE_ADDR") or None)
