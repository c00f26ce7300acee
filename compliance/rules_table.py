"""The calling rules of each jurisdiction, as data: hours, banned days, holidays, frequency caps, recording
consent and AI disclosure, each with its sources and the date it took effect.

The federal rules (``US``) apply to every call to a US number; a contact is also governed by every state it may
be in (the state of its number's area code and the state of its address when the contact file gives one), and
the strictest reading of all of them wins (``compliance.policy``). A rule that is not yet in effect on the day of
the call is ignored; a rule the sources disagree on is entered with the stricter value and ``unsure=True``.

This table is what the engine enforces, not legal advice: the state entries come from practitioner tables of
2025 (they disagree in places, marked ``unsure``) and need the operator's legal review (``docs/compliance.md``).
Source keys ([C1] ...) refer to the list in ``docs/compliance.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

FEDERAL = "US"
ALL_DAYS = frozenset(range(7))
SUNDAY = 6


class RecordingConsent:
    """Who must consent to a recording (the stricter value wins)."""

    ONE_PARTY = "one_party"  # one party to the call (the caller) may consent
    ALL_PARTY = "all_party"  # every party must be told and agree


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``max_calls`` dialed calls to one number within any ``period`` (counted across campaigns)."""

    max_calls: int
    period: dt.timedelta

    def __post_init__(self) -> None:
        if self.max_calls < 1 or self.period <= dt.timedelta(0):
            raise ValueError(f"a frequency cap needs max_calls >= 1 and a positive period, not {self}")

    def describe(self) -> str:
        """Short text, e.g. ``3 per 24h``."""
        hours = self.period.total_seconds() / 3600
        return f"{self.max_calls} per {hours:g}h"


@dataclass(frozen=True, slots=True)
class JurisdictionRule:
    """The calling rules of one jurisdiction (federal or a state).

    ``start``/``end`` are the local hours on an allowed day, half-open ``[start, end)``; ``day_hours`` overrides
    them for given weekdays (Monday = 0); ``days`` are the weekdays calls are allowed at all.
    """

    code: str
    name: str
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)
    days: frozenset[int] = ALL_DAYS
    day_hours: Mapping[int, tuple[dt.time, dt.time]] = field(default_factory=lambda: MappingProxyType({}))
    no_holidays: bool = False
    caps: tuple[FrequencyCap, ...] = ()
    recording_consent: str = RecordingConsent.ONE_PARTY
    ai_disclosure: bool = False
    # What the call must say about the caller at its start beyond the opening's "on behalf of" (IDENTIFICATION_ITEMS).
    identification: tuple[str, ...] = ()
    effective_from: dt.date = dt.date(1992, 1, 1)
    sources: tuple[str, ...] = ()
    unsure: bool = False
    note: str = ""

    def hours_on(self, weekday: int) -> tuple[dt.time, dt.time] | None:
        """The allowed local hours on ``weekday``, or None when the day is banned."""
        if weekday not in self.days:
            return None
        return self.day_hours.get(weekday, (self.start, self.end))

    def in_effect(self, day: dt.date) -> bool:
        """Whether the rule applies on ``day`` (its effective date has come)."""
        return day >= self.effective_from

    def describe_hours(self) -> str:
        """Short text, e.g. ``08:00-20:00, no Sun, no holidays``."""
        text = f"{self.start:%H:%M}-{self.end:%H:%M}"
        missing = sorted(ALL_DAYS - self.days)
        if missing:
            text += ", no " + "/".join(_DAY_NAMES[d] for d in missing)
        for day, (s, e) in sorted(self.day_hours.items()):
            text += f", {_DAY_NAMES[day]} {s:%H:%M}-{e:%H:%M}"
        if self.no_holidays:
            text += ", no holidays"
        return text


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SATURDAY = 5
# Identification items a rule may require (compliance.disclosures speaks them after the opening).
CALLBACK_NUMBER = "callback_number"  # a local or toll-free number where a person of the caller can be reached
MAILING_ADDRESS = "mailing_address"  # the caller's mailing address
IDENTIFICATION_ITEMS = frozenset({CALLBACK_NUMBER, MAILING_ADDRESS})
_T = dt.time
_DAY = dt.timedelta(hours=24)
THREE_PER_DAY = (FrequencyCap(3, _DAY),)
_PRACTITIONER = ("[C5] dropcowboy.com/state-compliance (2025-11-01)",
                 "[C6] blog.clickpointsoftware.com/telemarketing-calling-hours-by-state (2025-07)")
_ALL_PARTY = ("[C17] recordphonecall.com/resources/one-party-vs-all-party; metaverse.law (2022)",)

RULES: tuple[JurisdictionRule, ...] = (
    JurisdictionRule(
        FEDERAL, "United States (TCPA, TSR)", _T(8), _T(21), ai_disclosure=True,
        sources=("47 CFR 64.1200(c)(1) (8 a.m.-9 p.m. at the called party's location)",
                 "FCC 24-17 (2024-02-08): an AI voice is an 'artificial voice'; identification at the start",
                 "18 U.S.C. 2511(2)(d) (one-party consent to recording)"),
        note="Abandonment (47 CFR 64.1200(a)(7)) and record keeping (16 CFR 310.5) are enforced elsewhere."),
    JurisdictionRule("US-AL", "Alabama", _T(8), _T(20), days=ALL_DAYS - {SUNDAY}, no_holidays=True,
                     sources=_PRACTITIONER),
    JurisdictionRule("US-CA", "California", recording_consent=RecordingConsent.ALL_PARTY, ai_disclosure=True,
                     effective_from=dt.date(2025, 1, 1),
                     sources=("[C8] Cal. AB 2905 (Pub. Util. Code 2874): say whether the voice is artificial",
                              *_ALL_PARTY)),
    JurisdictionRule("US-CT", "Connecticut", _T(9), _T(20), recording_consent=RecordingConsent.ALL_PARTY,
                     unsure=True, sources=_PRACTITIONER + _ALL_PARTY,
                     note="Older tables say 9-21; the stricter 20:00 is used. Recording consent is mixed."),
    JurisdictionRule("US-DE", "Delaware", recording_consent=RecordingConsent.ALL_PARTY, sources=_ALL_PARTY),
    JurisdictionRule("US-FL", "Florida (FTSA)", _T(8), _T(20), caps=THREE_PER_DAY,
                     recording_consent=RecordingConsent.ALL_PARTY, effective_from=dt.date(2021, 7, 1),
                     sources=("[C1] Fla. Stat. 501.059 as amended by SB 1120 (2021): 8 a.m.-8 p.m., "
                              "3 calls per 24 h on the same subject, area-code presumption",
                              "[C2] CS/CS/SB 1308 (2023) bill analysis", *_ALL_PARTY)),
    JurisdictionRule("US-IL", "Illinois", recording_consent=RecordingConsent.ALL_PARTY, sources=_ALL_PARTY),
    JurisdictionRule("US-KY", "Kentucky", _T(10), _T(21), sources=_PRACTITIONER),
    JurisdictionRule("US-LA", "Louisiana", _T(8), _T(20), days=ALL_DAYS - {SUNDAY}, no_holidays=True,
                     sources=_PRACTITIONER),
    JurisdictionRule("US-MA", "Massachusetts", _T(8), _T(20), recording_consent=RecordingConsent.ALL_PARTY,
                     sources=_PRACTITIONER + _ALL_PARTY),
    JurisdictionRule("US-MD", "Maryland (Stop the Spam Calls Act)", _T(8), _T(20), caps=THREE_PER_DAY,
                     recording_consent=RecordingConsent.ALL_PARTY, effective_from=dt.date(2024, 1, 1),
                     sources=("[C4] Md. SB 90 (2023), effective 2024-01-01: 8 a.m.-8 p.m. in the called party's "
                              "zone, 3 calls or texts per 24 h on the same subject", *_ALL_PARTY)),
    JurisdictionRule("US-ME", "Maine", caps=(FrequencyCap(1, dt.timedelta(hours=8)),), unsure=True,
                     sources=_PRACTITIONER, note="At most 1 automated call per 8 h in one table only."),
    JurisdictionRule("US-MI", "Michigan", _T(9), _T(21), recording_consent=RecordingConsent.ALL_PARTY, unsure=True,
                     sources=_PRACTITIONER + _ALL_PARTY, note="Recording consent partly all-party: all-party used."),
    JurisdictionRule("US-MN", "Minnesota", _T(9), _T(21), sources=_PRACTITIONER),
    JurisdictionRule("US-MS", "Mississippi", _T(8), _T(20), days=ALL_DAYS - {SUNDAY}, sources=_PRACTITIONER),
    JurisdictionRule("US-MT", "Montana", recording_consent=RecordingConsent.ALL_PARTY, sources=_ALL_PARTY),
    JurisdictionRule("US-NH", "New Hampshire", recording_consent=RecordingConsent.ALL_PARTY, sources=_ALL_PARTY),
    JurisdictionRule("US-NM", "New Mexico", _T(9), _T(21), sources=_PRACTITIONER),
    JurisdictionRule("US-NV", "Nevada", _T(9), _T(20), recording_consent=RecordingConsent.ALL_PARTY, unsure=True,
                     sources=_PRACTITIONER + _ALL_PARTY, note="Recording consent partly all-party: all-party used."),
    JurisdictionRule("US-OK", "Oklahoma (Telephone Solicitation Act)", _T(8), _T(20), caps=THREE_PER_DAY,
                     effective_from=dt.date(2022, 11, 1),
                     sources=("[C3] Okla. HB 3168 (2022), effective 2022-11-01: 8 a.m.-8 p.m., 3 calls per 24 h "
                              "on the same matter",)),
    JurisdictionRule("US-OR", "Oregon", recording_consent=RecordingConsent.ALL_PARTY, unsure=True,
                     sources=_ALL_PARTY, note="Recording consent mixed: all-party used."),
    JurisdictionRule("US-PA", "Pennsylvania", no_holidays=True, recording_consent=RecordingConsent.ALL_PARTY,
                     sources=_PRACTITIONER + _ALL_PARTY),
    JurisdictionRule("US-RI", "Rhode Island", no_holidays=True, sources=_PRACTITIONER),
    JurisdictionRule("US-TX", "Texas (SB 140)", ai_disclosure=True, effective_from=dt.date(2025, 9, 1), unsure=True,
                     sources=("[C7] Tex. SB 140 (2025): telephone-solicitation law extended to AI/automated calls",),
                     note="Details from vendor summaries only."),
    JurisdictionRule("US-UT", "Utah", no_holidays=True, ai_disclosure=True, sources=(
        *_PRACTITIONER, "[C8] Utah AI Policy Act: disclose generative AI when asked")),
    JurisdictionRule("US-WA", "Washington", recording_consent=RecordingConsent.ALL_PARTY, sources=_ALL_PARTY),
    # Canada: every Canadian number (compliance.canada), whatever its province. The US federal rule above is
    # applied too (the engine's window never passes 08:00-21:00), so 21:00-21:30 on weekdays is not used.
    JurisdictionRule(
        "CA", "Canada (CRTC Unsolicited Telecommunications Rules)", _T(9), _T(21, 30),
        day_hours=MappingProxyType({SATURDAY: (_T(10), _T(18)), SUNDAY: (_T(10), _T(18))}),
        recording_consent=RecordingConsent.ALL_PARTY, identification=(CALLBACK_NUMBER, MAILING_ADDRESS),
        sources=("[C9] CRTC Unsolicited Telecommunications Rules, Part III (Telemarketing Rules): calls 09:00-21:30 "
                 "on weekdays and 10:00-18:00 on weekends in the called consumer's time; the caller identifies "
                 "on whose behalf it calls at the start",
                 "[C9] Part IV (Automatic Dialing-Announcing Device Rules): a synthesized-voice message begins by "
                 "identifying the person it is for, with a mailing address and a local or toll-free number",
                 "[C9] Part II (National DNCL Rules): a copy of the National DNCL at most 31 days old",
                 "[C10] PIPEDA (recording for a commercial purpose: the person is told at the start)"),
        note="Recording: Criminal Code s. 184 is one-party, but PIPEDA wants the person told: a notice is spoken."),
)

RULES_BY_CODE: Mapping[str, JurisdictionRule] = MappingProxyType({r.code: r for r in RULES})


def rules_in_effect(codes: set[str] | frozenset[str], day: dt.date) -> list[JurisdictionRule]:
    """The federal rule and the rules of ``codes`` (state jurisdictions such as ``US-FL``) in effect on ``day``.

    A code with no entry in the table is governed by the federal rule alone.
    """
    found = [RULES_BY_CODE[FEDERAL]]
    found += [RULES_BY_CODE[c] for c in sorted(codes) if c in RULES_BY_CODE and c != FEDERAL]
    return [r for r in found if r.in_effect(day)]
