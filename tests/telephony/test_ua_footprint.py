"""A UA worker starts Django (its ledger writes through the ORM), and Django's admin discovery imports every
app's admin and what that imports. Heavy data loaded at import time then sits in every UA process: the 25
processes of a 100-call pool paid 150 MB each for phonenumbers' geocoding data of every country (the pool's idle
RSS went from 2.2 GB to 6.2 GB). These modules must load on first use only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.telephony.conftest import PROJECT_ROOT

# Imported by code a UA worker never runs: a number's state (imports, the claim) and the evidence PDF (admin).
HEAVY = ("phonenumbers.geodata", "fpdf")

_PROBE = """
import json, sys
import telephony.ua.process
import django
django.setup()
from telephony.ua.ledger import load_ledger
status = open("/proc/self/status").read()
rss_mb = int(status.split("VmRSS:")[1].split()[0]) // 1024
print(json.dumps({"loaded": [m for m in sys.argv[1:] if m in sys.modules], "rss_mb": rss_mb}))
"""


def test_a_ua_worker_starting_django_does_not_load_data_it_never_uses() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run([sys.executable, "-c", _PROBE, *HEAVY], cwd=PROJECT_ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == [], f"a UA worker loads {found['loaded']} at start ({found['rss_mb']} MB RSS)"
    # 100 MB measured (Python, Django, pjsua2, the ORM models); 87 MB before the compliance app existed.
    assert found["rss_mb"] < 160, found
