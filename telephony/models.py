"""SIP trunks and the caller-ID numbers presented through them."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from telephony.choices import SrtpPolicy, Transport, TrunkAuth


class Trunk(models.Model):
    """A SIP trunk: where calls are sent, how we authenticate, and its capacity."""

    name = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255, help_text="Registrar/proxy host name or IP address.")
    port = models.PositiveIntegerField(default=5060, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.UDP)
    auth_mode = models.CharField(max_length=10, choices=TrunkAuth.choices, default=TrunkAuth.IP)
    username = models.CharField(max_length=128, blank=True)
    # Never rendered by the admin and never logged: see TrunkAdminForm and __repr__.
    password = models.CharField(max_length=256, blank=True)
    realm = models.CharField(max_length=128, blank=True, help_text="Digest realm; blank accepts any ('*').")
    register_expiry_s = models.PositiveIntegerField(default=300)
    srtp_policy = models.CharField(max_length=10, choices=SrtpPolicy.choices, default=SrtpPolicy.DISABLED)
    codecs = models.CharField(max_length=100, default="PCMU,PCMA", help_text="Codec order, comma separated.")
    send_pai = models.BooleanField("Send P-Asserted-Identity", default=False)
    max_channels = models.PositiveIntegerField(default=30)
    max_cps = models.DecimalField("Max calls per second", max_digits=6, decimal_places=2, default=Decimal("5"))
    cost_per_minute = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("0"))
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
            models.CheckConstraint(condition=models.Q(port__gte=1, port__lte=65535), name="trunk_port_range"),
            models.CheckConstraint(condition=~models.Q(failover=models.F("id")), name="trunk_failover_not_self"),
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # The password is deliberately absent so it never reaches a log line or a traceback.
        return f"<Trunk {self.pk} {self.name} {self.transport}://{self.host}:{self.port}>"


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
