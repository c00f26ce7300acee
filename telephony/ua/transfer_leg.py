"""The second call of a bridged transfer: placed by the UA to the target, bridged to the caller's call on answer.

Used when the trunk does not accept REFER (`TrunkSpec.allow_refer`): the UA stays in the media path, and the two
calls' audio is connected in pjmedia's conference bridge (caller -> target and target -> caller), so no frame
goes through Python. The target's audio is also sent to a media port of its own (the "listen" port), whose frames
the hooks record and transcribe apart from the caller's (`CallHooks.attach_transfer_media`); with no port free it
goes to the caller's media port instead, which then hears both people. Everything here runs on the pjsua thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any, Protocol

import pjsua2 as pj

from telephony.transfers import target_uri
from telephony.ua.call import MAX_REDIRECTS, uri_host

logger = logging.getLogger(__name__)

_MEDIA_FLOWING = (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD)
# Transfer calls are dropped this long after DISCONNECTED, on the pjsua thread (as the manager drops calls).
RELEASE_DELAY_S = 0.5


class TransferLeg(pj.Call):
    """The call to a transfer target, owned by the caller's `OutboundCall` (`owner`).

    Args:
        owner: the caller's leg (a `telephony.ua.call.OutboundCall`).
        ring_timeout_s: the target's longest time to answer; past it the leg is cancelled and reported failed.
        consult: a warm transfer's consultation: on the answer the target is not connected to the caller but to a
            media port of its own, whose frames the hooks exchange (`CallHooks.attach_consult_media`), until
            `join` connects the two people.
    """

    def __init__(self, owner: Any, ring_timeout_s: float, *, consult: bool = False) -> None:
        super().__init__(owner.account)
        self.owner = owner
        self.consult = consult
        self.consult_port: Any = None
        self.listen_port: Any = None
        self.started = time.monotonic()
        self.ring_deadline = self.started + ring_timeout_s
        self.answered_at: float | None = None
        self.disconnected = False
        self.reported = False
        self.final_code: int | None = None
        self.audio_media: pj.AudioMedia | None = None
        self.hangup_reason = ""
        self.redirects = 0
        self.target_host = ""

    def dial(self, uri: str) -> None:
        """Send the INVITE (raises pj.Error when pjsua refuses, e.g. no free call slot)."""
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        prm.opt.customCallId = f"{uuid.uuid4().hex}-x"
        header = pj.SipHeader()
        header.hName = "X-Attempt-Id"
        header.hValue = str(self.owner.attempt_id)
        headers = pj.SipHeaderVector()
        headers.append(header)
        prm.txOption.headers = headers
        self.target_host = uri_host(uri)
        self.makeCall(uri, prm)

    # ---- pjsua2 callbacks --------------------------------------------------------------------------------

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.answered_at is None:
            self.answered_at = time.monotonic()
            self._report(200)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.final_code = int(info.lastStatusCode)
            self._release_consult_port()
            self._release_listen_port()
            self.audio_media = None
            if self.answered_at is None:
                # Busy, declined, unreachable or cancelled at the end of the wait: the caller's call goes on.
                code = self.final_code if self.final_code >= 300 else 487
                self._report(code)
            elif self.consult:
                # Hung up during a warm transfer's briefing (or declined by us): the caller's call goes on.
                self.owner.manager.guard(self.owner.hooks.on_transfer_dtmf, self.owner, "")
            elif not self.owner.disconnected:
                # The person who took the call hung up: the caller's call ends with it.
                self.owner.hangup_now("transfer target hung up")
            self.owner.manager.transfer_leg_ended(self)

    def onCallRedirected(self, prm: pj.OnCallRedirectedParam) -> int:  # pjsua2 callback name
        # As for the caller's call: a 3xx is followed only to another port of the same host (a front spreading
        # calls over its processes), a bounded number of times.
        self.redirects += 1
        if self.redirects <= MAX_REDIRECTS and uri_host(str(prm.targetUri)) == self.target_host:
            return int(pj.PJSIP_REDIRECT_ACCEPT)
        return int(pj.PJSIP_REDIRECT_REJECT)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # pjsua2 callback name
        info = self.getInfo()
        index = next(
            (
                i
                for i, media in enumerate(info.media)
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status in _MEDIA_FLOWING and media.audioConfSlot >= 0
            ),
            None,
        )
        if index is None:
            return
        self.audio_media = self.getAudioMedia(index)
        self.connect()

    # ---- control -----------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Bridge the target and the caller in the conference (both ways), and let the hooks hear the target (on
        its listen port). Called on the target's answer and again on any media change of either call. During a
        warm transfer's consultation the target is wired to its own port instead."""
        mine, theirs = self.audio_media, self.owner.audio_media
        if mine is None or self.answered_at is None:
            return
        if self.consult:
            self._wire_consult(mine)
            return
        if theirs is None:
            return
        with contextlib.suppress(pj.Error):  # a connection that exists already is refused: nothing to do
            mine.startTransmit(theirs)
        with contextlib.suppress(pj.Error):
            theirs.startTransmit(mine)
        port = self._listen_port()
        if port is None:
            # No listen port (none free, or hooks without one): the caller's port hears both people, mixed.
            port = self.owner.media_port
        if port is not None:
            with contextlib.suppress(pj.Error):
                mine.startTransmit(port)

    def _listen_port(self) -> Any:
        if self.listen_port is None:
            port = self.owner.manager.ports.acquire()
            if port is None:
                return None
            if not self.owner.manager.guard(self.owner.hooks.attach_transfer_media, self.owner, port):
                self.owner.manager.ports.release(port)
                return None
            self.listen_port = port
        return self.listen_port

    def _release_listen_port(self) -> None:
        port, self.listen_port = self.listen_port, None
        if port is None:
            return
        mine = self.audio_media
        if mine is not None:
            with contextlib.suppress(pj.Error):
                mine.stopTransmit(port)
        self.owner.manager.ports.release(port)

    def _wire_consult(self, mine: pj.AudioMedia) -> None:
        port = self.consult_port
        if port is None:
            port = self.owner.manager.ports.acquire()
            if port is None:
                logger.warning("attempt %s: no free media port for the consultation", self.owner.attempt_id)
                return
            self.consult_port = port
            self.owner.manager.guard(self.owner.hooks.attach_consult_media, self.owner, port)
        with contextlib.suppress(pj.Error):
            port.startTransmit(mine)
        with contextlib.suppress(pj.Error):
            mine.startTransmit(port)

    def join(self) -> None:
        """End the consultation: the target's port goes back to the pool and the two people are connected."""
        if not self.consult:
            return
        self.consult = False
        self._release_consult_port()
        self.connect()

    def _release_consult_port(self) -> None:
        port, self.consult_port = self.consult_port, None
        if port is None:
            return
        mine = self.audio_media
        if mine is not None:
            with contextlib.suppress(pj.Error):
                port.stopTransmit(mine)
            with contextlib.suppress(pj.Error):
                mine.stopTransmit(port)
        self.owner.manager.ports.release(port)

    def onDtmfEvent(self, prm: pj.OnDtmfEventParam) -> None:  # pjsua2 callback name
        # The person at the target answers a warm transfer with a key: one report per digit, at its end.
        if prm.method == pj.PJSUA_DTMF_METHOD_RFC2833 and not (prm.flags & 1):  # PJMEDIA_STREAM_DTMF_IS_END
            return
        self.owner.manager.guard(self.owner.hooks.on_transfer_dtmf, self.owner, str(prm.digit))

    def tick(self, now: float) -> None:
        """Cancel the leg when the target has not answered in time."""
        if self.disconnected or self.answered_at is not None or now < self.ring_deadline:
            return
        self.hang_up("no answer in time", 0)

    def hang_up(self, reason: str, code: int = 0) -> None:
        """CANCEL before the answer, BYE after (ignored once disconnected)."""
        if self.disconnected:
            return
        self.hangup_reason = self.hangup_reason or reason
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        try:
            self.hangup(prm)
        except pj.Error as exc:  # already terminating: DISCONNECTED follows anyway
            logger.debug("transfer leg of attempt %s: %s", self.owner.attempt_id, exc.info())

    def _report(self, code: int) -> None:
        if self.reported:
            return
        self.reported = True
        owner = self.owner
        owner.results.setdefault("transfer", {})["status"] = code
        if 200 <= code < 300:
            self.connect()
        owner.manager.guard(owner.hooks.on_transfer_status, owner, code, "warm" if self.consult else "bridge")


class TransferLines(Protocol):
    """The process's line count as the transfers see it (`telephony.ua.lines.Lines`)."""

    def take_transfer(self, attempt_id: int) -> bool: ...

    def release_transfer(self, attempt_id: int) -> None: ...


class TransferOperations:
    """The transfer part of `telephony.ua.manager.CallManager` (pjsua thread): REFER, the bridged second call."""

    calls: dict[int, Any]
    _graveyard: list[tuple[float, pj.Call]]
    transfer_lines: TransferLines | None

    def guard(self, fn: Any, *args: Any) -> Any:
        raise NotImplementedError

    def transfer(self, attempt_id: int, target: str, keep_call_on_failure: bool = False) -> bool:
        """Cold transfer (REFER) an answered call to a number or a SIP URI; our leg ends when the target took it.

        A failed transfer ends the call too, unless `keep_call_on_failure` (the hooks then apply their fallback).
        """
        call = self.calls.get(attempt_id)
        if call is None or call.answered_at is None:
            return False
        uri = (
            target
            if target.startswith(("sip:", "sips:", "tel:"))
            else (f"sip:{target}@{call.trunk.host_port()}{call.trunk.uri_params()}")
        )
        call.results["transfer"] = {"target": uri}
        call.transfer_fallback = keep_call_on_failure
        try:
            call.xfer(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            logger.warning("attempt %s: REFER not sent: %s", attempt_id, exc.info())
            call.results["transfer"]["status"] = 500
            self.guard(call.hooks.on_transfer_status, call, 500, "refer")
            return False
        return True

    def consult_transfer(self, attempt_id: int, target: str, ring_timeout_s: float) -> bool:
        """Warm transfer: call `target` and, on its answer, connect it to the hooks' consultation port (not to the
        caller) until `join_transfer`."""
        return self.bridge_transfer(attempt_id, target, ring_timeout_s, consult=True)

    def join_transfer(self, attempt_id: int) -> bool:
        """Connect the caller and the consulted target (the person accepted the warm transfer)."""
        call = self.calls.get(attempt_id)
        leg = call.transfer_leg if call is not None else None
        if leg is None or leg.disconnected:
            return False
        leg.join()
        return True

    def bridge_transfer(self, attempt_id: int, target: str, ring_timeout_s: float, *, consult: bool = False) -> bool:
        """Cold transfer by a second call to `target` (a number through the call's trunk, or a SIP URI), bridged
        to the answered call once the target answers; the hooks hear the result (`on_transfer_status`)."""
        call = self.calls.get(attempt_id)
        if call is None or call.answered_at is None or call.transfer_leg is not None:
            return False
        uri = target_uri(target, call.trunk.host_port(), call.trunk.uri_params())
        call.results["transfer"] = {"target": uri}
        method = "warm" if consult else "bridge"
        lines = self.transfer_lines
        # The second call is a call of its own (a pjsua call slot, RTP ports, a media port): it takes one of the
        # process's lines, or it is not placed and the hooks fall back. Counted, the dialer sends no call to a
        # process whose lines the transfers hold (the heartbeat advertises the free ones).
        if lines is not None and not lines.take_transfer(attempt_id):
            logger.warning("attempt %s: no free line for the transfer call", attempt_id)
            call.results["transfer"]["status"] = 503
            self.guard(call.hooks.on_transfer_status, call, 503, method)
            return False
        leg = TransferLeg(call, ring_timeout_s, consult=consult)
        try:
            leg.dial(uri)
        except pj.Error as exc:  # no free call slot in this process, a bad URI: the hooks fall back
            logger.warning("attempt %s: transfer call not placed: %s", attempt_id, exc.info())
            self._graveyard.append((time.monotonic() + RELEASE_DELAY_S, leg))
            if lines is not None:
                lines.release_transfer(attempt_id)
            call.results["transfer"]["status"] = 503
            self.guard(call.hooks.on_transfer_status, call, 503, method)
            return False
        call.transfer_leg = leg
        return True

    def cancel_transfer(self, attempt_id: int, reason: str) -> bool:
        """Hang up an attempt's transfer call (the caller's call goes on)."""
        call = self.calls.get(attempt_id)
        leg = call.transfer_leg if call is not None else None
        if leg is None:
            return False
        leg.hang_up(reason)
        return True

    def transfer_leg_ended(self, leg: TransferLeg) -> None:
        """A transfer call reached DISCONNECTED: drop it later, on this thread (as for calls)."""
        self._graveyard.append((time.monotonic() + RELEASE_DELAY_S, leg))
        if leg.owner.transfer_leg is leg:
            leg.owner.transfer_leg = None
        if self.transfer_lines is not None:
            self.transfer_lines.release_transfer(leg.owner.attempt_id)
