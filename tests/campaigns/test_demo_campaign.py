"""The demo campaign's data (demo/demo_campaign.py) and docs/sample-contacts.csv, without any process."""

from __future__ import annotations

import datetime as dt
import io
import signal
import socket

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from campaigns.choices import CampaignStatus, ContactStatus, Disposition
from campaigns.models import Campaign, Contact
from campaigns.rules.windows import CallingWindow, contact_in_window
from demo.demo_campaign import (
    DEMO_PASSWORD,
    DEMO_USER,
    DemoOptions,
    NotADemoDatabase,
    create_demo_campaign,
    demo_database_refusal,
    ensure_demo_superuser,
    read_demo_progress,
)

pytestmark = pytest.mark.django_db

# Tuesday 07:45 UTC in November: inside the window in Europe (but London, 07:45) and Asia-Pacific, outside it
# in the Americas.
TUESDAY_0745 = dt.datetime(2026, 11, 24, 7, 45, tzinfo=dt.UTC)


def test_a_second_demo_run_cancels_the_first_and_reuses_trunk_caller_id_and_agent() -> None:
    # given a first demo run
    first = create_demo_campaign(DemoOptions(), now=TUESDAY_0745)
    # when the demo runs again
    second = create_demo_campaign(DemoOptions(simulator_port=5090), now=TUESDAY_0745 + dt.timedelta(minutes=5))
    # then only the new campaign may dial, on the same trunk (pointed at the new port) and agent
    first.campaign.refresh_from_db()
    assert first.campaign.status == CampaignStatus.CANCELLED
    assert second.campaign.status == CampaignStatus.DRAFT
    assert second.cancelled_earlier == [first.campaign.pk]
    assert second.campaign.trunk_id == first.campaign.trunk_id
    assert second.campaign.agent_id == first.campaign.agent_id
    assert second.campaign.trunk.port == 5090
    assert [c.number for c in second.campaign.caller_ids.all()] == ["+14155550100"]
    assert (second.import_job.imported, second.import_job.duplicates, second.import_job.invalid) == (60, 1, 1)


def test_the_demo_window_is_the_legal_maximum_every_day_with_short_retries_of_busy_and_no_answer() -> None:
    campaign = create_demo_campaign(DemoOptions(retry_delay_s=12), now=TUESDAY_0745).campaign
    assert (sorted(campaign.window_days), campaign.window_start, campaign.window_end) == (
        list(range(7)), dt.time(8), dt.time(21))
    rules = {r.disposition: (r.delay_s, r.max_attempts) for r in campaign.retry_rules.all()}
    assert rules[Disposition.BUSY] == (12, 3)
    assert rules[Disposition.NO_ANSWER] == (12, 2)
    # the defaults would wait 15 minutes to an hour: the demo closes these after one try
    assert all(rules[d][1] == 1 for d in (Disposition.FAILED, Disposition.MACHINE, Disposition.AI_ERROR))


@pytest.mark.parametrize("day", [dt.date(2026, 1, 14), dt.date(2026, 4, 1), dt.date(2026, 7, 15),
                                 dt.date(2026, 10, 28)])
def test_at_every_hour_a_good_share_of_the_sample_is_callable_and_covers_every_persona(day: dt.date) -> None:
    campaign = create_demo_campaign(DemoOptions(), now=TUESDAY_0745).campaign
    window = CallingWindow.of(campaign)
    contacts = list(Contact.objects.filter(campaign=campaign).values_list("phone_e164", "time_zones"))
    for hour in range(24):
        now = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
        callable_now = [phone for phone, zones in contacts if contact_in_window(zones, now, window)]
        assert len(callable_now) >= 20, (now, len(callable_now))
        assert {phone[-1] for phone in callable_now} == set("0123456789"), now


def test_progress_lists_the_contacts_outside_their_window_as_waiting() -> None:
    campaign = create_demo_campaign(DemoOptions(), now=TUESDAY_0745).campaign
    progress = read_demo_progress(campaign.pk, now=TUESDAY_0745)
    waiting_zones = {w.zones[0] for w in progress.waiting}
    assert waiting_zones == {"America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu",
                             "Europe/London"}
    assert len(progress.waiting) == 25
    assert progress.callable == 35
    assert progress.due_in_window == 35
    assert not progress.finished
    london = next(w for w in progress.waiting if w.zones == ["Europe/London"])
    assert london.opens_at == dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
    # when every contact inside its window is done, the run is finished; the others still wait
    Contact.objects.filter(campaign=campaign).exclude(pk__in=[w.contact_id for w in progress.waiting]).update(
        status=ContactStatus.DONE)
    later = read_demo_progress(campaign.pk, now=TUESDAY_0745)
    assert later.finished
    assert len(later.waiting) == 25


def test_the_demo_login_is_created_once_and_always_works(settings: Settings) -> None:
    settings.DEBUG = True  # a development setup; the test database's name has "test" in it
    assert ensure_demo_superuser() is True
    assert ensure_demo_superuser() is False
    user = authenticate(username=DEMO_USER, password=DEMO_PASSWORD)
    assert user is not None
    assert user.is_superuser


def test_run_demo_refuses_to_start_when_one_of_its_ports_is_taken() -> None:
    # given something already listening on the port the demo's web server would use
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the demo starts, then it names the port and creates nothing
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
        with pytest.raises(CommandError, match=f"tcp {port}"):
            call_command("run_demo", "--web-port", str(port), "--i-know-this-is-not-production", stdout=io.StringIO())
    assert not Campaign.objects.exists()
    # and the caller's signal handling is as it was (a process forked later must still die on SIGTERM)
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


# --- F24: the demo's well-known login only on a demo database ------------------------------------------


@pytest.mark.parametrize(("debug", "name", "allowed"), [
    (True, "campaign_engine", True),
    (True, "ce_demo", True),
    (True, "engine_dev", True),
    (True, "test_campaign_engine", True),
    (True, "ledger", False),
    (True, "prod_calls", False),
    (False, "campaign_engine", False),
])
def test_the_demo_runs_only_with_debug_on_a_demo_database(debug: bool, name: str, allowed: bool) -> None:
    assert (demo_database_refusal(debug=debug, database_name=name) is None) is allowed


def test_the_demo_login_is_refused_with_debug_off(settings: Settings) -> None:
    # given a deployment with DEBUG off (as production runs)
    settings.DEBUG = False
    # when the demo's superuser is asked for, then it is refused and no user exists
    with pytest.raises(NotADemoDatabase, match="--i-know-this-is-not-production"):
        ensure_demo_superuser()
    assert not User.objects.filter(username=DEMO_USER).exists()
    # and the operator who knows better may still have it
    assert ensure_demo_superuser(allow_any_database=True) is True


def test_run_demo_refuses_before_it_creates_or_starts_anything(settings: Settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refusing, DEBUG is off"):
        call_command("run_demo", "--no-services", "--ready-timeout", "1", stdout=io.StringIO())
    assert not User.objects.filter(username=DEMO_USER).exists()
    assert not Campaign.objects.exists()
