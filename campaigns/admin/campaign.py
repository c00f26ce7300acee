"""The campaign pages of the console: the list, the settings form with its control bar and live view, the report.

The list fits at 1440 px with the navigation sidebar open (name, status, progress, waiting, window, report).
Start, pause, resume and cancel run the lifecycle services from the campaign's own page and from the list; every
change is in the campaign's History; cancel asks first (campaigns/views/lifecycle.py).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from campaigns.admin.deletion import KeepsCallAttemptsAdmin
from campaigns.choices import CONTACT_DIALABLE, CONTACT_TERMINAL
from campaigns.forms import CampaignAdminForm, RetryRuleForm
from campaigns.models import Campaign, Contact, RetryRule, TransferTarget
from campaigns.redis_client import get_redis
from campaigns.reports.live import campaign_live_stats
from campaigns.rules.retries import DEFAULT_RETRY_DELAY_S, RETRY_ONLY_WITH_RULE
from campaigns.views import compare, explorer, lifecycle, reviews
from campaigns.views import imports as import_views
from campaigns.views import live as live_views
from campaigns.views import reports as report_views
from telephony.choices import Disposition

_DEFAULTS_TEXT = ", ".join(f"{Disposition(d).label.lower()} after {s // 60} min"
                           for d, s in DEFAULT_RETRY_DELAY_S.items())
RETRIES_HELP = (
    f"Without a rule, a disposition is retried with the built-in delay ({_DEFAULTS_TEXT}), up to \u201cMax "
    "attempts per contact\u201d; " + " and ".join(Disposition(d).label.lower() for d in sorted(RETRY_ONLY_WITH_RULE))
    + " are retried only with a rule. A rule's \u201cmax attempts\u201d counts the attempts that ended this way "
    "(1 = not retried); the campaign's cap still applies.")


class RetryRuleInline(admin.TabularInline):
    """Per-disposition retry rules. A new campaign starts with the built-in defaults as rows, so what is shown is
    what the dialer does (D2: the old heading said dispositions without a rule are not retried; they are)."""

    model = RetryRule
    form = RetryRuleForm
    extra = 0
    verbose_name = "retry rule"
    verbose_name_plural = "Retry rules per disposition"

    def get_extra(self, request: HttpRequest, obj: Campaign | None = None, **kwargs: Any) -> int:
        return len(DEFAULT_RETRY_DELAY_S) if obj is None else 0


class TransferTargetInline(admin.StackedInline):
    """Where the agent may hand a call to a person, with its staffed hours and the fallback (docs/transfer.md)."""

    model = TransferTarget
    extra = 0
    verbose_name = "transfer target"
    verbose_name_plural = "Transfer to a person"
    fields = [("position", "name", "active"), "destination", ("time_zone", "staffed_days", "staffed_start",
                                                               "staffed_end"),
              ("warm", "max_wait_s", "fallback"), "fallback_message"]


def _contact_counts() -> Subquery:
    """Contacts of the outer campaign by progress, as one JSON object from a single pass over them."""
    counts = (
        Contact.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
        .annotate(counts=JSONObject(
            total=Count("pk"),
            waiting=Count("pk", filter=Q(status__in=sorted(CONTACT_DIALABLE))),
            finished=Count("pk", filter=Q(status__in=sorted(CONTACT_TERMINAL))),
        ))
        .values("counts")
    )
    return Subquery(counts, output_field=JSONField())


def _count(campaign: Campaign, key: str) -> int:
    counts = getattr(campaign, "contact_counts", None) or {}  # NULL: no contacts at all
    return int(counts.get(key, 0))


def campaign_warnings(campaign: Campaign) -> list[str]:
    """What will hold the campaign back or read oddly, said when it is saved (the save still happens)."""
    warnings = []
    trunk = campaign.trunk
    if campaign.max_concurrent > trunk.max_channels:
        warnings.append(f"Max concurrent calls {campaign.max_concurrent} is more than trunk \u201c{trunk}\u201d has "
                        f"channels ({trunk.max_channels}): at most {trunk.max_channels} calls will run at once.")
    used = {name for text in (campaign.agent.prompt_template, campaign.agent.greeting, campaign.voicemail_message)
            for name in _VARIABLE.findall(text or "")}
    missing = sorted(used - _known_variables(campaign))
    if missing and campaign.contacts.exists():
        warnings.append("The agent's texts use " + ", ".join("{{" + n + "}}" for n in missing) + " but no "
                        "contact of this campaign has it: it will be read as empty.")
    return warnings


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Every contact has its name as a variable, whatever its import's columns (campaigns/dialer/handoff.py).
_BUILT_IN_VARIABLES = frozenset({"name"})


def _known_variables(campaign: Campaign) -> set[str]:
    with connection.cursor() as cursor:
        # The names of the variables the campaign's imports provided, from a sample of its contacts.
        cursor.execute("SELECT DISTINCT jsonb_object_keys(variables) FROM (SELECT variables FROM campaigns_contact "
                       "WHERE campaign_id = %s LIMIT 1000) c", [campaign.pk])
        return {row[0] for row in cursor.fetchall()} | _BUILT_IN_VARIABLES


@admin.register(Campaign)
class CampaignAdmin(KeepsCallAttemptsAdmin):
    """Campaign settings grouped as an operator thinks of them, with the control bar and the live view on top.

    A campaign with call attempts is kept (campaigns/admin/deletion.py): it is cancelled, not deleted.
    """

    attempts_lookup = "campaign"
    instead = "Cancel the campaign to stop it for good (or pause it)."

    form = CampaignAdminForm
    inlines = [RetryRuleInline, TransferTargetInline]
    actions: list[Any] = ["start_campaigns", "pause_campaigns", "resume_campaigns", "cancel_campaigns",
                          "compare_selected"]
    list_display = ["name", "status", "progress", "waiting", "calling_window", "report_link"]
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
        ("Limits", {"fields": ["max_concurrent", "max_cps", "ring_timeout_s", "budget"]}),
        ("Answering machines", {"fields": ["amd_enabled", ("amd_max_decision_ms", "amd_greet_immediately"),
                                           "amd_late_beep", "machine_policy", "voicemail_message", "opt_out_digit"]}),
        ("Retries", {"fields": ["max_attempts"], "description": RETRIES_HELP}),
    ]

    class Media:
        js = ["campaigns/campaign_live.js"]  # polls live_view on the change page

    def get_urls(self) -> list[URLPattern]:
        """Campaign pages beyond the standard ones; extend this list for more."""
        wrap = self.admin_site.admin_view
        urls = [
            # Campaigns side by side (campaigns/views/compare.py); the list's action sends its selection here.
            path("compare/", wrap(partial(compare.compare_view, model_admin=self)), name="campaigns_campaign_compare"),
            path("<int:campaign_id>/import/", wrap(partial(import_views.upload_contacts, model_admin=self)),
                 name="campaigns_campaign_import"),
            path("<int:campaign_id>/live/", wrap(self.live_view), name="campaigns_campaign_live"),
            # The control bar (campaigns/views/lifecycle.py): each button posts here.
            *[path(f"<int:campaign_id>/{name}/",
                   wrap(partial(lifecycle.campaign_transition, step_name=name, model_admin=self)),
                   name=f"campaigns_campaign_lifecycle_{name}") for name in ("start", "pause", "resume")],
            path("<int:campaign_id>/cancel/", wrap(partial(lifecycle.cancel_view, model_admin=self)),
                 name="campaigns_campaign_lifecycle_cancel"),
            # The report (campaigns/views/reports.py): page, one attempt, its recording, the contacts CSV,
            # and the attempts explorer with its CSV (campaigns/views/explorer.py).
            path("<int:campaign_id>/report/", wrap(partial(report_views.campaign_report, model_admin=self)),
                 name="campaigns_campaign_report"),
            path("<int:campaign_id>/report/attempts/", wrap(partial(explorer.attempts_explorer, model_admin=self)),
                 name="campaigns_campaign_report_attempts"),
            path("<int:campaign_id>/report/attempts.csv", wrap(partial(explorer.attempts_csv, model_admin=self)),
                 name="campaigns_campaign_report_attempts_csv"),
            path("<int:campaign_id>/report/attempts/<int:attempt_id>/",
                 wrap(partial(report_views.attempt_detail, model_admin=self)),
                 name="campaigns_campaign_report_attempt"),
            path("<int:campaign_id>/report/attempts/<int:attempt_id>/review/",
                 wrap(partial(reviews.review_attempt, model_admin=self)),
                 name="campaigns_campaign_report_review"),
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

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new campaign starts valid where it can: Monday to Friday, the configured region (D12)."""
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("default_region", getattr(settings, "PHONE_DEFAULT_REGION", "US"))
        return initial

    def get_formset_kwargs(self, request: HttpRequest, obj: Any, inline: Any, prefix: str) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, RetryRuleInline) and obj.pk is None and request.method != "POST":
            # The built-in delays as editable rows: what a campaign without rules does anyway.
            kwargs["initial"] = [{"disposition": d, "delay_s": s, "max_attempts": 3}
                                 for d, s in DEFAULT_RETRY_DELAY_S.items()]
        return kwargs

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if campaign is not None:
            extra["lifecycle"] = lifecycle.lifecycle_context(
                campaign, can_change=self.has_change_permission(request, campaign))
            if extra["lifecycle"]["kept_note"]:
                # A campaign that dialed is kept with its attempts: no Delete button that can only fail (D10);
                # the delete page itself still answers with the reason (campaigns/admin/deletion.py).
                extra["show_delete"] = False
        return super().change_view(request, object_id, form_url, extra)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Lifecycle actions first; delete (which refuses campaigns that dialed) last.
        actions = super().get_actions(request)
        delete = actions.pop("delete_selected", None)
        if delete is not None:
            actions["delete_selected"] = delete
        return actions

    def save_model(self, request: HttpRequest, obj: Campaign, form: ModelForm, change: bool) -> None:
        if change:
            # Write only the settings on the form: status and its timestamps belong to the lifecycle
            # services and the dialer, which may have changed them while the form was open.
            editable = [f for f in form.cleaned_data if f in {fl.name for fl in obj._meta.concrete_fields}]
            obj.save(update_fields=editable)
        else:
            obj.save()
        for warning in campaign_warnings(obj):
            self.message_user(request, warning, messages.WARNING)

    @admin.display(description="Contacts")
    def progress(self, obj: Campaign) -> SafeString:
        url = reverse("admin:campaigns_contact_changelist")
        total, finished = _count(obj, "total"), _count(obj, "finished")
        return format_html('<a href="{}?campaign__id__exact={}" title="finished / all contacts">{} / {}</a>',
                           url, obj.pk, finished, total)

    @admin.display(description="Waiting")
    def waiting(self, obj: Campaign) -> int:
        return _count(obj, "waiting")

    @admin.display(description="Window (local)")
    def calling_window(self, obj: Campaign) -> str:
        days = " ".join(["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"][d] for d in sorted(obj.window_days))
        if sorted(obj.window_days) == [0, 1, 2, 3, 4]:
            days = "Mo-Fr"
        elif sorted(obj.window_days) == list(range(7)):
            days = "every day"
        return f"{days} {obj.window_start:%H:%M}-{obj.window_end:%H:%M}"

    @admin.display(description="Report")
    def report_link(self, obj: Campaign) -> SafeString:
        return format_html('<a href="{}">Report</a>', reverse("admin:campaigns_campaign_report", args=[obj.pk]))

    def live_view(self, request: HttpRequest, campaign_id: int) -> JsonResponse:
        """Calls in flight and their list, what holds dialing back, dials per minute, contacts by status."""
        campaign = get_object_or_404(Campaign.objects.select_related("trunk"), pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        now = timezone.now()
        data = campaign_live_stats(campaign_id, now)
        try:
            r = get_redis()
            r.ping()
        except Exception:  # noqa: BLE001 - the page shows "unknown" for the UA lines instead of failing
            r = None
        # F4: the calls in progress show numbers and names: only to those who may see attempts.
        data["calls"] = (live_views.live_calls(campaign_id, now)
                         if request.user.has_perm("campaigns.view_callattempt") else None)
        data["holding"] = live_views.holding_back(campaign, now, r, in_flight=data["in_flight"],
                                                  dialed_last_minute=data["dialed_last_minute"])
        data["per_minute"] = live_views.dials_per_minute(campaign_id, now)
        for row in data["outside_window"]:
            opens = row["opens_at"] and live_views.parse_iso(row["opens_at"])
            row["opens_utc"] = live_views.utc_label(opens) if opens else ""
            row["opens_local"] = live_views.local_label(opens, row["zones"]) if opens else ""
        data["as_of_label"] = live_views.utc_label(now)
        return JsonResponse(data)

    def _lifecycle(self, request: HttpRequest, queryset: QuerySet[Campaign], name: str) -> None:
        lifecycle.run_step(request, self, lifecycle.BY_NAME[name], queryset.order_by("pk").values_list("pk", flat=True))

    @admin.action(description="Start selected campaigns", permissions=["change"])
    def start_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, "start")

    @admin.action(description="Pause selected campaigns (calls in progress finish)", permissions=["change"])
    def pause_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, "pause")

    @admin.action(description="Resume selected campaigns", permissions=["change"])
    def resume_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._lifecycle(request, queryset, "resume")

    @admin.action(description="Compare selected campaigns", permissions=["view"])
    def compare_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse:
        """Open the comparison page on the selected campaigns (2 to 6; the page says so otherwise)."""
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:campaigns_campaign_compare')}?ids={ids}")

    @admin.action(description="Cancel selected campaigns for good\u2026", permissions=["change"])
    def cancel_campaigns(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        """Asks first (a page listing them); the page posts back here with ``post=yes`` (D8)."""
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if request.POST.get("post") != "yes":
            return lifecycle.cancel_confirmation(
                request, self, ids, confirm_url=reverse("admin:campaigns_campaign_changelist"),
                back_url=reverse("admin:campaigns_campaign_changelist"), via_action=True)
        self._lifecycle(request, queryset, "cancel")
        return None
