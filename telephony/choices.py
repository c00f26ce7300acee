"""Choice sets of the telephony app: trunks, and how a call ended (the UA pool produces dispositions)."""

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


class Disposition(models.TextChoices):
    """How an attempt ended."""

    HUMAN = "human", "Human"  # a person answered and the agent talked
    MACHINE = "machine", "Answering machine"  # machine detected; hung up
    VOICEMAIL_LEFT = "voicemail_left", "Voicemail left"  # machine; message delivered after the beep
    BUSY = "busy", "Busy"  # 486/600
    NO_ANSWER = "no_answer", "No answer"  # 480/408 or ring timeout
    REJECTED = "rejected", "Rejected"  # 603/403: the person declined
    INVALID_NUMBER = "invalid_number", "Invalid number"  # 404/484/410
    FAILED = "failed", "Failed"  # 5xx, network, media timeout
    FAILED_UNKNOWN = "failed_unknown", "Failed (unknown)"  # the reaper found it stuck; may have rung
    AI_ERROR = "ai_error", "AI error"  # the AI connection failed; fallback message played
    OPTED_OUT = "opted_out", "Opted out"  # asked not to be called again
    TRANSFERRED = "transferred", "Transferred"  # a person answered and the call was handed to a human
    CANCELLED = "cancelled", "Cancelled"  # not dialed: campaign stopped, window closed or DNC before dial
