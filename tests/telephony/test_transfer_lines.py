"""A transfer's second call holds a line of the UA process (docs/transfer.md), end to end: a real UA worker with
two lines, the local agent, and the simulated network as the person who asks for a human and as the desk.

During a bridged transfer the worker advertises no free line (the caller's call and the desk's hold both), and
after it, both again; when every line is held by callers, their transfers are not placed and the fallback applies.

Ports (loopback only): simulator SIP 17530-17532 and RTP 45140-45171, UA worker SIP 17630 and RTP 46140-46155,
local agent 18630.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from campaigns.choices import Disposition, TransferFallback
from campaigns.models import AgentProfile, CallAttempt, Contact, TransferTarget
from local_agent.server import RunningAgent, start_in_thread
from simulator.calllog import read_records
from telephony.ua_registry import live_uas
from tests.factories import TrunkFactory
from tests.telephony.conftest import (
    dialable_contact,
    hand_to_pool,
    media_bridge_worker,
    queue_attempt,
    running_simulator,
    wait_ended,
    wait_for,
)
from tests.telephony.recordings import PROMPT

pytestmark = [pytest.mark.django_db(transaction=True)]

SIM_PORT = 17530
SIM_RTP_BASE = 45140
UA_SIP_PORT = 17630
UA_RTP_PORT = 46140
AGENT_PORT = 18630
CALLERS = ("+12025550770", "+12025551770")  # people who ask for a human
DESK = "+12025550771"
OUTCOMES = [{"label": "interested", "description": "Wants the quote.", "fields": []}]


@pytest.fixture(scope="module")
def local_agent() -> Iterator[RunningAgent]:
    agent = start_in_thread("127.0.0.1", AGENT_PORT)
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    with running_simulator(tmp_path_factory.mktemp("transfer-lines-sim"), SIM_PORT, SIM_RTP_BASE,
                           "--ring", "0.6", "--final-wait", "3", "--no-speech-timeout", "15", "--hangup-delay", "0.3",
                           "--max-call", "40") as paths:
        yield paths


@pytest.fixture(scope="module")
def two_line_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory, local_agent: RunningAgent
) -> Iterator[tuple[str, Path]]:
    """A UA worker with the production hooks and two lines; yields its name and log."""
    log = tmp_path_factory.mktemp("transfer-lines-ua") / "worker.log"
    with media_bridge_worker(f"test-transfer-lines-{os.getpid()}", UA_SIP_PORT, UA_RTP_PORT, log, local_agent.url,
                             "--max-calls", "2") as name:
        yield name, log


def _contact(phone: str) -> Contact:
    contact = dialable_contact(TrunkFactory(host="127.0.0.1", port=SIM_PORT), phone_e164=phone, name="Ada",
                               ring_timeout_s=10, max_call_s=60)
    AgentProfile.objects.filter(pk=contact.campaign.agent_id).update(
        provider="local", prompt_template=PROMPT, greeting="Hello {{name}}, this is Sam.", outcome_schema=OUTCOMES
    )
    TransferTarget.objects.create(campaign=contact.campaign, name="Sales desk", destination=DESK, time_zone="UTC",
                                  staffed_days=list(range(7)), staffed_start=dt.time(0, 0),
                                  staffed_end=dt.time(23, 59), max_wait_s=10, fallback=TransferFallback.END)
    return contact


def _free_lines(registry: redis.Redis, name: str) -> int | None:
    info = live_uas(registry).get(name)
    return int(info["free_lines"]) if info else None


def _desk_calls(log: Path) -> list[dict[str, object]]:
    records = read_records(log) if log.exists() else []
    return [c for c in records if c.get("kind") == "call" and str(c.get("number", "")).endswith(DESK[1:])]


def test_the_desk_call_of_a_bridged_transfer_holds_a_line(
    two_line_worker: tuple[str, Path], simulator: dict[str, Path], registry: redis.Redis
) -> None:
    name, _log = two_line_worker
    # given a worker with two free lines and a person who will ask for a human
    wait_for(lambda: _free_lines(registry, name) == 2, 10, "two free lines")
    attempt = queue_attempt(_contact(CALLERS[0]))
    hand_to_pool(registry, attempt)
    # when the call is transferred by a bridged second call, then while the two people talk no line is free
    wait_for(lambda: CallAttempt.objects.get(pk=attempt.pk).state != "queued", 10, "the dial")
    wait_for(lambda: _free_lines(registry, name) == 0, 40, "the desk's call to take the second line",
             interval_s=0.05)
    ended = wait_ended(attempt, timeout_s=60)
    assert ended.disposition == Disposition.TRANSFERRED, (ended.reason, ended.transfer)
    # and both lines are free again once the call is over
    wait_for(lambda: _free_lines(registry, name) == 2, 10, "both lines free again")


def test_transfers_fall_back_when_every_line_is_held_by_callers(
    two_line_worker: tuple[str, Path], simulator: dict[str, Path], registry: redis.Redis
) -> None:
    name, log = two_line_worker
    # given two people who ask for a human, on the worker's two lines at once
    wait_for(lambda: _free_lines(registry, name) == 2, 15, "two free lines")
    desk_calls_before = len(_desk_calls(simulator["log"]))
    attempts = [queue_attempt(_contact(phone)) for phone in CALLERS]
    for attempt in attempts:
        hand_to_pool(registry, attempt)
    ended = [wait_ended(attempt, timeout_s=60) for attempt in attempts]
    # then neither transfer was placed (no line for the desk's call): each caller got the fallback, and the desk
    # never rang
    for attempt in ended:
        assert attempt.disposition == Disposition.HUMAN, (attempt.reason, attempt.transfer)
        assert (attempt.transfer["accepted"], attempt.transfer["sip_code"], attempt.transfer["fallback"]) == (
            False, 503, "end"), attempt.transfer
    assert len(_desk_calls(simulator["log"])) == desk_calls_before
    assert log.read_text(errors="replace").count("no free line for the transfer call") == 2
