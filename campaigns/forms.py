"""Admin forms: the campaign settings, contact uploads and the do-not-call list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import phonenumbers
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator

from campaigns.budget import spend_by_campaign
from campaigns.choices import RETRYABLE_DISPOSITIONS, Disposition
from campaigns.models import Campaign, Contact, DoNotCall, RetryRule, default_window_days
from campaigns.rules.phones import InvalidNumber, normalize_number
from campaigns.rules.variables import InvalidVariables, check_variables
from campaigns.rules.windows import LEGAL_END, LEGAL_START
from campaigns.uploads import max_size
from telephony.models import Trunk

WEEKDAY_CHOICES = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
CSV_EXTENSIONS = ["csv", "txt", "tsv"]
RING_TIMEOUT_MIN_S, RING_TIMEOUT_MAX_S = 5, 300  # the campaign_ring_timeout_range constraint
RETRY_DELAY_MIN_S = 60


def validate_region(value: str) -> None:
    """Refuse a region code phonenumbers does not know (e.g. 'USA' or 'uk')."""
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"“{value}” is not a two-letter country code such as US, GB or FR.")


class RegionField(forms.CharField):
    """A two-letter ISO country code, upper-cased."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("min_length", 2)
        kwargs.setdefault("help_text", "Country used to read numbers written without +country code.")
        super().__init__(validators=[validate_region], **kwargs)
        self.widget.attrs.setdefault("size", 3)

    def to_python(self, value: Any) -> str:
        return (super().to_python(value) or "").upper()


class CampaignAdminForm(forms.ModelForm):
    """Campaign settings with the calling window checked against the legal calling hours."""

    window_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES, coerce=int, widget=forms.CheckboxSelectMultiple,
        label="Calling days", help_text="Weekdays in the contact's own time zone.",
        initial=default_window_days,
    )
    default_region = RegionField(initial="US")

    class Meta:
        model = Campaign
        fields = ["name", "agent", "trunk", "caller_ids", "default_region", "window_days", "window_start",
                  "window_end", "max_concurrent", "max_cps", "ring_timeout_s", "max_attempts", "amd_enabled",
                  "amd_max_decision_ms", "amd_greet_immediately", "amd_late_beep", "machine_policy",
                  "voicemail_message", "opt_out_digit", "budget"]
        widgets = {
            "window_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "window_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "voicemail_message": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "window_start": "Local time at the contact; not before 08:00.",
            "window_end": "Local time at the contact; not after 21:00.",
        }

    # D3: each database check constraint has its words here, on its field, before the database sees the row
    # (it said "Constraint “campaign_max_concurrent_gte_1” is violated." at the top of the form).
    def clean_max_concurrent(self) -> int:
        return _at_least(self.cleaned_data["max_concurrent"], 1, "At least 1 call at a time.")

    def clean_max_cps(self) -> Decimal:
        value = self.cleaned_data["max_cps"]
        if value is not None and value <= 0:
            raise ValidationError("More than 0 calls per second (0.1 is one new call every 10 seconds).")
        return value

    def clean_ring_timeout_s(self) -> int:
        value = self.cleaned_data["ring_timeout_s"]
        if value is not None and not RING_TIMEOUT_MIN_S <= value <= RING_TIMEOUT_MAX_S:
            raise ValidationError(f"Between {RING_TIMEOUT_MIN_S} and {RING_TIMEOUT_MAX_S} seconds: shorter "
                                  "hangs up before most people can answer.")
        return value

    def clean_max_attempts(self) -> int:
        return _at_least(self.cleaned_data["max_attempts"], 1, "At least 1 attempt per contact.")

    def clean_opt_out_digit(self) -> str:
        value = (self.cleaned_data.get("opt_out_digit") or "").strip()
        if value and (len(value) != 1 or value not in "0123456789*#"):
            raise ValidationError("One key of the phone's keypad (0-9, * or #), or empty for none.")
        return value

    def clean_budget(self) -> Decimal | None:
        value = self.cleaned_data.get("budget")
        if value is not None and value <= 0:
            raise ValidationError("A cap above 0, or empty for no cap.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._check_currency(cleaned.get("trunk"))
        start, end = cleaned.get("window_start"), cleaned.get("window_end")
        # TCPA: calls only between 08:00 and 21:00 at the called party's location; the dialer clips
        # the window to those hours anyway, but the form says so instead of silently narrowing it.
        if start and start < LEGAL_START:
            self.add_error("window_start", "Calls may not start before 08:00 local time.")
        if end and end > LEGAL_END:
            self.add_error("window_end", "Calls may not go on after 21:00 local time.")
        if start and end and start >= end:
            self.add_error("window_end", "The window must end after it starts.")
        trunk, caller_ids = cleaned.get("trunk"), cleaned.get("caller_ids")
        if trunk and caller_ids:
            foreign = [c.number for c in caller_ids if c.trunk_id != trunk.pk]
            if foreign:
                self.add_error("caller_ids", f"Not on trunk {trunk}: {', '.join(foreign)}.")
        policy, message = cleaned.get("machine_policy"), cleaned.get("voicemail_message")
        if policy == "leave_message" and not (message or "").strip():
            self.add_error("voicemail_message", "Leaving a message needs the message text.")
        return cleaned


    def _check_currency(self, trunk: Trunk | None) -> None:
        """A campaign's spend is one sum in one currency: no move to a trunk of another once calls cost."""
        if trunk is None or not self.instance.pk or "trunk" not in self.changed_data:
            return
        spent = spend_by_campaign([self.instance.pk])[self.instance.pk]
        old = Trunk.objects.filter(pk=self.instance.trunk_id).values_list("currency", flat=True).first()
        if spent and old and old != trunk.currency:
            self.add_error("trunk", f"This campaign has spent {spent:.2f} {old}; trunk \u201c{trunk}\u201d bills "
                                    f"in {trunk.currency}. Choose a trunk that bills in {old}.")


class RetryRuleForm(forms.ModelForm):
    """One retry rule; only dispositions that can be retried are offered."""

    disposition = forms.ChoiceField(
        choices=[(d.value, d.label) for d in Disposition if d in RETRYABLE_DISPOSITIONS]
    )

    class Meta:
        model = RetryRule
        fields = ["disposition", "delay_s", "max_attempts"]
        labels = {"delay_s": "Wait before retrying (s)"}
        help_texts = {"max_attempts": "Attempts that may end this way; 1 = not retried."}

    def clean_delay_s(self) -> int:
        return _at_least(self.cleaned_data["delay_s"], RETRY_DELAY_MIN_S,
                         f"At least {RETRY_DELAY_MIN_S} seconds: calling straight back annoys and gets numbers "
                         "flagged as spam.")

    def clean_max_attempts(self) -> int:
        return _at_least(self.cleaned_data["max_attempts"], 1, "At least 1 (1 means this result is not retried).")


def _at_least(value: int | None, low: int, message: str) -> int:
    if value is not None and value < low:
        raise ValidationError(message)
    return value  # type: ignore[return-value]  # None only when the field already has an error


class ContactUploadForm(forms.Form):
    """Step one of an import: the file and how to read national numbers."""

    file = forms.FileField(
        label="CSV file", validators=[FileExtensionValidator(CSV_EXTENSIONS), max_size("CONTACT_UPLOAD_MAX_BYTES")],
        help_text="One row per contact with a header row. A phone column is required; name and time zone "
        "are recognised; every other column becomes a {{variable}}.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv"}),
    )
    default_region = RegionField()


class DoNotCallAddForm(forms.ModelForm):
    """Add one number; it may be typed in national format."""

    phone_e164 = forms.CharField(label="Phone number", max_length=40,
                                 help_text="E.164 (+14155550100) or national format read in the region below.")
    default_region = RegionField(initial="US")

    class Meta:
        model = DoNotCall
        fields = ["phone_e164", "default_region", "campaign", "note"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        raw, region = cleaned.get("phone_e164"), cleaned.get("default_region")
        if raw and region:
            try:
                e164 = normalize_number(raw, region).e164
            except InvalidNumber as exc:
                self.add_error("phone_e164", f"Not a valid number: {exc}.")
            else:
                cleaned["phone_e164"] = e164
                campaign = cleaned.get("campaign")
                if DoNotCall.objects.filter(phone_e164=e164, campaign=campaign).exists():
                    scope = f"for campaign {campaign}" if campaign else "for every campaign"
                    self.add_error("phone_e164", f"{e164} is already on the do-not-call list {scope}.")
        return cleaned


class DoNotCallUploadForm(forms.Form):
    """Upload a list of numbers that must not be called."""

    file = forms.FileField(
        label="CSV file", validators=[FileExtensionValidator(CSV_EXTENSIONS), max_size("DNC_UPLOAD_MAX_BYTES")],
        help_text="A column named phone (or number) or one number per line.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv"}),
    )
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.only("id", "name"), required=False,
                                      empty_label="Every campaign (global)")
    default_region = RegionField(initial="US")


class ContactAdminForm(forms.ModelForm):
    """A contact as the operator may edit it: variables are a flat object of bounded texts (F18)."""

    class Meta:
        model = Contact
        fields = ["name", "priority", "variables"]

    def clean_variables(self) -> dict[str, str]:
        try:
            return check_variables(self.cleaned_data.get("variables"), max_keys=settings.CONTACT_MAX_VARIABLES,
                                   max_length=settings.IMPORT_MAX_FIELD_LENGTH)
        except InvalidVariables as exc:
            raise forms.ValidationError(str(exc)) from exc
