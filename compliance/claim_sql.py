"""The compliance checks as SQL, shared by the dispatcher's claim and the dial gate (the last check before the
INVITE), so both apply exactly the same rules in the same statement as their state change.

``ComplianceSql.ctes`` are extra ``WITH`` entries (values computed in Python for the instant ``now``);
``ComplianceSql.predicate`` is a condition on a contact row (``ct``) that holds when every rule allows the call.
Neither reads a wall clock: ``now`` is a parameter, so tests travel in time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from django.apps import apps

from compliance.choices import CampaignPurpose, ConsentKind, ConsentNeeded, ReassignedResult
from compliance.policy import CompanyPolicy, company_zones, zones_open_by_jurisdiction
from compliance.rules_table import FEDERAL, RULES

# National DNC safe harbor (47 CFR 64.1200(c)(2)(i)(D), 16 CFR 310.4(b)(3)(iv)): the registry must have been
# downloaded no more than 31 days before the call.
NATIONAL_DNC_MAX_AGE = dt.timedelta(days=31)


def _table(app: str, model: str) -> str:
    return str(apps.get_model(app, model)._meta.db_table)


@dataclass(frozen=True, slots=True)
class ComplianceSql:
    """SQL text and its parameters: positional (a list, all in ``ctes``) or named (a dict, ``comp_N`` keys).
    The predicate has no parameters of its own."""

    ctes: str
    params: list[object] | dict[str, object]
    predicate: str


class _Params:
    def __init__(self, named: bool) -> None:
        self.named = named
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"%(comp_{len(self.values)})s" if self.named else "%s"

    def collected(self) -> list[object] | dict[str, object]:
        if self.named:
            return {f"comp_{i}": v for i, v in enumerate(self.values, start=1)}
        return self.values


# Separator of the zone names in one list sent as text (``as_arrays``): IANA zone names never contain it.
ZONE_LIST_SEP = ","


def zone_list_text(zones: Iterable[str]) -> str:
    """A zone list as one text (``string_to_array(text, ',')`` in SQL gives it back; '' gives '{}')."""
    zones = list(zones)
    text = ZONE_LIST_SEP.join(zones)
    # Fail closed: a name that would split differently (empty, or holding the separator) would change which
    # contacts pass. Checked by counting, in C, not name by name.
    if zones and (text.count(ZONE_LIST_SEP) != len(zones) - 1 or "" in zones):
        raise ValueError(f"zone name unusable in a list: {[z for z in zones if ZONE_LIST_SEP in z or not z]}")
    return text


def compliance_sql(now: dt.datetime, company: CompanyPolicy | None, *, exclude_attempt: str = "0",
                   named: bool = False, count_queued: bool = True,
                   contact_zones: Collection[str] | None = None, company_in_window: bool = False,
                   as_arrays: bool = False) -> ComplianceSql:
    """The checks for contacts claimed or dialed at ``now``.

    The campaign's window (clipped to the federal hours) is checked by the caller, as before; a contact passes
    when that holds *and* each state rule holds (``comp_zones``): the conjunction is the strictest reading.

    Args:
        now: The instant of the claim or the dial.
        company: The company's own rules, or None (its hours apply to every contact: ``comp_zones`` code ``*``).
        exclude_attempt: SQL expression of an attempt id not to count against the caps (the one being gated).
        named: Named parameters (``%(comp_N)s``) instead of positional ones.
        count_queued: Count attempts queued but not dialed yet against the caps (the claim: no over-claiming);
            the gate counts only calls dialed, under its per-number lock, so one of two rivals passes.
        contact_zones: For one contact (the gate): its zones as read before the statement. Each list of open
            zones is cut down to these (a few names instead of hundreds, so the statement is small and quick to
            plan). Never looser: ``ct.time_zones <@ (open & known)`` implies ``ct.time_zones <@ open``; a contact
            whose zones changed meanwhile is refused, not let through.
        company_in_window: The caller has intersected its window's zones with the company's open zones
            (``company_zones``), as the claim does once per tick: the company's hours are then not repeated
            here for every contact.
        as_arrays: The state zone lists and the caps as a fixed number of array parameters (named) instead of
            one ``VALUES`` row each, so the text does not change with the rules in effect (a statement
            prepared once) and the lists are not quoted one by one. Same rows, same predicate.
    """
    attempt_t, contact_t = _table("campaigns", "CallAttempt"), _table("campaigns", "Contact")
    consent_t, cc_t = _table("compliance", "ConsentRecord"), _table("compliance", "CampaignCompliance")
    list_t, number_t = _table("compliance", "NationalDncList"), _table("compliance", "NationalDncNumber")
    rnd_t = _table("compliance", "ReassignedNumberResult")
    p = _Params(named or as_arrays)
    keep = _zone_filter(contact_zones)
    # Precomputed per call of this function (the claim: once per tick), not per contact: the open zones of each
    # state with its own hours, the company's, the caps, and the sets of state codes that have either.
    zone_lists: list[tuple[str, list[str]]] = [
        (code, keep(zones)) for code, zones in zones_open_by_jurisdiction(now, company).items() if code != FEDERAL]
    zone_codes = [code for code, _ in zone_lists]
    if company is not None and not company_in_window:
        zone_lists.append(("*", keep(company_zones(now, company))))
    caps = list(_caps(now.date(), company))
    cap_codes = sorted({code for code, _, _ in caps})
    if as_arrays:
        # One row per state as with VALUES; an empty list is an empty array (the state's contacts refused), not
        # a missing row. MATERIALIZED: built once per statement, never re-expanded per contact.
        zones_cte = (f"comp_zones(code, zones) AS MATERIALIZED (SELECT code, string_to_array(list, "  # noqa: S608
                     f"'{ZONE_LIST_SEP}')::varchar[] FROM unnest({p([c for c, _ in zone_lists])}::varchar[], "
                     f"{p([zone_list_text(z) for _, z in zone_lists])}::text[]) AS t(code, list))")
        caps_cte = (f"comp_caps(code, maxn, period) AS MATERIALIZED (SELECT * FROM unnest("  # noqa: S608
                    f"{p([c for c, _, _ in caps])}::varchar[], {p([m for _, m, _ in caps])}::integer[], "
                    f"{p([t for _, _, t in caps])}::interval[]) AS t(code, maxn, period))")
    else:
        zone_rows = [f"({p(code)}::varchar, {p(zones)}::varchar[])" for code, zones in zone_lists]
        if not zone_rows:
            zone_rows.append("(NULL::varchar, NULL::varchar[])")
        cap_rows = [f"({p(code)}::varchar, {p(max_calls)}::integer, {p(period)}::interval)"
                    for code, max_calls, period in caps]
        if not cap_rows:
            cap_rows.append("(NULL::varchar, NULL::integer, NULL::interval)")
        zones_cte = f"comp_zones(code, zones) AS (VALUES {', '.join(zone_rows)})"
        caps_cte = f"comp_caps(code, maxn, period) AS (VALUES {', '.join(cap_rows)})"
    ctes = (f"{zones_cte}, {caps_cte}, "
            f"comp_now(t, dnc_fresh, zone_codes, cap_codes) AS (VALUES ({p(now)}::timestamptz, "
            f"{p(now - NATIONAL_DNC_MAX_AGE)}::timestamptz, {p(zone_codes)}::varchar[], {p(cap_codes)}::varchar[]))")
    telemarketing, written = CampaignPurpose.TELEMARKETING.value, ConsentNeeded.WRITTEN.value
    any_consent, kind_written = ConsentNeeded.PRIOR_EXPRESS.value, ConsentKind.WRITTEN.value
    valid_consent = (f"SELECT 1 FROM {consent_t} k WHERE k.phone_e164 = ct.phone_e164 "  # noqa: S608 (table name)
                     "AND k.revoked_at IS NULL AND k.obtained_at <= (SELECT t FROM comp_now)")
    queued = " OR (a2.dialing_at IS NULL AND a2.state <> 'ended')" if count_queued else ""
    # A contact none of whose states has hours (or caps) of its own skips that check with one array overlap
    # against the precomputed codes (an InitPlan, read once per statement), instead of meeting every state's
    # row. The company's rows ('*') concern every contact, so with them the check always runs.
    has_company_zones = company is not None and not company_in_window
    zone_guard = "" if has_company_zones else "NOT (ct.jurisdictions && (SELECT zone_codes FROM comp_now)) OR "
    cap_guard = "" if "*" in cap_codes else "NOT (ct.jurisdictions && (SELECT cap_codes FROM comp_now)) OR "
    predicate = f"""
        -- State hours, Sundays and holidays (compliance.rules_table, e.g. FL/OK/MD 08:00-20:00): every zone the
        -- contact may be in must be inside the hours of each of its states, the strictest reading winning.
        -- The company's own hours (code '*') apply to every contact (the claim folds them into its window).
        AND ({zone_guard}NOT EXISTS (
            SELECT 1 FROM comp_zones z WHERE (z.code = '*' OR z.code = ANY(ct.jurisdictions))
              AND NOT (ct.time_zones <@ z.zones)))
        -- Frequency caps (FL/OK/MD: 3 calls per 24 h on the same subject; company caps), counted across every
        -- campaign from the attempt ledger: calls dialed in the period plus attempts about to dial.
        AND ({cap_guard}NOT EXISTS (
            SELECT 1 FROM comp_caps cap WHERE (cap.code = '*' OR cap.code = ANY(ct.jurisdictions))
              AND (SELECT count(*) FROM {attempt_t} a2 JOIN {contact_t} c2 ON c2.id = a2.contact_id
                   WHERE c2.phone_e164 = ct.phone_e164 AND a2.id <> {exclude_attempt}
                     AND (a2.dialing_at > (SELECT t FROM comp_now) - cap.period{queued})) >= cap.maxn))
        -- Reassigned numbers (FCC RND safe harbor): a number reported permanently disconnected since a date on
        -- or after the latest consent is someone else's now (no consent given after the date asked about).
        -- The consent is looked up only for a number with such an answer, not for every contact.
        AND NOT EXISTS (
            SELECT 1 FROM {rnd_t} r WHERE r.phone_e164 = ct.phone_e164 AND r.result = '{ReassignedResult.YES.value}'
              AND NOT EXISTS (SELECT 1 FROM {consent_t} k WHERE k.phone_e164 = r.phone_e164
                              AND k.revoked_at IS NULL AND k.obtained_at::date > r.date_asked))
        -- The campaign's own duties (compliance.CampaignCompliance; none recorded = informational).
        AND NOT EXISTS (
            SELECT 1 FROM {cc_t} cc WHERE cc.campaign_id = ct.campaign_id AND (
                -- FCC 24-17: AI-voice telemarketing needs prior express written consent on record.
                ((cc.purpose = '{telemarketing}' OR cc.consent_needed = '{written}')
                 AND NOT EXISTS ({valid_consent} AND k.kind = '{kind_written}'))
                OR (cc.consent_needed = '{any_consent}' AND NOT EXISTS ({valid_consent}))
                -- National DNC (47 CFR 64.1200(c)(2)): telemarketing to a US number needs a registry download
                -- of its area code at most 31 days old, and the number must not be on it.
                OR (cc.purpose = '{telemarketing}' AND ct.phone_e164 LIKE '+1%%' AND (
                    NOT EXISTS (SELECT 1 FROM {list_t} l WHERE l.downloaded_at > (SELECT dnc_fresh FROM comp_now)
                                AND substr(ct.phone_e164, 3, 3) = ANY(l.area_codes))
                    OR EXISTS (SELECT 1 FROM {number_t} n JOIN {list_t} l ON l.id = n.registry_id
                               WHERE n.phone_e164 = ct.phone_e164
                                 AND l.downloaded_at > (SELECT dnc_fresh FROM comp_now))))))
    """  # noqa: S608 (identifiers from model metadata, constants from choice sets; values are parameters)
    return ComplianceSql(ctes, p.collected(), predicate)


def _zone_filter(contact_zones: Collection[str] | None) -> Callable[[Iterable[str]], list[str]]:
    if contact_zones is None:
        return list
    known = frozenset(contact_zones)
    return lambda zones: [z for z in zones if z in known]


def _caps(day: dt.date, company: CompanyPolicy | None) -> Iterable[tuple[str, int, dt.timedelta]]:
    for rule in RULES:
        if rule.in_effect(day):
            for cap in rule.caps:
                yield ("*" if rule.code == FEDERAL else rule.code, cap.max_calls, cap.period)
    if company is not None:
        for cap in company.caps:
            yield ("*", cap.max_calls, cap.period)


def longest_cap_period(day: dt.date, company: CompanyPolicy | None) -> dt.timedelta | None:
    """The longest period of any frequency cap in effect on ``day`` (how far back a cap count must read)."""
    return max((period for _, _, period in _caps(day, company)), default=None)
