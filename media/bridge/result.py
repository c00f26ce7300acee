"""What a bridged call leaves behind: `CallResult` (merged into the UA's ``ended`` event) and `BridgeStats`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.outcomes import validate_outcome

AI_ERROR = "ai_error"  # telephony.choices.Disposition.AI_ERROR


@dataclass
class BridgeStats:
    """Per-frame latencies in nanoseconds (kept only with ``BridgeConfig.collect_stats``).

    Attributes:
        inbound: frame pushed by the media thread -> its WebSocket send returned.
        outbound_ready: WebSocket message read -> its audio queued as frames, ready for the next tick.
        outbound_played: WebSocket message read -> its frame taken by the media clock (includes the wait
            for the next 20 ms tick and any audio queued ahead).
    """

    inbound: list[int] = field(default_factory=list)
    outbound_ready: list[int] = field(default_factory=list)
    outbound_played: list[int] = field(default_factory=list)


@dataclass
class CallResult:
    """What a bridged call leaves behind.

    Attributes:
        disposition: ``"ai_error"`` when the AI failed, else None (the UA decides: human, opted out, ...).
        reason: why the AI failed, or why the bridge ended the call.
        transcript: ``[{"speaker", "text", "start_ms", "end_ms"}]`` on the call's clock.
        recording: WAV path relative to the recordings root ("" when not recorded).
        outcome, outcome_fields, outcome_error: from the ``record_outcome`` tool call, validated against the
            campaign's schema; an invalid one leaves ``outcome`` blank, keeps what was sent in
            ``outcome_fields`` and the problems in ``outcome_error`` (`outcome_from_tool_call`).
        first_response_ms: per agent turn, end of caller speech to first agent audio played.
        usage: tokens etc. reported by the provider, summed per key.
        ended_by: ``"agent"``, ``"ua"`` (hangup or stop from the call side) or ``"ai_error"``.
        transfer_requested: the agent asked for a transfer and the UA accepted.
        played_ms: agent audio played in total (silence excluded).
        disclosures: ``[{"kind", "text", "offset_ms", "duration_ms"}]`` as played, on the call's clock.
    """

    disposition: str | None = None
    reason: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    recording: str = ""
    outcome: str = ""
    outcome_fields: dict[str, Any] = field(default_factory=dict)
    outcome_error: str = ""
    first_response_ms: list[int] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    ended_by: str = ""
    transfer_requested: bool = False
    played_ms: int = 0
    disclosures: list[dict[str, Any]] = field(default_factory=list)

    def results(self) -> dict[str, Any]:
        """The ``results`` argument of ``campaigns.dialer.attempts.finish_attempt``."""
        out: dict[str, Any] = {
            "transcript": self.transcript,
            "first_response_ms": self.first_response_ms,
            "usage": self.usage,
        }
        if self.recording:
            out["recording"] = self.recording
        if self.outcome or self.outcome_error:
            out.update(outcome=self.outcome[:64], outcome_fields=self.outcome_fields, outcome_error=self.outcome_error)
        if self.disclosures:
            out["disclosures"] = self.disclosures
        return out

    def finish_fields(self) -> dict[str, Any]:
        """Keys to merge into the UA's ``ended`` event data (``disposition``/``reason`` only for AI errors)."""
        data: dict[str, Any] = {"results": self.results()}
        if self.disposition:
            data.update(disposition=self.disposition, reason=self.reason)
        return data


@dataclass(frozen=True)
class ToolOutcome:
    """The outcome an agent recorded with ``record_outcome``, as it will be stored.

    Attributes:
        label: the outcome label, a label of the campaign's schema; "" when the call does not fit the schema
            (F13: an invalid outcome is never stored as if it were one of the schema's).
        fields: the outcome's fields; for an invalid outcome, what was sent, under ``invalid_label`` (the label
            as sent), ``invalid_fields``, ``raw_arguments`` (arguments that were not a JSON object).
        problems: why the outcome does not fit the campaign's schema (empty when it does).
    """

    label: str
    fields: dict[str, Any]
    problems: list[str]

    @property
    def error(self) -> str:
        """The problems as one line ("" when none)."""
        return "; ".join(self.problems)

    @property
    def valid(self) -> bool:
        """Whether the outcome fits the schema."""
        return not self.problems


def outcome_from_tool_call(schema: list[dict[str, Any]], arguments: dict[str, Any] | None, raw: str) -> ToolOutcome:
    """Read a ``record_outcome`` call against the campaign's outcome schema.

    An outcome is never dropped silently, and never stored as valid when it is not: a label or fields that do
    not fit the schema leave the label blank, keep what was sent under ``invalid_label``/``invalid_fields``
    (arguments that are not a JSON object as ``raw_arguments``) and name the problems, which the attempt keeps
    as ``outcome_error`` for review.

    Args:
        schema: the agent's outcome schema (`media.outcomes`).
        arguments: the call's arguments as parsed (None when they were not a JSON object).
        raw: the arguments as sent.
    """
    if arguments is None:
        return ToolOutcome("", {"raw_arguments": raw[:2000]}, ["record_outcome arguments are not a JSON object"])
    label = arguments.get("label")
    fields = arguments.get("fields", {})
    problems: list[str] = []
    if not isinstance(label, str):
        problems.append(f"label must be a string, got {str(label)[:64]!r}")
    if not isinstance(fields, dict):
        problems.append("fields must be an object")
    if isinstance(label, str) and isinstance(fields, dict):
        problems = validate_outcome(schema, label, fields)
        if not problems:
            return ToolOutcome(label, fields, [])
    kept: dict[str, Any] = {"invalid_label": "" if label is None else str(label)[:64]}
    kept["invalid_fields"] = fields if isinstance(fields, dict) else str(fields)[:2000]
    return ToolOutcome("", kept, problems)


def sum_usage(total: dict[str, Any], data: dict[str, Any]) -> None:
    """Add a provider's usage report into ``total``, key by key (numbers summed, nested objects merged)."""
    for key, value in data.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            sub = total.get(key)
            if not isinstance(sub, dict):
                sub = total[key] = {}
            sum_usage(sub, value)


def recording_file(root: Path, result: CallResult) -> Path | None:
    """The absolute path of a result's recording under ``root`` (None when not recorded)."""
    return root / result.recording if result.recording else None
