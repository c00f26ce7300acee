"""Typed views of the commands a UA process receives from its Redis queue (see `telephony/ua_registry.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telephony.choices import SrtpPolicy, Transport, TrunkAuth

DEFAULT_CODECS = ("PCMU", "PCMA")
# Originate keys about the conversation (agent, AMD, voicemail, opt-out) kept for the media hooks.
MEDIA_KEYS = ("agent", "amd_enabled", "amd", "machine_policy", "voicemail_message", "opt_out_digit")


@dataclass(frozen=True)
class TrunkSpec:
    """Everything the UA needs to send a call through one trunk.

    The password is kept out of `repr()` so it never reaches a log line or a traceback.
    """

    id: int
    host: str
    port: int = 5060
    transport: str = Transport.UDP
    auth_mode: str = TrunkAuth.IP
    username: str = ""
    password: str = field(default="", repr=False)
    realm: str = ""
    register_expiry_s: int = 300
    srtp_policy: str = SrtpPolicy.DISABLED
    codecs: tuple[str, ...] = DEFAULT_CODECS
    send_pai: bool = False
    failover: TrunkSpec | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("trunk host is empty")
        if not 1 <= int(self.port) <= 65535:
            raise ValueError(f"trunk port out of range: {self.port}")
        if self.transport not in Transport.values:
            raise ValueError(f"trunk transport unknown: {self.transport!r}")
        if self.auth_mode not in TrunkAuth.values:
            raise ValueError(f"trunk auth_mode unknown: {self.auth_mode!r}")
        if self.srtp_policy not in SrtpPolicy.values:
            raise ValueError(f"trunk srtp_policy unknown: {self.srtp_policy!r}")
        if self.auth_mode != TrunkAuth.IP and not self.username:
            raise ValueError("trunk needs a username for digest or register authentication")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrunkSpec:
        """Build from the `trunk` member of an originate command."""
        codecs = data.get("codecs") or DEFAULT_CODECS
        if isinstance(codecs, str):
            codecs = [c for c in codecs.split(",") if c.strip()]
        failover = data.get("failover")
        return cls(
            id=int(data["id"]),
            host=str(data["host"]),
            port=int(data.get("port") or 5060),
            transport=str(data.get("transport") or Transport.UDP),
            auth_mode=str(data.get("auth_mode") or TrunkAuth.IP),
            username=str(data.get("username") or ""),
            password=str(data.get("password") or ""),
            realm=str(data.get("realm") or ""),
            register_expiry_s=int(data.get("register_expiry_s") or 300),
            srtp_policy=str(data.get("srtp_policy") or SrtpPolicy.DISABLED),
            codecs=tuple(c.strip().upper() for c in codecs),
            send_pai=bool(data.get("send_pai")),
            failover=cls.from_dict(failover) if failover else None,
        )

    def uri_params(self) -> str:
        """The `;transport=` parameter for URIs towards this trunk (empty for UDP)."""
        return "" if self.transport == Transport.UDP else f";transport={self.transport}"

    def host_port(self) -> str:
        """`host:port`, bracketing IPv6 literals."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def account_key(self) -> tuple[Any, ...]:
        """What makes two trunks share one pjsua2 account (everything but failover and codec order)."""
        return (self.id, self.host, self.port, self.transport, self.auth_mode, self.username, self.password,
                self.realm, self.register_expiry_s, self.srtp_policy)


@dataclass(frozen=True)
class OriginateRequest:
    """One attempt handed to this UA process: dial `destination` through `trunk`."""

    attempt_id: int
    destination: str
    trunk: TrunkSpec
    caller_id: str = ""
    ring_timeout_s: float = 30.0
    max_call_s: float = 600.0
    campaign_id: int | None = None
    contact_id: int | None = None
    agent_profile_id: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.destination:
            raise ValueError("destination is empty")
        if self.ring_timeout_s <= 0:
            raise ValueError(f"ring_timeout_s must be positive, got {self.ring_timeout_s}")
        if self.max_call_s <= 0:
            raise ValueError(f"max_call_s must be positive, got {self.max_call_s}")

    @classmethod
    def from_command(cls, command: dict[str, Any]) -> OriginateRequest:
        """Parse an `{"type": "originate", ...}` command (raises KeyError/ValueError when malformed)."""
        return cls(
            attempt_id=int(command["attempt_id"]),
            destination=str(command["destination"]),
            trunk=TrunkSpec.from_dict(command["trunk"]),
            caller_id=str(command.get("caller_id") or ""),
            ring_timeout_s=float(command.get("ring_timeout_s") or 30),
            max_call_s=float(command.get("max_call_s") or 600),
            campaign_id=command.get("campaign_id"),
            contact_id=command.get("contact_id"),
            agent_profile_id=command.get("agent_profile_id"),
            variables=dict(command.get("variables") or {}),
            media={key: command[key] for key in MEDIA_KEYS if key in command},
        )
