#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Settings (audit F6): ``DJANGO_SETTINGS_MODULE`` or ``--settings`` names them. Without either, manage.py uses
``config.settings.local`` only in a development checkout (a ``.git`` next to this file) where ``DJANGO_DEBUG`` is
not set to false; anywhere else it stops and asks. The servers (``config.wsgi``/``asgi``), Celery and the UA pool
have no fallback at all (``config/entrypoints.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

DEV_SETTINGS = "config.settings.local"
FALSE_VALUES = frozenset({"0", "false", "no", "off"})


def fallback_settings_module(argv: Sequence[str], environ: Mapping[str, str], root: Path) -> str | None:
    """The settings module manage.py falls back to, or None when the environment or command line names one.

    Args:
        argv: the command line.
        environ: the environment.
        root: the folder of manage.py.

    Raises:
        SystemExit: none is named and this is not a development checkout with DEBUG on.
    """
    if environ.get("DJANGO_SETTINGS_MODULE", "").strip() or any(
            arg == "--settings" or arg.startswith("--settings=") for arg in argv):
        return None
    debug = environ.get("DJANGO_DEBUG", "true").strip().lower() not in FALSE_VALUES
    # F6: the development settings (DEBUG on, a public SECRET_KEY) only where development happens.
    if (root / ".git").exists() and debug:
        return DEV_SETTINGS
    raise SystemExit("manage.py: set DJANGO_SETTINGS_MODULE or pass --settings (config.settings.production in "
                     f"production). {DEV_SETTINGS} is the default only in a development checkout with DEBUG on.")


def main() -> None:
    """Run administrative tasks."""
    fallback = fallback_settings_module(sys.argv, os.environ, Path(__file__).resolve().parent)
    if fallback is not None:
        os.environ["DJANGO_SETTINGS_MODULE"] = fallback
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
