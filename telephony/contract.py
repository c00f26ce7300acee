"""The one vocabulary between the control plane (`campaigns`) and the UA pool (`telephony.ua`).

Two directions cross the boundary, each in one typed shape with a version:

- **Commands**, control plane -> UA, through a Redis queue: `OriginateCommand` and `HangupCommand`. They hold
  no secret (a UA resolves trunk credentials itself, by trunk id), carry an expiry, and travel *sealed*: an
  HMAC-SHA256 over the exact body bytes, with a key only the control plane and the UA pool hold
  (`UA_COMMAND_KEY`). `open_command` refuses an unsigned, tampered, expired or unknown-version command
  (`CommandRejected`), so a stale command or any JSON somebody pushed to a queue is never dialed.
- **Events**, UA -> ledger, through the UA's durable spool and the `Ledger` port: `Ringing`, `Answered`,
  `Bridged`, `OptedOut` and `Ended` (with typed `CallResults`, the trunk that carried the call and whether it
  failed over). `event_to_json` / `event_from_json` are the only (de)serialisers.

This module is plain Python: no Django, no pjsua2, no Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

from telephony.transfers import TransferTargetSpec
from telephony.trunk_rules import trunk_security_errors

CONTRACT_VERSION = 1
# How long a command stays valid after it was issued. Why: a command is acted on within a second when the
# pool is healthy; one found later (a UA restarted over its queue, a paused pool) describes a world that
# may have changed (campaign paused, number opted out, window closed), so it is dropped, not dialed.
COMMAND_TTL_S = 30.0
DEFAULT_CODECS = ("PCMU", "PCMA")
TRANSPORTS = ("udp", "tcp", "tls")
AUTH_MODES = ("ip", "digest", "register")
SRTP_POLICIES = ("disabled", "optional", "mandatory")


class CommandRejected(ValueError):
    """A command that must not be executed; `attempt_id` is set when the body could be trusted."""

    def __init__(self, reason: str, attempt_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempt_id = attempt_id


# ---- commands ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrunkSpec:
    """Where and how to send a call. The password is never on the wire: `with_password` fills it in on the UA.

    The password is kept out of `repr()` so it never reaches a log line or a traceback.
    """

    id: int
    host: str
    port: int = 5060
    transport: str = "udp"
    auth_mode: str = "ip"
    username: str = ""
    realm: str = ""
    register_expiry_s: int = 300
    srtp_policy: str = "disabled"
    codecs: tuple[str, ...] = DEFAULT_CODECS
    send_pai: bool = False
    max_channels: int = 1
    allow_refer: bool = False  # the trunk accepts SIP REFER: cold transfers hand the call over instead of bridging
    failover: TrunkSpec | None = None
    password: str = field(default="", repr=False, compare=False)
    # F5: the CA certificate(s) (PEM) the trunk's TLS certificate must chain to; empty: the system's CA bundle.
    # Like the password it is not on the wire: the UA reads it from the trunk row (`with_credentials`).
    tls_ca_pem: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("trunk host is empty")
        if not 1 <= int(self.port) <= 65535:
            raise ValueError(f"trunk port out of range: {self.port}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"trunk transport unknown: {self.transport!r}")
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"trunk auth_mode unknown: {self.auth_mode!r}")
        if self.srtp_policy not in SRTP_POLICIES:
            raise ValueError(f"trunk srtp_policy unknown: {self.srtp_policy!r}")
        if self.auth_mode != "ip" and not self.username:
            raise ValueError("trunk needs a username for digest or register authentication")

    def to_wire(self) -> dict[str, Any]:
        """The trunk as it travels in a command: everything but the password."""
        return {
            "id": self.id, "host": self.host, "port": self.port, "transport": self.transport,
            "auth_mode": self.auth_mode, "username": self.username, "realm": self.realm,
            "register_expiry_s": self.register_expiry_s, "srtp_policy": self.srtp_policy,
            "codecs": list(self.codecs), "send_pai": self.send_pai, "max_channels": self.max_channels,
            "allow_refer": self.allow_refer, "failover": self.failover.to_wire() if self.failover else None,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TrunkSpec:
        """Parse the `trunk` member of a command (raises ValueError/KeyError/TypeError when malformed)."""
        if "password" in data:
            raise ValueError("a command must not carry a trunk password")
        codecs = data.get("codecs") or DEFAULT_CODECS
        if isinstance(codecs, str):
            codecs = [c for c in codecs.split(",") if c.strip()]
        failover = data.get("failover")
        return cls(
            id=int(data["id"]), host=str(data["host"]), port=int(data.get("port") or 5060),
            transport=str(data.get("transport") or "udp"), auth_mode=str(data.get("auth_mode") or "ip"),
            username=str(data.get("username") or ""), realm=str(data.get("realm") or ""),
            register_expiry_s=int(data.get("register_expiry_s") or 300),
            srtp_policy=str(data.get("srtp_policy") or "disabled"),
            codecs=tuple(str(c).strip().upper() for c in codecs), send_pai=bool(data.get("send_pai")),
            max_channels=int(data.get("max_channels") or 1), allow_refer=bool(data.get("allow_refer")),
            failover=cls.from_wire(failover) if failover else None,
        )

    def with_password(self, password: str, failover_password: str = "") -> TrunkSpec:
        """This spec with the credentials the UA resolved (and its failover's)."""
        failover = self.failover.with_password(failover_password) if self.failover else None
        return replace(self, password=password, failover=failover)

    def with_tls_ca(self, ca_pem: str, failover_ca_pem: str = "") -> TrunkSpec:
        """This spec with the trunk's own CA certificates for TLS (and its failover's), read by the UA."""
        failover = self.failover.with_tls_ca(failover_ca_pem) if self.failover else None
        return replace(self, tls_ca_pem=ca_pem, failover=failover)

    def security_problems(self) -> list[str]:
        """Why this trunk must not be used as configured (empty when it may): `trunk_security_errors`."""
        errors = trunk_security_errors(transport=self.transport, auth_mode=self.auth_mode, realm=self.realm,
                                       srtp_policy=self.srtp_policy, tls_ca_pem=self.tls_ca_pem)
        return [f"trunk {self.id}: {message}" for message in errors.values()]

    def uri_params(self) -> str:
        """The `;transport=` parameter for URIs towards this trunk (empty for UDP)."""
        return "" if self.transport == "udp" else f";transport={self.transport}"

    def host_port(self) -> str:
        """`host:port`, bracketing IPv6 literals."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def account_key(self) -> tuple[Any, ...]:
        """What makes two trunks share one pjsua2 account (everything but failover and codec order)."""
        return (self.id, self.host, self.port, self.transport, self.auth_mode, self.username, self.password,
                self.realm, self.register_expiry_s, self.srtp_policy, self.tls_ca_pem)


@dataclass(frozen=True)
class AgentSpec:
    """The AI agent of a call, as the media bridge needs it (API keys are named, never carried)."""

    provider: str
    model: str = ""
    voice: str = ""
    url: str = ""
    api_key_env: str = ""
    prompt_template: str = ""
    greeting: str = ""
    outcome_schema: Any = None
    fallback_message: str = ""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> AgentSpec:
        """Parse the `agent` member of a conversation (unknown keys are refused)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown agent fields: {', '.join(sorted(unknown))}")
        return cls(**{k: ("" if v is None and k != "outcome_schema" else v) for k, v in data.items()})


@dataclass(frozen=True)
class ConversationSpec:
    """What the call does once answered: who speaks, how machines are screened, how a person opts out."""

    agent: AgentSpec | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    amd_enabled: bool = True
    amd_max_decision_ms: int | None = None
    amd_greet_immediately: bool = False
    amd_late_beep: bool = True
    machine_policy: str = "hang_up"
    voicemail_message: str = ""
    opt_out_digit: str = ""
    # (kind, text) spoken before anything else, uninterruptible: the opening AI disclosure, the recording notice.
    disclosures: tuple[tuple[str, str], ...] = ()
    # Where the agent may hand the call to a person, in the campaign's order (docs/transfer.md).
    transfer_targets: tuple[TransferTargetSpec, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["agent"] = asdict(self.agent) if self.agent else None
        data["disclosures"] = [list(d) for d in self.disclosures]
        data["transfer_targets"] = [t.to_wire() for t in self.transfer_targets]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ConversationSpec:
        """Parse the `conversation` member of an originate command."""
        agent = data.get("agent")
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            raise ValueError("conversation variables must be an object")
        decision = data.get("amd_max_decision_ms")
        late_beep = data.get("amd_late_beep")  # absent (an older control plane): listen, the default
        disclosures = data.get("disclosures") or []
        pairs_ok = all(isinstance(d, list | tuple) and len(d) == 2 and all(isinstance(x, str) for x in d)
                       for d in disclosures) if isinstance(disclosures, list) else False
        if not pairs_ok:
            raise ValueError("conversation disclosures must be [kind, text] pairs")
        targets = data.get("transfer_targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise ValueError("conversation transfer_targets must be a list of objects")
        return cls(
            agent=AgentSpec.from_wire(agent) if isinstance(agent, dict) else None, variables=dict(variables),
            amd_enabled=bool(data.get("amd_enabled", True)),
            amd_max_decision_ms=int(decision) if decision is not None else None,
            amd_greet_immediately=bool(data.get("amd_greet_immediately")),
            amd_late_beep=late_beep is None or bool(late_beep),
            machine_policy=str(data.get("machine_policy") or "hang_up"),
            voicemail_message=str(data.get("voicemail_message") or ""),
            opt_out_digit=str(data.get("opt_out_digit") or ""),
            disclosures=tuple((str(k), str(t)) for k, t in disclosures),
            transfer_targets=tuple(TransferTargetSpec.from_wire(t) for t in targets),
        )


@dataclass(frozen=True)
class OriginateCommand:
    """Dial `destination` through `trunk` for one attempt (the attempt id is the idempotency key)."""

    type: ClassVar[str] = "originate"
    attempt_id: int
    destination: str
    trunk: TrunkSpec
    conversation: ConversationSpec = field(default_factory=ConversationSpec)
    caller_id: str = ""
    ring_timeout_s: float = 30.0
    max_call_s: float = 600.0
    campaign_id: int | None = None
    contact_id: int | None = None
    issued_at: float = 0.0
    expires_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.destination:
            raise ValueError("destination is empty")
        if self.ring_timeout_s <= 0:
            raise ValueError(f"ring_timeout_s must be positive, got {self.ring_timeout_s}")
        if self.max_call_s <= 0:
            raise ValueError(f"max_call_s must be positive, got {self.max_call_s}")

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready form (no secrets)."""
        return {
            "type": self.type, "attempt_id": self.attempt_id, "destination": self.destination,
            "trunk": self.trunk.to_wire(), "conversation": self.conversation.to_wire(), "caller_id": self.caller_id,
            "ring_timeout_s": self.ring_timeout_s, "max_call_s": self.max_call_s, "campaign_id": self.campaign_id,
            "contact_id": self.contact_id, "issued_at": self.issued_at, "expires_at": self.expires_at,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> OriginateCommand:
        """Parse an originate body (raises ValueError/KeyError/TypeError when malformed)."""
        return cls(
            attempt_id=int(data["attempt_id"]), destination=str(data["destination"]),
            trunk=TrunkSpec.from_wire(data["trunk"]),
            conversation=ConversationSpec.from_wire(data.get("conversation") or {}),
            caller_id=str(data.get("caller_id") or ""), ring_timeout_s=float(data.get("ring_timeout_s") or 30),
            max_call_s=float(data.get("max_call_s") or 600), campaign_id=_opt_int(data.get("campaign_id")),
            contact_id=_opt_int(data.get("contact_id")), issued_at=float(data.get("issued_at") or 0),
            expires_at=float(data.get("expires_at") or 0),
        )


@dataclass(frozen=True)
class HangupCommand:
    """Hang up an attempt's call, wherever it is in its life."""

    type: ClassVar[str] = "hangup"
    attempt_id: int
    reason: str = "hangup requested"
    issued_at: float = 0.0
    expires_at: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"type": self.type, "attempt_id": self.attempt_id, "reason": self.reason,
                "issued_at": self.issued_at, "expires_at": self.expires_at}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> HangupCommand:
        """Parse a hang-up body."""
        return cls(attempt_id=int(data["attempt_id"]), reason=str(data.get("reason") or "hangup requested"),
                   issued_at=float(data.get("issued_at") or 0), expires_at=float(data.get("expires_at") or 0))


Command = OriginateCommand | HangupCommand
_COMMANDS: dict[str, type[OriginateCommand] | type[HangupCommand]] = {
    OriginateCommand.type: OriginateCommand, HangupCommand.type: HangupCommand}


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def seal_command(command: Command, key: bytes, *, now: float, ttl_s: float = COMMAND_TTL_S) -> str:
    """The wire form of `command`: a versioned envelope with the body, its expiry and its HMAC.

    Args:
        command: The command; its `issued_at`/`expires_at` are set here from `now` and `ttl_s`.
        key: The shared command key (`UA_COMMAND_KEY`).
        now: Wall-clock seconds (the UA compares the expiry with its own clock).
        ttl_s: Seconds the command stays valid.
    """
    if not key:
        raise ValueError("the command key is empty")
    stamped = replace(command, issued_at=now, expires_at=now + ttl_s)
    body = json.dumps(stamped.to_wire(), separators=(",", ":"), sort_keys=True)
    return json.dumps({"v": CONTRACT_VERSION, "body": body, "mac": _mac(key, body)}, separators=(",", ":"))


def open_command(raw: bytes | str, key: bytes, *, now: float) -> Command:
    """Verify and parse a sealed command.

    Raises:
        CommandRejected: not an envelope, another version, a wrong or missing MAC (the body is then not
            trusted: no attempt id), an expired command or a malformed body (with its attempt id).
    """
    try:
        envelope = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise CommandRejected("not JSON") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), str):
        raise CommandRejected("not a sealed command")
    if envelope.get("v") != CONTRACT_VERSION:
        raise CommandRejected(f"contract version {envelope.get('v')!r}, this UA speaks {CONTRACT_VERSION}")
    body = envelope["body"]
    if not key or not hmac.compare_digest(str(envelope.get("mac") or ""), _mac(key, body)):
        raise CommandRejected("bad or missing signature")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise CommandRejected("malformed command: the body is not JSON") from exc
    if not isinstance(data, dict):
        raise CommandRejected("malformed command: the body is not an object")
    try:
        attempt_id = _opt_int(data.get("attempt_id"))
    except (TypeError, ValueError):
        attempt_id = None
    kind = _COMMANDS.get(str(data.get("type")))
    if kind is None:
        raise CommandRejected(f"unknown command type {data.get('type')!r}", attempt_id)
    try:
        command = kind.from_wire(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise CommandRejected(f"malformed command: {exc}", attempt_id) from exc
    if command.expires_at <= now:
        raise CommandRejected(f"expired {now - command.expires_at:.1f} s ago", attempt_id)
    return command


# ---- events --------------------------------------------------------------------------------------------------

# Results the UA reports at the end of a call, and nothing else (the ledger stores exactly these).
RESULT_KEYS = ("transcript", "recording", "outcome", "outcome_fields", "outcome_error", "amd_result",
               "first_response_ms", "usage", "agent_first_audio_at", "disclosures", "transfer")


@dataclass(frozen=True)
class CallResults:
    """What a call produced: transcript, recording, outcome, AMD verdict, latencies and AI usage."""

    transcript: list[dict[str, Any]] = field(default_factory=list)
    recording: str = ""
    outcome: str = ""
    outcome_fields: dict[str, Any] = field(default_factory=dict)
    outcome_error: str = ""
    amd_result: str = ""
    first_response_ms: list[int] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    agent_first_audio_at: str | None = None
    disclosures: list[dict[str, Any]] = field(default_factory=list)  # [{kind, text, offset_ms, duration_ms}]
    # A transfer the agent asked for: {target, destination, method, offered_at_ms, answer_ms, sip_code, accepted,
    # fallback, abandoned} (docs/transfer.md).
    transfer: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> CallResults:
        """Typed results from the UA's working dict (keys outside `RESULT_KEYS` are not results)."""
        return cls(**{k: data[k] for k in RESULT_KEYS if data.get(k) is not None})

    def stored_fields(self) -> dict[str, Any]:
        """The fields the ledger writes on the attempt (only those the call produced)."""
        defaults = CallResults()
        return {k: getattr(self, k) for k in RESULT_KEYS if getattr(self, k) != getattr(defaults, k)}


# Every event carries ``at``: when it happened at the UA (Unix seconds, wall clock). The ledger writes that time,
# not the time it got the event: a ledger that lags (a busy database, an event replayed from the spool after an
# outage) would otherwise shorten the billed talk time (measured: 1.42 s written for a 2 s call) or date an
# answer after the outage. UA hosts keep their clocks in sync with the control plane (NTP), as the commands'
# expiry already needs.


@dataclass(frozen=True)
class Ringing:
    """A provisional 180/183 arrived: the called party's phone may be ringing."""

    kind: ClassVar[str] = "ringing"
    attempt_id: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Answered:
    """200 OK received and ACKed."""

    kind: ClassVar[str] = "answered"
    attempt_id: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Bridged:
    """Media flows to the AI agent."""

    kind: ClassVar[str] = "bridged"
    attempt_id: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class OptedOut:
    """The called party asked not to be called again (`how`: dtmf, phrase or agent)."""

    kind: ClassVar[str] = "opted_out"
    attempt_id: int
    number: str
    how: str = ""


@dataclass(frozen=True)
class Ended:
    """The attempt's call is over. `trunk_id` is the trunk that carried the last leg."""

    kind: ClassVar[str] = "ended"
    attempt_id: int
    disposition: str
    sip_code: int | None = None
    sip_reason: str = ""
    reason: str = ""
    results: CallResults = field(default_factory=CallResults)
    trunk_id: int | None = None
    failed_over: bool = False
    primary_trunk_id: int | None = None
    talk_s: float | None = None
    at: float = field(default_factory=time.time)


CallEvent = Ringing | Answered | Bridged | OptedOut | Ended
_EVENTS: dict[str, type[Ringing] | type[Answered] | type[Bridged] | type[OptedOut] | type[Ended]] = {
    cls.kind: cls for cls in (Ringing, Answered, Bridged, OptedOut, Ended)}
EventKind = Literal["ringing", "answered", "bridged", "opted_out", "ended"]


def event_to_json(event: CallEvent) -> str:
    """One event as a JSON object with its `kind` and the contract version."""
    return json.dumps({"v": CONTRACT_VERSION, "kind": event.kind, **asdict(event)}, separators=(",", ":"),
                      default=str)


def event_from_json(raw: str | bytes) -> CallEvent:
    """Parse `event_to_json`'s output (raises ValueError on an unknown kind or version)."""
    data = json.loads(raw)
    if data.pop("v", None) != CONTRACT_VERSION:
        raise ValueError("event of another contract version")
    kind = _EVENTS.get(str(data.pop("kind", "")))
    if kind is None:
        raise ValueError("unknown event kind")
    if kind is Ended:
        data["results"] = CallResults(**(data.get("results") or {}))
    return kind(**data)
