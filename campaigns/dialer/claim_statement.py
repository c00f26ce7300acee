"""The text of the dispatcher's claim statement (``campaigns.dialer.claim``), the same for every tick.

Everything that changes from tick to tick (the campaigns and how many each may claim, the zone lists of their
windows, the compliance rules in effect, the clock) is a parameter, most of them arrays, so the statement is
prepared once per connection (``campaigns.dialer.prepared``) and never planned again. Values the planner must
see to use a partial index (the dialable statuses, the ended attempt state, the running campaign status) are
literals of the text: in a generic plan a parameter would hide them and the partial index could not be used.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import Field

from campaigns.choices import CONTACT_DIALABLE, AttemptState, CampaignStatus
from campaigns.models import CallAttempt, Campaign, CampaignSpend, Contact, DoNotCall
from compliance.claim_sql import ZONE_LIST_SEP

# Columns of CallAttempt the claim statement sets itself; every other column gets its model default, so a
# field added later with a default needs no change here.
_CLAIM_SET_COLUMNS = {"id", "campaign_id", "contact_id", "trunk_id", "attempt_number", "state", "queued_at",
                      "lease_expires_at"}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Defaults that are the same value every time (constants, and the empty dict or list of a JSON or array field):
# prepared for the database once. Any other callable default is called on every claim.
_FRESH = object()


@functools.cache
def _default_columns() -> tuple[tuple[Field[Any, Any], str, str, str, object], ...]:
    """(field, quoted column, parameter name, database type, prepared value or ``_FRESH``) per column left to
    its default."""
    out: list[tuple[Field[Any, Any], str, str, str, object]] = []
    for f in CallAttempt._meta.concrete_fields:
        if f.attname in _CLAIM_SET_COLUMNS or f.column in _CLAIM_SET_COLUMNS:
            continue
        default = f.default
        static = not callable(default) or default in (dict, list)
        value = f.get_db_prep_save(f.get_default(), connection) if static else _FRESH
        out.append((f, connection.ops.quote_name(f.column), f"default_{f.column}", str(f.db_type(connection)), value))
    return tuple(out)


def claim_sql(ctes: str, predicate: str) -> tuple[str, dict[str, object]]:
    """The claim statement with the compliance ``ctes`` and ``predicate`` (``compliance_sql(as_arrays=True)``),
    and the parameters of the attempt columns it leaves at their defaults.

    Its other named parameters: ``win_ids``/``win_lists`` (each window's id and zone list as one text),
    ``req_ids``/``req_n``/``req_win`` (per campaign: id, how many to claim, its window), ``now``,
    ``in_progress``, ``queued`` and ``lease`` (the queued attempt's expiry).
    """
    defaults: dict[str, object] = {}
    for f, _, key, _, value in _default_columns():
        if value is _FRESH:
            value = f.get_db_prep_save(f.get_default(), connection)
        defaults[key] = value
    return _claim_text(ctes, predicate), defaults


@functools.lru_cache(maxsize=8)
def _claim_text(ctes: str, predicate: str) -> str:
    # The same text object for the same rules: the prepared statement's lookup hashes it once.
    contact_t, attempt_t = Contact._meta.db_table, CallAttempt._meta.db_table
    campaign_t, dnc_t = Campaign._meta.db_table, DoNotCall._meta.db_table
    spend_t = CampaignSpend._meta.db_table
    names = [column for _, column, _, _, _ in _default_columns()]
    placeholders = [f"CAST(%({key})s AS {db_type})" for _, _, key, db_type, _ in _default_columns()]
    # The same list as the partial dispatch index, and the states as attempt_in_flight_idx states them.
    dialable = ", ".join(_literal(s) for s in sorted(CONTACT_DIALABLE))
    ended, running = _literal(AttemptState.ENDED.value), _literal(CampaignStatus.RUNNING.value)
    sql = f"""
        WITH {ctes},
        win(wid, zones) AS MATERIALIZED (
            SELECT wid, string_to_array(list, '{ZONE_LIST_SEP}')::varchar[]
            FROM unnest(%(win_ids)s::integer[], %(win_lists)s::text[]) AS t(wid, list)),
        req(campaign_id, n, wid) AS (
            SELECT * FROM unnest(%(req_ids)s::bigint[], %(req_n)s::integer[], %(req_win)s::integer[])),
        -- MATERIALIZED: one row per campaign before the contact walk below, which then runs once per campaign.
        -- Inlined, the planner (which expects one running campaign) walked every campaign's queue once per
        -- running campaign and dropped the pairs that did not match afterwards.
        cap AS MATERIALIZED (
            -- The in-flight predicate is written as the partial index attempt_in_flight_idx states it.
            SELECT req.campaign_id, win.zones, c.trunk_id,
                   LEAST(req.n, c.max_concurrent - (
                       SELECT count(*) FROM {attempt_t} a WHERE a.campaign_id = c.id AND NOT (a.state = {ended}))) AS n
            FROM req JOIN win ON win.wid = req.wid
            JOIN {campaign_t} c ON c.id = req.campaign_id AND c.status = {running}
            -- Budget cap: no dial once the spend reached it (campaigns/budget.py), checked under the row lock.
            WHERE NOT EXISTS (SELECT 1 FROM {spend_t} s WHERE s.campaign_id = c.id AND s.amount >= c.budget)
        ),
        picked AS (
            SELECT p.id, cap.campaign_id, cap.trunk_id
            FROM cap CROSS JOIN LATERAL (
                SELECT ct.id FROM {contact_t} ct
                WHERE ct.campaign_id = cap.campaign_id
                  AND ct.status IN ({dialable})
                  AND (ct.next_attempt_at IS NULL OR ct.next_attempt_at <= %(now)s::timestamptz)
                  -- TCPA: only contacts whose every candidate zone is inside the window now; none = unknown.
                  AND cardinality(ct.time_zones) > 0 AND ct.time_zones <@ cap.zones
                  -- Do-not-call: company-wide or this campaign's list. One probe of dnc_phone_idx per contact
                  -- walked: OFFSET 0 keeps it a subplan, so the generic plan cannot swap it for a scan of the
                  -- whole list per contact (which it did, expecting few contacts to be walked).
                  AND NOT EXISTS (SELECT 1 FROM {dnc_t} d WHERE d.phone_e164 = ct.phone_e164
                                  AND (d.campaign_id IS NULL OR d.campaign_id = ct.campaign_id) OFFSET 0)
                  {predicate}
                ORDER BY ct.priority DESC, ct.next_attempt_at ASC NULLS FIRST, ct.id
                LIMIT GREATEST(cap.n, 0)
                FOR UPDATE OF ct SKIP LOCKED
            ) p
        ),
        upd AS (
            UPDATE {contact_t} ct SET status = %(in_progress)s::varchar, updated_at = %(now)s::timestamptz
            FROM picked WHERE ct.id = picked.id
            RETURNING ct.id, ct.campaign_id, picked.trunk_id, ct.priority, ct.next_attempt_at
        )
        INSERT INTO {attempt_t} (campaign_id, contact_id, trunk_id, attempt_number, state, queued_at,
                                 lease_expires_at{"".join(", " + n for n in names)})
        SELECT upd.campaign_id, upd.id, upd.trunk_id,
               COALESCE((SELECT max(a.attempt_number) FROM {attempt_t} a WHERE a.contact_id = upd.id), 0) + 1,
               %(queued)s::varchar, %(now)s::timestamptz,
               %(lease)s::timestamptz{"".join(", " + p for p in placeholders)}
        -- Attempt ids follow the dial order, so originates are enqueued in that order too.
        FROM upd ORDER BY upd.campaign_id, upd.priority DESC, upd.next_attempt_at ASC NULLS FIRST, upd.id
        RETURNING id, campaign_id
    """  # noqa: S608 (identifiers from model metadata, literals from choice sets; every value is a parameter)
    return sql
