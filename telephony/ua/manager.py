"""All calls and trunk accounts of one UA process, on the pjsua thread: dialing, failover, ends, in-call control.

Everything here runs on the `PjsuaThread`. What the ledger must know (ringing, answered, ended) leaves as typed
`telephony.contract` events on a queue; another thread spools them to disk and the ledger thread reports them,
so a slow or absent database never stalls SIP or media.
"""

from __future__ import annotations

import functools
import gc
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pjsua2 as pj

from telephony.choices import TrunkAuth
from telephony.contract import CallEvent, Ended, OriginateCommand, TrunkSpec
from telephony.registrations import Registration
from telephony.ua.accounts import (
    MAX_ACCOUNTS,
    REGISTRATION_WAIT_S,
    TrunkAccount,
    create_guard_account,
    trunk_account_config,
)
from telephony.ua.call import OutboundCall
from telephony.ua.endpoint import PjsuaThread
from telephony.ua.hooks import CallHooks, ChannelGate, EndReport
from telephony.ua.media_port import MAX_MEDIA_PORTS, MediaPortPool
from telephony.ua.sip_codes import CallOutcome, disposition_for, should_fail_over
from telephony.ua.sip_sources import SipSourcePolicy
from telephony.ua.transfer_leg import TransferLines, TransferOperations

logger = logging.getLogger(__name__)

# Call objects are dropped this long after DISCONNECTED, on the pjsua thread: deleting inside the callback has
# crashed pjsua2 (pjproject issue 2815), and deleting from another thread asserts.
RELEASE_DELAY_S = 0.5

_CODEC_IDS = {"PCMU": "PCMU/8000", "PCMA": "PCMA/8000", "G722": "G722/16000", "GSM": "GSM/8000",
              "ILBC": "iLBC/8000", "SPEEX": "speex/8000", "L16": "L16/8000"}


class CallManager(TransferOperations):
    """All calls and trunk accounts of one UA process. Every method runs on the pjsua thread.

    Args:
        pjsua: the thread owning the Endpoint.
        events: where ledger events go (consumed by another thread).
        rtp_port: first RTP port of this process; rtp_port_range: how many it may use.
        media_timeout_s: end an answered call as failed after this long without RTP (0 disables).
        hooks_factory: builds the per-call hooks for the media work.
        channel_gate: asks for a channel on a failover trunk (None: failover needs no permission, as in tests).
        source_policy: who may send SIP (F27); trunks are added as they are used. None refuses no one.
        transfer_lines: the process's line count, which a transfer's second call takes a line of (None: no
            count, as in tests that drive the manager alone).
    """

    def __init__(self, pjsua: PjsuaThread, events: queue.SimpleQueue[CallEvent], *, bind_address: str,
                 rtp_port: int, rtp_port_range: int, media_timeout_s: float,
                 hooks_factory: Callable[[OriginateCommand], CallHooks] | None = None,
                 channel_gate: ChannelGate | None = None, source_policy: SipSourcePolicy | None = None,
                 transfer_lines: TransferLines | None = None) -> None:
        self.pjsua = pjsua
        self.events = events
        self.bind_address = bind_address
        self.rtp_port = rtp_port
        self.rtp_port_range = rtp_port_range
        self.media_timeout_s = media_timeout_s
        self.hooks_factory = hooks_factory or (lambda request: CallHooks())
        self.accounts: OrderedDict[tuple[Any, ...], TrunkAccount] = OrderedDict()
        self._registering: tuple[TrunkAccount, ...] = ()  # the REGISTER-mode accounts, for the heartbeat
        self.calls: dict[int, OutboundCall] = {}
        self._graveyard: list[tuple[float, pj.Call]] = []
        self._failovers: list[tuple[OutboundCall, TrunkSpec]] = []
        self.channel_gate = channel_gate
        self.transfer_lines = transfer_lines
        # The channel request may wait on Redis: it runs here, never on the pjsua thread.
        self._gate_executor = ThreadPoolExecutor(1, thread_name_prefix="failover-gate") if channel_gate else None
        self._awaiting_registration: list[tuple[float, TrunkAccount, OriginateCommand, TrunkSpec, int, str,
                                                CallHooks]] = []
        self.ports = MediaPortPool("call-port", pjsua.settings.clock_rate, MAX_MEDIA_PORTS)
        self._lock = threading.Lock()  # guards the live-attempt snapshot read by other threads
        self._live_ids: frozenset[int] = frozenset()
        self._live_trunks: dict[int, int] = {}
        # F27: inbound INVITEs from outside the trunks' addresses are refused (403) by the default account.
        self.source_policy = source_policy
        self.guard_account = create_guard_account(source_policy, bind_address) if source_policy else None
        pjsua.tick_handlers.append(self.tick)

    # ---- helpers -----------------------------------------------------------------------------------------

    def guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a hook; a failing hook is logged and never breaks call handling."""
        try:
            return fn(*args)
        except Exception:  # hooks belong to other code; the call must go on
            logger.exception("call hook %r failed", fn)
            return None

    def emit(self, event: CallEvent) -> None:
        """Queue a ledger event."""
        self.events.put(event)

    def live_attempt_ids(self) -> frozenset[int]:
        """Attempts with a call in progress (any thread)."""
        with self._lock:
            return self._live_ids

    def live_trunk(self, attempt_id: int) -> int | None:
        """The trunk carrying the attempt's call now (after a failover: the secondary); any thread."""
        with self._lock:
            return self._live_trunks.get(attempt_id)

    def _refresh_live(self) -> None:
        with self._lock:
            self._live_ids = frozenset(self.calls)
            self._live_trunks = {attempt_id: call.trunk.id for attempt_id, call in self.calls.items()}

    # ---- accounts ----------------------------------------------------------------------------------------

    def account_for(self, spec: TrunkSpec) -> TrunkAccount:
        """The account of a trunk, created on first use; least recently used idle accounts are evicted."""
        key = spec.account_key()
        account = self.accounts.get(key)
        if account is not None:
            self.accounts.move_to_end(key)
            account.last_used = time.monotonic()
            return account
        self._evict_accounts()
        if self.source_policy is not None:
            self.source_policy.add_host(spec.host)
        account = TrunkAccount(spec, self.source_policy)
        account.create(self._account_config(spec))
        self.accounts[key] = account
        self._refresh_registering()
        return account

    def _refresh_registering(self) -> None:
        # A new tuple each time: the heartbeat thread reads it without a lock (one reference read).
        self._registering = tuple(a for a in self.accounts.values() if a.spec.auth_mode == TrunkAuth.REGISTER)

    def register_trunks(self, specs: list[TrunkSpec]) -> int:
        """Register REGISTER-mode trunks now (at start), before any call; returns how many were started.

        Why: a carrier that checks the registration before it accepts an INVITE, or that sends OPTIONS to
        the contact, must see every process of the pool registered from the start, not after its first call.
        These accounts are pinned: evicting one would drop its binding. At most MAX_ACCOUNTS - 2 are
        pinned, so IP-auth and digest trunks keep room for their accounts.
        """
        started = 0
        for spec in specs:
            if spec.auth_mode != TrunkAuth.REGISTER:
                continue
            if started >= MAX_ACCOUNTS - 2:
                logger.warning("trunk %s: too many REGISTER trunks to register at start; it registers on its "
                               "first call", spec.id)
                continue
            try:
                self.account_for(spec).pinned = True
            except (pj.Error, RuntimeError, ValueError) as exc:  # ValueError: a trunk the F5 rules refuse
                text = exc.info() if isinstance(exc, pj.Error) else str(exc)
                logger.warning("trunk %s: registration could not start: %s", spec.id, text)
                continue
            started += 1
        return started

    def registrations(self) -> list[Registration]:
        """The registration state of every REGISTER-mode account of this process (any thread: it reads a
        snapshot of the accounts and the plain fields `onRegState` sets, never pjsua itself)."""
        return [account.registration() for account in self._registering]

    def _evict_accounts(self) -> None:
        in_use = {id(call.account) for call in self.calls.values()}
        while len(self.accounts) >= MAX_ACCOUNTS:
            for key, account in self.accounts.items():
                if id(account) not in in_use and not account.pinned:
                    del self.accounts[key]
                    self._refresh_registering()
                    account.shutdown()
                    break
            else:
                raise RuntimeError("all SIP accounts are in use")

    def _account_config(self, spec: TrunkSpec) -> pj.AccountConfig:
        problems = spec.security_problems()
        if problems:  # F5: refused here too, whatever the database let through (rows from before the rules)
            raise ValueError("; ".join(problems))
        if spec.transport == "tls" and self.pjsua.tls_transports is not None:
            # F5: a transport that verifies the server against the trunk's CA (or the system's bundle).
            transport_id: int | None = self.pjsua.tls_transports.transport_for(spec.tls_ca_pem)
        else:
            transport_id = self.pjsua.transport_ids.get(spec.transport)
        if transport_id is None:
            raise RuntimeError(f"transport {spec.transport} is not available in this process")
        return trunk_account_config(spec, transport_id=transport_id, bind_address=self.bind_address,
                                    rtp_port=self.rtp_port, rtp_port_range=self.rtp_port_range)

    # ---- dialing -----------------------------------------------------------------------------------------

    def originate(self, request: OriginateCommand, sip_call_id: str) -> None:
        """Dial an attempt on its primary trunk. Failures end the attempt at once (event "ended")."""
        if request.attempt_id in self.calls:
            logger.warning("attempt %s is already dialing here; duplicate command ignored", request.attempt_id)
            return
        hooks = self.guard(self.hooks_factory, request) or CallHooks()
        self._dial_leg(request, request.trunk, leg=0, sip_call_id=sip_call_id, hooks=hooks)

    def _dial_leg(self, request: OriginateCommand, trunk: TrunkSpec, *, leg: int, sip_call_id: str,
                  hooks: CallHooks, waited: bool = False) -> None:
        try:
            account = self.account_for(trunk)
            if trunk.auth_mode == TrunkAuth.REGISTER and not account.reg_event.is_set() and not waited:
                # A registration trunk may refuse calls from an unregistered contact: hold the dial until the
                # first REGISTER answer (success or not) or REGISTRATION_WAIT_S, then dial either way.
                self._awaiting_registration.append(
                    (time.monotonic() + REGISTRATION_WAIT_S, account, request, trunk, leg, sip_call_id, hooks))
                return
            if trunk.auth_mode == TrunkAuth.REGISTER and account.registration_failed:
                # The registrar refused (or stopped answering) this trunk's binding: a call sent anyway would
                # be refused too, or reach the carrier from a contact it does not know. No INVITE.
                reason = f"trunk {trunk.id} registration failed: {account.reg_code} {account.reg_reason}"
                logger.warning("attempt %s: not dialed, %s", request.attempt_id, reason)
                self.emit(Ended(request.attempt_id, disposition_for(CallOutcome(sip_code=None, network_error=True)),
                                reason=reason[:500], trunk_id=trunk.id))
                return
            # Dead Call objects go before pjsua can hand their slot to this call: pjsua2's Call destructor
            # detaches and hangs up whatever call holds its slot id by then (slots are reused round robin).
            # Here we are outside any pjsua callback, so dropping them is safe (pjproject issue 2815).
            self._graveyard.clear()
            call = OutboundCall(self, account, request, trunk, leg=leg, sip_call_id=sip_call_id, hooks=hooks)
            self._set_codec_order(trunk.codecs)
            call.makeCall(self._request_uri(request, trunk), self._call_param(request, trunk, sip_call_id))
        except (pj.Error, RuntimeError, ValueError) as exc:
            text = exc.info() if isinstance(exc, pj.Error) else str(exc)
            logger.warning("attempt %s: dial failed: %s", request.attempt_id, text)
            self.emit(Ended(request.attempt_id, disposition_for(CallOutcome(sip_code=None, network_error=True)),
                            reason=f"dial failed: {text}"[:500], trunk_id=trunk.id))
            return
        self.calls[request.attempt_id] = call
        self._refresh_live()

    def _request_uri(self, request: OriginateCommand, trunk: TrunkSpec) -> str:
        return f"sip:{request.destination}@{trunk.host_port()}{trunk.uri_params()}"

    def _call_param(self, request: OriginateCommand, trunk: TrunkSpec, sip_call_id: str) -> pj.CallOpParam:
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        if sip_call_id:
            prm.opt.customCallId = sip_call_id
        headers = pj.SipHeaderVector()
        attempt_header = pj.SipHeader()
        attempt_header.hName = "X-Attempt-Id"
        attempt_header.hValue = str(request.attempt_id)
        headers.append(attempt_header)
        if request.caller_id:
            caller_uri = f"sip:{request.caller_id}@{trunk.host_port()}"
            prm.txOption.localUri = f"<{caller_uri}>"
            if trunk.send_pai:
                pai = pj.SipHeader()
                pai.hName = "P-Asserted-Identity"
                pai.hValue = f"<{caller_uri}>"
                headers.append(pai)
        prm.txOption.headers = headers
        return prm

    def _set_codec_order(self, codecs: tuple[str, ...]) -> None:
        # Codec priority is endpoint-wide in pjsua; every dial runs on this one thread, so setting it right
        # before makeCall gives each call its own trunk's order in the SDP offer.
        endpoint = self.pjsua.endpoint
        assert endpoint is not None  # noqa: S101 - only called while the endpoint lives
        wanted = [_CODEC_IDS[c] for c in codecs if c in _CODEC_IDS] or ["PCMU/8000", "PCMA/8000"]
        for info in endpoint.codecEnum2():
            codec_id = info.codecId
            priority = 0
            for rank, name in enumerate(wanted):
                if codec_id.lower().startswith(name.lower()):
                    priority = 255 - rank
            endpoint.codecSetPriority(codec_id, priority)

    # ---- in-call control (pjsua thread; other threads go through PjsuaThread.call_soon) ------------------

    def hangup(self, attempt_id: int, reason: str = "hangup requested") -> bool:
        """Hang up an attempt's call. Returns False when no call of that attempt is live here."""
        call = self.calls.get(attempt_id)
        if call is None:
            return False
        call.hangup_now(reason)
        return True

    def hangup_all(self, reason: str) -> None:
        """Hang up every call (shutdown); dials still waiting for a registration end without being placed."""
        for call in list(self.calls.values()):
            if call.transfer_leg is not None:
                call.transfer_leg.hang_up(reason)
            call.hangup_now(reason)
        waiting, self._awaiting_registration = self._awaiting_registration, []
        for _deadline, _account, request, trunk, _leg, _call_id, _hooks in waiting:
            self.emit(Ended(request.attempt_id, disposition_for(CallOutcome(sip_code=None, network_error=True)),
                            reason=f"{reason} before dialing", trunk_id=trunk.id))

    def send_dtmf(self, attempt_id: int, digits: str, method: str = "rfc2833") -> bool:
        """Send DTMF digits (RFC 2833 or SIP INFO) on an answered call."""
        call = self.calls.get(attempt_id)
        if call is None or call.answered_at is None:
            return False
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "sip_info" else pj.PJSUA_DTMF_METHOD_RFC2833
        call.sendDtmf(prm)
        return True

    def set_disposition(self, attempt_id: int, disposition: str) -> bool:
        """Override the disposition the attempt ends with (pjsua thread)."""
        call = self.calls.get(attempt_id)
        if call is None:
            return False
        call.disposition_override = disposition
        return True

    # ---- end of a leg ------------------------------------------------------------------------------------

    def on_disconnected(self, call: OutboundCall) -> None:
        """A leg reached DISCONNECTED: fail over, or report the end of the attempt."""
        call.disconnected = True
        if call.transfer_leg is not None:
            call.transfer_leg.hang_up("caller hung up")
        call.stop_media()
        self._graveyard.append((time.monotonic() + RELEASE_DELAY_S, call))
        if self.calls.get(call.attempt_id) is call:
            del self.calls[call.attempt_id]
        outcome = call.outcome()
        failover = call.trunk.failover if call.leg == 0 else None
        if failover is not None and not call.local_hangup and should_fail_over(outcome):
            # Before ringing and on a trunk failure only (5xx, no response): never after 486/603, which are
            # the called party's own answer, and never after a 180/183 (the phone may have rung: a second
            # call seconds later would ring the person twice).
            logger.info("attempt %s: trunk %s failed (%s), trying secondary %s", call.attempt_id, call.trunk.id,
                        call.final_code, failover.id)
            call.results["failover"] = {"primary_trunk_id": call.trunk.id, "primary_code": call.final_code}
            self._failovers.append((call, failover))
            self.calls[call.attempt_id] = call  # keep the line counted until the second leg starts
            self._refresh_live()
            return
        self._refresh_live()
        if call.local_hangup is False and call.answered_at is not None:
            self.guard(call.hooks.on_remote_hangup, call)
        self.emit_ended(call, outcome)

    def emit_ended(self, call: OutboundCall, outcome: CallOutcome, note: str = "") -> None:
        """Report the end of the attempt to the ledger (`note` is appended to the reason)."""
        disposition = call.disposition_override or disposition_for(outcome)
        if outcome.media_timeout or outcome.ring_timeout or call.local_hangup:
            reason = call.hangup_reason
        elif outcome.answered and call.refresh_failure:
            reason = f"session refresh failed ({call.refresh_failure}): hung up"
        elif outcome.answered:
            reason = "remote hangup"
        elif outcome.network_error:
            reason = f"no response from trunk ({call.final_code} {call.final_reason})"
            if call.trunk.transport == "tls" and "ECERTVERIF" in call.final_reason:
                # F5: the handshake was refused before the INVITE was written; say which certificate and why.
                refusal = self.pjsua.tls_refusals.reason_for(call.trunk.host, call.trunk.port)
                reason = f"not sent: {refusal or call.final_reason}"
        else:
            reason = f"{call.final_code} {call.final_reason}"
        failover = call.results.get("failover")
        if failover:
            reason = (f"{reason} (on failover trunk {call.trunk.id} after {failover['primary_code']} from trunk "
                      f"{failover['primary_trunk_id']})")
        if note:
            reason = f"{reason} ({note})"
        data = {
            "disposition": disposition,
            "sip_code": call.final_code if not outcome.answered else 200,
            "sip_reason": call.final_reason[:255] if not outcome.answered else "OK",
            "reason": reason[:500],
            "results": dict(call.results),
            "failover": failover,
            "trunk_id": call.trunk.id,
            "talk_s": (time.monotonic() - call.answered_at) if call.answered_at else None,
        }
        report = EndReport(call.attempt_id, data)
        self.guard(call.hooks.on_ended, call, report)
        self.emit(report.to_event())

    def tick(self, now: float) -> None:
        """Timers of every call, pending failovers, and deferred release of dead Call objects."""
        pending, self._failovers = self._failovers, []
        for call, trunk in pending:
            if self.channel_gate is None or self._gate_executor is None:
                self._fail_over(call, trunk, granted=True)
                continue
            future = self._gate_executor.submit(self.channel_gate, call.attempt_id, trunk)
            future.add_done_callback(functools.partial(self._post_failover_decision, call, trunk))
        if self._awaiting_registration:
            waiting = self._awaiting_registration
            self._awaiting_registration = []
            for entry in waiting:
                deadline, account, request, trunk, leg, sip_call_id, hooks = entry
                if account.reg_event.is_set() or now >= deadline:
                    self._dial_leg(request, trunk, leg=leg, sip_call_id=sip_call_id, hooks=hooks, waited=True)
                else:
                    self._awaiting_registration.append(entry)
        self._refresh_live()
        for call in list(self.calls.values()):
            call.tick(now)
            if call.transfer_leg is not None:
                call.transfer_leg.tick(now)
        if self._graveyard and self._graveyard[0][0] <= now:
            keep = [(t, c) for t, c in self._graveyard if t > now]
            self._graveyard = keep  # the dropped references are released here, on the pjsua thread

    def _post_failover_decision(self, call: OutboundCall, trunk: TrunkSpec, done: Future[bool]) -> None:
        # The gate's thread: hand the answer to the pjsua thread, which owns the call.
        self.pjsua.call_soon(self._failover_decided, call, trunk, done)

    def _failover_decided(self, call: OutboundCall, trunk: TrunkSpec, done: Future[bool]) -> None:
        try:
            granted = bool(done.result())
        except Exception:  # the control plane could not be asked: fail closed, no second leg
            logger.warning("attempt %s: no answer about a channel on trunk %s", call.attempt_id, trunk.id,
                           exc_info=True)
            granted = False
        self._fail_over(call, trunk, granted=granted)

    def _fail_over(self, call: OutboundCall, trunk: TrunkSpec, *, granted: bool) -> None:
        """Dial the second leg on `trunk` (its channel granted), or end the attempt with the primary's failure."""
        if self.calls.get(call.attempt_id) is call:
            del self.calls[call.attempt_id]
        if not granted:
            call.results.pop("failover", None)
            call.hangup_reason = ""
            self._refresh_live()
            report_outcome = call.outcome()
            self.emit_ended(call, report_outcome, note=f"failover trunk {trunk.id} has no free channel")
            return
        self._dial_leg(call.request, trunk, leg=1, sip_call_id=f"{uuid.uuid4().hex}-f", hooks=call.hooks)
        new = self.calls.get(call.attempt_id)
        if new is not None:
            new.results.update(call.results)

    def shutdown(self) -> None:
        """Drop every pjsua2 object (pjsua thread, before libDestroy).

        Calls should have been hung up and reached DISCONNECTED first (see `UaWorker.drain`); a Call whose
        destructor runs after `libDestroy` trips an assertion in pjsua (pjproject issue 4353).
        """
        self.hangup_all("shutdown")
        self.calls.clear()
        self._failovers.clear()
        if self._gate_executor is not None:
            self._gate_executor.shutdown(wait=False, cancel_futures=True)
        self._awaiting_registration.clear()
        self._graveyard.clear()
        for account in self.accounts.values():
            account.shutdown()
        if self.guard_account is not None:
            self.guard_account.shutdown()
        self.accounts.clear()
        self._registering = ()
        self.ports.clear()
        gc.collect()

