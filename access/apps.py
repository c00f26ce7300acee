"""Access app: sensitive-data permissions, the shipped groups (synced after every migrate), the export log."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    """App config for access: ships the roles as data once every app's permissions exist."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "access"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="access.sync_roles")
        from django.conf import settings
        from django.contrib import admin

        if settings.ADMIN_REQUIRE_OTP:
            require_otp(admin.site)


def require_otp(site: Any) -> None:
    """Make ``site`` ask for a TOTP code at login and admit only verified staff (django-otp's own pattern, F24)."""
    from django_otp.admin import OTPAdminSite

    site.__class__ = OTPAdminSite


def _sync_roles_after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    # post_migrate fires once per app; the permissions of every app exist only after the last one, so the
    # roles are synced when this (the last installed product) app's signal fires, and again by the command.
    if sender.name != "access":
        return
    from access.roles import sync_roles

    sync_roles(using=using)
