"""Where a campaign's calls may be handed to a person (docs/transfer.md).

Imported by ``campaigns.models`` (the app's model registry); kept apart to keep that module short. The rows travel
to the UA in each originate command as `telephony.transfers.TransferTargetSpec` (`to_spec`); the UA decides during
the call which one is staffed.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from campaigns.choices import TransferFallback
from telephony.transfers import MAX_WAIT_LIMIT_S, TransferTargetSpec, check_destination

WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]  # Monday = 0


def default_staffed_days() -> list[int]:
    """Monday to Friday."""
    return [0, 1, 2, 3, 4]


class TransferTarget(models.Model):
    """One destination of a campaign's transfers: a number through the campaign's trunk, or a SIP URI."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="transfer_targets")
    position = models.PositiveSmallIntegerField(default=0, help_text="Tried in this order (lowest first).")
    name = models.CharField(max_length=100, help_text="E.g. 'Sales desk'; shown in records and reports.")
    destination = models.CharField(
        max_length=255, help_text="E.164 number (sent through the campaign's trunk) or a SIP URI (sip:user@host)."
    )
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA zone of the staffed hours.")
    staffed_days = ArrayField(
        models.PositiveSmallIntegerField(),
        default=default_staffed_days,
        help_text="Weekdays someone answers, Monday = 0.",
    )
    staffed_start = models.TimeField(default=dt.time(9, 0))
    staffed_end = models.TimeField(default=dt.time(17, 0))
    max_wait_s = models.PositiveIntegerField(
        "Longest wait for an answer (s)",
        default=30,
        help_text=f"5-{MAX_WAIT_LIMIT_S} s; past it the caller is not left waiting: the fallback applies.",
    )
    warm = models.BooleanField(
        "Warm transfer",
        default=False,
        help_text="The agent first briefs the person who answers (a summary of the call); they press 1 to take the "
        "call or 2 to decline. Otherwise the call is handed over as soon as they answer.",
    )
    fallback = models.CharField(max_length=10, choices=TransferFallback.choices, default=TransferFallback.AGENT)
    fallback_message = models.TextField(blank=True, help_text="Said when nobody answers; empty uses a short default.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["campaign", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(staffed_start__lt=models.F("staffed_end")), name="transfertarget_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(staffed_days__contained_by=WEEKDAYS) & Q(staffed_days__len__gte=1),
                name="transfertarget_days_valid",
            ),
            models.CheckConstraint(
                condition=Q(max_wait_s__gte=5, max_wait_s__lte=MAX_WAIT_LIMIT_S), name="transfertarget_max_wait_range"
            ),
            models.CheckConstraint(
                condition=Q(fallback__in=TransferFallback.values), name="transfertarget_fallback_valid"
            ),
            models.CheckConstraint(
                condition=Q(destination__regex=r"^(\+[1-9][0-9]{6,14}|sips?:[^@\s]+@\S+)$"),
                name="transfertarget_destination_form",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.destination})"

    def clean(self) -> None:
        """Refuse a destination that is neither E.164 nor a SIP URI, an unknown zone, or empty hours."""
        errors: dict[str, str] = {}
        try:
            check_destination(self.destination or "")
        except ValueError as exc:
            errors["destination"] = str(exc)
        if not errors:
            try:
                self.to_spec()
            except ValueError as exc:
                text = str(exc)
                field = next(
                    (f for f in ("time_zone", "days", "start", "end", "max_wait_s", "fallback") if f in text), None
                )
                name = {"days": "staffed_days", "start": "staffed_start", "end": "staffed_end"}.get(field or "", field)
                errors[name or "__all__"] = text
        if errors:
            raise ValidationError(errors)

    def to_spec(self) -> TransferTargetSpec:
        """The target as it travels in an originate command (ValueError when a value is unusable)."""
        return TransferTargetSpec(
            name=self.name,
            destination=self.destination,
            time_zone=self.time_zone,
            days=tuple(sorted(set(self.staffed_days or []))),
            start=self.staffed_start.strftime("%H:%M"),
            end=self.staffed_end.strftime("%H:%M"),
            max_wait_s=int(self.max_wait_s),
            fallback=self.fallback,
            fallback_message=self.fallback_message,
            warm=self.warm,
        )
