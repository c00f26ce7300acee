"""The operator's view of webhooks: endpoints (with their secret shown for copying), events, the delivery log,
and replays of one delivery, selected events, or an endpoint's events over a time range."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import enable_endpoint, end_rotation, replay_deliveries, replay_events, rotate_secret
from webhooks.signing import new_secret
from webhooks.urls_policy import UrlRefused, check_webhook_url


class EndpointForm(forms.ModelForm):
    """Checks the URL against the policy (https, no internal address) before it is saved."""

    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "campaign", "events", "enabled"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            check_webhook_url(url)
        except UrlRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


class ReplayRangeForm(forms.Form):
    """An endpoint's events between two instants (UTC)."""

    since = forms.DateTimeField(help_text="UTC, e.g. 2026-12-06 10:00")
    until = forms.DateTimeField(required=False, help_text="UTC; blank: now")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "campaign", "enabled", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    readonly_fields = ["secret", "previous_secret", "disabled_reason", "disabled_at", "created_at"]
    actions = ["rotate", "finish_rotation", "enable"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if not obj.secret:
            obj.secret = new_secret()
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the secret (both sign until the rotation ends)", permissions=["change"])
    def rotate(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            rotate_secret(endpoint.pk)
        messages.success(request, "New secrets issued; deliveries carry a signature for each secret.")

    @admin.action(description="End the rotation (stop signing with the previous secret)", permissions=["change"])
    def finish_rotation(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            end_rotation(endpoint.pk)

    @admin.action(description="Enable (pending deliveries go out again)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        n = sum(enable_endpoint(e.pk) for e in queryset)
        messages.success(request, f"{n} endpoint(s) enabled.")

    def get_urls(self) -> list[URLPattern]:
        return [path("<int:endpoint_id>/replay/", self.admin_site.admin_view(self.replay_range),
                     name="webhooks_webhookendpoint_replay"), *super().get_urls()]

    def replay_range(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        """Replay an endpoint's events of a time range (a form, then the new deliveries)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        form = ReplayRangeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            since = form.cleaned_data["since"]
            until = form.cleaned_data["until"] or timezone.now()
            n = replay_events(endpoint_id, since=since.replace(tzinfo=since.tzinfo or dt.UTC),
                              until=until.replace(tzinfo=until.tzinfo or dt.UTC))
            messages.success(request, f"{n} event(s) queued again for {endpoint.url}.")
            log = reverse("admin:webhooks_webhookdelivery_changelist")
            return redirect(f"{log}?endpoint__id__exact={endpoint_id}")
        context = {**self.admin_site.each_context(request), "title": f"Replay events to {endpoint.url}",
                   "form": form, "endpoint": endpoint, "opts": self.model._meta}
        return render(request, "admin/webhooks/replay_range.html", context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "event_id", "campaign_id", "subject", "created_at"]
    list_filter = ["type"]
    search_fields = ["=event_id", "=subject"]
    readonly_fields = ["event_id", "type", "campaign_id", "subject", "data", "created_at"]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay the selected events to the endpoints that got them", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        ids = WebhookDelivery.objects.filter(event__in=queryset, replay_of__isnull=True).values_list("id", flat=True)
        n = replay_deliveries(ids)
        messages.success(request, f"{n} delivery(ies) queued again.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "endpoint", "status", "tries", "last_status_code", "last_error",
                    "next_attempt_at", "delivered_at"]
    list_filter = ["status", "endpoint", "event__type"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Replay the selected deliveries", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = replay_deliveries(queryset.values_list("id", flat=True))
        messages.success(request, f"{n} delivery(ies) queued again.")
