"""Transfer targets as they travel to the UA, and when one is staffed (plain Python: part of the contract).

A campaign's transfer targets (`campaigns.transfer_targets.TransferTarget`) are copied into each originate command
as `TransferTargetSpec`s. The UA decides during the call which target is staffed *now* (in the target's own zone)
and tells the agent whether a transfer is possible; it never reads the database for it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# What happens when nobody answers (or the transfer fails): back to the agent with a message, a call-back offer,
# or a polite end of the call.
FALLBACK_AGENT = "agent"
FALLBACK_CALLBACK = "callback"
FALLBACK_END = "end"
FALLBACKS = (FALLBACK_AGENT, FALLBACK_CALLBACK, FALLBACK_END)
MAX_WAIT_LIMIT_S = 300
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP_URI = re.compile(r"^sips?:[^@\s<>\"]+@[A-Za-z0-9.\-\[\]:]+(;[^\s<>\"]*)?$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def check_destination(destination: str) -> str:
    """Return the kind of a transfer destination (``e164`` or ``sip``); ValueError when it is neither.

    An E.164 number goes out through the campaign's trunk; a SIP URI (``sip:user@host[:port]``) is called as is.
    """
    if _E164.match(destination):
        return "e164"
    if _SIP_URI.match(destination):
        return "sip"
    raise ValueError(f"transfer destination {destination!r} is neither an E.164 number nor a sip:user@host URI")


@dataclass(frozen=True)
class TransferTargetSpec:
    """One place a call may be handed to, with its staffed hours and what to do when nobody answers.

    Attributes:
        name: shown in records and reports.
        destination: E.164 number (through the call's trunk) or a SIP URI.
        time_zone: IANA zone of the staffed hours.
        days: staffed weekdays, 0 = Monday .. 6 = Sunday.
        start: first staffed minute, ``HH:MM`` local; end: end of the staffed hours (exclusive).
        max_wait_s: longest wait for the target to answer.
        fallback: one of `FALLBACKS`.
        fallback_message: what the caller hears (or the agent is told) when the fallback applies.
        warm: the agent briefs the person who answers, who takes the call with DTMF 1 (2 declines); else the call
            is handed over at the answer (cold).
    """

    name: str
    destination: str
    time_zone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: str = "09:00"
    end: str = "17:00"
    max_wait_s: int = 30
    fallback: str = FALLBACK_AGENT
    fallback_message: str = ""
    warm: bool = False

    def __post_init__(self) -> None:
        check_destination(self.destination)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"transfer target time_zone {self.time_zone!r} is not a known zone") from exc
        if not self.days or any(d not in range(7) for d in self.days):
            raise ValueError(f"transfer target days must be weekdays 0..6, got {self.days!r}")
        for name in ("start", "end"):
            if not _HHMM.match(getattr(self, name)):
                raise ValueError(f"transfer target {name} must be HH:MM, got {getattr(self, name)!r}")
        if self.start >= self.end:
            raise ValueError(f"transfer target start {self.start} must be before end {self.end}")
        if not 5 <= int(self.max_wait_s) <= MAX_WAIT_LIMIT_S:
            raise ValueError(f"transfer target max_wait_s must be 5..{MAX_WAIT_LIMIT_S}, got {self.max_wait_s!r}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"transfer target fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")

    def staffed_at(self, now: dt.datetime) -> bool:
        """Whether the target is staffed at `now` (an aware datetime), read in the target's own zone."""
        if now.tzinfo is None:
            raise ValueError("staffed_at needs an aware datetime")
        local = now.astimezone(ZoneInfo(self.time_zone))
        return local.weekday() in self.days and self.start <= local.strftime("%H:%M") < self.end

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "destination": self.destination,
            "time_zone": self.time_zone,
            "days": list(self.days),
            "start": self.start,
            "end": self.end,
            "max_wait_s": self.max_wait_s,
            "fallback": self.fallback,
            "fallback_message": self.fallback_message,
            "warm": self.warm,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TransferTargetSpec:
        """Parse one target of a conversation (ValueError/KeyError/TypeError when malformed)."""
        return cls(
            name=str(data["name"]),
            destination=str(data["destination"]),
            time_zone=str(data.get("time_zone") or "UTC"),
            days=tuple(int(d) for d in data["days"]),
            start=str(data["start"]),
            end=str(data["end"]),
            max_wait_s=int(data["max_wait_s"]),
            fallback=str(data.get("fallback") or FALLBACK_AGENT),
            fallback_message=str(data.get("fallback_message") or ""),
            warm=bool(data.get("warm")),
        )


def staffed_target(targets: tuple[TransferTargetSpec, ...], now: dt.datetime) -> TransferTargetSpec | None:
    """The first target (in the campaign's order) staffed at `now`, or None: then no transfer is offered."""
    return next((t for t in targets if t.staffed_at(now)), None)


def target_uri(destination: str, trunk_host_port: str, uri_params: str = "") -> str:
    """The SIP URI of a destination: a number is sent through the call's trunk, a SIP URI as is."""
    if check_destination(destination) == "sip":
        return destination
    return f"sip:{destination}@{trunk_host_port}{uri_params}"
