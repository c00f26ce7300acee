"""Fixtures for the browser tests: headless Chromium (Debian's package) and a real Celery worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT_DIR = Path(os.environ.get("BROWSER_SCREENSHOT_DIR")
                      or Path(tempfile.gettempdir()) / "campaign-engine-screenshots")
WORKER_READY_TIMEOUT_S = 60


def chromium_path() -> str:
    """Debian's Chromium; a missing browser fails the test loudly instead of skipping it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium); "
                    "the browser tests do not download browsers.")
    return str(CHROMIUM)


def log_in(page: Any, base_url: str, username: str, password: str, next_path: str = "") -> None:
    """Sign in through the admin's login form (then follow `next_path`, an absolute path, if given)."""
    page.goto(f"{base_url}/{settings.ADMIN_URL}login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[subprocess.Popen[str]]:
    """A real ``celery worker`` process consuming this test run's Redis database and test database.

    It runs the same code path as production: the view enqueues on commit, the worker picks the
    message from Redis and runs the task against the (committed) rows of the test database.
    """
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()  # no stale messages from earlier runs
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DB_CONN_MAX_AGE": "0",
    }
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    process = subprocess.Popen(  # noqa: S603 (our own worker command)
        [celery, "-A", "config", "worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"browser-test-{os.getpid()}@%h"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if " ready." in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while not ready.is_set() and process.poll() is None and time.monotonic() < deadline:
        ready.wait(0.2)
    if not ready.is_set():
        _stop(process)
        pytest.fail("The Celery worker did not start:\n" + "".join(lines[-40:]))
    try:
        yield process
    finally:
        _stop(process)
        reader.join(timeout=5)
        client.flushdb()
        client.close()
        sys.stdout.write("".join(line for line in lines if "ERROR" in line or "Traceback" in line))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
