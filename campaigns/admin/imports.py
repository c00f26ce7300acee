"""Contact import jobs in the admin: the upload, preview, progress and error report pages."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns.choices import IMPORT_FINISHED, ImportStatus
from campaigns.models import ImportJob
from campaigns.views import imports as import_views


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Contact imports: created by "Upload contacts" on a campaign, then read-only with live progress."""

    # File and campaign in one column, status with its progress: the counts stay on screen at 1440 px.
    list_display = ["upload", "created_at", "status_progress", "imported", "duplicates", "invalid", "dnc",
                    "error_report_link"]
    list_display_links = None  # the file name links to the job page itself
    list_filter = ["status", "campaign"]
    search_fields = ["original_name", "campaign__name"]
    list_select_related = ["campaign", "created_by"]
    change_form_template = "admin/campaigns/importjob/change_form.html"
    # Status, progress, counts and the report link are in the panel above the fields (its template),
    # which updates itself while the import runs.
    fieldsets = [
        (None, {"fields": ["campaign", "original_name", "created_by", "created_at", "started_at", "finished_at"]}),
        ("Columns", {"fields": ["default_region", "mapping_view"]}),
    ]
    readonly_fields = ["mapping_view"]

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        urls = [
            path("<int:job_id>/preview/", wrap(partial(import_views.import_preview, model_admin=self)),
                 name="campaigns_importjob_preview"),
            path("<int:job_id>/progress/", wrap(partial(import_views.import_progress, model_admin=self)),
                 name="campaigns_importjob_progress"),
            path("<int:job_id>/errors/", wrap(partial(import_views.import_error_report, model_admin=self)),
                 name="campaigns_importjob_errors"),
        ]
        return urls + super().get_urls()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # an import starts from its campaign's "Upload contacts"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the worker owns the counts

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        job = self.get_object(request, object_id)
        if job is not None:
            context.update(import_views.progress_context(job))
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.display(description="File", ordering="-created_at")
    def upload(self, obj: ImportJob) -> SafeString:
        url = reverse("admin:campaigns_importjob_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a><br><span class="console-muted">into {}{}</span>', url,
                           obj.original_name or f"import {obj.pk}", obj.campaign,
                           f" by {obj.created_by}" if obj.created_by else "")

    @admin.display(description="Status", ordering="status")
    def status_progress(self, obj: ImportJob) -> str:
        progress = self.progress(obj)
        return obj.get_status_display() + ("" if progress == "-" else f" \u00b7 {progress}")

    @admin.display(description="Progress")
    def progress(self, obj: ImportJob) -> str:
        if obj.rows_total:
            return f"{obj.rows_done} / {obj.rows_total} rows"
        return f"{obj.rows_done} rows" if obj.status != ImportStatus.PREVIEW else "-"

    @admin.display(description="Error report")
    def error_report_link(self, obj: ImportJob) -> SafeString | str:
        if obj.error_report:
            url = reverse("admin:campaigns_importjob_errors", args=[obj.pk])
            return format_html('<a href="{}">Download (CSV)</a>', url)
        return "no errors" if obj.status in IMPORT_FINISHED else "-"

    @admin.display(description="Column mapping")
    def mapping_view(self, obj: ImportJob) -> SafeString | str:
        roles = import_views.mapping_roles(obj.mapping or {})
        if not roles:
            return "-"
        return format_html_join("", "<div><code>{}</code> &rarr; {}</div>", roles)
