"""pjsua2 accounts: one per trunk (credentials, transport, SRTP policy, optional registration)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pjsua2 as pj

from telephony.contract import TrunkSpec
from telephony.registrations import Registration

logger = logging.getLogger(__name__)

# pjsua's compile-time account limit in this wheel is 8 (a 9th asserts); keep a margin.
MAX_ACCOUNTS = 6
REGISTRATION_WAIT_S = 5.0


class TrunkAccount(pj.Account):
    """A pjsua2 account for one trunk: credentials, transport, SRTP policy, optional registration."""

    def __init__(self, spec: TrunkSpec) -> None:
        super().__init__()
        self.spec = spec
        self.reg_code: int | None = None
        self.reg_reason = ""
        self.reg_active = False
        self.reg_event = threading.Event()
        self.reg_last_success: float | None = None  # wall clock of the last 2xx to a REGISTER
        self.pinned = False  # registered at start: kept (never evicted) so the binding stays
        self.request_waiters: dict[str, Callable[[int, str], None]] = {}
        self.last_used = time.monotonic()

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # pjsua2 callback name
        self.reg_code = int(prm.code)
        self.reg_reason = str(prm.reason)
        self.reg_active = 200 <= self.reg_code < 300 and prm.expiration > 0
        if self.reg_active:
            self.reg_last_success = time.time()
        self.reg_event.set()
        logger.info("trunk %s registration: %s %s", self.spec.id, self.reg_code, self.reg_reason)

    def onSendRequest(self, prm: pj.OnSendRequestParam) -> None:  # pjsua2 callback name
        waiter = self.request_waiters.pop(str(prm.userData), None) if hasattr(prm, "userData") else None
        if waiter is not None:
            waiter(int(prm.e.body.tsxState.tsx.statusCode), str(prm.e.body.tsxState.tsx.statusText))

    def registration(self) -> Registration:
        """What the registrar answered last, for the trunk's registration state."""
        state = "registering" if not self.reg_event.is_set() else "registered" if self.reg_active else "failed"
        return Registration(self.spec.id, state, self.reg_code or 0, self.reg_reason, self.reg_last_success)

    @property
    def registration_failed(self) -> bool:
        """The registrar answered and the trunk is not registered: no call may go out on it."""
        return self.reg_event.is_set() and not self.reg_active
