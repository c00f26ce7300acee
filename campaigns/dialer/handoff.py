"""The handoff to telephony: ``originate`` re-checks the world, takes the leases and commands a UA.

It returns at once; the call's progress comes back through :mod:`campaigns.dialer.attempts`. A redelivered
``originate`` for an attempt already handed over (or no longer queued) exits without dialing: the
conditional update on ``originated_at`` admits exactly one delivery.

When nothing may be dialed now (campaign not running, outside the window, do-not-call, a limit reached,
no caller ID under its cap, no live user agent with a free line, Redis unavailable) the attempt ends
``cancelled`` with the reason: it never reached the network, so it does not count against the contact,
who goes back to the queue (or to do-not-call).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus
from campaigns.dialer.attempts import end_attempt_not_dialed
from campaigns.dialer.caller_ids import choose_caller_id
from campaigns.dialer.leases import LEASE_TTL_S, acquire_leases, attempt_scopes, release_leases
from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact, DoNotCall, TransferTarget
from campaigns.redis_client import get_redis
from campaigns.rules.windows import CallingWindow, contact_in_window
from compliance.disclosures import disclosures_for
from compliance.models import CampaignCompliance
from telephony.contract import AgentSpec, ConversationSpec, OriginateCommand, TrunkSpec, seal_command
from telephony.models import Trunk
from telephony.transfers import TransferTargetSpec
from telephony.ua_registry import push_command, release_ua_line, reserve_ua_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What originate did: ``sent`` (command pushed), ``skipped`` (not ours to dial) or ``not_dialed``."""

    outcome: str
    reason: str = ""
    ua_name: str = ""


_AGENT_FIELDS = ("provider", "model", "voice", "url", "api_key_env", "prompt_template", "greeting", "outcome_schema",
                 "fallback_message")


def trunk_spec(trunk: dict[str, Any] | None) -> TrunkSpec | None:
    """The trunk as the UA needs it, from its row: everything but the password (the UA resolves it by id)."""
    if trunk is None:
        return None
    return TrunkSpec(
        id=int(trunk["id"]), host=str(trunk["host"]), port=int(trunk["port"]), transport=str(trunk["transport"]),
        auth_mode=str(trunk["auth_mode"]), username=str(trunk["username"] or ""), realm=str(trunk["realm"] or ""),
        register_expiry_s=int(trunk["register_expiry_s"]), srtp_policy=str(trunk["srtp_policy"]),
        codecs=tuple(c.strip().upper() for c in str(trunk["codecs"]).split(",") if c.strip()) or ("PCMU", "PCMA"),
        send_pai=bool(trunk["send_pai"]), max_channels=int(trunk.get("max_channels") or 1),
        allow_refer=bool(trunk.get("allow_refer")),
    )


@dataclass(frozen=True, slots=True)
class _Handoff:
    """Everything originate needs about one attempt, read by the gate statement itself."""

    attempt_id: int
    campaign_id: int
    contact_id: int
    trunk_id: int
    destination: str
    contact_name: str
    time_zones: list[str]
    variables: dict[str, Any]
    campaign_status: str
    window: CallingWindow
    max_concurrent: int
    ring_timeout_s: int
    agent_id: int
    amd_enabled: bool
    machine_policy: str
    opt_out_digit: str
    max_call_s: int
    trunk: dict[str, Any]
    failover: dict[str, Any] | None
    on_dnc: bool
    agent: dict[str, Any]
    voicemail_message: str
    amd_max_decision_ms: int
    amd_greet_immediately: bool
    amd_late_beep: bool
    jurisdictions: list[str]
    campaign_name: str
    compliance: dict[str, Any] | None  # the campaign's compliance settings (compliance.CampaignCompliance)
    transfer_targets: list[dict[str, Any]]  # the campaign's active TransferTarget rows, in order


_GATE_STATEMENT = "dialer_originate_gate"
# Prepared once per database connection: planning this five-table statement costs several times more than
# running it, and originate runs it for every call. The state test is written upper(state) on purpose: a
# plain `state = 'queued'` lets the planner pick a partial in-flight index (its predicate is implied) and
# scan all of it, which it does whenever statistics were taken while few calls were in flight; this way
# only the primary key applies.
_GATE_SQL = f"""
    PREPARE {_GATE_STATEMENT}(timestamptz, timestamptz, bigint) AS
    UPDATE {CallAttempt._meta.db_table} a SET originated_at = $1, lease_expires_at = $2
    FROM {Contact._meta.db_table} ct, {Campaign._meta.db_table} c, {AgentProfile._meta.db_table} ag,
         {Trunk._meta.db_table} t
    WHERE a.id = $3 AND upper(a.state) = '{AttemptState.QUEUED.value.upper()}' AND a.originated_at IS NULL
      AND ct.id = a.contact_id AND c.id = a.campaign_id AND ag.id = c.agent_id AND t.id = a.trunk_id
    RETURNING a.campaign_id, a.contact_id, a.trunk_id, ct.phone_e164, ct.name, ct.time_zones, ct.variables,
              c.status, c.window_days, c.window_start, c.window_end, c.max_concurrent, c.ring_timeout_s,
              c.agent_id, c.amd_enabled, c.machine_policy, c.opt_out_digit, ag.max_call_s, t.max_channels,
              row_to_json(t.*),
              (SELECT row_to_json(f.*) FROM {Trunk._meta.db_table} f WHERE f.id = t.failover_id),
              EXISTS (SELECT 1 FROM {DoNotCall._meta.db_table} d WHERE d.phone_e164 = ct.phone_e164
                      AND (d.campaign_id IS NULL OR d.campaign_id = a.campaign_id)),
              row_to_json(ag.*), c.voicemail_message, c.amd_max_decision_ms, c.amd_greet_immediately,
              c.amd_late_beep, ct.jurisdictions, c.name,
              (SELECT row_to_json(cc.*) FROM {CampaignCompliance._meta.db_table} cc WHERE cc.campaign_id = c.id),
              (SELECT coalesce(json_agg(row_to_json(tt.*) ORDER BY tt.position, tt.id), '[]'::json)
               FROM {TransferTarget._meta.db_table} tt WHERE tt.campaign_id = c.id AND tt.active)
"""  # noqa: S608 (table names from model metadata; values are parameters)
_prepared_on: weakref.WeakSet[object] = weakref.WeakSet()


def _execute_gate(cursor: Any, args: list[object]) -> tuple[Any, ...] | None:
    raw = connection.connection
    if raw not in _prepared_on:
        # A prepared statement outlives transactions but not its connection; on a reconnect Django hands
        # out a new connection object, which is not in the set, so it is prepared again.
        cursor.execute(f"SELECT 1 FROM pg_prepared_statements WHERE name = '{_GATE_STATEMENT}'")  # noqa: S608
        if cursor.fetchone() is None:
            cursor.execute(_GATE_SQL)
        _prepared_on.add(raw)
    cursor.execute(f"EXECUTE {_GATE_STATEMENT}(%s, %s, %s)", args)
    return cursor.fetchone()


def _gate_and_load(attempt_id: int, now: dt.datetime) -> _Handoff | None:
    """The idempotency gate, in one statement that also reads what the command needs and checks DNC.

    Marks the attempt handed over (``originated_at``) only if it is still queued and not handed over yet;
    a redelivered ``originate`` finds no row and stops.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # The gate need not wait for its WAL flush: if a database crash lost it, a redelivered originate
        # could push a second command, and the UA's QUEUED -> DIALING transition still lets only one dial.
        cursor.execute("SELECT set_config('synchronous_commit', 'off', true)")
        row = _execute_gate(cursor, [now, now + timedelta(seconds=LEASE_TTL_S), attempt_id])
    if row is None:
        return None
    (campaign_id, contact_id, trunk_id, phone, name, zones, variables, status, days, start, end, max_concurrent,
     ring_timeout_s, agent_id, amd_enabled, machine_policy, opt_out_digit, max_call_s, max_channels, trunk,
     failover, on_dnc, agent, voicemail_message, amd_max_decision_ms, amd_greet_immediately, amd_late_beep,
     jurisdictions, campaign_name, compliance, transfer_targets) = row
    trunk = {**(json.loads(trunk) if isinstance(trunk, str) else trunk), "max_channels": max_channels}
    if isinstance(failover, str):
        failover = json.loads(failover)
    if isinstance(variables, str):
        variables = json.loads(variables)
    if isinstance(agent, str):
        agent = json.loads(agent)
    if isinstance(compliance, str):
        compliance = json.loads(compliance)
    if isinstance(transfer_targets, str):
        transfer_targets = json.loads(transfer_targets)
    return _Handoff(attempt_id, campaign_id, contact_id, trunk_id, phone, name, list(zones), variables or {},
                    status, CallingWindow.for_campaign(days, start, end), max_concurrent, ring_timeout_s, agent_id,
                    amd_enabled, machine_policy, opt_out_digit, max_call_s, trunk, failover, bool(on_dnc),
                    agent, voicemail_message or "", amd_max_decision_ms, amd_greet_immediately, amd_late_beep,
                    list(jurisdictions),
                    campaign_name, compliance, list(transfer_targets or []))


def build_originate_command(h: _Handoff, caller_id: str) -> OriginateCommand:
    """The originate command for a UA, with everything it needs to place and run the call (no secrets)."""
    primary = trunk_spec(h.trunk)
    assert primary is not None  # noqa: S101 (the gate joins the trunk)
    variables = h.variables if isinstance(h.variables, dict) else {}
    return OriginateCommand(
        attempt_id=h.attempt_id, destination=h.destination, caller_id=caller_id,
        trunk=TrunkSpec(**{**_spec_fields(primary), "failover": trunk_spec(h.failover)}),
        ring_timeout_s=h.ring_timeout_s, max_call_s=h.max_call_s, campaign_id=h.campaign_id, contact_id=h.contact_id,
        # The conversation's settings travel with the command: the UA never reads the ORM during a call.
        conversation=ConversationSpec(
            agent=AgentSpec.from_wire({k: h.agent.get(k) for k in _AGENT_FIELDS}),
            variables={"name": h.contact_name, **variables}, amd_enabled=h.amd_enabled,
            amd_max_decision_ms=h.amd_max_decision_ms, amd_greet_immediately=h.amd_greet_immediately,
            amd_late_beep=h.amd_late_beep,
            machine_policy=h.machine_policy, voicemail_message=h.voicemail_message, opt_out_digit=h.opt_out_digit,
            disclosures=_disclosures(h), transfer_targets=_transfer_targets(h),
        ),
    )


def _disclosures(h: _Handoff) -> tuple[tuple[str, str], ...]:
    """FCC 24-17 / Cal. AB 2905: the opening AI disclosure, and the recording notice where all-party consent may
    apply, for campaigns with compliance settings (without them the operator's greeting must identify the call)."""
    if h.compliance is None:
        return ()
    spoken = disclosures_for(h.jurisdictions, seller=str(h.compliance.get("seller") or h.campaign_name),
                             opening=str(h.compliance.get("opening_disclosure") or ""),
                             recording_notice=str(h.compliance.get("recording_notice") or ""),
                             callback_number=str(h.compliance.get("callback_number") or ""),
                             mailing_address=str(h.compliance.get("mailing_address") or ""))
    return tuple((d.kind, d.text) for d in spoken)


def _transfer_targets(h: _Handoff) -> tuple[TransferTargetSpec, ...]:
    """The campaign's active transfer targets as the UA needs them; a row that no longer validates is left out
    (logged), so one bad row never stops the call."""
    specs: list[TransferTargetSpec] = []
    for row in h.transfer_targets:
        try:
            specs.append(TransferTargetSpec(
                name=str(row["name"]), destination=str(row["destination"]), time_zone=str(row["time_zone"]),
                days=tuple(sorted({int(d) for d in row["staffed_days"]})), start=str(row["staffed_start"])[:5],
                end=str(row["staffed_end"])[:5], max_wait_s=int(row["max_wait_s"]), fallback=str(row["fallback"]),
                fallback_message=str(row.get("fallback_message") or ""), warm=bool(row.get("warm"))))
        except (KeyError, TypeError, ValueError):
            logger.warning("campaign %s: transfer target %s unusable; not offered", h.campaign_id, row.get("id"),
                           exc_info=True)
    return tuple(specs)


def _spec_fields(spec: TrunkSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__ if f != "password"}


def originate_attempt(attempt_id: int, *, r: redis.Redis | None = None, now: dt.datetime | None = None,
                      ) -> OriginateResult:
    """Hand one queued attempt to a user agent, after re-checking that it may be dialed now.

    Two SQL statements on the way to a command: the gate (which also loads and checks do-not-call) and the
    record of the chosen caller ID and UA.

    Args:
        attempt_id: The attempt (the idempotency key).
        r: Redis client (default: the shared one).
        now: The current time (default: ``timezone.now()``).

    Returns:
        What happened; see :class:`OriginateResult`.
    """
    r = r or get_redis()
    now = now or timezone.now()
    h = _gate_and_load(attempt_id, now)
    if h is None:
        logger.info("originate %s: not queued or already handed over; nothing to do", attempt_id)
        return OriginateResult("skipped")

    def not_dialed(reason: str) -> OriginateResult:
        end_attempt_not_dialed(attempt_id, reason)
        return OriginateResult("not_dialed", reason)

    if h.campaign_status != CampaignStatus.RUNNING:
        return not_dialed(f"campaign {h.campaign_status} before dialing")
    if not h.trunk.get("enabled", True):
        return not_dialed("trunk disabled before dialing")
    # TCPA: re-checked just before dialing, in the called party's zone(s); the claim may be seconds old.
    if not contact_in_window(h.time_zones, now, h.window):
        return not_dialed("outside the calling window at dial time")
    # Do-not-call: an entry added after the claim stops this dial.
    if h.on_dnc:
        return not_dialed("on a do-not-call list at dial time")
    scopes = attempt_scopes(h.campaign_id, h.max_concurrent, h.trunk_id, h.trunk["max_channels"])
    keys = [s.key for s in scopes]
    ua_name: str | None = None
    try:
        if not acquire_leases(r, scopes, attempt_id):
            return not_dialed("campaign or trunk at its concurrent-call limit")
        ua_name = reserve_ua_line(r)
        if ua_name is None:
            release_leases(r, keys, attempt_id)
            return not_dialed("no live user agent with a free line")
        caller_id = choose_caller_id(r, h.campaign_id, h.trunk_id, h.destination, now)
        if caller_id is None:
            release_ua_line(r, ua_name)
            release_leases(r, keys, attempt_id)
            return not_dialed("no caller ID under its daily cap")
    except redis.RedisError:
        # Fail closed: without Redis the limits cannot be checked, so do not dial.
        logger.warning("originate %s: Redis error; not dialed", attempt_id, exc_info=True)
        _release_quietly(r, ua_name, keys, attempt_id)
        return not_dialed("Redis unavailable (fail closed)")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CallAttempt._meta.db_table} SET caller_id = %s, ua_name = %s "  # noqa: S608
            "WHERE id = %s AND upper(state) = %s",  # upper(): see attempts.attempt_in_states
            [caller_id, ua_name, attempt_id, AttemptState.QUEUED.value.upper()],
        )
        recorded = cursor.rowcount
    if not recorded:
        # Ended meanwhile (reaper, cancel): give everything back.
        _release_quietly(r, ua_name, keys, attempt_id)
        return OriginateResult("skipped", "ended before the handoff")
    try:
        command = build_originate_command(h, caller_id)
    except (ValueError, TypeError) as exc:
        # A row the command cannot be built from (a bad trunk or agent setting): end it, never re-queue it forever.
        _release_quietly(r, ua_name, keys, attempt_id)
        return not_dialed(f"cannot build the call: {exc}")
    try:
        push_command(r, ua_name, seal_command(command, settings.UA_COMMAND_KEY, now=time.time()))
    except redis.RedisError:
        # Unknown whether the command landed: the attempt keeps its lease and the reaper resolves it.
        logger.warning("originate %s: could not push the command to %s", attempt_id, ua_name, exc_info=True)
        return OriginateResult("not_dialed", "command push failed; left to the reaper", ua_name)
    return OriginateResult("sent", ua_name=ua_name)


def _release_quietly(r: redis.Redis, ua_name: str | None, keys: list[str], attempt_id: int) -> None:
    try:
        if ua_name:
            release_ua_line(r, ua_name)
        release_leases(r, keys, attempt_id)
    except redis.RedisError:
        logger.warning("originate %s: could not release; leases expire on their own", attempt_id, exc_info=True)
