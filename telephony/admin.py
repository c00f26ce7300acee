"""Admin for SIP trunks and caller IDs. Trunk passwords are write-only here."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from telephony.choices import TrunkAuth
from telephony.forms import TrunkAdminForm
from telephony.models import CallerID, Trunk
from telephony.registrations import summarize, trunk_registrations
from telephony.trunk_check import check_trunk

TRUNK_CHECK_MAX = 5  # each check takes up to a few seconds of the request


class CallerIDInline(admin.TabularInline):
    model = CallerID
    extra = 0
    fields = ["number", "label", "daily_cap", "active"]


@admin.register(Trunk)
class TrunkAdmin(admin.ModelAdmin):
    """Trunks: the password is never rendered (list, form, history) and never logged."""

    form = TrunkAdminForm
    # Address and authentication are one column each, so the list fits at 1440 px with the sidebar open.
    list_display = ["name", "address", "authentication", "max_channels", "max_cps", "cost", "failover",
                    "caller_id_count", "registration", "enabled"]
    list_filter = ["enabled", "transport", "auth_mode", "srtp_policy"]
    search_fields = ["name", "host", "username"]
    list_select_related = ["failover"]
    inlines = [CallerIDInline]
    actions = ["test_trunk"]
    readonly_fields = ["registration"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        ("Where calls go", {"fields": ["host", "port", "transport", "tls_ca_pem", "failover"]}),
        ("Authentication", {"fields": ["auth_mode", "username", "password", "clear_password", "realm",
                                       "register_expiry_s", "registration"]}),
        ("Media", {"fields": ["srtp_policy", "codecs", "send_pai"]}),
        ("Transfers", {"fields": ["allow_refer"]}),
        ("Capacity and cost", {"fields": ["max_channels", "max_cps", ("cost_per_minute", "currency")]}),
    ]

    # An error report for a failed save (500 page, mail to admins) shows "********" for the password.
    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request: HttpRequest, object_id: str | None = None, form_url: str = "",
                        extra_context: dict | None = None) -> HttpResponse:
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request: HttpRequest, obj: Trunk | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.password:
            # "Remove the stored password" only makes sense when there is one.
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "clear_password"]})
                for name, opts in fieldsets
            ]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trunk]:
        return super().get_queryset(request).annotate(caller_id_total=Count("caller_ids"))

    @admin.display(description="Address", ordering="host")
    def address(self, obj: Trunk) -> str:
        return f"{obj.transport}:{obj.host}:{obj.port}"

    @admin.display(description="Auth", ordering="auth_mode")
    def authentication(self, obj: Trunk) -> str:
        return f"{obj.get_auth_mode_display()} ({obj.username})" if obj.username else obj.get_auth_mode_display()

    @admin.display(description="Cost per minute", ordering="cost_per_minute")
    def cost(self, obj: Trunk) -> str:
        return f"{obj.cost_per_minute:.4f} {obj.currency}"

    @admin.display(description="Caller IDs", ordering="caller_id_total")
    def caller_id_count(self, obj: Trunk) -> int:
        return obj.caller_id_total  # type: ignore[attr-defined]

    @admin.display(description="Registration")
    def registration(self, obj: Trunk) -> str:
        """What the registrar answered the running UA processes (REGISTER-mode trunks only)."""
        if obj.pk is None or obj.auth_mode != TrunkAuth.REGISTER:
            return "-"
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
            with client:
                return summarize(trunk_registrations(client, obj.pk))
        except redis.RedisError:
            return "unknown (Redis unreachable)"

    # F16: the check uses the stored credentials and holds a web worker for up to ~90 s: change permission only.
    @admin.action(description="Test trunk (OPTIONS, and REGISTER when configured)", permissions=["change"])
    def test_trunk(self, request: HttpRequest, queryset: QuerySet[Trunk]) -> None:
        """Check each selected trunk from a short pjsua2 child process and show what it found."""
        trunks = list(queryset[:TRUNK_CHECK_MAX])
        for trunk in trunks:
            result = check_trunk(trunk)
            level = messages.SUCCESS if result.reachable and result.auth_ok is not False else messages.ERROR
            self.message_user(request, f"{trunk.name}: {result.summary()}", level)
        if queryset.count() > len(trunks):
            self.message_user(request, f"Only the first {TRUNK_CHECK_MAX} trunks were tested.", messages.WARNING)


@admin.register(CallerID)
class CallerIDAdmin(admin.ModelAdmin):
    list_display = ["number", "label", "trunk", "daily_cap", "active"]
    list_filter = ["active", "trunk"]
    search_fields = ["number", "label"]
    list_select_related = ["trunk"]
