"""The contract between the control plane and the UA pool: sealed commands and typed events."""

from __future__ import annotations

import json

import pytest

from telephony.contract import (
    COMMAND_TTL_S,
    AgentSpec,
    CallResults,
    CommandRejected,
    ConversationSpec,
    Ended,
    HangupCommand,
    OptedOut,
    OriginateCommand,
    Ringing,
    TrunkSpec,
    event_from_json,
    event_to_json,
    open_command,
    seal_command,
)

KEY = b"k" * 32
NOW = 1_800_000_000.0


def _command() -> OriginateCommand:
    trunk = TrunkSpec(id=3, host="sip.example.test", auth_mode="digest", username="acme", max_channels=9,
                      failover=TrunkSpec(id=4, host="backup.example.test")).with_password("s3cret", "other")
    return OriginateCommand(
        attempt_id=11, destination="+12125550100", trunk=trunk, caller_id="+12125550000", campaign_id=2,
        conversation=ConversationSpec(agent=AgentSpec(provider="local", greeting="Hi {{name}}"),
                                      variables={"name": "Ada"}, amd_max_decision_ms=2800, opt_out_digit="9"))


def test_a_sealed_command_opens_to_the_same_command_without_its_secrets() -> None:
    raw = seal_command(_command(), KEY, now=NOW)
    assert "s3cret" not in raw
    assert "other" not in raw
    assert "password" not in raw
    opened = open_command(raw, KEY, now=NOW + 1)
    assert isinstance(opened, OriginateCommand)
    assert opened.expires_at == NOW + COMMAND_TTL_S
    assert opened.trunk.password == ""
    assert opened.trunk == _command().trunk  # passwords do not take part in equality
    assert opened.conversation == _command().conversation


def test_a_tampered_command_is_refused_and_its_body_not_trusted() -> None:
    raw = json.loads(seal_command(_command(), KEY, now=NOW))
    raw["body"] = raw["body"].replace("+12125550100", "+19005550100")
    with pytest.raises(CommandRejected, match="signature") as refused:
        open_command(json.dumps(raw), KEY, now=NOW)
    assert refused.value.attempt_id is None


@pytest.mark.parametrize("raw", [
    '{"type": "originate", "attempt_id": 1, "destination": "+1", "trunk": {"id": 1, "host": "h"}}',
    "not json", '{"v": 1, "body": "{}"}', "[]"])
def test_unsigned_or_foreign_messages_are_refused(raw: str) -> None:
    with pytest.raises(CommandRejected):
        open_command(raw, KEY, now=NOW)


def test_another_key_or_version_is_refused() -> None:
    raw = seal_command(HangupCommand(5), KEY, now=NOW)
    with pytest.raises(CommandRejected, match="signature"):
        open_command(raw, b"x" * 32, now=NOW)
    envelope = json.loads(raw)
    envelope["v"] = 2
    with pytest.raises(CommandRejected, match="version"):
        open_command(json.dumps(envelope), KEY, now=NOW)


def test_an_expired_command_is_refused_with_its_attempt() -> None:
    raw = seal_command(_command(), KEY, now=NOW, ttl_s=10)
    assert isinstance(open_command(raw, KEY, now=NOW + 9.9), OriginateCommand)
    with pytest.raises(CommandRejected, match="expired") as refused:
        open_command(raw, KEY, now=NOW + 10)
    assert refused.value.attempt_id == 11


def test_a_command_carrying_a_password_is_malformed() -> None:
    body = _command().to_wire()
    body["trunk"]["password"] = "s3cret"
    with pytest.raises(ValueError, match="password"):
        OriginateCommand.from_wire(body)


def test_an_empty_key_cannot_seal() -> None:
    with pytest.raises(ValueError, match="key"):
        seal_command(HangupCommand(1), b"", now=NOW)


def test_events_round_trip_through_json() -> None:
    ended = Ended(7, "human", sip_code=200, reason="remote hangup", trunk_id=4, failed_over=True,
                  primary_trunk_id=3, talk_s=12.5,
                  results=CallResults(transcript=[{"speaker": "caller", "text": "hi"}], outcome="interested",
                                      first_response_ms=[420]))
    for event in (Ringing(7), OptedOut(7, number="+12125550100", how="dtmf"), ended):
        assert event_from_json(event_to_json(event)) == event


def test_results_keep_only_what_the_call_produced() -> None:
    results = CallResults.from_mapping({"transcript": [], "outcome": "x", "transfer": {"target": "sip:a"},
                                        "amd_result": "human"})
    assert results.stored_fields() == {"outcome": "x", "amd_result": "human"}
