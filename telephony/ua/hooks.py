"""The API the media work plugs into a call: hooks called on the pjsua thread, and thread-safe call control.

`CallHooks` is what a conversation (telephony/conversation/) or a probe implements; `CallControl` is what it
uses from its own thread to act on the call; `EndReport` is the end of an attempt while hooks may still add to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from telephony.contract import CallResults, Ended, TrunkSpec
from telephony.ua.media_port import CallMediaPort

# Asks the control plane for a channel on the failover trunk before its INVITE: (attempt id, trunk) -> granted.
ChannelGate = Callable[[int, TrunkSpec], bool]
# The call a hook is given is a `telephony.ua.call.OutboundCall`. It is typed loosely here because the call and
# its manager use this module: the hook API sits below them, so no import points back up.
Call = Any


class _Scheduler(Protocol):
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None: ...


class CallOperations(Protocol):
    """What `CallControl` needs of the `telephony.ua.manager.CallManager`."""

    @property
    def pjsua(self) -> _Scheduler: ...

    def send_dtmf(self, attempt_id: int, digits: str, method: str = "rfc2833") -> bool: ...

    def transfer(self, attempt_id: int, target: str, keep_call_on_failure: bool = False) -> bool: ...

    def bridge_transfer(self, attempt_id: int, target: str, ring_timeout_s: float, *, consult: bool = False) -> bool:
        ...

    def consult_transfer(self, attempt_id: int, target: str, ring_timeout_s: float) -> bool: ...

    def join_transfer(self, attempt_id: int) -> bool: ...

    def cancel_transfer(self, attempt_id: int, reason: str) -> bool: ...

    def hangup(self, attempt_id: int, reason: str = "hangup requested") -> bool: ...

    def set_disposition(self, attempt_id: int, disposition: str) -> bool: ...


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

    def attach_media(self, call: Call, port: CallMediaPort) -> bool:
        """Claim the call's audio through `port` (a pooled port; do not keep it after the call)."""
        return False

    def on_answered(self, call: Call) -> None:
        """The far end answered (200 OK, ACK sent)."""

    def on_dtmf(self, call: Call, digit: str, method: str) -> None:
        """A DTMF digit arrived (`method` is "rfc2833" or "sip_info")."""

    def on_remote_hangup(self, call: Call) -> None:
        """The far end hung up an established call (BYE received)."""

    def on_transfer_status(self, call: Call, code: int, method: str) -> None:
        """A transfer reached its end: `code` is the target's final answer (2xx: it took the call), or the REFER's
        failure; `method` is "refer", "bridge" or "warm". With REFER a 2xx is followed by our hangup of the leg."""

    def attach_consult_media(self, call: Call, port: CallMediaPort) -> None:
        """A warm transfer's target answered: `port` carries the consultation with it (the caller does not hear
        it) until the transfer is joined or ended."""

    def on_transfer_dtmf(self, call: Call, digit: str) -> None:
        """A key from the person at a warm transfer's target ("" when they hung up during the consultation)."""

    def attach_transfer_media(self, call: Call, port: CallMediaPort) -> bool:
        """The person at a bridged or warm transfer's target is on the line with the caller: `port` hears them
        alone (its source is not connected). False leaves their audio mixed into the caller's port instead."""
        return False

    def on_ended(self, call: Call, report: EndReport) -> None:
        """The attempt ended; `report` is what goes to the ledger (hooks may still add results)."""


class CallControl:
    """In-call control usable from any thread (the media work's asyncio loop): each action is posted to the
    pjsua thread. Actions on a call that has ended are ignored."""

    def __init__(self, manager: CallOperations, attempt_id: int) -> None:
        self.manager = manager
        self.attempt_id = attempt_id

    def send_dtmf(self, digits: str, method: str = "rfc2833") -> None:
        """Send DTMF digits ("rfc2833" or "sip_info")."""
        self.manager.pjsua.call_soon(self.manager.send_dtmf, self.attempt_id, digits, method)

    def transfer(self, target: str, keep_call_on_failure: bool = False) -> None:
        """Cold transfer (REFER) to a number (sent through the call's trunk) or a SIP URI; a failed transfer ends
        the call unless `keep_call_on_failure` (then `CallHooks.on_transfer_status` decides what follows)."""
        self.manager.pjsua.call_soon(self.manager.transfer, self.attempt_id, target, keep_call_on_failure)

    def bridge_transfer(self, target: str, ring_timeout_s: float) -> None:
        """Cold transfer by a second call placed here to `target` (a number or a SIP URI), bridged to this call
        once answered; `CallHooks.on_transfer_status` reports the target's answer."""
        self.manager.pjsua.call_soon(self.manager.bridge_transfer, self.attempt_id, target, ring_timeout_s)

    def consult_transfer(self, target: str, ring_timeout_s: float) -> None:
        """Warm transfer: call `target`; on its answer its audio goes to `CallHooks.attach_consult_media`'s port,
        not to the caller, until `join_transfer`."""
        self.manager.pjsua.call_soon(self.manager.consult_transfer, self.attempt_id, target, ring_timeout_s)

    def join_transfer(self) -> None:
        """Connect the caller and the consulted target (the agent leaves)."""
        self.manager.pjsua.call_soon(self.manager.join_transfer, self.attempt_id)

    def cancel_transfer(self, reason: str) -> None:
        """Hang up the transfer's second call (nobody answered in time); the caller's call goes on."""
        self.manager.pjsua.call_soon(self.manager.cancel_transfer, self.attempt_id, reason)

    def hangup(self, reason: str = "hangup requested") -> None:
        """Hang up the call."""
        self.manager.pjsua.call_soon(self.manager.hangup, self.attempt_id, reason)

    def set_disposition(self, disposition: str) -> None:
        """Replace the disposition the call will end with (e.g. AMD found a machine)."""
        self.manager.pjsua.call_soon(self.manager.set_disposition, self.attempt_id, disposition)

