"""Media app registration (templates and commands; the library itself has no models)."""

from __future__ import annotations

from django.apps import AppConfig


class MediaConfig(AppConfig):
    """App config for media."""

    name = "media"
    label = "media_bridge"
