"""Admin of the compliance records. Evidence, history and registry downloads are read-only and cannot be deleted
(TSR record keeping: five years); consent can be revoked, not deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from compliance.evidence import export_evidence_csv
from compliance.models import (
    CampaignCompliance,
    CampaignHistory,
    CompanyRule,
    ConsentRecord,
    DialEvidence,
    NationalDncList,
    ReassignedNumberResult,
)
from compliance.services import revoke_consent


class _RecordAdmin(admin.ModelAdmin):
    """Records that prove compliance: viewable, never edited or deleted from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DialEvidence)
class DialEvidenceAdmin(_RecordAdmin):
    """Why each attempt was allowed to dial; export per number for a dispute."""

    list_display = ("attempt_id", "phone_e164", "campaign_name", "decided_at", "local_time", "allowed_by")
    search_fields = ("=phone_e164", "=attempt_id")
    date_hierarchy = "decided_at"
    actions = ["export_csv", "export_pdf"]

    def has_export_permission(self, request: HttpRequest) -> bool:
        """Evidence names numbers and the consent relied on: its export is an export of personal data (F4)."""
        return self.has_view_permission(request) and request.user.has_perm("access.export_contacts")

    @admin.action(description="Export the evidence of the selected numbers (CSV)", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[DialEvidence]) -> HttpResponse:
        """Every record of every selected number, one CSV."""
        phones = sorted(set(queryset.values_list("phone_e164", flat=True)))
        parts = [export_evidence_csv(p) for p in phones]
        body = parts[0] + "".join(p.split("\r\n", 1)[1] for p in parts[1:]) if parts else ""
        response = HttpResponse(body, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="evidence-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response

    @admin.action(description="Export the evidence of the selected number (PDF)", permissions=["export"])
    def export_pdf(self, request: HttpRequest, queryset: QuerySet[DialEvidence]) -> HttpResponse | None:
        """Every record of one selected number, as a PDF."""
        phones = sorted(set(queryset.values_list("phone_e164", flat=True)))
        if len(phones) != 1:
            self.message_user(request, "Select the records of one number for a PDF.")
            return None
        # Imported here: fpdf and its fonts cost every process that loads the admin about 20 MB.
        from compliance.evidence_pdf import export_evidence_pdf

        response = HttpResponse(export_evidence_pdf(phones[0]), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="evidence-{phones[0][1:]}.pdf"'
        return response


@admin.register(CampaignHistory)
class CampaignHistoryAdmin(_RecordAdmin):
    """What the engine did to campaigns on its own (the abandonment governor), with the reasons."""

    list_display = ("campaign", "at", "action", "rate", "reason")
    list_filter = ("action",)


@admin.register(NationalDncList)
class NationalDncListAdmin(_RecordAdmin):
    """National Do Not Call Registry downloads (imported with ``manage.py import_national_dnc``)."""

    list_display = ("downloaded_at", "registry", "numbers", "file_name", "imported_at")


@admin.register(ReassignedNumberResult)
class ReassignedNumberResultAdmin(_RecordAdmin):
    """Reassigned Numbers Database answers."""

    list_display = ("phone_e164", "date_asked", "result", "queried_at")
    search_fields = ("=phone_e164",)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    """Consent records: added or revoked, never deleted."""

    list_display = ("phone_e164", "kind", "source", "obtained_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("=phone_e164",)
    readonly_fields = ("revoked_at", "created_at")
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke consent of the selected numbers", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ConsentRecord]) -> None:
        """Revoke every consent of the selected records' numbers."""
        count = sum(revoke_consent(p) for p in set(queryset.values_list("phone_e164", flat=True)))
        self.message_user(request, f"{count} consent record(s) revoked.")


admin.site.register(CompanyRule)
admin.site.register(CampaignCompliance)
