"""Call hooks for the in-call control tests, loaded by a UA worker with `--hooks`.

They play the part of the media work: record what the call reports (DTMF, remote hangup, end) in Redis for
the test to read, and run a small script of actions taken from the contact's variables, through the
thread-safe `CallControl` the way the media bridge's asyncio loop will.
"""

from __future__ import annotations

import os
import threading
import time

import redis

from telephony.contract import OriginateCommand
from telephony.ua.call import OutboundCall
from telephony.ua.hooks import CallHooks, EndReport


def events_key(attempt_id: int) -> str:
    """Redis list the hooks append to."""
    return f"test:hooks:{attempt_id}"


class ScriptedHooks(CallHooks):
    """Records call events; after the answer runs `variables["script"]`: "dtmf:<digits>:<method>;transfer:<to>"
    (REFER, the call ends either way), "refer:<to>" (REFER, the call stays up when it fails), "bridge:<to>:<wait s>"
    (a second call bridged on answer), "wait:<s>", "hangup"."""

    def __init__(self, request: OriginateCommand) -> None:
        self.script = str(request.conversation.variables.get("script") or "")
        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.key = events_key(request.attempt_id)

    def _record(self, text: str) -> None:
        self.redis.rpush(self.key, text)

    def on_answered(self, call: OutboundCall) -> None:
        self._record("answered")
        control = call.control

        def run() -> None:
            for step in filter(None, self.script.split(";")):
                time.sleep(1.0)
                kind, _, rest = step.partition(":")
                if kind == "dtmf":
                    digits, _, method = rest.partition(":")
                    control.send_dtmf(digits, method or "rfc2833")
                elif kind == "transfer":
                    control.transfer(rest)
                elif kind == "refer":
                    control.transfer(rest, keep_call_on_failure=True)
                elif kind == "bridge":
                    target, _, wait_s = rest.rpartition(":")
                    control.bridge_transfer(target, float(wait_s))
                elif kind == "wait":
                    time.sleep(float(rest))
                elif kind == "hangup":
                    control.hangup("script")

        threading.Thread(target=run, daemon=True).start()

    def on_dtmf(self, call: OutboundCall, digit: str, method: str) -> None:
        self._record(f"dtmf:{digit}:{method}")

    def on_remote_hangup(self, call: OutboundCall) -> None:
        self._record("remote_hangup")

    def on_transfer_status(self, call: OutboundCall, code: int, method: str) -> None:
        self._record(f"transfer:{method}:{code}")

    def on_ended(self, call: OutboundCall, event: EndReport) -> None:
        self._record(f"ended:{event.data['reason']}")


def scripted_hooks(request: OriginateCommand) -> ScriptedHooks:
    """Hooks factory for `--hooks testing.scripted_hooks:scripted_hooks`."""
    return ScriptedHooks(request)
