"""API keys in the admin: issued with the key shown once, revoked by an action; the audit of API writes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.keys import KEY_PREFIX, digest_of, revoke_api_key
from api.models import ApiKey, AuditEntry


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "rate_per_minute", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    filter_horizontal = ["groups"]
    readonly_fields = ["prefix", "revoked_at", "last_used_at", "created_at"]
    fields = ["name", "user", "groups", "rate_per_minute", "expires_at", "prefix", "revoked_at", "last_used_at",
              "created_at"]
    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if not change:
            import secrets

            obj.prefix = secrets.token_hex(4)
            secret = f"{KEY_PREFIX}{obj.prefix}_{secrets.token_urlsafe(32)}"
            obj.digest = digest_of(secret)
            # Shown once: only its digest is stored.
            messages.warning(request, f"The new key (copy it now, it is not shown again): {secret}")
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        n = sum(revoke_api_key(k.pk) for k in queryset)
        messages.success(request, f"{n} key(s) revoked.")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "api_key", "user", "method", "path", "status_code", "replayed"]
    list_filter = ["method", "status_code"]
    list_select_related = ["api_key", "user"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The audit of API writes is kept like the export log: nobody deletes it from the admin.
        return False
