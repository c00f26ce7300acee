"""Telephony app: SIP trunks, caller IDs and (later) the pjsua2 user-agent pool."""

from __future__ import annotations

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    """App config for telephony."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "telephony"
