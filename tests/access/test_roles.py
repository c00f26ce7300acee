"""The shipped groups exist after migrate and are reset to their definition by ``sync_roles``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from access.roles import ROLES, sync_roles

pytestmark = pytest.mark.django_db


def _perms(group: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=group).permissions.select_related("content_type")}


def test_migrate_ships_the_four_groups() -> None:
    assert set(Group.objects.filter(name__in=["operator", "analyst", "supervisor", "admin"])
               .values_list("name", flat=True)) == {"operator", "analyst", "supervisor", "admin"}
    assert _perms("analyst") == set(ROLES["analyst"])


def test_sync_is_idempotent_and_resets_a_changed_group() -> None:
    # given an operator group that someone widened by hand
    Group.objects.get(name="operator").permissions.add(
        Permission.objects.get(content_type__app_label="access", codename="export_contacts"))
    # when the roles are synced twice (the command, then the function)
    call_command("sync_roles", stdout=open("/dev/null", "w"))  # noqa: SIM115
    sync_roles()
    # then the group holds exactly its definition, and no group was duplicated
    assert _perms("operator") == set(ROLES["operator"])
    assert Group.objects.filter(name="operator").count() == 1


def test_the_admin_role_holds_every_product_permission() -> None:
    product = Permission.objects.filter(content_type__app_label__in=[
        "campaigns", "telephony", "access", "api", "webhooks", "compliance"]).count()
    assert len({p for p in _perms("admin") if not p.startswith(("auth.", "otp_totp."))}) == product
