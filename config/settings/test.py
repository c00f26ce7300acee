"""Settings for the test suite: real PostgreSQL and Redis, fast password hashing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403  (settings modules extend the base by star import)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-insecure-key")  # noqa: F405  (F6: never in base)
UA_COMMAND_KEY = ua_command_key(SECRET_KEY)  # noqa: F405
TRUNK_SECRET_KEYS = trunk_secret_keys(SECRET_KEY)  # noqa: F405

# Development-only apps: the demo (`run_demo`) and the simulated phone network (`simulate_pstn`); production
# settings install only the product apps.
INSTALLED_APPS = [*INSTALLED_APPS, "demo", "simulator"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
# TEST_MEDIA_ROOT lets a process the tests start (a Celery worker) share the test run's files.
MEDIA_ROOT = Path(env("TEST_MEDIA_ROOT", default="") or tempfile.mkdtemp(prefix="campaign-engine-test-files-"))  # noqa: F405
RECORDINGS_ROOT = MEDIA_ROOT / "recordings"
# UA workers' event spools: one folder per test run (passed on to the workers), so a spool left by a killed
# worker of another run never replays into this run's database.
UA_SPOOL_DIR = Path(env("UA_SPOOL_DIR", default="") or tempfile.mkdtemp(prefix="campaign-engine-ua-spool-"))  # noqa: F405
# UA workers started by the telephony tests dial SIPp peers without an agent; the bridged-call tests set
# UA_MEDIA_BRIDGE=1 (or pass --hooks) in the worker's environment.
UA_MEDIA_BRIDGE = env.bool("UA_MEDIA_BRIDGE", default=False)  # noqa: F405
WEBHOOK_ALLOW_HTTP_LOOPBACK = True  # the end-to-end tests receive webhooks on a loopback HTTP server
