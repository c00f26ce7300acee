"""pjsua2 accounts: one per trunk (credentials, transport, SRTP policy, optional registration), and the default
account that refuses inbound calls from strangers (F27, `telephony.ua.sip_sources`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pjsua2 as pj

from telephony.choices import SrtpPolicy, TrunkAuth
from telephony.contract import TrunkSpec
from telephony.registrations import Registration
from telephony.ua.sip_sources import SipSourcePolicy, source_ip

logger = logging.getLogger(__name__)

# pjsua's compile-time account limit in this wheel is 8 (a 9th asserts); keep a margin.
MAX_ACCOUNTS = 6
REGISTRATION_WAIT_S = 5.0


class TrunkAccount(pj.Account):
    """A pjsua2 account for one trunk: credentials, transport, SRTP policy, optional registration."""

    def __init__(self, spec: TrunkSpec, source_policy: SipSourcePolicy | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.source_policy = source_policy
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

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # pjsua2 callback name
        refuse_incoming_call(self, prm, self.source_policy)

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


class _RefusedCall(pj.Call):
    """An inbound call being refused; it keeps itself alive until pjsua has disconnected it."""

    pending: set[_RefusedCall] = set()

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
            _RefusedCall.pending.discard(self)


def refuse_incoming_call(account: pj.Account, prm: pj.OnIncomingCallParam, policy: SipSourcePolicy | None) -> None:
    """Answer an inbound INVITE from outside ``policy`` with 403 Forbidden (pjsua thread).

    Why (F27): the workers are outbound only; an INVITE from anywhere but the trunks is a probe or a flood against
    the call slots. One from an allowed address is left to pjsua2, which declines a call no code takes.
    """
    src = str(prm.rdata.srcAddress)
    if policy is not None and policy.allows(src):
        return
    logger.warning("inbound INVITE from %s refused: not a trunk address", source_ip(src) or "an unreadable address")
    call = _RefusedCall(account, prm.callId)
    _RefusedCall.pending.add(call)
    op = pj.CallOpParam()
    op.statusCode = pj.PJSIP_SC_FORBIDDEN
    try:
        call.hangup(op)
    except pj.Error as exc:
        logger.warning("inbound INVITE could not be refused: %s", exc.info())
        _RefusedCall.pending.discard(call)


class GuardAccount(pj.Account):
    """The worker's default account: receives the requests no trunk account matches, and refuses strangers."""

    def __init__(self, policy: SipSourcePolicy) -> None:
        super().__init__()
        self.policy = policy

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # pjsua2 callback name
        refuse_incoming_call(self, prm, self.policy)


def create_guard_account(policy: SipSourcePolicy, host: str) -> GuardAccount:
    """Create the default `GuardAccount` (pjsua thread, after the transports): no registration, no credentials."""
    account = GuardAccount(policy)
    config = pj.AccountConfig()
    config.idUri = f"sip:ua@[{host}]" if ":" in host else f"sip:ua@{host}"
    config.regConfig.registerOnAdd = False
    account.create(config, True)
    return account


_SRTP_USE = {
    SrtpPolicy.DISABLED: pj.PJMEDIA_SRTP_DISABLED,
    SrtpPolicy.OPTIONAL: pj.PJMEDIA_SRTP_OPTIONAL,
    SrtpPolicy.MANDATORY: pj.PJMEDIA_SRTP_MANDATORY,
}


def trunk_account_config(spec: TrunkSpec, *, transport_id: int, bind_address: str, rtp_port: int,
                         rtp_port_range: int) -> pj.AccountConfig:
    """The pjsua2 account of a trunk: its identity, credentials, registration, RTP ports, SRTP policy and session
    timers, on ``transport_id`` (chosen by the caller: a verifying TLS transport for TLS trunks, F5)."""
    config = pj.AccountConfig()
    user = spec.username or "dialer"
    config.idUri = f"sip:{user}@{spec.host_port()}"
    config.sipConfig.transportId = transport_id
    if spec.auth_mode != TrunkAuth.IP:
        cred = pj.AuthCredInfo("digest", spec.realm, spec.username, 0, spec.password)
        config.sipConfig.authCreds.append(cred)
    if spec.auth_mode == TrunkAuth.REGISTER:
        config.regConfig.registrarUri = f"sip:{spec.host_port()}{spec.uri_params()}"
        config.regConfig.timeoutSec = spec.register_expiry_s
        config.regConfig.registerOnAdd = True
        config.regConfig.retryIntervalSec = 30
    else:
        config.regConfig.registerOnAdd = False
    media = config.mediaConfig
    media.transportConfig.boundAddress = bind_address
    media.transportConfig.port = rtp_port
    media.transportConfig.portRange = rtp_port_range
    # F5: SDES keys travel in the SDP, so they are offered only over TLS signalling (RFC 4568 section 8.3):
    # srtpSecureSignaling 1 = the next hop must be TLS (pjsua refuses a call otherwise). An "optional" trunk
    # on UDP/TCP therefore offers plain RTP rather than its keys in clear; "mandatory" needs TLS (the caller,
    # `CallManager`, refuses it on other transports).
    policy = SrtpPolicy(spec.srtp_policy)
    if policy == SrtpPolicy.OPTIONAL and spec.transport != "tls":
        policy = SrtpPolicy.DISABLED
    media.srtpUse = _SRTP_USE[policy]
    media.srtpSecureSignaling = 0 if policy == SrtpPolicy.DISABLED else 1
    # A multi-codec answer would otherwise trigger a re-INVITE to lock one codec: needless signalling
    # that some trunks mishandle.
    media.lockCodecEnabled = False
    config.natConfig.sipOutboundUse = 0
    # RFC 4028 session timers, stated rather than left to defaults: offered, never required; a far end may
    # shorten the interval down to Min-SE and name us refresher (we refresh at half; a failed one ends it).
    config.callConfig.timerUse = pj.PJSUA_SIP_TIMER_OPTIONAL
    config.callConfig.timerSessExpiresSec, config.callConfig.timerMinSESec = 1800, 90
    return config
