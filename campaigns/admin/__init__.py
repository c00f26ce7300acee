"""The operator's interface: agents, campaigns, contacts, call attempts, imports and the do-not-call list.

List pages select their related rows up front (``list_select_related`` and annotations) so the number of
queries does not grow with the rows on the page; tests/campaigns/admin/test_admin_queries.py holds them to it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.forms import ModelForm
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from campaigns.admin.deletion import KeepsCallAttemptsAdmin
from campaigns.admin.search import PhoneSearchMixin
from campaigns.choices import CONTACT_DIALABLE, ContactStatus, DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.forms import CampaignAdminForm, ContactAdminForm, RetryRuleForm
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, RetryRule
from campaigns.reports.live import campaign_live_stats
from campaigns.services import (
    CampaignTransitionError,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from campaigns.views import imports as import_views
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentProfile]:
        return super().get_queryset(request).annotate(campaign_total=Count("campaigns"))

    @admin.display(description="Campaigns", ordering="campaign_total")
    def campaign_count(self, obj: AgentProfile) -> int:
        return obj.campaign_total  # type: ignore[attr-defined]


class RetryRuleInline(admin.TabularInline):
    model = RetryRule
    form = RetryRuleForm
    extra = 0
    verbose_name = "retry rule"
    verbose_name_plural = "Retry rules per disposition (dispositions without a rule are not retried)"


def _contact_counts() -> Subquery:
    """Contacts of the outer campaign by progress, as one JSON object from a single pass over them."""
    counts = (
        Contact.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
        .annotate(counts=JSONObject(
            total=Count("pk"),
            waiting=Count("pk", filter=Q(status__in=sorted(CONTACT_DIALABLE))),
            done=Count("pk", filter=Q(status=ContactStatus.DONE)),
        ))
        .values("counts")
    )
    return Subquery(counts, output_field=JSONField())


@admin.register(Campaign)
class CampaignAdmin(KeepsCallAttemptsAdmin):
    """Campaign settings grouped as an operator thinks of them; lifecycle actions extend ``actions``.

    A campaign with call attempts is kept (campaigns/admin/deletion.py): it is cancelled, not deleted.
    """

    attempts_lookup = "campaign"
    instead = "Cancel the campaign to stop it for good (or pause it)."

    form = CampaignAdminForm
    inlines = [RetryRuleInline]
    # Lifecycle actions (start, pause, resume, cancel) are appended here; each calls a service.
    actions: list[Any] = ["start_campaigns", "pause_campaigns", "resume_campaigns", "cancel_campaigns"]
    list_display = ["name", "status", "agent", "trunk", "contacts_link", "waiting", "done", "calling_window",
                    "max_concurrent", "created_at", "report_link"]
    list_filter = ["status", "agent", "trunk"]
    search_fields = ["name"]
    list_select_related = ["agent", "trunk"]
    readonly_fields = ["status", "created_at", "started_at", "finished_at"]
    filter_horizontal = ["caller_ids"]
    # Retries come last so the retry-rule table directly follows its fieldset.
    fieldsets = [
        (None, {"fields": ["name", "status", ("created_at", "started_at", "finished_at")]}),
        ("Agent", {"fields": ["agent"]}),
        ("Telephony", {"fields": ["trunk", "caller_ids", "default_region"]}),
        ("Schedule", {"fields": ["window_days", ("window_start", "window_end")],
                      "description": "Evaluated in each contact's own time zone."}),
        ("Limits", {"fields": ["max_concurrent", "max_cps", "ring_timeout_s"]}),
        ("Answering machines", {"fields": ["amd_enabled", ("amd_max_decision_ms", "amd_greet_immediately"),
                                           "machine_policy", "voicemail_message", "opt_out_digit"]}),
        ("Retries", {"fields": ["max_attempts"]}),
    ]

    def get_urls(self) -> list[URLPattern]:
        """Campaign pages beyond the standard ones; extend this list for more."""
        wrap = self.admin_site.admin_view
        urls = [
            path("<int:campaign_id>/import/", wrap(partial(import_views.upload_contacts, model_admin=self)),
                 name="campaigns_campaign_import"),
            path("<int:campaign_id>/live/", wrap(self.live_view), name="campaigns_campaign_live"),
            # The report (campaigns/views/reports.py): page, one attempt, its recording, the contacts CSV.
            path("<int:campaign_id>/report/", wrap(partial(report_views.campaign_report, model_admin=self)),
                 name="campaigns_campaign_report"),
            path("<int:campaign_id>/report/attempts/<int:attempt_id>/",
                 wrap(partial(report_views.attempt_detail, model_admin=self)),
                 name="campaigns_campaign_report_attempt"),
            path("<int:campaign_id>/report/attempts/<int:attempt_id>/recording/",
                 wrap(partial(report_views.attempt_recording, model_admin=self)),
                 name="campaigns_campaign_report_recording"),
            path("<int:campaign_id>/report/contacts.csv", wrap(partial(report_views.contacts_csv, model_admin=self)),
                 name="campaigns_campaign_report_csv"),
        ]
        return urls + super().get_urls()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        # The counts are a correlated subquery in the page's one query: evaluated only for the rows
        # shown (after LIMIT), one index pass per campaign, instead of a join that groups every contact
        # of every campaign before the page is cut.
        return super().get_queryset(request).annotate(contact_counts=_contact_counts())

    def save_model(self, request: HttpRequest, obj: Campaign, form: ModelForm, change: bool) -> None:
        if change:
            # Write only the settings on the form: status and its timestamps belong to the lifecycle
            # services and the dialer, which may have changed them while the form was open.
            editable = [f for f in form.cleaned_data if f in {fl.name for fl in obj._meta.concrete_fields}]
            obj.save(update_fields=editable)
        else:
            obj.save()

    @admin.display(description="Contacts")
    def contacts_link(self, obj: Campaign) -> SafeString:
        url = reverse("admin:campaigns_contact_changelist")
        return format_html('<a href="{}?campaign__id__exact={}">{}</a>', url, obj.pk, _count(obj, "total"))

    @admin.display(description="Waiting")
    def waiting(self, obj: Campaign) -> int:
        return _count(obj, "waiting")

    @admin.display(description="Done")
    def done(self, obj: Campaign) -> int:
        return _count(obj, "done")

    @admin.display(description="Window")
    def calling_window(self, obj: Campaign) -> str:
        days = "".join("MTWTFSS"[d] for d in sorted(obj.window_days))
        return f"{days} {obj.window_start:%H:%M}-{obj.window_end:%H:%M}"

    @admin.display(description="Report")
    def report_link(self, obj: Campaign) -> SafeString:
        return format_html('<a href="{}">Report</a>', reverse("admin:campaigns_campaign_report", args=[obj.pk]))

    # Dialer: lifecycle actions and the live view (campaigns/services.py, campaigns/reports/live.py).
    class Media:
        js = ["campaigns/campaign_live.js"]  # polls live_view on the change page

    def live_view(self, request: HttpRequest, campaign_id: int) -> JsonResponse:
        """Calls in flight / limit, dials in the last minute, contacts by status, next window opening."""
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return JsonResponse(campaign_live_stats(campaign_id))

    def _lifecycle(self, request: HttpRequest, queryset: QuerySet[Campaign], service: Any, done: str) -> None:
        ok = 0
        for campaign_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                service(campaign_id)
                ok += 1
            except CampaignTransitionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        if ok:
            self.message_user(request, f"{ok} campaign{'s' if ok != 1 else ''} {done}.", messages.SUCCESS)

    @admin.action(description="Start selected campaigns", permissions=["change"])
    def start_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, start_campaign, "started")

    @admin.action(description="Pause selected campaigns (calls in progress finish)", permissions=["change"])
    def pause_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, pause_campaign, "paused")

    @admin.action(description="Resume selected campaigns", permissions=["change"])
    def resume_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, resume_campaign, "resumed")

    @admin.action(description="Cancel selected campaigns for good", permissions=["change"])
    def cancel_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, cancel_campaign, "cancelled")


def _count(campaign: Campaign, key: str) -> int:
    counts = getattr(campaign, "contact_counts", None) or {}  # NULL: no contacts at all
    return int(counts.get(key, 0))


class CallAttemptInline(admin.TabularInline):
    """A contact's attempts, read-only."""

    model = CallAttempt
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["attempt_number", "state", "disposition", "sip_code", "queued_at", "ended_at", "outcome"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TimeZoneKnownFilter(admin.SimpleListFilter):
    """Contacts without a time zone are never dialed (their calling window cannot be evaluated)."""

    title = "time zone"
    parameter_name = "zone_known"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Known"), ("no", "Unknown (not dialed)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() == "yes":
            return queryset.exclude(time_zones=[])
        if self.value() == "no":
            return queryset.filter(time_zones=[])
        return queryset


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, KeepsCallAttemptsAdmin):
    """Contacts are created by imports and moved by the dialer; the operator may fix name and variables.

    A contact with call attempts is kept (campaigns/admin/deletion.py).
    """

    attempts_lookup = "contact"
    instead = "To stop calling the number, add it to the do-not-call list."
    form = ContactAdminForm  # F18: variables are a flat object of bounded texts

    list_display = ["phone_e164", "name", "campaign", "status", "attempts", "last_disposition",
                    "next_attempt_at", "outcome"]
    list_filter = ["status", "last_disposition", TimeZoneKnownFilter, "campaign"]
    search_fields = ["name"]
    search_help_text = "A phone number in any format, or a name."
    list_select_related = ["campaign"]
    # Counting millions of rows for "N total" on every page is the slow part of a big list.
    show_full_result_count = False
    editable_fields = ("name", "priority", "variables")
    readonly_fields = ["campaign", "phone_e164", "time_zones", "status", "attempts", "next_attempt_at",
                       "last_disposition", "outcome", "outcome_fields", "import_job", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["campaign", "phone_e164", "name", "time_zones", "priority", "variables"]}),
        ("Progress", {"fields": ["status", "attempts", "next_attempt_at", "last_disposition"]}),
        ("Result", {"fields": ["outcome", "outcome_fields"]}),
        ("Origin", {"fields": ["import_job", "created_at", "updated_at"]}),
    ]
    inlines = [CallAttemptInline]
    actions = ["add_to_dnc_global", "add_to_dnc_campaign"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # contacts come from an import, which validates and deduplicates them

    def has_add_dnc_permission(self, request: HttpRequest) -> bool:
        """The do-not-call actions change the contacts and add do-not-call entries: both rights are needed.

        F16: Django allows an action when any one of its ``permissions`` holds, so the two are combined here.
        """
        return self.has_change_permission(request) and request.user.has_perm("campaigns.add_donotcall")

    def save_model(self, request: HttpRequest, obj: Contact, form: ModelForm, change: bool) -> None:
        # Only the operator-editable columns are written: the dialer may have moved the contact's
        # status while the form was open, and a full save would put the old status back.
        changed = {f: getattr(obj, f) for f in self.editable_fields if f in form.changed_data}
        if changed:
            Contact.objects.filter(pk=obj.pk).update(**changed, updated_at=timezone.now())

    @admin.action(description="Add the selected numbers to the do-not-call list (every campaign)",
                  permissions=["add_dnc"])
    def add_to_dnc_global(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        numbers = sorted(set(queryset.values_list("phone_e164", flat=True)))
        for number in numbers:
            add_to_do_not_call(number, source=DncSource.MANUAL, note=f"from the contact list by {request.user}")
        self.message_user(request, f"{len(numbers)} number(s) added to the do-not-call list.", messages.SUCCESS)

    @admin.action(description="Add the selected numbers to their campaign's do-not-call list",
                  permissions=["add_dnc"])
    def add_to_dnc_campaign(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        pairs = list(queryset.select_related("campaign").only("phone_e164", "campaign"))
        for contact in pairs:
            add_to_do_not_call(contact.phone_e164, campaign=contact.campaign, source=DncSource.MANUAL,
                               note=f"from the contact list by {request.user}")
        self.message_user(request, f"{len(pairs)} number(s) added to their campaign's do-not-call list.",
                          messages.SUCCESS)


@admin.register(CallAttempt)
class CallAttemptAdmin(PhoneSearchMixin, admin.ModelAdmin):
    """Every dial, read-only: the dialer owns these rows."""

    phone_search_field = "contact__phone_e164"
    list_display = ["id", "queued_at", "campaign", "contact_number", "attempt_number", "state", "disposition",
                    "sip_code", "talk", "outcome", "cost"]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

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


# Registered by importing them: the do-not-call list and the import jobs have their own modules.
from campaigns.admin import dnc, imports  # noqa: E402, F401
