"""Transfer targets: their validation (model, database, contract), when they are staffed, and how they travel in the
originate command to the UA."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.choices import TransferFallback
from campaigns.models import TransferTarget
from media.bridge.prompts import TRANSFER_CALL, tool_definitions
from telephony.contract import OriginateCommand
from telephony.conversation.plan import CallPlan
from telephony.transfers import FALLBACKS, TransferTargetSpec, check_destination, staffed_target, target_uri
from telephony.ua_registry import pending_commands
from tests.campaigns.dialer_setup import MIDDAY, contacts, live_ua, running_campaign

NY = "America/New_York"


def _spec(**fields: object) -> TransferTargetSpec:
    values: dict[str, object] = {
        "name": "Sales desk",
        "destination": "+12125550199",
        "time_zone": NY,
        "days": (0, 1, 2, 3, 4),
        "start": "09:00",
        "end": "17:00",
    }
    values.update(fields)
    return TransferTargetSpec(**values)  # type: ignore[arg-type]


# ---- the pure policy --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "kind"),
    [
        ("+12125550199", "e164"),
        ("sip:desk@pbx.example.test", "sip"),
        ("sip:desk@10.0.0.2:5070;transport=tcp", "sip"),
        ("sips:jo@example.test", "sip"),
    ],
)
def test_a_destination_is_a_number_or_a_sip_uri(destination: str, kind: str) -> None:
    assert check_destination(destination) == kind


@pytest.mark.parametrize(
    "destination", ["2125550199", "+0123", "tel:+12125550199", "sip:pbx.example.test", "http://x@y", "sip:a b@host", ""]
)
def test_anything_else_is_refused_with_a_message(destination: str) -> None:
    with pytest.raises(ValueError, match=r"neither an E\.164 number nor a sip:user@host URI"):
        check_destination(destination)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus", "time_zone"),
        ("days", (), "days"),
        ("days", (7,), "days"),
        ("start", "9:00", "start"),
        ("end", "17:00:00", "end"),
        ("start", "18:00", "before end"),
        ("max_wait_s", 4, "max_wait_s"),
        ("max_wait_s", 301, "max_wait_s"),
        ("fallback", "voicemail", "fallback"),
    ],
)
def test_a_bad_target_value_fails_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spec(**{field: value})


def test_staffed_hours_are_read_in_the_target_zone() -> None:
    # given a New York desk staffed 09:00-17:00 on weekdays
    desk = _spec()
    # then 13:59 UTC on a Monday in winter (08:59 in New York) is before it opens, 14:00 is open
    assert not desk.staffed_at(dt.datetime(2026, 1, 5, 13, 59, tzinfo=dt.UTC))
    assert desk.staffed_at(dt.datetime(2026, 1, 5, 14, 0, tzinfo=dt.UTC))
    # and in summer (UTC-4) 13:00 UTC is already 09:00 there; 21:00 UTC is 17:00, closed (the end is exclusive)
    assert desk.staffed_at(dt.datetime(2026, 7, 6, 13, 0, tzinfo=dt.UTC))
    assert not desk.staffed_at(dt.datetime(2026, 7, 6, 21, 0, tzinfo=dt.UTC))
    # and a Saturday is closed
    assert not desk.staffed_at(dt.datetime(2026, 1, 10, 15, 0, tzinfo=dt.UTC))


def test_the_first_staffed_target_is_chosen_and_none_outside_all_hours() -> None:
    early = _spec(name="Early", start="06:00", end="09:00")
    day = _spec(name="Day")
    monday_noon_ny = dt.datetime(2026, 1, 5, 17, 0, tzinfo=dt.UTC)
    assert staffed_target((early, day), monday_noon_ny) == day
    assert staffed_target((early, day), dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)) == early
    assert staffed_target((early, day), dt.datetime(2026, 1, 6, 3, 0, tzinfo=dt.UTC)) is None
    with pytest.raises(ValueError, match="aware"):
        day.staffed_at(dt.datetime(2026, 1, 5, 12, 0))  # noqa: DTZ001 - the error under test


def test_a_number_goes_through_the_trunk_and_a_uri_as_is() -> None:
    assert (
        target_uri("+12125550199", "10.0.0.1:5060", ";transport=tcp") == "sip:+12125550199@10.0.0.1:5060;transport=tcp"
    )
    assert target_uri("sip:desk@pbx.example.test", "10.0.0.1:5060") == "sip:desk@pbx.example.test"


def test_the_model_fallbacks_are_the_contract_fallbacks() -> None:
    assert tuple(TransferFallback.values) == FALLBACKS


def test_the_transfer_tool_is_offered_only_when_available() -> None:
    assert TRANSFER_CALL in [t["name"] for t in tool_definitions([], transfer_available=True)]
    assert TRANSFER_CALL not in [t["name"] for t in tool_definitions([], transfer_available=False)]


def test_the_call_plan_reads_the_targets_and_the_trunk_refer_flag() -> None:
    command = OriginateCommand.from_wire(
        {
            "type": "originate",
            "attempt_id": 7,
            "destination": "+12025550100",
            "trunk": {"id": 1, "host": "127.0.0.1", "port": 5070, "transport": "tcp", "allow_refer": True},
            "conversation": {"transfer_targets": [_spec().to_wire()]},
        }
    )
    plan = CallPlan.from_command(command, "ws://127.0.0.1:1")
    assert plan.transfer_targets == (_spec(),)
    assert (plan.trunk_host_port, plan.trunk_uri_params, plan.allow_refer) == ("127.0.0.1:5070", ";transport=tcp", True)


# ---- the model -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_model_validates_like_the_contract() -> None:
    campaign = running_campaign()
    good = TransferTarget(campaign=campaign, name="Desk", destination="sip:desk@pbx.example.test", time_zone=NY)
    good.full_clean()
    bad = TransferTarget(campaign=campaign, name="Desk", destination="5550199", time_zone="Nowhere/City")
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "destination" in error.value.message_dict
    zone = TransferTarget(campaign=campaign, name="Desk", destination="+12125550199", time_zone="Nowhere/City")
    with pytest.raises(ValidationError) as error:
        zone.full_clean()
    assert "time_zone" in error.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("destination", "5550199"),
        ("max_wait_s", 2),
        ("fallback", "x"),
        ("staffed_days", [8]),
        ("staffed_start", dt.time(18, 0)),
    ],
)
def test_the_database_refuses_what_the_form_would(field: str, value: object) -> None:
    campaign = running_campaign()
    target = TransferTarget(campaign=campaign, name="Desk", destination="+12125550199")
    setattr(target, field, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        target.save()


@pytest.mark.django_db
def test_active_targets_travel_in_the_originate_command_in_order(redis_client: redis.Redis) -> None:
    import time_machine

    from campaigns.dialer.claim import run_dispatch_tick
    from campaigns.dialer.handoff import originate_attempt

    # given a campaign with two active targets (the second first by position) and an inactive one
    live_ua(redis_client, "ua-1")
    campaign = running_campaign()
    TransferTarget.objects.create(
        campaign=campaign,
        position=2,
        name="Desk B",
        destination="sip:b@pbx.example.test",
        time_zone=NY,
        max_wait_s=20,
        fallback=TransferFallback.END,
    )
    TransferTarget.objects.create(
        campaign=campaign,
        position=1,
        name="Desk A",
        destination="+12125550199",
        time_zone="Europe/Paris",
        staffed_days=[5, 6],
        staffed_start=dt.time(8, 30),
        staffed_end=dt.time(12, 0),
        fallback_message="Call back later.",
    )
    TransferTarget.objects.create(campaign=campaign, position=0, name="Off", destination="+12125550100", active=False)
    contacts(campaign, 1)
    # when the attempt is handed to the UA
    with time_machine.travel(MIDDAY, tick=False):
        [attempt_id] = run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None).attempt_ids
        assert originate_attempt(attempt_id, r=redis_client, now=MIDDAY).outcome == "sent"
    [command] = pending_commands(redis_client, "ua-1")
    # then the command carries both active targets in order, typed as the contract has them
    targets = OriginateCommand.from_wire(command).conversation.transfer_targets
    assert [t.name for t in targets] == ["Desk A", "Desk B"]
    assert targets[0] == TransferTargetSpec(
        name="Desk A",
        destination="+12125550199",
        time_zone="Europe/Paris",
        days=(5, 6),
        start="08:30",
        end="12:00",
        max_wait_s=30,
        fallback="agent",
        fallback_message="Call back later.",
    )
    assert (targets[1].fallback, targets[1].max_wait_s) == ("end", 20)
    assert command["trunk"]["allow_refer"] is False


@pytest.mark.django_db
def test_the_admin_shows_the_targets_on_the_campaign_and_the_refer_flag_on_the_trunk() -> None:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    campaign = running_campaign()
    TransferTarget.objects.create(campaign=campaign, name="Sales desk", destination="sip:desk@pbx.example.test")
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "boss@example.test", "x"))
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "Transfer to a person" in page
    assert "sip:desk@pbx.example.test" in page
    assert 'name="transfer_targets-0-warm"' in page
    trunk_page = client.get(reverse("admin:telephony_trunk_change", args=[campaign.trunk_id])).content.decode()
    assert 'name="allow_refer"' in trunk_page
