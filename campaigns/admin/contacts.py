"""Contacts in the console: why each waits and what happens next, retry now, schedule a call-back.

Contacts are created by imports and moved by the dialer; the operator may fix name and variables, put a
contact back in the queue, or set a call-back time in the person's own zone (campaigns/contacts/services.py).
A contact with call attempts is kept (campaigns/admin/deletion.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from campaigns.admin.deletion import KeepsCallAttemptsAdmin
from campaigns.admin.search import PhoneSearchMixin
from campaigns.choices import DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.contacts.services import ContactQueueError, retry_contact_now, schedule_contact_callback
from campaigns.contacts.whynext import explain_contact
from campaigns.forms import ContactAdminForm
from campaigns.models import CallAttempt, Contact


class CallbackForm(forms.Form):
    """A call-back time as the person reads their clock."""

    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


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


def _local(when: dt.datetime | None, zones: list[str]) -> str:
    """``2026-12-07 20:39 UTC`` and, below it, the contact's wall-clock time."""
    if when is None:
        return "-"
    text = f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    if zones:
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            text += f" \u00b7 {when.astimezone(zoneinfo.ZoneInfo(zones[0])):%a %H:%M} local"
    return text


class CallAttemptInline(admin.TabularInline):
    """A contact's attempts, read-only; each opens the report's attempt page (player, transcript)."""

    model = CallAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("details", "state", "disposition", "sip_code", "queued_at", "ended_at", "outcome")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Attempt")
    def details(self, obj: CallAttempt) -> SafeString:
        url = reverse("admin:campaigns_campaign_report_attempt", args=[obj.campaign_id, obj.pk])
        return format_html('<a href="{}">#{} (try {})</a>', url, obj.pk, obj.attempt_number)


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, KeepsCallAttemptsAdmin):
    """Contacts, with one line saying why each waits and what happens next."""

    attempts_lookup = "contact"
    instead = "To stop calling the number, add it to the do-not-call list."
    form = ContactAdminForm  # F18: variables are a flat object of bounded texts

    list_display = ["phone_e164", "name", "campaign", "status", "attempts", "last_disposition", "next_attempt",
                    "outcome"]
    list_filter = ["status", "last_disposition", TimeZoneKnownFilter, "campaign"]
    search_fields = ["name"]
    search_help_text = "A phone number in any format, or a name."
    list_select_related = ["campaign"]
    # Counting millions of rows for "N total" on every page is the slow part of a big list.
    show_full_result_count = False
    editable_fields = ("name", "priority", "variables")
    readonly_fields = ["why_next", "campaign", "phone_e164", "time_zones", "status", "attempts", "next_attempt",
                       "last_disposition", "outcome", "outcome_fields", "import_job", "created_at", "updated_at"]
    fieldsets = [
        ("What happens next", {"fields": ["why_next"]}),
        (None, {"fields": ["campaign", "phone_e164", "name", "time_zones", "priority", "variables"]}),
        ("Progress", {"fields": ["status", "attempts", "next_attempt", "last_disposition"]}),
        ("Result", {"fields": ["outcome", "outcome_fields"]}),
        ("Origin", {"fields": ["import_job", "created_at", "updated_at"]}),
    ]
    inlines = [CallAttemptInline]
    actions = ["retry_now", "add_to_dnc_global", "add_to_dnc_campaign"]
    change_form_template = "admin/campaigns/contact/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:contact_id>/retry/", wrap(self.retry_view), name="campaigns_contact_retry"),
            path("<int:contact_id>/callback/", wrap(self.callback_view), name="campaigns_contact_callback"),
            *super().get_urls(),
        ]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        shown = list(super().get_list_display(request))
        if "campaign__id__exact" in request.GET:
            shown.remove("campaign")  # one campaign: the column would repeat its name on every row
        return shown

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # contacts come from an import, which validates and deduplicates them

    def has_add_dnc_permission(self, request: HttpRequest) -> bool:
        """The do-not-call actions change the contacts and add do-not-call entries: both rights are needed.

        F16: Django allows an action when any one of its ``permissions`` holds, so the two are combined here.
        """
        return self.has_change_permission(request) and request.user.has_perm("campaigns.add_donotcall")

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "callback_form": CallbackForm()}
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request: HttpRequest, obj: Contact, form: ModelForm, change: bool) -> None:
        # Only the operator-editable columns are written: the dialer may have moved the contact's
        # status while the form was open, and a full save would put the old status back.
        changed = {f: getattr(obj, f) for f in self.editable_fields if f in form.changed_data}
        if changed:
            Contact.objects.filter(pk=obj.pk).update(**changed, updated_at=timezone.now())

    @admin.display(description="Why / next")
    def why_next(self, obj: Contact) -> str:
        return explain_contact(obj)

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: Contact) -> str:
        return _local(obj.next_attempt_at, list(obj.time_zones))

    def _contact_for_change(self, request: HttpRequest, contact_id: int) -> Contact:
        contact = get_object_or_404(Contact, pk=contact_id)
        if not self.has_change_permission(request, contact):
            raise PermissionDenied
        return contact

    def _log(self, request: HttpRequest, contact: Contact, message: str) -> None:
        self.log_change(request, contact, message)
        self.message_user(request, f"{contact.phone_e164}: {message}.", messages.SUCCESS)

    @method_decorator(require_POST)
    def retry_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """Retry now from the contact's page."""
        contact = self._contact_for_change(request, contact_id)
        try:
            retry_contact_now(contact.pk)
        except ContactQueueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self._log(request, contact, "Queued again (retry now)")
        return HttpResponseRedirect(reverse("admin:campaigns_contact_change", args=[contact.pk]))

    @method_decorator(require_POST)
    def callback_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """Schedule a call-back at the person's own time (moved into the calling window)."""
        contact = self._contact_for_change(request, contact_id)
        form = CallbackForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Give the call-back day and time.", messages.ERROR)
        else:
            try:
                moved = schedule_contact_callback(contact.pk, form.cleaned_data["day"], form.cleaned_data["at"])
            except ContactQueueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                when = _local(moved.next_attempt_at, list(moved.time_zones))
                self._log(request, contact, f"Call-back scheduled for {when}")
        return HttpResponseRedirect(reverse("admin:campaigns_contact_change", args=[contact.pk]))

    @admin.action(description="Retry the selected contacts now (inside their window)", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        done, refused = 0, []
        for contact in queryset.only("pk", "phone_e164"):
            try:
                retry_contact_now(contact.pk)
            except ContactQueueError as exc:
                refused.append(str(exc))
            else:
                self.log_change(request, contact, "Queued again (retry now)")
                done += 1
        if done:
            self.message_user(request, f"{done} contact{'s' if done != 1 else ''} queued again.", messages.SUCCESS)
        if refused:
            self.message_user(request, format_html_join(" ", "{}", ((r,) for r in refused[:5])), messages.WARNING)

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
