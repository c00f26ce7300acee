"""SIP trunks and the caller-ID numbers presented through them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cryptography import x509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from telephony.choices import SrtpPolicy, Transport, TrunkAuth
from telephony.secrets import EncryptedPasswordField
from telephony.trunk_rules import trunk_security_errors

# F8: a stored password is sent only to the endpoint it was entered for. Changing any of these clears it, so a user
# who may edit a trunk cannot point it at their own server and harvest digest responses to the old password.
# The TLS CA decides which server is the trunk (F5), so trusting another one is moving the endpoint too.
ENDPOINT_FIELDS = ("host", "port", "transport", "realm", "tls_ca_pem")
# F5: digest trunks name their realm; SRTP mandatory only over TLS (the rules: telephony.contract).
_DIGEST_HAS_REALM = models.Q(auth_mode=TrunkAuth.IP) | (~models.Q(realm="") & ~models.Q(realm="*"))
_MANDATORY_SRTP_OVER_TLS = ~models.Q(srtp_policy=SrtpPolicy.MANDATORY) | models.Q(transport=Transport.TLS)
CURRENCY_REGEX = r"^[A-Z]{3}$"


def default_currency() -> str:
    """The deployment's currency (``COST_CURRENCY``) for a new trunk."""
    return str(settings.COST_CURRENCY)


class Trunk(models.Model):
    """A SIP trunk: where calls are sent, how we authenticate, and its capacity."""

    name = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255, help_text="Registrar/proxy host name or IP address.")
    port = models.PositiveIntegerField(default=5060, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.UDP)
    auth_mode = models.CharField(max_length=10, choices=TrunkAuth.choices, default=TrunkAuth.IP)
    username = models.CharField(max_length=128, blank=True)
    # Never rendered by the admin and never logged (TrunkAdminForm, __repr__); encrypted at rest (F8).
    password = EncryptedPasswordField(blank=True)
    realm = models.CharField(max_length=128, blank=True,
                             help_text="Digest realm of the provider; required for digest and REGISTER trunks.")
    register_expiry_s = models.PositiveIntegerField(default=300)
    srtp_policy = models.CharField(max_length=10, choices=SrtpPolicy.choices, default=SrtpPolicy.DISABLED,
                                   help_text="Mandatory needs the TLS transport (the SDES keys travel in the SDP).")
    tls_ca_pem = models.TextField(
        "TLS CA certificate", blank=True,
        help_text="TLS trunks: the CA certificate(s), PEM, that sign the provider's certificate. Blank: the "
                  "system's CA bundle. The certificate must also name the host above.")
    codecs = models.CharField(max_length=100, default="PCMU,PCMA", help_text="Codec order, comma separated.")
    send_pai = models.BooleanField("Send P-Asserted-Identity", default=False)
    max_channels = models.PositiveIntegerField(default=30)
    allow_refer = models.BooleanField(
        "Transfers by SIP REFER", default=False,
        help_text="The provider accepts REFER: a cold transfer hands the call over instead of bridging a second call.")
    max_cps = models.DecimalField("Max calls per second", max_digits=6, decimal_places=2, default=Decimal("5"))
    cost_per_minute = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
    # Costs are never summed across currencies: an attempt keeps the currency it was charged in
    # (CallAttempt.cost_currency) and every total is grouped by it.
    currency = models.CharField(
        max_length=3, default=default_currency,
        validators=[RegexValidator(CURRENCY_REGEX, "An ISO 4217 code in capitals, e.g. USD or EUR.")],
        help_text="ISO 4217 code of the rate, e.g. USD. A failover trunk must use the same currency.")
    failover = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Secondary trunk tried on 5xx or timeout before answer.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(max_channels__gte=1), name="trunk_max_channels_gte_1"),
            models.CheckConstraint(condition=models.Q(max_cps__gt=0), name="trunk_max_cps_gt_0"),
            models.CheckConstraint(condition=models.Q(cost_per_minute__gte=0), name="trunk_cost_gte_0"),
            models.CheckConstraint(condition=models.Q(currency__regex=CURRENCY_REGEX), name="trunk_currency_iso"),
            models.CheckConstraint(condition=models.Q(port__gte=1, port__lte=65535), name="trunk_port_range"),
            models.CheckConstraint(condition=~models.Q(failover=models.F("id")), name="trunk_failover_not_self"),
            models.CheckConstraint(
                condition=_DIGEST_HAS_REALM, name="trunk_digest_has_realm",
                violation_error_message="Digest and REGISTER authentication need the provider's realm."),
            models.CheckConstraint(
                condition=_MANDATORY_SRTP_OVER_TLS, name="trunk_mandatory_srtp_over_tls",
                violation_error_message="SRTP mandatory needs the TLS transport."),
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # The password is deliberately absent so it never reaches a log line or a traceback.
        return f"<Trunk {self.pk} {self.name} {self.transport}://{self.host}:{self.port}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a stored password is cleared when the endpoint changed and no new password was given (F8)."""
        loaded = getattr(self, "_loaded_endpoint", None)
        endpoint = self._endpoint()
        if (self.pk and loaded is not None and endpoint is not None and endpoint != loaded
                and self.password and self.password == getattr(self, "_loaded_password", None)):
            self.password = ""
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "password"}
        super().save(*args, **kwargs)
        self._loaded_endpoint = self._endpoint()
        self._loaded_password = self.__dict__.get("password")

    def clean(self) -> None:
        """The trunk's security rules (F5, `telephony.trunk_rules.trunk_security_errors`), per field."""
        errors = trunk_security_errors(transport=self.transport, auth_mode=self.auth_mode, realm=self.realm,
                                       srtp_policy=self.srtp_policy, tls_ca_pem=self.tls_ca_pem)
        if "tls_ca_pem" not in errors and self.tls_ca_pem.strip():
            try:
                x509.load_pem_x509_certificates(self.tls_ca_pem.encode())
            except ValueError as exc:
                errors["tls_ca_pem"] = f"not a readable PEM certificate: {exc}"
        if errors:
            raise ValidationError({name: message[0].upper() + message[1:] + "." for name, message in errors.items()})

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> Trunk:
        instance = super().from_db(db, field_names, values)
        instance._loaded_endpoint = instance._endpoint()
        instance._loaded_password = instance.__dict__.get("password")
        return instance

    def _endpoint(self) -> tuple[Any, ...] | None:
        if any(name not in self.__dict__ for name in ENDPOINT_FIELDS):
            return None  # loaded with .only()/.defer(): not compared
        return tuple(getattr(self, name) for name in ENDPOINT_FIELDS)



class CallerID(models.Model):
    """A number the operator owns and may present as the calling number on a trunk."""

    trunk = models.ForeignKey(Trunk, on_delete=models.CASCADE, related_name="caller_ids")
    number = models.CharField(max_length=16, help_text="E.164, e.g. +14155550100.")
    label = models.CharField(max_length=100, blank=True)
    daily_cap = models.PositiveIntegerField(default=300, help_text="Most calls presented per UTC day.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["trunk", "number"]
        verbose_name = "caller ID"
        constraints = [
            models.UniqueConstraint(fields=["trunk", "number"], name="callerid_unique_per_trunk"),
            models.CheckConstraint(condition=models.Q(number__regex=r"^\+[1-9][0-9]{6,14}$"), name="callerid_e164"),
        ]

    def __str__(self) -> str:
        return self.number
