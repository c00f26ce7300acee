"""Outbound calls on the pjsua thread: accounts per trunk, call legs, timers, failover, in-call control.

Everything here except `CallMediaPort`'s frame callbacks runs on the `PjsuaThread`. What the ledger must know
(ringing, answered, ended) leaves as typed `telephony.contract` events on a queue; another thread spools them to
disk and the ledger thread reports them, so a slow or absent database never stalls SIP or media.
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
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from telephony.choices import SrtpPolicy, TrunkAuth
from telephony.contract import Answered, CallEvent, CallResults, Ended, OriginateCommand, Ringing, TrunkSpec
from telephony.ua.endpoint import PjsuaThread
from telephony.ua.frames import pin_thread_state, read_vector, write_vector
from telephony.ua.sip_codes import CallOutcome, disposition_for, should_fail_over

logger = logging.getLogger(__name__)

# pjsua's compile-time account limit in this wheel is 8 (a 9th asserts); keep a margin.
MAX_ACCOUNTS = 6
# Call objects are dropped this long after DISCONNECTED, on the pjsua thread: deleting inside the callback has
# crashed pjsua2 (pjproject issue 2815), and deleting from another thread asserts.
RELEASE_DELAY_S = 0.5
# 3xx answers followed per leg (same trunk host only, see `OutboundCall.onCallRedirected`).
MAX_REDIRECTS = 3
MEDIA_STATS_INTERVAL_S = 1.0
REGISTRATION_WAIT_S = 5.0
# Pooled AudioMediaPorts per process: one per line, plus spares for ports a call gave back this tick.
MAX_MEDIA_PORTS = 8

_SRTP_USE = {
    SrtpPolicy.DISABLED: pj.PJMEDIA_SRTP_DISABLED,
    SrtpPolicy.OPTIONAL: pj.PJMEDIA_SRTP_OPTIONAL,
    SrtpPolicy.MANDATORY: pj.PJMEDIA_SRTP_MANDATORY,
}
_CODEC_IDS = {"PCMU": "PCMU/8000", "PCMA": "PCMA/8000", "G722": "G722/16000", "GSM": "GSM/8000",
              "ILBC": "iLBC/8000", "SPEEX": "speex/8000", "L16": "L16/8000"}
_DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip_info"}
_FRAME_BYTES_20MS_8K = 320


# Asks the control plane for a channel on the failover trunk before its INVITE: (attempt id, trunk) -> granted.
ChannelGate = Callable[[int, TrunkSpec], bool]


@dataclass
class EndReport:
    """The end of an attempt while it is being assembled: `CallHooks.on_ended` may still change `data`.

    `data` holds disposition, sip_code, sip_reason, reason, results (a dict of `CallResults` fields), trunk_id,
    failover ({"primary_trunk_id", "primary_code"} after a failover) and talk_s. `to_event` makes the typed
    `telephony.contract.Ended` that goes to the ledger.
    """

    attempt_id: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> Ended:
        """The typed event for the ledger."""
        data = self.data
        failover = data.get("failover") or {}
        return Ended(
            attempt_id=self.attempt_id, disposition=str(data["disposition"]), sip_code=data.get("sip_code"),
            sip_reason=str(data.get("sip_reason") or "")[:255], reason=str(data.get("reason") or "")[:500],
            results=CallResults.from_mapping(data.get("results") or {}), trunk_id=data.get("trunk_id"),
            failed_over=bool(failover), primary_trunk_id=failover.get("primary_trunk_id"),
            talk_s=data.get("talk_s"),
        )


class CallHooks:
    """What the media work plugs into a call. Every method runs on the pjsua thread: copy and return.

    The defaults do nothing. To exchange 20 ms PCM16 frames with the call (8 kHz mono with the default bridge
    clock), `attach_media` sets `port.sink` (frames heard) and/or `port.source` (frames to send) and returns
    True; the port is then wired both ways to the call's audio.
    """

    def attach_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
        """Claim the call's audio through `port` (a pooled port; do not keep it after the call)."""
        return False

    def on_answered(self, call: OutboundCall) -> None:
        """The far end answered (200 OK, ACK sent)."""

    def on_dtmf(self, call: OutboundCall, digit: str, method: str) -> None:
        """A DTMF digit arrived (`method` is "rfc2833" or "sip_info")."""

    def on_remote_hangup(self, call: OutboundCall) -> None:
        """The far end hung up an established call (BYE received)."""

    def on_ended(self, call: OutboundCall, report: EndReport) -> None:
        """The attempt ended; `report` is what goes to the ledger (hooks may still add results)."""


class CallControl:
    """In-call control usable from any thread (the media work's asyncio loop): each action is posted to the
    pjsua thread. Actions on a call that has ended are ignored."""

    def __init__(self, manager: CallManager, attempt_id: int) -> None:
        self.manager = manager
        self.attempt_id = attempt_id

    def send_dtmf(self, digits: str, method: str = "rfc2833") -> None:
        """Send DTMF digits ("rfc2833" or "sip_info")."""
        self.manager.pjsua.call_soon(self.manager.send_dtmf, self.attempt_id, digits, method)

    def transfer(self, target: str) -> None:
        """Cold transfer (REFER) to a number (sent through the call's trunk) or a SIP URI."""
        self.manager.pjsua.call_soon(self.manager.transfer, self.attempt_id, target)

    def hangup(self, reason: str = "hangup requested") -> None:
        """Hang up the call."""
        self.manager.pjsua.call_soon(self.manager.hangup, self.attempt_id, reason)

    def set_disposition(self, disposition: str) -> None:
        """Replace the disposition the call will end with (e.g. AMD found a machine)."""
        self.manager.pjsua.call_soon(self.manager.set_disposition, self.attempt_id, disposition)


class CallMediaPort(pj.AudioMediaPort):
    """An AudioMediaPort that copies frames with the fast vector read.

    Both callbacks run on the conference bridge clock thread while it holds a lock: a slow callback delays
    every call in the process, so they only copy bytes in and out. `sink(frame_bytes)` receives each frame
    heard from the far end; `source()` returns the next frame to send (None or b"": silence).
    """

    # Class-level defaults: while Python tears an instance down, the bridge may still call it once.
    sink: Callable[[bytes], None] | None = None
    source: Callable[[], bytes | None] | None = None
    _silence = bytes(_FRAME_BYTES_20MS_8K)

    def __init__(self, sink: Callable[[bytes], None] | None = None,
                 source: Callable[[], bytes | None] | None = None) -> None:
        super().__init__()
        self.sink = sink
        self.source = source
        self._silence = bytes(_FRAME_BYTES_20MS_8K)

    def create(self, name: str, clock_rate: int = 8000) -> None:
        """Create the pjmedia port (PCM16 mono, 20 ms) on the pjsua thread."""
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, clock_rate, 1, 20000, 16)
        self._silence = bytes(clock_rate // 50 * 2)
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # pjsua2 callback name
        pin_thread_state()  # the clock thread keeps one Python thread state (see telephony/ua/frames.py)
        sink = self.sink
        if sink is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            sink(read_vector(frame.buf))

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # pjsua2 callback name
        pin_thread_state()  # the clock thread keeps one Python thread state (see telephony/ua/frames.py)
        source = self.source
        data = source() if source is not None else None
        write_vector(frame.buf, data or self._silence)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO


class TrunkAccount(pj.Account):
    """A pjsua2 account for one trunk: credentials, transport, SRTP policy, optional registration."""

    def __init__(self, spec: TrunkSpec) -> None:
        super().__init__()
        self.spec = spec
        self.reg_code: int | None = None
        self.reg_reason = ""
        self.reg_active = False
        self.reg_event = threading.Event()
        self.request_waiters: dict[str, Callable[[int, str], None]] = {}
        self.last_used = time.monotonic()

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # pjsua2 callback name
        self.reg_code = int(prm.code)
        self.reg_reason = str(prm.reason)
        self.reg_active = 200 <= self.reg_code < 300 and prm.expiration > 0
        self.reg_event.set()
        logger.info("trunk %s registration: %s %s", self.spec.id, self.reg_code, self.reg_reason)

    def onSendRequest(self, prm: pj.OnSendRequestParam) -> None:  # pjsua2 callback name
        waiter = self.request_waiters.pop(str(prm.userData), None) if hasattr(prm, "userData") else None
        if waiter is not None:
            waiter(int(prm.e.body.tsxState.tsx.statusCode), str(prm.e.body.tsxState.tsx.statusText))


class OutboundCall(pj.Call):
    """One leg of an attempt (a failover creates a second leg for the same attempt)."""

    def __init__(self, manager: CallManager, account: TrunkAccount, request: OriginateCommand, trunk: TrunkSpec,
                 *, leg: int, sip_call_id: str, hooks: CallHooks) -> None:
        super().__init__(account)
        self.manager = manager
        self.account = account
        self.request = request
        self.trunk = trunk
        self.leg = leg
        self.sip_call_id = sip_call_id
        self.hooks = hooks
        self.started = time.monotonic()
        self.ring_deadline = self.started + request.ring_timeout_s
        self.answered_at: float | None = None
        self.max_deadline: float | None = None
        self.got_response = False
        self.ringing_reported = False
        self.ring_timeout = False
        self.media_timeout = False
        self.hangup_reason = ""
        self.local_hangup = False
        self.disconnected = False
        self.media_port: CallMediaPort | None = None
        self.audio_media: pj.AudioMedia | None = None
        self.last_rx_packets = -1
        self.last_rx_change = self.started
        self.next_media_check = self.started + MEDIA_STATS_INTERVAL_S
        self.final_code: int | None = None
        self.final_reason = ""
        self.results: dict[str, Any] = {}
        self.disposition_override: str | None = None
        self.redirects = 0

    @property
    def attempt_id(self) -> int:
        """The attempt this leg belongs to."""
        return self.request.attempt_id

    @property
    def control(self) -> CallControl:
        """Thread-safe in-call control of this attempt."""
        return CallControl(self.manager, self.attempt_id)

    # ---- pjsua2 callbacks (pjsua thread) -----------------------------------------------------------------

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        info = self.getInfo()
        state = info.state
        if not self.got_response and _received_a_message(prm.e):
            self.got_response = True
        if state == pj.PJSIP_INV_STATE_EARLY:
            self.got_response = True
            if not self.ringing_reported and info.lastStatusCode in (180, 183):
                self.ringing_reported = True
                self.manager.emit(Ringing(self.attempt_id))
        elif state == pj.PJSIP_INV_STATE_CONNECTING:
            self.got_response = True
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.got_response = True
            if self.answered_at is None:
                self.answered_at = time.monotonic()
                self.max_deadline = self.answered_at + self.request.max_call_s
                self.last_rx_change = self.answered_at
                self.manager.emit(Answered(self.attempt_id))
                self.manager.guard(self.hooks.on_answered, self)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.final_code = int(info.lastStatusCode)
            self.final_reason = str(info.lastReason)
            self.manager.on_disconnected(self)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # pjsua2 callback name
        # Any response received from the network (even 100 Trying) means the trunk is reachable: a later 408
        # or 503 is then the far end's answer, not a network failure.
        if not self.got_response and _received_a_message(prm.e):
            self.got_response = True

    def onCallRedirected(self, prm: pj.OnCallRedirectedParam) -> int:  # pjsua2 callback name
        # Follow a 3xx only to another port of the trunk's own host (a front that spreads calls over its
        # processes, like the simulated network): any other target would take the call, and our credentials if
        # challenged, to a host nobody configured. A bounded count stops redirect loops.
        self.redirects += 1
        if self.redirects <= MAX_REDIRECTS and _uri_host(str(prm.targetUri)) == self.trunk.host.strip("[]").lower():
            return int(pj.PJSIP_REDIRECT_ACCEPT)
        return int(pj.PJSIP_REDIRECT_REJECT)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # pjsua2 callback name
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            if self.audio_media is not None:
                return
            self.audio_media = self.getAudioMedia(index)
            port = self.manager.ports.acquire()
            if port is None:
                logger.warning("attempt %s: no free media port", self.attempt_id)
                return
            if self.manager.guard(self.hooks.attach_media, self, port):
                self.media_port = port
                port.startTransmit(self.audio_media)
                self.audio_media.startTransmit(port)
            else:
                self.manager.ports.release(port)
            return

    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:  # pjsua2 callback name
        # RFC 2833 events repeat while the key is held; report each digit once, at its end. SIP INFO
        # carries one message per digit.
        method = _DTMF_METHODS.get(prm.method, str(prm.method))
        if method == "rfc2833" and not (prm.flags & 1):  # PJMEDIA_STREAM_DTMF_IS_END
            return
        self.manager.guard(self.hooks.on_dtmf, self, str(prm.digit), method)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # Cold transfer: once the transferee reports a final answer, our leg is done either way.
        if prm.finalNotify or prm.statusCode >= 200:
            prm.cont = False
            ok = 200 <= prm.statusCode < 300
            self.results.setdefault("transfer", {})["status"] = int(prm.statusCode)
            self.hangup_now("transferred" if ok else f"transfer failed: {prm.statusCode}")

    # ---- control (pjsua thread) --------------------------------------------------------------------------

    def hangup_now(self, reason: str, code: int = 0) -> None:
        """Hang up (CANCEL before answer, BYE after) unless already disconnected."""
        if self.disconnected:
            return
        self.local_hangup = True
        self.hangup_reason = self.hangup_reason or reason
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        try:
            self.hangup(prm)
        except pj.Error as exc:  # already terminating: the DISCONNECTED callback follows anyway
            logger.debug("hangup of attempt %s: %s", self.attempt_id, exc.info())

    def tick(self, now: float) -> None:
        """Enforce the ring timeout, the max call length and the media timeout."""
        if self.disconnected or self.local_hangup:
            return
        if self.answered_at is None:
            if now >= self.ring_deadline:
                self.ring_timeout = True
                self.hangup_now(f"ring timeout after {self.request.ring_timeout_s:g}s")
            return
        if self.max_deadline is not None and now >= self.max_deadline:
            self.hangup_now(f"max call length {self.request.max_call_s:g}s reached")
            return
        timeout_s = self.manager.media_timeout_s
        if timeout_s > 0 and self.audio_media is not None and now >= self.next_media_check:
            self.next_media_check = now + MEDIA_STATS_INTERVAL_S
            try:
                packets = int(self.getStreamStat(0).rtcp.rxStat.pkt)
            except pj.Error:
                return
            if packets != self.last_rx_packets:
                self.last_rx_packets = packets
                self.last_rx_change = now
            elif now - self.last_rx_change >= timeout_s:
                self.media_timeout = True
                self.hangup_now(f"media timeout: no RTP for {timeout_s:g}s")

    def outcome(self) -> CallOutcome:
        """The facts of this leg, for the disposition mapping."""
        return CallOutcome(
            sip_code=self.final_code if self.answered_at is None else 200,
            answered=self.answered_at is not None,
            ring_timeout=self.ring_timeout,
            network_error=not self.got_response and not self.ring_timeout and not self.local_hangup,
            media_timeout=self.media_timeout,
            rang=self.ringing_reported,
        )

    def stop_media(self) -> None:
        """Give the media port back to the pool, silenced (pjsua thread, at DISCONNECTED).

        The call's conference slot is already gone, so the port has no connections left. Ports are pooled,
        never destroyed mid-run: pjmedia 2.15 removes a port from the bridge asynchronously, and destroying
        one right after the call (pjsua2's AudioMediaPort destructor) let the clock thread call a freed port
        (SIGSEGV measured at 100 calls).
        """
        port, self.media_port = self.media_port, None
        if port is not None:
            self.manager.ports.release(port)
        self.audio_media = None


class MediaPortPool:
    """Media ports reused by the calls of one process (use it on the pjsua thread only).

    pjmedia 2.15 removes a port from the conference bridge asynchronously, so destroying a port when its call
    ends can crash the clock thread: ports are created on first need, up to ``limit``, and reused.
    """

    def __init__(self, name_prefix: str, clock_rate: int, limit: int) -> None:
        self.name_prefix = name_prefix
        self.clock_rate = clock_rate
        self.limit = limit
        self._idle: list[CallMediaPort] = []
        self._created = 0

    def acquire(self) -> CallMediaPort | None:
        """An idle port, or a new one while fewer than ``limit`` exist; None past the limit."""
        if self._idle:
            return self._idle.pop()
        if self._created >= self.limit:
            return None
        port = CallMediaPort()
        port.create(f"{self.name_prefix}-{self._created}", self.clock_rate)
        self._created += 1
        return port

    def release(self, port: CallMediaPort) -> None:
        """Silence a port and put it back (its call's conference slot is already gone)."""
        port.sink = None
        port.source = None
        self._idle.append(port)

    def clear(self) -> None:
        """Drop the idle ports (at shutdown, before the Endpoint goes)."""
        self._idle.clear()


class CallManager:
    """All calls and trunk accounts of one UA process. Every method runs on the pjsua thread.

    Args:
        pjsua: the thread owning the Endpoint.
        events: where ledger events go (consumed by another thread).
        rtp_port: first RTP port of this process; rtp_port_range: how many it may use.
        media_timeout_s: end an answered call as failed after this long without RTP (0 disables).
        hooks_factory: builds the per-call hooks for the media work.
        channel_gate: asks for a channel on a failover trunk (None: failover needs no permission, as in tests).
    """

    def __init__(self, pjsua: PjsuaThread, events: queue.SimpleQueue[CallEvent], *, bind_address: str,
                 rtp_port: int, rtp_port_range: int, media_timeout_s: float,
                 hooks_factory: Callable[[OriginateCommand], CallHooks] | None = None,
                 channel_gate: ChannelGate | None = None) -> None:
        self.pjsua = pjsua
        self.events = events
        self.bind_address = bind_address
        self.rtp_port = rtp_port
        self.rtp_port_range = rtp_port_range
        self.media_timeout_s = media_timeout_s
        self.hooks_factory = hooks_factory or (lambda request: CallHooks())
        self.accounts: OrderedDict[tuple[Any, ...], TrunkAccount] = OrderedDict()
        self.calls: dict[int, OutboundCall] = {}
        self._graveyard: list[tuple[float, OutboundCall]] = []
        self._failovers: list[tuple[OutboundCall, TrunkSpec]] = []
        self.channel_gate = channel_gate
        # The channel request may wait on Redis: it runs here, never on the pjsua thread.
        self._gate_executor = ThreadPoolExecutor(1, thread_name_prefix="failover-gate") if channel_gate else None
        self._awaiting_registration: list[tuple[float, TrunkAccount, OriginateCommand, TrunkSpec, int, str,
                                                CallHooks]] = []
        self.ports = MediaPortPool("call-port", pjsua.settings.clock_rate, MAX_MEDIA_PORTS)
        self._lock = threading.Lock()  # guards the live-attempt snapshot read by other threads
        self._live_ids: frozenset[int] = frozenset()
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

    def _refresh_live(self) -> None:
        with self._lock:
            self._live_ids = frozenset(self.calls)

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
        account = TrunkAccount(spec)
        account.create(self._account_config(spec))
        self.accounts[key] = account
        return account

    def _evict_accounts(self) -> None:
        in_use = {id(call.account) for call in self.calls.values()}
        while len(self.accounts) >= MAX_ACCOUNTS:
            for key, account in self.accounts.items():
                if id(account) not in in_use:
                    del self.accounts[key]
                    account.shutdown()
                    break
            else:
                raise RuntimeError("all SIP accounts are in use")

    def _account_config(self, spec: TrunkSpec) -> pj.AccountConfig:
        config = pj.AccountConfig()
        user = spec.username or "dialer"
        config.idUri = f"sip:{user}@{spec.host_port()}"
        transport_id = self.pjsua.transport_ids.get(spec.transport)
        if transport_id is None:
            raise RuntimeError(f"transport {spec.transport} is not available in this process")
        config.sipConfig.transportId = transport_id
        if spec.auth_mode != TrunkAuth.IP:
            cred = pj.AuthCredInfo("digest", spec.realm or "*", spec.username, 0, spec.password)
            config.sipConfig.authCreds.append(cred)
        if spec.auth_mode == TrunkAuth.REGISTER:
            config.regConfig.registrarUri = f"sip:{spec.host_port()}{spec.uri_params()}"
            config.regConfig.timeoutSec = spec.register_expiry_s
            config.regConfig.registerOnAdd = True
            config.regConfig.retryIntervalSec = 30
        else:
            config.regConfig.registerOnAdd = False
        media = config.mediaConfig
        media.transportConfig.boundAddress = self.bind_address
        media.transportConfig.port = self.rtp_port
        media.transportConfig.portRange = self.rtp_port_range
        media.srtpUse = _SRTP_USE[SrtpPolicy(spec.srtp_policy)]
        # SDES keys travel in the SDP; requiring TLS signalling for them is the trunk operator's choice.
        media.srtpSecureSignaling = 0
        # A multi-codec answer would otherwise trigger a re-INVITE to lock one codec: needless signalling
        # that some trunks mishandle.
        media.lockCodecEnabled = False
        config.natConfig.sipOutboundUse = 0
        return config

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

    def transfer(self, attempt_id: int, target: str) -> bool:
        """Cold transfer (REFER) an answered call to a number or a SIP URI; our leg ends on the result."""
        call = self.calls.get(attempt_id)
        if call is None or call.answered_at is None:
            return False
        uri = target if target.startswith(("sip:", "sips:", "tel:")) else (
            f"sip:{target}@{call.trunk.host_port()}{call.trunk.uri_params()}")
        call.results["transfer"] = {"target": uri}
        call.xfer(uri, pj.CallOpParam(True))
        return True

    # ---- end of a leg ------------------------------------------------------------------------------------

    def on_disconnected(self, call: OutboundCall) -> None:
        """A leg reached DISCONNECTED: fail over, or report the end of the attempt."""
        call.disconnected = True
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
        elif outcome.answered:
            reason = "remote hangup"
        elif outcome.network_error:
            reason = f"no response from trunk ({call.final_code} {call.final_reason})"
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
        self.accounts.clear()
        self.ports.clear()
        gc.collect()


def _received_a_message(event: pj.SipEvent) -> bool:
    """Whether a pjsua2 event was caused by a message received from the network."""
    return bool(event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG)


def _uri_host(uri: str) -> str:
    """The host of a SIP URI such as `<sip:+1202@127.0.0.1:17001;transport=udp>` (lower case, no brackets)."""
    text = uri.strip().strip("<>")
    text = text.split(":", 1)[1] if text.lower().startswith(("sip:", "sips:")) else text
    text = text.rsplit("@", 1)[-1].split(";", 1)[0].split(">", 1)[0]
    if text.startswith("["):
        return text[1:].split("]", 1)[0].lower()
    return text.rsplit(":", 1)[0].lower() if text.count(":") == 1 else text.lower()


def new_sip_call_id() -> str:
    """A fresh SIP Call-ID for an attempt's first leg."""
    return uuid.uuid4().hex
