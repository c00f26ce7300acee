"""What must be spoken first on a call: the opening disclosure and, where needed, the recording notice.

FCC 24-17: an AI voice is an "artificial voice", and such calls must identify the caller at the start
(47 CFR 64.1200(b)(1)); California AB 2905 requires saying the voice is artificial. The engine therefore always
opens with a disclosure. Recording: where the contact may be in an all-party consent state (or its state is
unknown: the strictest reading), a recording notice follows the disclosure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compliance.rules_table import RULES_BY_CODE, RecordingConsent

DEFAULT_OPENING = ("Hello, this is an automated call with an artificial intelligence voice, on behalf of {seller}.")
DEFAULT_RECORDING_NOTICE = "This call is recorded."


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One text to speak before anything else, in order."""

    kind: str  # "opening" or "recording_notice"
    text: str


def needs_recording_notice(jurisdictions: Iterable[str]) -> bool:
    """Whether a contact governed by ``jurisdictions`` must hear a recording notice (all-party, or unknown state)."""
    codes = [c for c in jurisdictions if c.startswith("US-")]
    if not codes:
        return True
    return any(RULES_BY_CODE[c].recording_consent == RecordingConsent.ALL_PARTY for c in codes if c in RULES_BY_CODE)


def disclosures_for(jurisdictions: Iterable[str], *, seller: str, opening: str = "", recording_notice: str = "",
                    recording: bool = True) -> list[Disclosure]:
    """The disclosures of one call, in the order they are spoken."""
    jurisdictions = list(jurisdictions)
    texts = [Disclosure("opening", (opening or DEFAULT_OPENING).replace("{seller}", seller or "the caller"))]
    if recording and needs_recording_notice(jurisdictions):
        texts.append(Disclosure("recording_notice", recording_notice or DEFAULT_RECORDING_NOTICE))
    return texts
