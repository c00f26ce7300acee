"""The contract between the control plane and the UA pool: sealed commands and typed events."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re

import pytest

from telephony.contract import (
    COMMAND_TTL_S,
    AgentSpec,
    Answered,
    Bridged,
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
from telephony.transfers import TransferTargetSpec

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
    with pytest.raises(ValueError, match=r"^a command must not carry a trunk password$"):
        OriginateCommand.from_wire(body)


def test_an_empty_key_cannot_seal() -> None:
    with pytest.raises(ValueError, match=r"^the command key is empty$"):
        seal_command(HangupCommand(1), b"", now=NOW)


def test_events_round_trip_through_json() -> None:
    ended = Ended(7, "human", sip_code=200, reason="remote hangup", trunk_id=4, failed_over=True,
                  primary_trunk_id=3, talk_s=12.5,
                  results=CallResults(transcript=[{"speaker": "caller", "text": "hi"}], outcome="interested",
                                      first_response_ms=[420]))
    for event in (Ringing(7), OptedOut(7, number="+12125550100", how="dtmf"), ended):
        assert event_from_json(event_to_json(event)) == event


def test_results_keep_only_what_the_call_produced() -> None:
    results = CallResults.from_mapping({"transcript": [], "outcome": "x", "failover": {"primary_trunk_id": 1},
                                        "amd_result": "human", "transfer": {}})
    assert results.stored_fields() == {"outcome": "x", "amd_result": "human"}


def test_a_transfer_record_is_a_result() -> None:
    record = {"target": "Sales desk", "method": "bridge", "accepted": True, "answer_ms": 2100}
    assert CallResults.from_mapping({"transfer": record}).stored_fields() == {"transfer": record}


# ---- the wire form, field by field ---------------------------------------------------------------------------

BACKUP_WIRE = {
    "id": 4, "host": "backup.example.test", "port": 5060, "transport": "udp", "auth_mode": "ip", "username": "",
    "realm": "", "register_expiry_s": 300, "srtp_policy": "disabled", "codecs": ["PCMU", "PCMA"], "send_pai": False,
    "max_channels": 1, "allow_refer": False, "failover": None,
}
TRUNK_WIRE = {
    "id": 3, "host": "sip.example.test", "port": 5070, "transport": "tls", "auth_mode": "register",
    "username": "acme", "realm": "example.test", "register_expiry_s": 600, "srtp_policy": "mandatory",
    "codecs": ["G722", "PCMA"], "send_pai": True, "max_channels": 9, "allow_refer": True,
    "failover": BACKUP_WIRE,
}
CONVERSATION_WIRE = {
    "agent": {"provider": "openai_realtime", "model": "gpt-x", "voice": "alloy", "url": "wss://ai.example.test/v1",
              "api_key_env": "OPENAI_API_KEY", "prompt_template": "You call {{name}}.", "greeting": "Hi {{name}}",
              "outcome_schema": [{"label": "ok"}], "fallback_message": "Sorry."},
    "variables": {"name": "Ada"}, "amd_enabled": False, "amd_max_decision_ms": 2800, "amd_greet_immediately": True,
    "amd_late_beep": False, "machine_policy": "leave_message", "voicemail_message": "Call us back.",
    "opt_out_digit": "9",
    "disclosures": [["opening", "An automated call with an AI voice."]],
    "transfer_targets": [{"name": "Sales desk", "destination": "+12125550199", "time_zone": "America/New_York",
                          "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:30", "max_wait_s": 25,
                          "fallback": "callback", "fallback_message": "We will call you back.",
                          "warm": True}],
}
ORIGINATE_WIRE = {
    "type": "originate", "attempt_id": 11, "destination": "+12125550100", "trunk": TRUNK_WIRE,
    "conversation": CONVERSATION_WIRE, "caller_id": "+12125550000", "ring_timeout_s": 25.0, "max_call_s": 300.0,
    "campaign_id": 2, "contact_id": 8, "issued_at": 1.5, "expires_at": 31.5,
}


def _full_command() -> OriginateCommand:
    trunk = TrunkSpec(id=3, host="sip.example.test", port=5070, transport="tls", auth_mode="register",
                      username="acme", realm="example.test", register_expiry_s=600, srtp_policy="mandatory",
                      codecs=("G722", "PCMA"), send_pai=True, max_channels=9, allow_refer=True,
                      failover=TrunkSpec(id=4, host="backup.example.test"))
    agent = AgentSpec(provider="openai_realtime", model="gpt-x", voice="alloy", url="wss://ai.example.test/v1",
                      api_key_env="OPENAI_API_KEY", prompt_template="You call {{name}}.", greeting="Hi {{name}}",
                      outcome_schema=[{"label": "ok"}], fallback_message="Sorry.")
    conversation = ConversationSpec(agent=agent, variables={"name": "Ada"}, amd_enabled=False,
                                    amd_max_decision_ms=2800, amd_greet_immediately=True, amd_late_beep=False,
                                    machine_policy="leave_message", voicemail_message="Call us back.",
                                    opt_out_digit="9",
                                    disclosures=(("opening", "An automated call with an AI voice."),),
                                    transfer_targets=(TransferTargetSpec(
                                        name="Sales desk", destination="+12125550199",
                                        time_zone="America/New_York", days=(0, 1, 2, 3, 4), start="09:00",
                                        end="17:30", max_wait_s=25, fallback="callback",
                                        fallback_message="We will call you back.", warm=True),))
    return OriginateCommand(attempt_id=11, destination="+12125550100", trunk=trunk, conversation=conversation,
                            caller_id="+12125550000", ring_timeout_s=25.0, max_call_s=300.0, campaign_id=2,
                            contact_id=8, issued_at=1.5, expires_at=31.5)


def test_an_originate_command_has_exactly_the_documented_wire_form() -> None:
    # given a command with no field left at its default
    command = _full_command()
    # when it is put on the wire and read back
    wire = command.to_wire()
    # then every field travels under its name, and comes back the same
    assert wire == ORIGINATE_WIRE
    assert OriginateCommand.from_wire(json.loads(json.dumps(wire))) == command


def test_a_hangup_command_has_exactly_the_documented_wire_form() -> None:
    command = HangupCommand(5, reason="campaign paused", issued_at=1.5, expires_at=31.5)
    wire = {"type": "hangup", "attempt_id": 5, "reason": "campaign paused", "issued_at": 1.5, "expires_at": 31.5}
    assert command.to_wire() == wire
    assert HangupCommand.from_wire(wire) == command


def test_disclosures_must_be_kind_and_text_pairs() -> None:
    for bad in ("hello", [["opening"]], [["opening", 3]]):
        with pytest.raises(ValueError, match="disclosures"):
            ConversationSpec.from_wire({"disclosures": bad})


def test_a_conversation_without_an_agent_travels_with_a_null_agent() -> None:
    assert ConversationSpec().to_wire() == {
        "agent": None, "variables": {}, "amd_enabled": True, "amd_max_decision_ms": None,
        "amd_greet_immediately": False, "amd_late_beep": True, "machine_policy": "hang_up", "voicemail_message": "",
        "opt_out_digit": "",
        "disclosures": [], "transfer_targets": []}


@pytest.mark.parametrize("blank", [{}, {"port": None, "transport": "", "auth_mode": None, "username": None,
                                        "realm": "", "register_expiry_s": 0, "srtp_policy": None, "codecs": [],
                                        "send_pai": None, "max_channels": 0, "allow_refer": None,
                                        "failover": None}])
def test_a_trunk_without_optional_members_gets_the_defaults(blank: dict[str, object]) -> None:
    # given only the trunk's id and host (the other members left out, or null/empty)
    trunk = TrunkSpec.from_wire({"id": "4", "host": "backup.example.test", **blank})
    # then it is the default trunk
    assert trunk == TrunkSpec(id=4, host="backup.example.test")
    assert trunk.to_wire() == BACKUP_WIRE


def test_trunk_codecs_may_come_as_a_comma_separated_string() -> None:
    trunk = TrunkSpec.from_wire({"id": 1, "host": "h", "codecs": " pcmu, ,g722,"})
    assert trunk.codecs == ("PCMU", "G722")


@pytest.mark.parametrize("blank", [{}, {"reason": "", "issued_at": None, "expires_at": 0}])
def test_a_hangup_without_optional_members_gets_the_defaults(blank: dict[str, object]) -> None:
    command = HangupCommand.from_wire({"attempt_id": "5", **blank})
    assert (command.attempt_id, command.reason, command.issued_at, command.expires_at) == (
        5, "hangup requested", 0.0, 0.0)


@pytest.mark.parametrize("blank", [{}, {"conversation": None, "caller_id": None, "ring_timeout_s": 0,
                                        "max_call_s": None, "campaign_id": None, "contact_id": None,
                                        "issued_at": None, "expires_at": None}])
def test_an_originate_without_optional_members_gets_the_defaults(blank: dict[str, object]) -> None:
    # given only the attempt, the destination and the trunk
    command = OriginateCommand.from_wire({"attempt_id": "11", "destination": "+12125550100",
                                          "trunk": {"id": 3, "host": "h"}, **blank})
    # then the rest are the defaults
    assert command == OriginateCommand(attempt_id=11, destination="+12125550100", trunk=TrunkSpec(id=3, host="h"))
    assert (command.caller_id, command.ring_timeout_s, command.max_call_s, command.campaign_id, command.contact_id,
            command.issued_at, command.expires_at) == ("", 30.0, 600.0, None, None, 0.0, 0.0)
    assert command.conversation == ConversationSpec()


@pytest.mark.parametrize("blank", [{}, {"agent": None, "variables": None, "amd_max_decision_ms": None,
                                        "amd_greet_immediately": None, "amd_late_beep": None,
                                        "machine_policy": "",
                                        "voicemail_message": None, "opt_out_digit": None}])
def test_a_conversation_without_optional_members_gets_the_defaults(blank: dict[str, object]) -> None:
    conversation = ConversationSpec.from_wire(blank)
    assert conversation == ConversationSpec()
    assert conversation.to_wire()["amd_enabled"] is True
    assert conversation.machine_policy == "hang_up"


def test_conversation_members_are_read_with_their_types() -> None:
    conversation = ConversationSpec.from_wire({"amd_enabled": 0, "amd_max_decision_ms": "1500",
                                               "amd_greet_immediately": 1, "amd_late_beep": 0,
                                               "variables": {"a": 1}})
    assert conversation.amd_enabled is False
    assert conversation.amd_max_decision_ms == 1500
    assert conversation.amd_greet_immediately is True
    assert conversation.amd_late_beep is False
    assert conversation.variables == {"a": 1}


def test_conversation_variables_must_be_an_object() -> None:
    with pytest.raises(ValueError, match=r"^conversation variables must be an object$"):
        ConversationSpec.from_wire({"variables": ["name"]})


def test_an_agent_reads_nulls_as_empty_text_but_keeps_a_null_schema() -> None:
    agent = AgentSpec.from_wire({"provider": "local", "voice": None, "greeting": None, "outcome_schema": None})
    assert agent == AgentSpec(provider="local", voice="", greeting="", outcome_schema=None)
    assert agent.voice == ""


def test_an_agent_with_unknown_members_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"^unknown agent fields: api_key, temperature$"):
        AgentSpec.from_wire({"provider": "local", "temperature": 0.2, "api_key": "sk-1"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"host": ""}, "trunk host is empty"),
    ({"port": 0}, "trunk port out of range: 0"),
    ({"port": 65536}, "trunk port out of range: 65536"),
    ({"transport": "sctp"}, "trunk transport unknown: 'sctp'"),
    ({"auth_mode": "oauth", "username": "u"}, "trunk auth_mode unknown: 'oauth'"),
    ({"srtp_policy": "always"}, "trunk srtp_policy unknown: 'always'"),
    ({"auth_mode": "digest"}, "trunk needs a username for digest or register authentication"),
    ({"auth_mode": "register", "username": ""}, "trunk needs a username for digest or register authentication"),
])
def test_an_unusable_trunk_is_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        TrunkSpec(**{"id": 1, "host": "sip.example.test", **kwargs})  # type: ignore[arg-type]
    assert str(refused.value) == message


@pytest.mark.parametrize("port", [1, 2, 65534, 65535])
def test_every_port_in_range_is_accepted(port: int) -> None:
    assert TrunkSpec(id=1, host="h", port=port).port == port


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"destination": ""}, "destination is empty"),
    ({"ring_timeout_s": 0}, "ring_timeout_s must be positive, got 0"),
    ({"ring_timeout_s": -1}, "ring_timeout_s must be positive, got -1"),
    ({"max_call_s": 0}, "max_call_s must be positive, got 0"),
    ({"max_call_s": -5}, "max_call_s must be positive, got -5"),
])
def test_an_unusable_originate_is_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        OriginateCommand(**{"attempt_id": 1, "destination": "+1", "trunk": TrunkSpec(id=1, host="h"),  # type: ignore[arg-type]
                            **kwargs})
    assert str(refused.value) == message


def test_timeouts_under_a_second_are_allowed() -> None:
    command = OriginateCommand(attempt_id=1, destination="+1", trunk=TrunkSpec(id=1, host="h"), ring_timeout_s=0.5,
                               max_call_s=0.5)
    assert (command.ring_timeout_s, command.max_call_s) == (0.5, 0.5)


@pytest.mark.parametrize(("host", "expected"), [
    ("sip.example.test", "sip.example.test:5070"),
    ("192.0.2.7", "192.0.2.7:5070"),
    ("2001:db8::7", "[2001:db8::7]:5070"),
    ("[2001:db8::7]", "[2001:db8::7]:5070"),
])
def test_host_port_brackets_ipv6_literals_once(host: str, expected: str) -> None:
    assert TrunkSpec(id=1, host=host, port=5070).host_port() == expected


@pytest.mark.parametrize(("transport", "params"), [("udp", ""), ("tcp", ";transport=tcp"), ("tls", ";transport=tls")])
def test_uri_params_name_the_transport_except_udp(transport: str, params: str) -> None:
    assert TrunkSpec(id=1, host="h", transport=transport).uri_params() == params


def test_with_password_fills_the_trunks_and_its_failovers_passwords() -> None:
    # given a trunk with a failover, as it comes off the wire
    trunk = TrunkSpec(id=3, host="a", failover=TrunkSpec(id=4, host="b"))
    # when the UA resolves both credentials
    resolved = trunk.with_password("s3cret", "other")
    # then each trunk has its own, and nothing else changed
    assert (resolved.password, resolved.failover.password if resolved.failover else None) == ("s3cret", "other")
    assert resolved == trunk
    assert "s3cret" not in repr(resolved)
    # and a failover's password defaults to none, a trunk without failover keeps none
    assert trunk.with_password("p").failover == TrunkSpec(id=4, host="b")
    assert trunk.with_password("p").failover.password == ""  # type: ignore[union-attr]
    assert TrunkSpec(id=5, host="c").with_password("p", "q").failover is None


# ---- sealing and opening -------------------------------------------------------------------------------------


def _signed(body: str) -> str:
    mac = hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"v": 1, "body": body, "mac": mac})


def test_a_sealed_command_is_compact_sorted_json_stamped_with_its_issue_and_expiry() -> None:
    # given a hang-up sealed at a known instant
    raw = seal_command(HangupCommand(5, reason="stop"), KEY, now=100.0, ttl_s=30)
    # then the envelope and its body are byte-stable: compact separators, sorted body keys
    body = '{"attempt_id":5,"expires_at":130.0,"issued_at":100.0,"reason":"stop","type":"hangup"}'
    mac = hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()
    assert raw == json.dumps({"v": 1, "body": body, "mac": mac}, separators=(",", ":"))
    opened = open_command(raw, KEY, now=100.0)
    assert (opened.issued_at, opened.expires_at) == (100.0, 130.0)


def test_the_default_lifetime_of_a_command_is_the_contracts_ttl() -> None:
    opened = open_command(seal_command(HangupCommand(5), KEY, now=NOW), KEY, now=NOW)
    assert opened.expires_at - opened.issued_at == COMMAND_TTL_S == 30.0


@pytest.mark.parametrize(("raw", "reason"), [
    ("not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    ("[]", "not a sealed command"),
    ('{"v": 1, "body": {"type": "hangup"}}', "not a sealed command"),
    ('{"v": 1}', "not a sealed command"),
    ('{"v": 2, "body": "{}"}', "contract version 2, this UA speaks 1"),
    ('{"body": "{}"}', "contract version None, this UA speaks 1"),
    ('{"v": 1, "body": "{}"}', "bad or missing signature"),
    ('{"v": 1, "body": "{}", "mac": ""}', "bad or missing signature"),
])
def test_what_is_not_a_sealed_command_is_refused_with_the_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(CommandRejected) as refused:
        open_command(raw, KEY, now=NOW)
    assert (refused.value.reason, str(refused.value), refused.value.attempt_id) == (reason, reason, None)


def test_without_a_key_nothing_opens() -> None:
    raw = seal_command(HangupCommand(5), KEY, now=NOW)
    with pytest.raises(CommandRejected, match=r"^bad or missing signature$"):
        open_command(raw, b"", now=NOW)


@pytest.mark.parametrize(("body", "reason", "attempt_id"), [
    ('{"type": "dial", "attempt_id": 5}', "unknown command type 'dial'", 5),
    ('{"attempt_id": 6}', "unknown command type None", 6),
    ('{"type": "originate", "attempt_id": 7}', "malformed command: 'destination'", 7),
    ('{"type": "hangup"}', "malformed command: 'attempt_id'", None),
    ('{"type": "hangup", "attempt_id": "x"}', "malformed command: invalid literal for int() with base 10: 'x'",
     None),
    ('["hangup", 5]', "malformed command: the body is not an object", None),
    ("hangup 5", "malformed command: the body is not JSON", None),
])
def test_a_signed_but_unusable_body_is_refused_with_its_attempt(body: str, reason: str,
                                                                attempt_id: int | None) -> None:
    with pytest.raises(CommandRejected) as refused:
        open_command(_signed(body), KEY, now=NOW)
    assert (refused.value.reason, refused.value.attempt_id) == (reason, attempt_id)


def test_an_expired_command_says_how_long_ago() -> None:
    raw = seal_command(HangupCommand(5), KEY, now=NOW, ttl_s=10)
    with pytest.raises(CommandRejected) as refused:
        open_command(raw, KEY, now=NOW + 12.25)
    assert (refused.value.reason, refused.value.attempt_id) == ("expired 2.2 s ago", 5)


# ---- events --------------------------------------------------------------------------------------------------


def test_an_event_is_compact_json_with_its_kind_and_the_contract_version() -> None:
    assert event_to_json(OptedOut(7, number="+12125550100", how="dtmf")) == (
        '{"v":1,"kind":"opted_out","attempt_id":7,"number":"+12125550100","how":"dtmf"}')


def test_an_event_carrying_a_value_json_does_not_know_is_sent_as_text() -> None:
    # given results holding a timestamp object (the UA's working dict may)
    ended = Ended(7, "human", results=CallResults(usage={"at": dt.date(2026, 6, 16)}))
    # when it is serialised, then it is written as text rather than failing the event
    assert json.loads(event_to_json(ended))["results"]["usage"] == {"at": "2026-06-16"}


@pytest.mark.parametrize("event", [Ringing(7), Answered(7), Bridged(7), OptedOut(7, number="+1"),
                                   Ended(7, "busy", sip_code=486)])
def test_every_event_kind_round_trips(event: object) -> None:
    assert event_from_json(event_to_json(event)) == event  # type: ignore[arg-type]


def test_an_ended_event_without_results_gets_empty_results() -> None:
    assert event_from_json(
        '{"v":1,"kind":"ended","attempt_id":7,"disposition":"failed","results":null,"at":1.5}') == Ended(
        7, "failed", at=1.5)


@pytest.mark.parametrize(("raw", "message"), [
    ('{"v":2,"kind":"ringing","attempt_id":7}', "event of another contract version"),
    ('{"kind":"ringing","attempt_id":7}', "event of another contract version"),
    ('{"v":1,"kind":"dialed","attempt_id":7}', "unknown event kind"),
    ('{"v":1,"attempt_id":7}', "unknown event kind"),
])
def test_an_event_of_another_version_or_kind_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        event_from_json(raw)
    assert str(refused.value) == message


def test_command_rejected_keeps_its_reason_and_attempt() -> None:
    exc = CommandRejected("expired 1.0 s ago", 9)
    assert (exc.reason, exc.attempt_id, str(exc)) == ("expired 1.0 s ago", 9, "expired 1.0 s ago")
