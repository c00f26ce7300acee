"""`UaSettings`: the one typed source of the UA pool's configuration.

The defaults live once, in ``config/settings/base.py`` (each ``UA_*`` setting, plus ``REDIS_URL``,
``DIALER_LEASE_TTL_S``, ``LOCAL_AGENT_*``, ``RECORDINGS_ROOT`` and the agent allow-lists). `UaSettings.from_django`
reads them once and validates them; the command lines of `run_ua_pool` and of a worker only override named
fields (`UaSettings.with_flags`). The supervisor, the worker, the call plan and the controller take this object
(or the values they need from it) and read no Django settings themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from media.endpoints import EndpointPolicy
from telephony.agent_endpoints import endpoint_policy
from telephony.ua.sip_sources import SipSourcePolicy

# The per-call hooks installed unless told otherwise (`--hooks`, settings UA_CALL_HOOKS / UA_MEDIA_BRIDGE).
MEDIA_HOOKS = "telephony.conversation.controller:campaign_call"


@dataclass(frozen=True)
class UaSettings:
    """Every tunable of the UA pool, validated when built (`ValueError` names the setting)."""

    pool_processes: int
    """UA worker processes the supervisor keeps running (``UA_POOL_PROCESSES``)."""
    bind_address: str
    """Address the workers bind SIP and RTP to (``UA_BIND_ADDRESS``)."""
    advertise_host: str
    """Address other hosts reach the workers at; empty: the bind address (``UA_ADVERTISE_HOST``)."""
    sip_port_base: int
    """SIP port of worker 0; worker i takes base + 2i, TLS the next port (``UA_SIP_PORT_BASE``)."""
    rtp_port_base: int
    """First RTP port of worker 0; worker i starts at base + range * i (``UA_RTP_PORT_BASE``)."""
    rtp_port_range: int
    """RTP ports per worker, two per call (``UA_RTP_PORT_RANGE``)."""
    max_calls_per_process: int
    """Calls per worker, 1..4: the pjsua2 wheel's limit (``UA_MAX_CALLS_PER_PROCESS``)."""
    media_timeout_s: float
    """An answered call without RTP this long ends as failed; 0 disables (``UA_MEDIA_TIMEOUT_S``)."""
    stop_timeout_s: float
    """On SIGTERM, time the workers get to hang up and record their calls before SIGKILL (``UA_STOP_TIMEOUT_S``)."""
    drain_timeout_s: float
    """On SIGTERM, how long a worker waits for its calls to end: ``UA_STOP_TIMEOUT_S`` - 3 s, at least 1 s."""
    call_hooks: str
    """"module:callable" building the per-call hooks; empty installs none (``UA_CALL_HOOKS``, ``UA_MEDIA_BRIDGE``)."""
    nice: int
    """Scheduling niceness of the workers, -20..19; 0 leaves it alone (``UA_NICE``)."""
    gil_switch_interval_ms: float
    """Python's GIL switch interval inside a worker (``UA_GIL_SWITCH_INTERVAL_MS``)."""
    lease_renew_s: float
    """How often a worker renews the leases of its live calls: a third of ``DIALER_LEASE_TTL_S``, at least 1 s."""
    command_key: bytes
    """The HMAC key that seals commands to the pool (``UA_COMMAND_KEY``)."""
    ledger: str
    """"module:callable" of the `Ledger` the workers record into (``UA_LEDGER``)."""
    spool_dir: Path
    """Where each worker keeps its event spool, one file per worker name (``UA_SPOOL_DIR``)."""
    redis_url: str
    """The Redis of the command queues and the UA registry (``REDIS_URL``)."""
    redis_socket_timeout_s: float
    """Socket timeout of a worker's Redis client, over the 1 s blocking read (``UA_REDIS_SOCKET_TIMEOUT_S``)."""
    local_agent_url: str
    """Where provider ``local`` goes when the agent profile names no URL (``LOCAL_AGENT_URL``)."""
    local_agent_token: str
    """The shared token the local agent requires (``LOCAL_AGENT_TOKEN``)."""
    recordings_root: Path | None
    """Where call recordings are written (``RECORDINGS_ROOT``)."""
    endpoint_policy: EndpointPolicy
    """The allow-lists every call's agent must pass (``AI_*`` settings, `telephony.agent_endpoints`)."""
    sip_allowed_sources: tuple[str, ...] = ()
    """Networks allowed to send SIP besides the trunks' hosts (``UA_SIP_ALLOWED_SOURCES``, F27)."""
    sip_allow_loopback: bool = True
    """Whether 127.0.0.1 and ::1 may send SIP (``UA_SIP_ALLOW_LOOPBACK``, F27)."""
    prompt_variable_max_chars: int = 200
    """The longest contact value sent to the AI or spoken (``AI_PROMPT_VARIABLE_MAX_CHARS``, F13)."""
    max_playout_ms: int = 30_000
    """The most agent audio queued for playback (``AI_MAX_PLAYOUT_S``, F20)."""
    ai_silence_timeout_s: float = 15.0
    """How long the AI may stay silent after the caller spoke (``AI_SILENCE_TIMEOUT_S``, F20)."""
    transcribe_after_handover: bool = True
    """Whether the UA transcribes both people after a bridged or warm transfer (``UA_TRANSCRIBE_AFTER_HANDOVER``;
    about 60 ms of CPU per second of such a conversation, docs/benchmarks.md)."""

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.pool_processes >= 1, f"UA_POOL_PROCESSES must be >= 1, got {self.pool_processes}"),
            (self.prompt_variable_max_chars >= 1,
             f"AI_PROMPT_VARIABLE_MAX_CHARS must be >= 1, got {self.prompt_variable_max_chars}"),
            (self.max_playout_ms >= 1000, f"AI_MAX_PLAYOUT_S must be >= 1, got {self.max_playout_ms / 1000:g}"),
            (self.ai_silence_timeout_s > 0, f"AI_SILENCE_TIMEOUT_S must be positive, got {self.ai_silence_timeout_s}"),
            (1 <= self.max_calls_per_process <= 4,
             f"UA_MAX_CALLS_PER_PROCESS must be 1..4, got {self.max_calls_per_process}"),
            (0 < self.sip_port_base <= 65535, f"UA_SIP_PORT_BASE must be a port, got {self.sip_port_base}"),
            (0 < self.rtp_port_base <= 65535, f"UA_RTP_PORT_BASE must be a port, got {self.rtp_port_base}"),
            (self.rtp_port_range >= 2 * self.max_calls_per_process,
             f"UA_RTP_PORT_RANGE must give each call two ports, got {self.rtp_port_range}"),
            (self.media_timeout_s >= 0, f"UA_MEDIA_TIMEOUT_S must be >= 0, got {self.media_timeout_s}"),
            (self.stop_timeout_s > 0, f"UA_STOP_TIMEOUT_S must be positive, got {self.stop_timeout_s}"),
            (self.drain_timeout_s > 0, f"the drain timeout must be positive, got {self.drain_timeout_s}"),
            (-20 <= self.nice <= 19, f"UA_NICE must be -20..19, got {self.nice}"),
            (self.gil_switch_interval_ms > 0,
             f"UA_GIL_SWITCH_INTERVAL_MS must be positive, got {self.gil_switch_interval_ms}"),
            (self.lease_renew_s > 0, f"the lease renewal interval must be positive, got {self.lease_renew_s}"),
            # Why: the worker's command read blocks for 1 s; a shorter socket timeout would fail every idle read.
            (self.redis_socket_timeout_s > 1.0,
             f"UA_REDIS_SOCKET_TIMEOUT_S must exceed 1 s, got {self.redis_socket_timeout_s}"),
            (not self.call_hooks or ":" in self.call_hooks,
             f'UA_CALL_HOOKS must be "module:callable", got {self.call_hooks!r}'),
            (":" in self.ledger, f'UA_LEDGER must be "module:callable", got {self.ledger!r}'),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        SipSourcePolicy(self.sip_allowed_sources)  # raises naming UA_SIP_ALLOWED_SOURCES

    @classmethod
    def from_django(cls, settings: Any) -> UaSettings:
        """The UA settings of this deployment, from Django's settings (``django.conf.settings``)."""
        stop_timeout_s = float(settings.UA_STOP_TIMEOUT_S)
        hooks = str(settings.UA_CALL_HOOKS or "") or (MEDIA_HOOKS if settings.UA_MEDIA_BRIDGE else "")
        recordings = settings.RECORDINGS_ROOT
        return cls(
            pool_processes=int(settings.UA_POOL_PROCESSES),
            bind_address=str(settings.UA_BIND_ADDRESS),
            advertise_host=str(settings.UA_ADVERTISE_HOST or ""),
            sip_port_base=int(settings.UA_SIP_PORT_BASE),
            rtp_port_base=int(settings.UA_RTP_PORT_BASE),
            rtp_port_range=int(settings.UA_RTP_PORT_RANGE),
            max_calls_per_process=int(settings.UA_MAX_CALLS_PER_PROCESS),
            media_timeout_s=float(settings.UA_MEDIA_TIMEOUT_S),
            stop_timeout_s=stop_timeout_s,
            drain_timeout_s=drain_timeout_for(stop_timeout_s),
            call_hooks=hooks,
            nice=int(settings.UA_NICE),
            gil_switch_interval_ms=float(settings.UA_GIL_SWITCH_INTERVAL_MS),
            # Why: a lease renewed every third of its life survives two missed renewals (same rule as the dialer).
            lease_renew_s=max(1.0, float(settings.DIALER_LEASE_TTL_S) // 3),
            command_key=bytes(settings.UA_COMMAND_KEY),
            ledger=str(settings.UA_LEDGER),
            spool_dir=Path(settings.UA_SPOOL_DIR),
            redis_url=str(settings.REDIS_URL),
            redis_socket_timeout_s=float(settings.UA_REDIS_SOCKET_TIMEOUT_S),
            local_agent_url=str(settings.LOCAL_AGENT_URL or ""),
            local_agent_token=str(settings.LOCAL_AGENT_TOKEN or ""),
            recordings_root=Path(recordings) if recordings else None,
            endpoint_policy=endpoint_policy(settings),
            sip_allowed_sources=tuple(str(n) for n in settings.UA_SIP_ALLOWED_SOURCES),
            sip_allow_loopback=bool(settings.UA_SIP_ALLOW_LOOPBACK),
            prompt_variable_max_chars=int(settings.AI_PROMPT_VARIABLE_MAX_CHARS),
            max_playout_ms=int(float(settings.AI_MAX_PLAYOUT_S) * 1000),
            ai_silence_timeout_s=float(settings.AI_SILENCE_TIMEOUT_S),
            transcribe_after_handover=bool(getattr(settings, "UA_TRANSCRIBE_AFTER_HANDOVER", True)),
        )

    def with_flags(self, **flags: Any) -> UaSettings:
        """These settings with the fields named by `flags` replaced; a None value keeps the setting.

        Raises:
            ValueError: a name that is not a UA setting, or a value the settings refuse.
        """
        names = {f.name for f in fields(self)}
        unknown = sorted(set(flags) - names)
        if unknown:
            raise ValueError(f"unknown UA setting(s): {', '.join(unknown)}")
        return replace(self, **{name: value for name, value in flags.items() if value is not None})


def drain_timeout_for(stop_timeout_s: float) -> float:
    """How long a worker waits for its calls to end on SIGTERM when the supervisor kills it after `stop_timeout_s`."""
    # Why: the supervisor SIGKILLs after the stop timeout; the worker stops waiting 3 s before, so the ends of its
    # calls still reach the spool.
    return max(1.0, stop_timeout_s - 3)


_installed: UaSettings | None = None
_installed_lock = threading.Lock()


def install_process_settings(ua: UaSettings) -> None:
    """Make `ua` the settings of this process (the worker does, once, after its flags are applied)."""
    global _installed  # one UA configuration per process
    with _installed_lock:
        _installed = ua


def process_settings() -> UaSettings:
    """The settings of this process: the installed ones, else built once from Django's settings."""
    global _installed  # one UA configuration per process
    with _installed_lock:
        if _installed is None:
            from django.conf import settings

            _installed = UaSettings.from_django(settings)
        return _installed
