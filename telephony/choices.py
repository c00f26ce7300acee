"""Choice sets for trunks."""

from __future__ import annotations

from django.db import models


class Transport(models.TextChoices):
    """SIP transport towards the trunk."""

    UDP = "udp", "UDP"
    TCP = "tcp", "TCP"
    TLS = "tls", "TLS"


class TrunkAuth(models.TextChoices):
    """How the trunk recognises us."""

    IP = "ip", "IP address (no credentials)"  # the provider allow-lists our address
    DIGEST = "digest", "Digest on each INVITE"  # answer 401/407 challenges
    REGISTER = "register", "REGISTER, then digest"  # keep a registration alive as well


class SrtpPolicy(models.TextChoices):
    """Media encryption policy."""

    DISABLED = "disabled", "Disabled"
    OPTIONAL = "optional", "Optional"
    MANDATORY = "mandatory", "Mandatory"
