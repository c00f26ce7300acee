"""Registration state of REGISTER-mode trunks, as each UA process sees it, shared through Redis.

Each UA process registers every enabled REGISTER-mode trunk when it starts (one binding per trunk per process:
each process has its own SIP port, so its Contact differs from its siblings'), and pjsua refreshes the binding
before it expires. The worker's heartbeat publishes what its registrar answered last (`publish_registrations`);
the trunk admin reads it back (`trunk_registrations`, `summarize`). Entries older than `STALE_S` belong to a
process that stopped heartbeating and are ignored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis

PREFIX = "ce:trunkreg:"
STALE_S = 30.0  # well above the heartbeat interval; an entry this old is from a process that is gone
KEY_TTL_S = 3600  # a trunk nobody registers any more drops out of Redis after this long


@dataclass(frozen=True)
class Registration:
    """One UA process's registration of one trunk.

    Attributes:
        trunk_id: the trunk.
        state: ``registering`` (no answer yet), ``registered`` or ``failed``.
        code: the registrar's last status code (0: none yet; 408/503 also for no answer or no route).
        reason: its reason phrase.
        last_success: wall-clock time (epoch seconds) of the last 2xx, or None.
        updated: when the process last reported this (epoch seconds).
    """

    trunk_id: int
    state: str
    code: int = 0
    reason: str = ""
    last_success: float | None = None
    updated: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether calls may go out on this trunk from that process."""
        return self.state == "registered"


def _key(trunk_id: int) -> str:
    return f"{PREFIX}{trunk_id}"


def publish_registrations(r: redis.Redis, ua_name: str, registrations: Iterable[Registration]) -> None:
    """Store this process's registrations (one hash per trunk, one field per UA process)."""
    now = time.time()
    pipe = r.pipeline(transaction=False)
    for reg in registrations:
        data = {**asdict(reg), "updated": now}
        pipe.hset(_key(reg.trunk_id), ua_name, json.dumps(data))
        pipe.expire(_key(reg.trunk_id), KEY_TTL_S)
    pipe.execute()


def trunk_registrations(r: redis.Redis, trunk_id: int, *, now: float | None = None) -> dict[str, Registration]:
    """The live registrations of a trunk, by UA process name (stale entries left out)."""
    now = time.time() if now is None else now
    out: dict[str, Registration] = {}
    for name, raw in r.hgetall(_key(trunk_id)).items():
        try:
            data: dict[str, Any] = json.loads(raw)
            reg = Registration(**data)
        except (ValueError, TypeError):
            continue
        if now - reg.updated <= STALE_S:
            out[name.decode() if isinstance(name, bytes) else str(name)] = reg
    return out


def summarize(registrations: dict[str, Registration]) -> str:
    """One line for the admin: how many processes are registered, the failure codes, the last success."""
    if not registrations:
        return "not registered by any running UA"
    regs = list(registrations.values())
    ok = [reg for reg in regs if reg.ok]
    failed = sorted({f"{reg.code} {reg.reason}".strip() for reg in regs if reg.state == "failed"})
    successes = [reg.last_success for reg in regs if reg.last_success is not None]
    last = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(max(successes))) if successes else "never"
    text = f"registered on {len(ok)} of {len(regs)} UA processes"
    if failed:
        text += f"; failing: {', '.join(failed)}"
    pending = len(regs) - len(ok) - sum(1 for reg in regs if reg.state == "failed")
    if pending:
        text += f"; {pending} waiting for the registrar"
    return f"{text}; last success {last}"
