"""The export log in the admin: read-only, never deleted from here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from access.models import ExportRecord


@admin.register(ExportRecord)
class ExportRecordAdmin(admin.ModelAdmin):
    """Who exported what, when: an audit trail, so nobody may add, change or delete entries here."""

    list_display = ["created_at", "username", "kind", "object_id", "description", "remote_addr"]
    list_filter = ["kind"]
    search_fields = ["username", "description"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
