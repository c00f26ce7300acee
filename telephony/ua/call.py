"""One leg of an outbound call on the pjsua thread: its SIP states, timers, media wiring and outcome."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import pjsua2 as pj

from telephony.contract import Answered, CallEvent, OriginateCommand, Ringing, TrunkSpec
from telephony.ua.accounts import TrunkAccount
from telephony.ua.hooks import CallControl, CallHooks, CallOperations
from telephony.ua.media_port import CallMediaPort, MediaPortPool
from telephony.ua.sip_codes import CallOutcome

logger = logging.getLogger(__name__)

# 3xx answers followed per leg (same trunk host only, see `OutboundCall.onCallRedirected`).
MAX_REDIRECTS = 3
MEDIA_STATS_INTERVAL_S = 1.0
class CallOwner(CallOperations, Protocol):
    """What a leg needs of the `telephony.ua.manager.CallManager` that owns it (the manager imports this module)."""

    media_timeout_s: float

    @property
    def ports(self) -> MediaPortPool: ...

    def emit(self, event: CallEvent) -> None: ...

    def guard(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def on_disconnected(self, call: OutboundCall) -> None: ...


# Media states in which the call's stream carries audio into the conference (a callee's hold still sends music).
_MEDIA_FLOWING = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)
_DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip_info"}


class OutboundCall(pj.Call):
    """One leg of an attempt (a failover creates a second leg for the same attempt)."""

    def __init__(self, manager: CallOwner, account: TrunkAccount, request: OriginateCommand, trunk: TrunkSpec,
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
        self.media_changes = 0
        self.audio_index = 0
        self.last_rx_frames = -1
        self.last_rx_packets = -1
        self.last_frame_change = self.last_packet_change = self.started
        self.next_media_check = self.started + MEDIA_STATS_INTERVAL_S
        self.final_code: int | None = None
        self.final_reason = ""
        self.results: dict[str, Any] = {}
        self.disposition_override: str | None = None
        self.redirects = 0
        self.refresh_failure = ""  # "UPDATE 408 Request Timeout" when our session refresh failed
        # A failed transfer leaves the call to the hooks (back to the agent, a call-back offer) when they say so.
        self.transfer_fallback = False
        self.transfer_leg: Any = None  # telephony.ua.transfer_leg.TransferLeg while a bridged transfer lives

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
                self.last_frame_change = self.last_packet_change = self.answered_at
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
        if self.answered_at is not None and prm.e.type == pj.PJSIP_EVENT_TSX_STATE:
            tsx = prm.e.body.tsxState.tsx
            # RFC 4028 section 10 / RFC 3261 section 12.2.1.2: a session refresh (our UPDATE or re-INVITE) that
            # times out or finds no dialog (408, 481) ends the session; pjsip sends the BYE. Kept for the reason.
            if (tsx.role == pj.PJSIP_ROLE_UAC and str(tsx.method) in ("UPDATE", "INVITE")
                    and tsx.state in (pj.PJSIP_TSX_STATE_COMPLETED, pj.PJSIP_TSX_STATE_TERMINATED)
                    and int(tsx.statusCode) in (408, 481) and not self.refresh_failure):
                self.refresh_failure = f"{tsx.method} {tsx.statusCode} {tsx.statusText}"

    def onCallRedirected(self, prm: pj.OnCallRedirectedParam) -> int:  # pjsua2 callback name
        # Follow a 3xx only to another port of the trunk's own host (a front that spreads calls over its
        # processes, like the simulated network): any other target would take the call, and our credentials if
        # challenged, to a host nobody configured. A bounded count stops redirect loops.
        self.redirects += 1
        if self.redirects <= MAX_REDIRECTS and uri_host(str(prm.targetUri)) == self.trunk.host.strip("[]").lower():
            return int(pj.PJSIP_REDIRECT_ACCEPT)
        return int(pj.PJSIP_REDIRECT_REJECT)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # pjsua2 callback name
        self.rewire_media()

    def rewire_media(self) -> None:
        """Connect the call's media port to the conference slot that carries the call's audio now.

        Called on every media state change, not just the first: pjsua re-creates the audio stream, with a new
        conference slot, when a 200 OK brings other SDP than the 183 before it (a forked call answered by
        another branch than the one that sent early media, an announcement from another media address), and
        on a re-INVITE that changes the address or codec. A port left on the removed slot hears and sends
        nothing while the call stays up. The slot id alone does not tell: a removed slot's id may be reused at
        once, and removing it dropped its connections, so the connections themselves are checked.
        """
        info = self.getInfo()
        index = next((i for i, media in enumerate(info.media) if media.type == pj.PJMEDIA_TYPE_AUDIO
                      and media.status in _MEDIA_FLOWING and media.audioConfSlot >= 0), None)
        if index is None:
            return  # on hold by us, or no audio: the port stays, and is wired again when audio is back
        audio = self.getAudioMedia(index)
        port = self.media_port
        if port is None:
            port = self.manager.ports.acquire()
            if port is None:
                logger.warning("attempt %s: no free media port", self.attempt_id)
                return
            port.frames_in = 0
            self.media_port = port
            # A port whose hooks decline the media stays wired without sink or source (it sends silence): its
            # frame count is what the media timeout reads.
            self.manager.guard(self.hooks.attach_media, self, port)
        slot = audio.getPortId()
        old = self.audio_media
        listeners = set(port.getPortInfo().listeners)
        if old is not None and old.getPortId() != slot and old.getPortId() in listeners:
            with contextlib.suppress(pj.Error):  # the old slot may be half gone already
                port.stopTransmit(old)
        if slot not in listeners:
            port.startTransmit(audio)
        if port.getPortId() not in set(audio.getPortInfo().listeners):
            audio.startTransmit(port)
        if old is not None and old.getPortId() != slot:
            self.media_changes += 1
            logger.info("attempt %s: call audio moved to conference slot %d", self.attempt_id, slot)
        self.audio_media = audio
        self.audio_index = index
        if self.transfer_leg is not None:
            self.transfer_leg.connect()  # a bridged transfer follows the caller's audio to its new slot

    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:  # pjsua2 callback name
        # RFC 2833 events repeat while the key is held; report each digit once, at its end. SIP INFO
        # carries one message per digit.
        method = _DTMF_METHODS.get(prm.method, str(prm.method))
        if method == "rfc2833" and not (prm.flags & 1):  # PJMEDIA_STREAM_DTMF_IS_END
            return
        self.manager.guard(self.hooks.on_dtmf, self, str(prm.digit), method)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # Cold transfer by REFER: the 202 and each NOTIFY's sipfrag arrive here. Provisional sipfrags (100, 180)
        # are followed; on the final one the subscription is dropped. A 2xx means the target took the call and
        # our leg is done; anything else (REFER refused, target busy, no answer) leaves the call up for the
        # hooks' fallback (or ends it when the hooks have none).
        code = int(prm.statusCode)
        if not (prm.finalNotify or code >= 200) or (code == 202 and not prm.finalNotify):
            return  # 202 Accepted is the REFER's own answer: the target's result follows in a NOTIFY
        prm.cont = False
        record = self.results.setdefault("transfer", {})
        if "status" in record:
            return  # the end was reported already (the NOTIFY that terminates and the subscription's own end)
        ok = 200 <= code < 300
        record["status"] = code
        self.manager.guard(self.hooks.on_transfer_status, self, code, "refer")
        if ok:
            self.hangup_now("transferred")
        elif not self.transfer_fallback:
            self.hangup_now(f"transfer failed: {code}")

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
        if timeout_s > 0 and now >= self.next_media_check:
            self.next_media_check = now + MEDIA_STATS_INTERVAL_S
            # Media is alive while RTP packets arrive AND audio frames reach the call's port: packets keep
            # arriving on a stream whose port was left on a removed conference slot, and then nobody hears them;
            # frames keep coming from a stream whose RTP stopped (the jitter buffer plays silence).
            port = self.media_port
            frames = port.frames_in if port is not None else 0
            if frames != self.last_rx_frames:
                self.last_rx_frames = frames
                self.last_frame_change = now
            packets = self._rx_packets()
            if packets != self.last_rx_packets:
                self.last_rx_packets = packets
                self.last_packet_change = now
            stale_s = now - min(self.last_frame_change, self.last_packet_change)
            if stale_s >= timeout_s:
                self.media_timeout = True
                what = "RTP" if self.last_frame_change > self.last_packet_change else "audio at the call's port"
                self.hangup_now(f"media timeout: no {what} for {timeout_s:g}s")

    def _rx_packets(self) -> int:
        """RTP packets received by the call's audio stream (-1 when it has none)."""
        if self.audio_media is None:
            return -1
        try:
            return int(self.getStreamStat(self.audio_index).rtcp.rxStat.pkt)
        except pj.Error:
            return -1

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


def _received_a_message(event: pj.SipEvent) -> bool:
    """Whether a pjsua2 event was caused by a message received from the network."""
    return bool(event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG)


def uri_host(uri: str) -> str:
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

