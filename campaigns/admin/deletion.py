"""What the admin may not delete: the records that prove who was called and who asked not to be (audit F25).

* **Call attempts** are never deleted from the admin (``CallAttemptAdmin``), and the database protects them:
  ``CallAttempt.campaign`` and ``CallAttempt.contact`` are ``PROTECT``. A campaign or contact that has attempts
  is therefore kept; the admin says so before it starts collecting what a delete would cascade to, and points
  to what to do instead (cancel or pause the campaign; put the number on the do-not-call list).
* **Opt-outs** (do-not-call entries with source ``opt_out``, written when a person said "stop" during a call)
  cannot be deleted one by one nor in bulk. Deleting one would make the number importable as dialable again.

Entries added by hand or by upload stay deletable (a typo must be fixable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from campaigns.choices import DncSource
from campaigns.models import CallAttempt, DoNotCall

Refusal = Callable[[QuerySet[Any]], str | None]


def _guarded_delete_selected(refusal: Refusal) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Any]], Any]:
    """Django's "Delete selected" action, refusing the whole selection when ``refusal`` names a reason."""

    def delete_selected_guarded(model_admin: admin.ModelAdmin, request: HttpRequest,
                                queryset: QuerySet[Any]) -> HttpResponse | None:
        reason = refusal(queryset)
        if reason is not None:
            model_admin.message_user(request, f"Nothing was deleted: {reason}", messages.ERROR)
            return None
        return delete_selected(model_admin, request, queryset)

    return delete_selected_guarded


def _replace_delete_selected(actions: dict[str, Any], refusal: Refusal) -> dict[str, Any]:
    # The name stays "delete_selected": Django's confirmation page posts that name back.
    if "delete_selected" in actions:
        _, name, description = actions["delete_selected"]
        actions["delete_selected"] = (_guarded_delete_selected(refusal), name, description)
    return actions


class KeepsCallAttemptsAdmin(admin.ModelAdmin):
    """A model admin whose rows are kept while call attempts refer to them (campaigns, contacts).

    Attributes:
        attempts_lookup: the `CallAttempt` field pointing at this model.
        instead: what the operator should do instead of deleting, in words.
    """

    attempts_lookup = ""
    instead = ""

    def _with_attempts(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(Exists(CallAttempt.objects.filter(**{self.attempts_lookup: OuterRef("pk")})))

    def _refusal(self, queryset: QuerySet[Any]) -> str | None:
        kept = list(self._with_attempts(queryset)[:6])
        if not kept:
            return None
        names = ", ".join(f"\u201c{obj}\u201d" for obj in kept[:5]) + (" and more" if len(kept) > 5 else "")
        return self._kept_message(names)

    def _kept_message(self, names: str) -> str:
        plural = self.model._meta.verbose_name_plural
        # F25 / B4: the attempts are the record of every call made (safe-harbor evidence), kept with their parents.
        return (f"{names} have call attempts, which are the record of the calls made and are kept, so these "
                f"{plural} cannot be deleted. {self.instead}")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return _replace_delete_selected(super().get_actions(request), self._refusal)

    def delete_view(self, request: HttpRequest, object_id: str,
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        obj: Model | None = self.get_object(request, unquote(object_id))
        # The right to delete first: the refusal names the object (a contact's number), which a user who may not
        # delete (or even see) it must not learn from this page.
        if obj is not None and not self.has_delete_permission(request, obj):
            raise PermissionDenied
        if obj is not None and self._with_attempts(self.model._default_manager.filter(pk=obj.pk)).exists():
            meta = self.model._meta
            self.message_user(request, f"\u201c{obj}\u201d has call attempts, which are the record of the calls made "
                                       f"and are kept, so it cannot be deleted. {self.instead}", messages.ERROR)
            return HttpResponseRedirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)


def opt_out_refusal(queryset: QuerySet[DoNotCall]) -> str | None:
    """Why a selection of do-not-call entries must not be deleted (it holds opt-outs), or None."""
    count = queryset.filter(source=DncSource.OPT_OUT).count()
    if not count:
        return None
    # TCPA: a person's request not to be called is honoured and kept; deleting it makes the number dialable again.
    return (f"{count} of the selected entries are opt-outs (the person asked not to be called during a call); "
            "opt-outs are kept. Select only entries added by hand or by upload.")


class KeepsOptOutsAdmin(admin.ModelAdmin):
    """The do-not-call admin's deletion rules: opt-outs are never deleted."""

    def has_delete_permission(self, request: HttpRequest, obj: DoNotCall | None = None) -> bool:
        if obj is not None and obj.source == DncSource.OPT_OUT:
            return False  # TCPA: the opt-out record is kept (see opt_out_refusal)
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return _replace_delete_selected(super().get_actions(request), opt_out_refusal)
