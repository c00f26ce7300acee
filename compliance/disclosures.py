"""What must be spoken first on a call: the opening disclosure and, where needed, the recording notice.

FCC 24-17: an AI voice is an "artificial voice", and such calls must identify the caller at the start
(47 CFR 64.1200(b)(1)); California AB 2905 requires saying the voice is artificial. The engine therefore always
opens with a disclosure. Identification: where a rule requires more than the opening's "on behalf of" (Canada,
CRTC ADAD Rules: a mailing address and a number where a person of the caller answers), it follows the opening; a
campaign without those details cannot call such a contact (``MissingIdentification``). Recording: where the
contact may be in an all-party consent state (or its state is unknown: the strictest reading; Canada: PIPEDA), a
recording notice follows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compliance.rules_table import CALLBACK_NUMBER, MAILING_ADDRESS, RULES_BY_CODE, RecordingConsent

DEFAULT_OPENING = ("Hello, this is an automated call with an artificial intelligence voice, on behalf of {seller}.")
DEFAULT_RECORDING_NOTICE = "This call is recorded."
_IDENTIFICATION_PARTS = {CALLBACK_NUMBER: "You can reach {seller} at {callback_number}.",
                         MAILING_ADDRESS: "Our mailing address is {mailing_address}."}


class MissingIdentification(ValueError):
    """A rule governing the contact requires identification details the campaign does not have."""


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One text to speak before anything else, in order."""

    kind: str  # "opening" or "recording_notice"
    text: str


def needs_recording_notice(jurisdictions: Iterable[str]) -> bool:
    """Whether a contact governed by ``jurisdictions`` must hear a recording notice (all-party, or unknown state)."""
    codes = [c for c in jurisdictions if c.startswith("US-") or c in RULES_BY_CODE]
    if not codes:
        return True
    return any(RULES_BY_CODE[c].recording_consent == RecordingConsent.ALL_PARTY for c in codes if c in RULES_BY_CODE)


def identification_required(jurisdictions: Iterable[str]) -> list[str]:
    """The identification items (``rules_table.IDENTIFICATION_ITEMS``) the rules of ``jurisdictions`` require."""
    needed = {item for c in jurisdictions if c in RULES_BY_CODE for item in RULES_BY_CODE[c].identification}
    return [item for item in (CALLBACK_NUMBER, MAILING_ADDRESS) if item in needed]


def disclosures_for(jurisdictions: Iterable[str], *, seller: str, opening: str = "", recording_notice: str = "",
                    recording: bool = True, callback_number: str = "", mailing_address: str = "") -> list[Disclosure]:
    """The disclosures of one call, in the order they are spoken.

    Raises:
        MissingIdentification: a rule of the contact requires a callback number or mailing address that is empty.
    """
    jurisdictions = list(jurisdictions)
    seller = seller or "the caller"
    texts = [Disclosure("opening", (opening or DEFAULT_OPENING).replace("{seller}", seller))]
    required = identification_required(jurisdictions)
    if required:
        # CRTC Unsolicited Telecommunications Rules, Part IV (ADAD): identify the caller with a mailing address and
        # a local or toll-free number at the start of a synthesized-voice call to Canada.
        details = {CALLBACK_NUMBER: callback_number.strip(), MAILING_ADDRESS: mailing_address.strip()}
        missing = [item for item in required if not details[item]]
        if missing:
            raise MissingIdentification(
                f"the rules of {', '.join(jurisdictions)} require the caller's {' and '.join(missing)} at the start "
                "of the call: set them in the campaign's compliance settings")
        spoken = " ".join(_IDENTIFICATION_PARTS[item].format(seller=seller, **details) for item in required)
        texts.append(Disclosure("identification", spoken))
    if recording and needs_recording_notice(jurisdictions):
        texts.append(Disclosure("recording_notice", recording_notice or DEFAULT_RECORDING_NOTICE))
    return texts
