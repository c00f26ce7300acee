"""What one campaign call does, read from its originate command alone (no database during the call)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from media.amd import AmdConfig
from media.bridge.config import AgentConfig, BridgeConfig
from media.bridge.loop import MediaLoop
from media.endpoints import EndpointPolicy
from telephony.agent_endpoints import agent_config
from telephony.contract import OriginateCommand
from telephony.transfers import TransferTargetSpec
from telephony.ua.settings import UaSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallPlan:
    """What one call does, from its originate command (no database access).

    Attributes:
        agent: the AgentProfile as the bridge needs it; None when it could not be read (the call then ends
            ``ai_error`` after the default fallback message).
        agent_error: why `agent` is None.
        variables: the contact's variables ({{name}} etc.).
        amd_enabled: listen for a machine before connecting the agent.
        amd: detector settings (`AmdConfig`; ``greet_immediately`` starts the agent at answer).
        machine_policy: ``hang_up`` or ``leave_message``.
        voicemail_message: template spoken after the beep.
        opt_out_digit: DTMF key that opts out ("" for none).
        disclosures: ``(kind, text)`` spoken before anything else (see `media.bridge.config.CallContext`).
        transfer_targets: where the agent may hand the call to a person (in order; offered only when staffed).
        trunk_host_port: ``host:port`` of the call's trunk (a number target is called through it).
        trunk_uri_params: the ``;transport=`` parameter towards the trunk.
        allow_refer: the trunk accepts SIP REFER (cold transfers by REFER, else a bridged second call).
    """

    attempt_id: int
    destination: str
    campaign_id: int | None
    agent: AgentConfig | None
    agent_error: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    amd_enabled: bool = True
    amd: AmdConfig = field(default_factory=AmdConfig)
    machine_policy: str = "hang_up"
    voicemail_message: str = ""
    opt_out_digit: str = ""
    disclosures: tuple[tuple[str, str], ...] = ()
    transfer_targets: tuple[TransferTargetSpec, ...] = ()
    trunk_host_port: str = ""
    trunk_uri_params: str = ""
    allow_refer: bool = False

    @classmethod
    def from_command(cls, command: OriginateCommand, local_agent_url: str, *, policy: EndpointPolicy | None = None,
                     local_agent_token: str = "") -> CallPlan:
        """Read the plan from an originate command.

        Args:
            command: the originate command.
            local_agent_url: serves provider ``local`` when the profile has no URL.
            policy: the allow-lists the agent's URL and key variable must pass (the strict default when None).
            local_agent_token: the shared local agent token, given to provider ``local`` only.
        """
        talk = command.conversation
        agent: AgentConfig | None = None
        error = ""
        if talk.agent is not None and talk.agent.provider:
            try:
                agent = agent_config(talk.agent, local_agent_url, policy or EndpointPolicy(), local_agent_token)
            except (ValueError, TypeError) as exc:
                error = f"agent settings unusable: {exc}"
        else:
            error = "no agent in the originate command"
        amd_fields: dict[str, Any] = {"greet_immediately": talk.amd_greet_immediately}
        if not talk.amd_late_beep:
            amd_fields["late_beep_window_ms"] = 0
        if talk.amd_max_decision_ms is not None:
            amd_fields["max_decision_ms"] = talk.amd_max_decision_ms
        try:
            amd = AmdConfig(**amd_fields)
        except (ValueError, TypeError):
            logger.warning("attempt %s: AMD settings unusable; defaults used", command.attempt_id, exc_info=True)
            amd = AmdConfig()
        return cls(
            attempt_id=command.attempt_id,
            destination=command.destination,
            campaign_id=command.campaign_id,
            agent=agent,
            agent_error=error,
            variables=dict(talk.variables),
            amd_enabled=talk.amd_enabled,
            amd=amd,
            machine_policy=talk.machine_policy or "hang_up",
            voicemail_message=talk.voicemail_message,
            opt_out_digit=talk.opt_out_digit,
            disclosures=talk.disclosures,
            transfer_targets=talk.transfer_targets,
            trunk_host_port=command.trunk.host_port(),
            trunk_uri_params=command.trunk.uri_params(),
            allow_refer=command.trunk.allow_refer,
        )


def call_plan_from_settings(command: OriginateCommand, ua: UaSettings) -> CallPlan:
    """The plan of a call with this process's UA settings: the local agent's URL and token, the endpoint policy."""
    return CallPlan.from_command(command, ua.local_agent_url, policy=ua.endpoint_policy,
                                 local_agent_token=ua.local_agent_token)


# ---- process-wide resources (one MediaLoop per UA process) ---------------------------------------------------

_process_lock = threading.Lock()
_process_loop: MediaLoop | None = None


def process_media_loop() -> MediaLoop:
    """The UA process's media event loop, started on first use."""
    global _process_loop  # one loop per process, created lazily
    with _process_lock:
        if _process_loop is None:
            _process_loop = MediaLoop().start()
        return _process_loop


def bridge_config_from_settings(ua: UaSettings) -> BridgeConfig:
    """The bridge settings of this process (recordings under RECORDINGS_ROOT, the F13/F20 limits from ``AI_*``)."""
    return BridgeConfig(
        recordings_root=ua.recordings_root,
        prompt_variable_max_chars=ua.prompt_variable_max_chars,
        max_playout_ms=ua.max_playout_ms,
        ai_silence_timeout_s=ua.ai_silence_timeout_s,
        transcribe_after_handover=ua.transcribe_after_handover,
    )
