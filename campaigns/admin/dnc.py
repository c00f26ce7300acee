"""The do-not-call list in the admin: entries by scope, the upload, opt-outs kept."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import URLPattern, path

from campaigns.admin.deletion import KeepsOptOutsAdmin
from campaigns.admin.search import PhoneSearchMixin
from campaigns.choices import DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.forms import DoNotCallAddForm
from campaigns.models import DoNotCall
from campaigns.views import dnc as dnc_views


class DncScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("global", "Every campaign"), ("campaign", "One campaign")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DoNotCall]) -> QuerySet[DoNotCall]:
        if self.value() == "global":
            return queryset.filter(campaign__isnull=True)
        if self.value() == "campaign":
            return queryset.filter(campaign__isnull=False)
        return queryset


@admin.register(DoNotCall)
class DoNotCallAdmin(PhoneSearchMixin, KeepsOptOutsAdmin):
    """The do-not-call list: add one number, upload a file, search. Adding takes effect at once.

    Opt-outs are never deleted (campaigns/admin/deletion.py).
    """

    list_display = ["phone_e164", "scope_label", "campaign", "source", "note", "created_at"]
    list_filter = [DncScopeFilter, "source", "campaign"]
    search_fields = ["note"]
    search_help_text = "A phone number in any format, or words of the note."
    list_select_related = ["campaign"]
    show_full_result_count = False
    add_form = DoNotCallAddForm
    change_list_template = "admin/campaigns/donotcall/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        urls = [
            path("upload/", wrap(partial(dnc_views.upload_do_not_call, model_admin=self)),
                 name="campaigns_donotcall_upload"),
            path("upload/<int:job_id>/", wrap(partial(dnc_views.upload_job, model_admin=self)),
                 name="campaigns_donotcall_upload_job"),
        ]
        return urls + super().get_urls()

    def get_form(self, request: HttpRequest, obj: DoNotCall | None = None, change: bool = False,
                 **kwargs: Any) -> type[ModelForm]:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: DoNotCall | None = None) -> list[Any]:
        if obj is None:
            return ["phone_e164", "default_region", "campaign", "note"]
        return ["phone_e164", "campaign", "source", "note", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: DoNotCall | None = None) -> list[str]:
        if obj is None:
            return []
        return ["phone_e164", "campaign", "source", "created_at"]

    def save_model(self, request: HttpRequest, obj: DoNotCall, form: ModelForm, change: bool) -> None:
        if change:
            DoNotCall.objects.filter(pk=obj.pk).update(note=obj.note)
            return
        # The service stores the entry and takes the matching contacts out of the queue in one transaction.
        entry = add_to_do_not_call(
            form.cleaned_data["phone_e164"], campaign=obj.campaign, source=DncSource.MANUAL,
            note=obj.note, default_region=form.cleaned_data["default_region"],
        )
        obj.pk = entry.pk
        obj._state.adding = False
        obj.refresh_from_db()

    @admin.display(description="Scope", ordering="campaign")
    def scope_label(self, obj: DoNotCall) -> str:
        return "one campaign" if obj.campaign_id else "every campaign"


