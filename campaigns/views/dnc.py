"""Admin page for uploading a do-not-call list."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.dnc import DncImportResult, import_do_not_call_csv
from campaigns.forms import DoNotCallUploadForm
from campaigns.models import DoNotCall

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.core.files.uploadedfile import UploadedFile

# Errors listed on the result page; the rest are counted.
ERRORS_SHOWN = 50


@require_http_methods(["GET", "POST"])
def upload_do_not_call(request: HttpRequest, *, model_admin: ModelAdmin) -> HttpResponse:
    """Upload a CSV of numbers; shows what was added and which lines were refused."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    result: DncImportResult | None = None
    if request.method == "POST":
        form = DoNotCallUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = _import_upload(form.cleaned_data["file"], form.cleaned_data["campaign"],
                                        form.cleaned_data["default_region"])
            except CsvFormatError as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(request, f"{result.added} number(s) added to the do-not-call list.")
    else:
        form = DoNotCallUploadForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": DoNotCall._meta,
        "title": "Upload a do-not-call list",
        "form": form,
        "result": result,
        "errors_shown": result.errors[:ERRORS_SHOWN] if result else [],
        "errors_hidden": max(0, len(result.errors) - ERRORS_SHOWN) if result else 0,
    }
    return TemplateResponse(request, "admin/campaigns/donotcall/upload.html", context)


def _import_upload(upload: UploadedFile, campaign: object, region: str) -> DncImportResult:
    # The service reads a path; small uploads live in memory, so spool them to a temporary file.
    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return import_do_not_call_csv(Path(handle.name), campaign=campaign, default_region=region)  # type: ignore[arg-type]
