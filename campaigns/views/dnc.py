"""Admin page for uploading a do-not-call list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from campaigns.choices import IMPORT_FINISHED
from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.dnc_uploads import create_dnc_upload
from campaigns.forms import DoNotCallUploadForm
from campaigns.models import DncUpload, DoNotCall

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

# Errors listed on the result page; the rest are counted.
ERRORS_SHOWN = 50


@require_http_methods(["GET", "POST"])
def upload_do_not_call(request: HttpRequest, *, model_admin: ModelAdmin) -> HttpResponse:
    """Upload a CSV of numbers; a worker adds them (F15) and the job's page shows what was added and refused."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        form = DoNotCallUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = create_dnc_upload(form.cleaned_data["file"], campaign=form.cleaned_data["campaign"],
                                        default_region=form.cleaned_data["default_region"], user=request.user)
            except CsvFormatError as exc:
                form.add_error("file", str(exc))
            else:
                return HttpResponseRedirect(reverse("admin:campaigns_donotcall_upload_job", args=[job.pk]))
    else:
        form = DoNotCallUploadForm()
    return _page(request, model_admin, form=form)


@require_GET
def upload_job(request: HttpRequest, job_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """One upload's progress and result; the page reloads itself until the job has finished."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    job = get_object_or_404(DncUpload, pk=job_id)
    return _page(request, model_admin, form=DoNotCallUploadForm() if model_admin.has_add_permission(request) else None,
                 job=job)


def _page(request: HttpRequest, model_admin: ModelAdmin, *, form: Any, job: DncUpload | None = None) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": DoNotCall._meta,
        "title": "Upload a do-not-call list",
        "form": form,
        "job": job,
        "finished": job is not None and job.status in IMPORT_FINISHED,
        "errors_shown": job.errors[:ERRORS_SHOWN] if job else [],
        "errors_hidden": max(0, job.invalid - len(job.errors[:ERRORS_SHOWN])) if job else 0,
    }
    return TemplateResponse(request, "admin/campaigns/donotcall/upload.html", context)
