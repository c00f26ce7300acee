"""Celery's worker and beat log through Django's LOGGING, not through handlers of their own."""

from __future__ import annotations

import logging
import subprocess
import sys

from django.conf import settings


def test_a_celery_worker_logs_with_the_django_logging_format() -> None:
    # given the Celery app as a worker process loads it, and a record logged once Celery set up logging
    script = (
        "import logging\n"
        "from config.celery_app import app\n"
        "from celery.signals import setup_logging\n"
        "from celery.app.log import Logging\n"
        "Logging(app).setup(loglevel='INFO')\n"  # what `celery worker` does at start
        "logging.getLogger('campaigns.probe').warning('through django logging')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,  # noqa: S603
                            check=True)
    # then the record has the format of settings.LOGGING (time, level, logger name, message)
    line = next(x for x in result.stderr.splitlines() if "through django logging" in x)
    fmt = settings.LOGGING["formatters"]["plain"]["format"]
    expected = logging.Formatter(fmt).format(logging.makeLogRecord(
        {"levelname": "WARNING", "name": "campaigns.probe", "msg": "through django logging"}))
    assert line.split(" ", 2)[2] == expected.split(" ", 2)[2]  # the part after the timestamp
