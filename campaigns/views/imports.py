"""Admin pages of a contact import: upload, preview and confirm, live progress, the error report.

Flow: a campaign's "Upload contacts" -> :func:`upload_contacts` stores the file (status preview) ->
:func:`import_preview` shows the detected columns and the first rows -> confirm queues the Celery task
-> the import job's page polls :func:`import_progress` until the worker finishes -> the counts and a
link to :func:`import_error_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from access.models import ExportKind
from access.services import record_export
from campaigns.choices import CAMPAIGN_FINISHED, IMPORT_FINISHED, ImportStatus
from campaigns.contacts import imports as contact_import
from campaigns.contacts.csv_input import normalize_header
from campaigns.forms import ContactUploadForm
from campaigns.models import Campaign, ImportJob

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

# How often the import job page asks for progress.
PROGRESS_POLL_MS = 1000


def closed_campaign_message(campaign: Campaign) -> str:
    """Why contacts cannot go into a cancelled or completed campaign (D9: it was allowed silently), or ""."""
    if campaign.status not in CAMPAIGN_FINISHED:
        return ""
    return (f"Campaign \u201c{campaign}\u201d is {campaign.get_status_display().lower()}: contacts imported into "
            "it would never be called. Create a new campaign (or upload into a draft, running or paused one).")


def mapping_roles(mapping: dict[str, Any]) -> list[tuple[str, str]]:
    """``(CSV header, what it becomes)`` for each mapped column, in a stable order."""
    roles: list[tuple[str, str]] = []
    name_parts = bool(mapping.get("name_last"))
    for key, label in (("phone", "phone number"), ("name", "name (first part)" if name_parts else "name"),
                       ("name_last", "name (last part)"), ("time_zone", "time zone"), ("priority", "priority")):
        if mapping.get(key):
            roles.append((str(mapping[key]), label))
    # Variables are named by the normalised header ("Renewal date" -> {{renewal_date}}), as stored.
    roles.extend((str(header), "{{" + normalize_header(str(header)) + "}}")
                 for header in mapping.get("variables") or [])
    return roles


@require_http_methods(["GET", "POST"])
def upload_contacts(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """Step one: choose a CSV for a campaign. A file that cannot be used is refused on the page."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    closed = closed_campaign_message(campaign)
    if request.method == "POST":
        form = ContactUploadForm(request.POST, request.FILES)
        if closed:
            form.add_error(None, closed)
        elif form.is_valid():
            try:
                job = contact_import.create_import_job(
                    campaign, form.cleaned_data["file"], default_region=form.cleaned_data["default_region"],
                    user=request.user,
                )
            except contact_import.CsvFormatError as exc:
                form.add_error("file", str(exc))
            else:
                return HttpResponseRedirect(reverse("admin:campaigns_importjob_preview", args=[job.pk]))
    else:
        form = ContactUploadForm(initial={"default_region": campaign.default_region})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "original": campaign,
        "title": f"Upload contacts into {campaign}",
        "form": form,
        "closed_warning": closed,
        "recent_imports": campaign.imports.select_related("created_by")[:5],
    }
    return TemplateResponse(request, "admin/campaigns/import_upload.html", context)


@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, job_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """Step two: the detected mapping and the first rows; confirm queues the import, discard drops it."""
    job = get_object_or_404(ImportJob.objects.select_related("campaign"), pk=job_id)
    if not model_admin.has_view_permission(request, job):
        raise PermissionDenied
    job_url = reverse("admin:campaigns_importjob_change", args=[job.pk])
    if job.status != ImportStatus.PREVIEW:
        return HttpResponseRedirect(job_url)
    if request.method == "POST":
        if not _may_import(request, job):
            raise PermissionDenied
        if "discard" in request.POST:
            _discard_preview(job)
            messages.info(request, "The upload was discarded; nothing was imported.")
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[job.campaign_id]))
        closed = closed_campaign_message(job.campaign)
        if closed:
            # The campaign was cancelled or completed after the upload: importing now would be lost work.
            messages.error(request, closed)
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[job.campaign_id]))
        contact_import.confirm_import_job(job.pk)
        messages.success(request, "Import queued. This page shows its progress.")
        return HttpResponseRedirect(job_url)

    preview: contact_import.ImportPreview | None = None
    error = ""
    try:
        preview = contact_import.preview_csv(Path(job.file.path), job.default_region)
    except (contact_import.CsvFormatError, OSError) as exc:
        error = str(exc)
    mapping = job.mapping or (preview.mapping if preview else {})
    headers = preview.headers if preview else []
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": ImportJob._meta,
        "job": job,
        "campaign": job.campaign,
        "title": f"Check the columns of {job.original_name or 'the file'}",
        "preview": preview,
        "error": error,
        "roles": mapping_roles(mapping),
        "headers": headers,
        "header_roles": [dict(mapping_roles(mapping)).get(h, "ignored") for h in headers],
        "rows": [[row.get(h, "") for h in headers] for row in (preview.rows if preview else [])],
        "may_import": _may_import(request, job),
    }
    return TemplateResponse(request, "admin/campaigns/import_preview.html", context)


@require_GET
def import_progress(request: HttpRequest, job_id: int, *, model_admin: ModelAdmin) -> JsonResponse:
    """The job's progress as JSON, polled by its admin page."""
    job = get_object_or_404(ImportJob, pk=job_id)
    if not model_admin.has_view_permission(request, job):
        raise PermissionDenied
    return JsonResponse(progress_payload(job))


@require_GET
def import_error_report(request: HttpRequest, job_id: int, *, model_admin: ModelAdmin) -> FileResponse:
    """Download the per-row error report (CSV: line, raw value, reason)."""
    job = get_object_or_404(ImportJob, pk=job_id)
    # F4: the rejected rows are raw contact data leaving the system: an export, with its permission and log.
    if not model_admin.has_view_permission(request, job) or not request.user.has_perm("access.export_contacts"):
        raise PermissionDenied
    if not job.error_report:
        raise Http404("This import has no error report.")
    try:
        handle = job.error_report.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The error report file is missing.") from exc
    record_export(request, ExportKind.IMPORT_ERRORS, job.pk, f"error report of import {job.pk}")
    return FileResponse(handle, as_attachment=True, filename=f"import-{job.pk}-errors.csv",
                        content_type="text/csv")


def progress_payload(job: ImportJob) -> dict[str, Any]:
    """What the progress endpoint returns and the page starts from."""
    total = job.rows_total
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.status in IMPORT_FINISHED,
        "rows_done": job.rows_done,
        "rows_total": total,
        "percent": round(100 * job.rows_done / total) if total else None,
        "imported": job.imported,
        "duplicates": job.duplicates,
        "invalid": job.invalid,
        "dnc": job.dnc,
        "error": job.error,
    }


def progress_context(job: ImportJob) -> dict[str, Any]:
    """Template context for the progress panel on the import job page."""
    return {
        "progress": progress_payload(job),
        "progress_url": reverse("admin:campaigns_importjob_progress", args=[job.pk]),
        "preview_url": reverse("admin:campaigns_importjob_preview", args=[job.pk]),
        "progress_poll_ms": PROGRESS_POLL_MS,
    }


def _may_import(request: HttpRequest, job: ImportJob) -> bool:
    return request.user.has_perm("campaigns.change_campaign")


def _discard_preview(job: ImportJob) -> None:
    # Conditional: a job that was confirmed meanwhile (another tab) is not deleted.
    deleted, _ = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PREVIEW).delete()
    if deleted:
        job.file.delete(save=False)
