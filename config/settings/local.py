"""Settings for a developer's machine and the demo."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403  (settings modules extend the base by star import)

DEBUG = env.bool("DJANGO_DEBUG", default=True)  # noqa: F405
