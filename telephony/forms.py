"""Admin forms for trunks: the digest password is write-only."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django import forms

from telephony.choices import TrunkAuth
from telephony.models import ENDPOINT_FIELDS, Trunk, default_currency

HELP_WHEN_STORED = "A password is stored. It is never shown; leave this blank to keep it, or type a new one."
HELP_WHEN_EMPTY = "Digest password. It is never shown again after saving."
# The codecs the user agent can put in its offer (names of telephony/ua/manager.py's _CODEC_IDS).
SUPPORTED_CODECS = ("PCMU", "PCMA", "G722", "GSM", "ILBC", "SPEEX", "L16")
# RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most.
_HOST_NAME = re.compile(r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def clean_host(value: str) -> str:
    """A host name or an IP address (an IPv6 address with or without brackets), else a form error."""
    host = value.strip()
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise forms.ValidationError(
                f"\u201c{value}\u201d is not a host name or IP address (for example sip.example.com or "
                "203.0.113.10; no spaces, scheme or port here).") from None
    return host


def clean_codecs(value: str) -> str:
    """A comma-separated codec order of supported names, upper-cased, without repeats."""
    names = [c.strip().upper() for c in value.split(",") if c.strip()]
    unknown = [c for c in names if c not in SUPPORTED_CODECS]
    if unknown:
        raise forms.ValidationError(
            f"Unknown codec{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            f"use names from {', '.join(SUPPORTED_CODECS)}, most preferred first.")
    if not names:
        raise forms.ValidationError("Name at least one codec, for example PCMU,PCMA.")
    return ",".join(dict.fromkeys(names))


class TrunkAdminForm(forms.ModelForm):
    """Trunk form whose password field never renders the stored value.

    A blank submission keeps the stored password (read when the form is built, restored in
    :meth:`save`), a non-blank one replaces it, and "clear" removes it.
    """

    password = forms.CharField(
        required=False,
        strip=False,
        max_length=256,
        # render_value=False: the stored secret never reaches the HTML, not even after a form error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=HELP_WHEN_EMPTY,
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")

    class Meta:
        model = Trunk
        fields = ["name", "enabled", "host", "port", "transport", "failover", "auth_mode", "username", "realm",
                  "register_expiry_s", "srtp_policy", "tls_ca_pem", "codecs", "send_pai", "max_channels", "max_cps",
                  "cost_per_minute", "currency", "allow_refer"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The admin builds this form with "password" among its fields, so the ModelForm copies the
        # (blank) input onto the instance; keep the stored value to put back.
        self._stored_password = self.instance.password
        if "currency" in self.fields:  # absent from a read-only view's form
            self.fields["currency"].required = False
        if self.instance.pk and self.instance.password:
            self.fields["password"].help_text = HELP_WHEN_STORED
        else:
            self.fields.pop("clear_password", None)

    def clean_host(self) -> str:
        return clean_host(self.cleaned_data["host"])

    def clean_codecs(self) -> str:
        return clean_codecs(self.cleaned_data["codecs"])

    def clean_currency(self) -> str:
        # Left out (an older form or script): the deployment's currency, as a new trunk's default.
        return (str(self.cleaned_data.get("currency") or "").strip() or default_currency()).upper()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Costs are never summed across currencies: a call that fails over is costed on the failover trunk, and
        # the campaign's spend (and its budget cap) must stay one sum.
        failover, currency = cleaned.get("failover"), cleaned.get("currency")
        if failover is not None and currency and failover.currency != currency:
            self.add_error("failover", f"The failover trunk bills in {failover.currency}, this one in {currency}: "
                                       "a campaign's calls must cost in one currency.")
        if self.instance.pk and currency and "currency" in self.changed_data:
            backing = Trunk.objects.filter(failover_id=self.instance.pk).exclude(currency=currency).first()
            if backing is not None:
                self.add_error("currency", f"Trunk \u201c{backing}\u201d fails over to this one and bills in "
                                           f"{backing.currency}: change both together.")
        new_password = cleaned.get("password") or ""
        # F8: the stored password belongs to the endpoint it was entered for; a new endpoint needs it typed again.
        moved = bool(self.instance.pk) and any(name in self.changed_data for name in ENDPOINT_FIELDS)
        keeps_stored = bool(self._stored_password) and not cleaned.get("clear_password") and not moved
        has_password = bool(new_password) or keeps_stored
        if cleaned.get("auth_mode") in (TrunkAuth.DIGEST, TrunkAuth.REGISTER):
            if not cleaned.get("username"):
                self.add_error("username", "Digest and REGISTER authentication need a username.")
            if not has_password:
                self.add_error("password", "Enter the password again: the host, port, transport, realm or TLS CA "
                               "changed."
                               if moved and self._stored_password else
                               "Digest and REGISTER authentication need a password.")
        return cleaned

    def save(self, commit: bool = True) -> Trunk:
        trunk: Trunk = super().save(commit=False)
        new_password = self.cleaned_data.get("password") or ""
        if new_password:
            trunk.password = new_password
        elif self.cleaned_data.get("clear_password"):
            trunk.password = ""
        else:
            trunk.password = self._stored_password
        if commit:
            trunk.save()
            self.save_m2m()
        return trunk
