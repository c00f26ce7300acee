"""The operator's interface: agents, campaigns, contacts, call attempts, imports and the do-not-call list.

List pages select their related rows up front (``list_select_related`` and annotations) so the number of
queries does not grow with the rows on the page; tests/campaigns/admin/test_admin_queries.py holds them to it.
Lists fit at 1440 px with the navigation sidebar open; the campaign column shows only when no campaign is
filtered on.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns.admin.search import PhoneSearchMixin
from campaigns.models import AgentProfile, CallAttempt
from campaigns.views import reports as report_views


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "model", "voice", "max_call_s", "campaign_count", "created_at"]
    list_filter = ["provider"]
    search_fields = ["name", "model"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "model", "voice", "url", "api_key_env"]}),
        ("Script", {"fields": ["prompt_template", "greeting", "fallback_message", "max_call_s"]}),
        ("Outcomes", {"fields": ["outcome_schema"]}),
    ]

    class Media:
        js = ["campaigns/outcome_editor.js"]  # the outcome schema as rows instead of raw JSON

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentProfile]:
        return super().get_queryset(request).annotate(campaign_total=Count("campaigns"))

    @admin.display(description="Campaigns", ordering="campaign_total")
    def campaign_count(self, obj: AgentProfile) -> int:
        return obj.campaign_total  # type: ignore[attr-defined]


@admin.register(CallAttempt)
class CallAttemptAdmin(PhoneSearchMixin, admin.ModelAdmin):
    """Every dial, read-only: the dialer owns these rows."""

    phone_search_field = "contact__phone_e164"
    list_display = ["attempt_link", "dialed", "campaign", "contact_number", "state", "disposition", "talk",
                    "outcome", "cost_shown"]
    list_display_links = None  # each row opens the report's attempt page (player, transcript) instead
    list_filter = ["state", "disposition", "amd_result", "campaign"]
    search_fields = ["sip_call_id", "contact__name"]
    list_select_related = ["campaign", "contact"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["campaign", "contact", "attempt_number", "trunk", "caller_id", "state", "disposition",
                           "reason"]}),
        ("SIP", {"fields": ["ua_name", "sip_call_id", "sip_code", "sip_reason"]}),
        ("Timeline", {"fields": ["queued_at", "dialing_at", "ringing_at", "answered_at", "bridged_at", "ended_at"]}),
        ("Conversation", {"fields": ["amd_result", "outcome", "outcome_fields", "outcome_error",
                                     "transcript_view", "recording", "first_response_ms", "usage", "cost"]}),
    ]
    readonly_fields = ["transcript_view"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        # F4: the transcript is the conversation itself, behind its own permission.
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.has_perm(report_views.TRANSCRIPT_PERMISSION):
            return fieldsets
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f != "transcript_view"]})
                for name, opts in fieldsets]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        shown = list(super().get_list_display(request))
        if "campaign__id__exact" in request.GET:
            shown.remove("campaign")  # one campaign: the column would repeat its name on every row
        return shown

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Attempt", ordering="id")
    def attempt_link(self, obj: CallAttempt) -> SafeString:
        page = reverse("admin:campaigns_campaign_report_attempt", args=[obj.campaign_id, obj.pk])
        raw = reverse("admin:campaigns_callattempt_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a> <a href="{}" class="console-muted" title="raw record">raw</a>',
                           page, obj.pk, raw)

    @admin.display(description="Dialed (UTC)", ordering="queued_at")
    def dialed(self, obj: CallAttempt) -> str:
        when = obj.dialing_at or obj.queued_at
        return f"{when:%Y-%m-%d %H:%M:%S}" if when else ""

    @admin.display(description="Cost", ordering="cost")
    def cost_shown(self, obj: CallAttempt) -> str:
        return "\u2014" if obj.cost is None else f"{obj.cost:.4f} {obj.cost_currency}".rstrip()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger of dials is kept

    @admin.display(description="Number", ordering="contact__phone_e164")
    def contact_number(self, obj: CallAttempt) -> str:
        return obj.contact.phone_e164

    @admin.display(description="Talk (s)")
    def talk(self, obj: CallAttempt) -> str:
        seconds = obj.talk_seconds
        return "" if seconds is None else f"{seconds:.0f}"

    @admin.display(description="Transcript")
    def transcript_view(self, obj: CallAttempt) -> SafeString | str:
        segments = obj.transcript or []
        if not segments:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((_ms(s.get("start_ms")), s.get("speaker", ""), s.get("text", "")) for s in segments),
        )
        return format_html("<table><tr><th>At</th><th>Speaker</th><th>Text</th></tr>{}</table>", rows)


def _ms(value: object) -> str:
    return f"{int(value) / 1000:.1f}s" if isinstance(value, int | float) else ""


# Registered by importing them: campaigns, the do-not-call list and the import jobs have their own modules.
from campaigns.admin import campaign, contacts, dnc, imports  # noqa: E402, F401
