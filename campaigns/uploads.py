"""Upload size limits (audit F15): a file over its limit is refused while it streams in, not after.

``UploadSizeLimitHandler`` (first of ``FILE_UPLOAD_HANDLERS``) stops reading a request whose files exceed
``UPLOAD_MAX_BYTES``: the rest of the body is never written to disk, so one request cannot fill the disk. The
forms then check each kind's own limit (``CONTACT_UPLOAD_MAX_BYTES``, ``DNC_UPLOAD_MAX_BYTES``) with a message.
A reverse proxy in front should cap the body as well (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class UploadSizeLimitHandler(FileUploadHandler):
    """Aborts the upload once the files of one request pass ``UPLOAD_MAX_BYTES``."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            # connection_reset: stop reading the body at once instead of draining gigabytes first.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def max_size(setting: str) -> Any:
    """A form validator: the file is at most ``settings.<setting>`` bytes."""

    def validate(upload: Any) -> None:
        limit = int(getattr(settings, setting))
        if upload.size is not None and upload.size > limit:
            raise ValidationError(f"The file is larger than {limit // 1_000_000} MB; split it or ask an administrator.")

    return validate
