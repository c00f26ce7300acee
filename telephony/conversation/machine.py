"""The answering machine's side of a campaign call: the machine policy, and the late beep after an unknown decision.

Machine: hang up (``machine``), or with the ``leave_message`` policy wait for the beep (or the end of the greeting),
speak the voicemail message with local TTS and hang up (``voicemail_left`` when it was played to the end, else
``machine``). After an UNKNOWN decision the call is with the agent, and `media.amd.LateBeepWatch` goes on listening
for the beep of a greeting that ran past the deadline; the machine policy then applies after all.
"""

from __future__ import annotations

import logging
from typing import Any

from media.amd import AmdDecision
from media.bridge.prompts import referenced_variables, render_spoken
from telephony.conversation.recording import now_ms
from telephony.conversation.voicemail import wait_for_beep, watch_for_late_beep

logger = logging.getLogger(__name__)

# Dispositions (campaigns.choices.Disposition values; the UA does not import the models).
MACHINE, VOICEMAIL_LEFT = "machine", "voicemail_left"
LEAVE_MESSAGE = "leave_message"  # campaigns.choices.MachinePolicy.LEAVE_MESSAGE


class MachineFlow:
    """The machine part of `telephony.conversation.controller.CampaignCall` (a mixin: it uses the call's plan,
    session, received-audio buffer and playout). Runs on the media loop."""

    plan: Any
    config: Any
    session: Any
    recording: Any
    transfer: dict[str, Any]
    amd: AmdDecision | None
    opted_out: str
    disposition: str | None
    reason: str
    voicemail: dict[str, Any]
    _rx: Any
    _listening: bool
    _bridged: bool
    _ended: bool
    _hung_up: bool

    def hangup(self, reason: str) -> None:  # provided by the call
        raise NotImplementedError

    async def _play(self, text: str, *, cache: bool = True) -> bool:  # provided by the call
        raise NotImplementedError

    async def _on_machine(self, decision: AmdDecision) -> None:
        plan = self.plan
        if self.session is not None:  # greeted at once: the agent was talking to a machine
            self._bridged = False
            self.session.request_stop("answering machine")
        # Set now: if the machine hangs up while we wait or speak, this task is cancelled before it ends.
        self.disposition, self.reason = MACHINE, f"answering machine ({decision.reason})"
        if plan.machine_policy != LEAVE_MESSAGE or not plan.voicemail_message.strip():
            self.hangup("answering machine")
            return
        self.reason = "voicemail message not delivered: the call ended before the beep"
        # A late beep was already followed by the quiet of a machine recording: the message starts now.
        after = "late beep" if decision.reason == "late_beep" else await wait_for_beep(self._rx, plan.amd, decision)
        self._listening = False
        text = render_spoken(plan.voicemail_message, plan.variables, self.config.prompt_variable_max_chars)
        self.reason = f"voicemail message not delivered: the call ended while it played (after the {after})"
        # What was left, on the recording's clock: the proof of the message (D15).
        self.voicemail = {"after": after, "delivered": False, "text": text, "start_ms": now_ms(self.recording)}
        delivered = await self._play(text, cache=not referenced_variables(plan.voicemail_message))
        self.voicemail.update(delivered=delivered, end_ms=now_ms(self.recording))
        if delivered:
            self.disposition, self.reason = VOICEMAIL_LEFT, f"voicemail message left after the {after}"
            self.hangup("voicemail left")

    async def _late_beep(self, decision: AmdDecision, talker_dbfs: float | None) -> None:
        """An undecided greeting that ran past the deadline and beeps gets the machine policy after all.

        Compliance: the watch stops, and no machine policy follows, once the call ended or hung up, the callee
        opted out or is being transferred; a failure of the watch leaves the call with the agent (hanging up on
        a person would be an abandoned call).
        """
        def stopped() -> bool:
            return self._ended or self._hung_up or bool(self.opted_out) or bool(self.transfer)

        try:
            late = await watch_for_late_beep(self._rx, self.plan.amd, decision, talker_dbfs, stopped)
        except Exception:
            logger.exception("attempt %s: the late-beep watch failed", self.plan.attempt_id)
            late = None
        if late is None or stopped():
            self._listening = False
            self._rx.clear()
            return
        self.amd = late
        logger.info("attempt %s: AMD %s (%s) at %d ms: %s", self.plan.attempt_id, late.label, late.reason,
                    late.decided_ms, late.detail)
        await self._on_machine(late)
