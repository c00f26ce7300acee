"""The demo's flow at a smaller size, with real processes: `manage.py run_demo --no-services` drives a campaign
through a Celery worker and beat (the dispatcher, originate, the reaper), a UA worker with the media bridge,
the local agent and the simulated phone network, all on this test session's database and Redis db.

One contact per persona digit, in a zone inside the calling window now, plus one contact in a zone outside
it: that one must wait, uncalled, and be reported as waiting. The summary the command prints is compared
with figures counted here from the ledger.

Ports (loopback): simulator 19100 (workers 19101-19102, RTP 48000-48031), UA worker SIP 19200 (TLS 19201,
RTP 49000-49015), local agent 19300.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from campaigns.choices import ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from demo.demo_campaign import DEMO_CAMPAIGN_PREFIX
from simulator.calllog import find_call
from tests.process_stack import StackPorts, process_stack

SIM_PORT = 19100
SIM_RTP_BASE = 48000
UA_SIP_PORT = 19200
UA_RTP_PORT = 49000
AGENT_PORT = 19300
RETRY_DELAY_S = 3
RING_TIMEOUT_S = 5
# Personas by last digit (docs/simulator.md) and what the ledger must show for each.
SPEAKING = {"0": "interested", "1": "not_interested", "2": "call_back", "3": "opted_out"}
RETRIED = {"5": (Disposition.BUSY, 3), "6": (Disposition.NO_ANSWER, 2)}  # the demo's retry rules


# Numbers whose digits 0-9 after the prefix are all valid, each prefix in one zone only. A contact's time zone may
# only narrow the number's own zones (compliance, F12), so a contact "in a zone inside the window now" is a number
# of a country (or US area code) whose zone is inside it; these span the globe so that one always is.
_NUMBERS_BY_ZONE = (
    ("+1 212 555 014", "America/New_York"), ("+1 213 555 014", "America/Los_Angeles"),
    ("+1 808 555 014", "Pacific/Honolulu"), ("+55 11 3456 014", "America/Sao_Paulo"),
    ("+44 20 7946 014", "Europe/London"), ("+27 21 123 414", "Africa/Johannesburg"),
    ("+91 22 2778 014", "Asia/Kolkata"), ("+65 6123 414", "Asia/Singapore"), ("+81 3 3224 014", "Asia/Tokyo"),
    ("+61 2 9876 014", "Australia/Sydney"),
)


def _numbers_with_local_hour(now: dt.datetime, hours: range) -> tuple[str, str]:
    """A number prefix and its zone whose local hour now is in ``hours`` (the window cannot close or open mid-test)."""
    for prefix, zone in _NUMBERS_BY_ZONE:
        if now.astimezone(zoneinfo.ZoneInfo(zone)).hour in hours:
            return prefix, zone
    raise AssertionError(f"no zone with a local hour in {hours}")


@pytest.fixture(scope="module")
def demo_processes(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The demo's processes minus the web server, on the test database: simulator, agent, UA worker, Celery."""
    workdir = tmp_path_factory.mktemp("demo")
    ports = StackPorts(simulator=SIM_PORT, simulator_rtp=SIM_RTP_BASE, ua_sip=UA_SIP_PORT, ua_rtp=UA_RTP_PORT,
                       agent=AGENT_PORT)
    with process_stack(workdir, ports, [
            "--ring", "0.5", "--max-ring", "30", "--max-call", "60",
            "--greeting", "Please leave a message after the tone.", "--final-wait", "4",
            "--no-speech-timeout", "6", "--hangup-delay", "0.3"]) as sim_log:
        yield {"sim_log": sim_log, "workdir": workdir}


def _summary(output: str) -> dict[str, str]:
    """The ``label: value`` lines the command printed after "Report summary"."""
    tail = output.split("Report summary", 1)[1]
    return dict(m.groups() for m in re.finditer(r"^  ([A-Z][^:\n]*): (.*)$", tail, re.MULTILINE))


def _pairs(text: str) -> dict[str, int]:
    return {} if text == "none" else {k: int(v) for k, v in (item.rsplit(" ", 1) for item in text.split(", "))}


@pytest.mark.django_db(transaction=True)
def test_demo_campaign_reaches_every_persona_retries_and_reports_what_the_ledger_holds(
        demo_processes: dict[str, Path], tmp_path: Path, live_server: Any) -> None:
    # given one contact per persona digit inside its window, and one outside its window
    now = timezone.now()
    inside_prefix, inside = _numbers_with_local_hour(now, range(9, 19))
    outside_prefix, outside = _numbers_with_local_hour(now, range(0, 6))
    csv = tmp_path / "contacts.csv"
    rows = [f"{inside_prefix}{d},Person{d},City{d},{inside}" for d in "0123456789"]
    rows.append(f"{outside_prefix}0,Sleeper,Far away,{outside}")
    csv.write_text("Phone,First Name,City,Time Zone\n" + "\n".join(rows) + "\n")
    out = io.StringIO()
    started = time.monotonic()

    # when the demo runs against the already running processes
    call_command("run_demo", "--no-services", "--csv", str(csv), "--simulator-port", str(SIM_PORT),
                 "--agent-port", str(AGENT_PORT), "--max-concurrent", "4", "--ring-timeout", str(RING_TIMEOUT_S),
                 "--retry-delay", str(RETRY_DELAY_S), "--timeout", "300", "--ready-timeout", "60",
                 "--i-know-this-is-not-production", stdout=out)  # the test settings run with DEBUG off
    output = out.getvalue()
    print(output)
    print(f"demo flow took {time.monotonic() - started:.0f} s")

    campaign = Campaign.objects.get(name__startswith=DEMO_CAMPAIGN_PREFIX)
    contacts = {c.phone_e164[-1] if c.name != "Sleeper" else "waiting": c
                for c in Contact.objects.filter(campaign=campaign)}
    attempts = list(CallAttempt.objects.filter(campaign=campaign).order_by("id"))
    by_digit: dict[str, list[CallAttempt]] = {}
    for attempt in attempts:
        by_digit.setdefault(contacts_by_id(contacts)[attempt.contact_id], []).append(attempt)

    # then the contact outside its window was never called and is reported as waiting
    sleeper = contacts["waiting"]
    assert sleeper.status == ContactStatus.PENDING
    assert "waiting" not in by_digit
    assert "1 contacts are outside the calling window" in output
    assert sleeper.phone_e164 in output.split("Report summary", 1)[1]
    # every persona was reached: the simulated network logged a call to each number
    for digit in "0123456789":
        number = contacts[digit].phone_e164
        assert find_call(demo_processes["sim_log"], number=number) is not None, f"persona {digit} not reached"
        if digit == "2":
            continue  # asked to be called back tomorrow: scheduled then (below)
        assert contacts[digit].status in {ContactStatus.DONE, ContactStatus.FAILED, ContactStatus.DNC,
                                          ContactStatus.INVALID}, (digit, contacts[digit].status)
    # no call was placed outside its contact's window: 08:00-21:00 local in every zone of the contact, computed
    # here from the zone database, not with the product's window function
    for attempt in attempts:
        assert attempt.dialing_at is not None
        for zone in contacts_by_pk(contacts)[attempt.contact_id].time_zones:
            local = attempt.dialing_at.astimezone(zoneinfo.ZoneInfo(zone))
            assert dt.time(8) <= local.time() < dt.time(21), (attempt.pk, zone, local)
    # busy and no answer were retried after the rule's delay, up to the rule's attempts, then closed
    for digit, (disposition, most) in RETRIED.items():
        tries = by_digit[digit]
        assert [a.disposition for a in tries] == [disposition] * most, (digit, [a.disposition for a in tries])
        for earlier, later in itertools.pairwise(tries):
            assert later.dialing_at - earlier.ended_at >= dt.timedelta(seconds=RETRY_DELAY_S)
        assert contacts[digit].status == ContactStatus.FAILED
    # the people who spoke have their outcome; the opt-out is on the do-not-call list
    for digit, label in SPEAKING.items():
        (attempt,) = by_digit[digit]
        assert attempt.outcome == label, (digit, attempt.outcome, attempt.transcript)
        assert contacts[digit].outcome == label
    # the call-back is scheduled at 10:00 tomorrow in the person's own zone, inside the window (D5)
    callback = contacts["2"]
    assert callback.status == ContactStatus.RETRY_SCHEDULED
    asked = dt.datetime.fromisoformat(callback.outcome_fields["callback_at"])
    local = callback.next_attempt_at.astimezone(zoneinfo.ZoneInfo(callback.time_zones[0]))
    assert asked.utcoffset() == local.utcoffset()
    assert (local.date(), local.time()) == (asked.date(), dt.time(10)), (asked, local)
    assert contacts["3"].status == ContactStatus.DNC
    assert DoNotCall.objects.filter(phone_e164=contacts["3"].phone_e164, campaign__isnull=True).exists()
    # the interrupter asked who was calling, then declined: never a conversion (D6); when the recogniser did not
    # catch the refusal before the hang-up, no outcome is recorded rather than a wrong one
    assert by_digit["9"][0].outcome in {"", "not_interested"}, (by_digit["9"][0].outcome, by_digit["9"][0].transcript)
    # the demo campaign leaves messages: the voicemail persona got one, after its beep
    assert by_digit["4"][0].disposition == Disposition.VOICEMAIL_LEFT, by_digit["4"][0].reason
    assert by_digit["4"][0].outcome == ""
    voicemail = find_call(demo_processes["sim_log"], number=contacts["4"].phone_e164)
    assert voicemail is not None
    assert (voicemail.get("voicemail") or {}).get("message_start_after_beep_ms") is not None
    assert voicemail["voicemail"]["message_start_after_beep_ms"] > 0
    assert [a.disposition for a in by_digit["7"]] == [Disposition.FAILED]
    assert [a.disposition for a in by_digit["8"]] == [Disposition.INVALID_NUMBER]
    assert contacts["8"].status == ContactStatus.INVALID

    # and the printed summary is what the ledger holds
    summary = _summary(output)
    assert summary["Contacts"] == str(len(contacts))
    statuses = Counter(c.status for c in contacts.values())
    assert _pairs(summary["Contacts by status"]) == dict(statuses)
    dialed = [a for a in attempts if a.disposition != Disposition.CANCELLED]
    assert summary["Attempts"] == f"{len(attempts)} ({len(dialed)} dialed, 0 not dialed, 0 in flight)"
    assert _pairs(summary["Dispositions"]) == dict(Counter(a.disposition for a in attempts))
    assert _pairs(summary["Outcomes"]) == dict(Counter(c.outcome for c in contacts.values() if c.outcome))
    answered = {a.contact_id for a in attempts if a.answered_at}
    human = {a.contact_id for a in attempts
             if a.disposition in (Disposition.HUMAN, Disposition.OPTED_OUT) or a.amd_result == "human"}
    with_outcome = {a.contact_id for a in attempts if a.outcome}
    assert summary["Funnel (contacts)"] == (
        f"attempted {len({a.contact_id for a in dialed})}, connected {len(answered)}, human {len(human)}, "
        f"outcome recorded {len(with_outcome)}")
    assert summary["Calls outside their window"] == "0"
    assert summary["Waiting for their window"] == "1"
    assert f"Admin: http://127.0.0.1:8000/{settings.ADMIN_URL}" in output

    # and the operator reads the finished campaign's report in a real browser
    _check_report_in_browser(live_server.url, campaign, by_digit["0"][0], contacts["0"].phone_e164,
                             funnel={"contacts": len(contacts), "connected": len(answered),
                                     "outcome": len(with_outcome)})


def _check_report_in_browser(base_url: str, campaign: Campaign, attempt: CallAttempt, phone: str,
                             funnel: dict[str, int]) -> None:
    """Log in, open the report from the campaign page, read the funnel, one attempt, its recording, the CSV."""
    from django.contrib.auth.models import User
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in

    # Database work first: Playwright's sync API runs an event loop in this thread while the browser is open.
    User.objects.create_superuser("reviewer", "reviewer@example.com", "reviewer-pass-1")
    first_words = attempt.transcript[0]["text"]
    assert (Path(settings.RECORDINGS_ROOT) / attempt.recording).read_bytes()[:4] == b"RIFF"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        log_in(page, base_url, "reviewer", "reviewer-pass-1")
        page.goto(f"{base_url}/{settings.ADMIN_URL}campaigns/campaign/{campaign.pk}/change/")
        page.click("#campaign-report")
        for stage, figure in funnel.items():
            expect(page.locator(f"#funnel-{stage} td.num").first).to_have_text(str(figure))
        csv_href = page.locator("#report-csv").get_attribute("href")
        page.goto(f"{base_url}/{settings.ADMIN_URL}campaigns/campaign/{campaign.pk}/report/attempts/{attempt.pk}/")
        expect(page.locator("#transcript")).to_contain_text(first_words)
        bubbles = page.locator("#transcript .bubble").count()
        audio_src = page.locator("#recording audio").get_attribute("src")
        assert csv_href is not None
        assert audio_src is not None
        recording = page.request.get(base_url + audio_src)
        csv = page.request.get(base_url + csv_href)
        recording_status, recording_head = recording.status, recording.body()[:4]
        csv_status, csv_text = csv.status, csv.text()
        browser.close()
    # then the transcript reads as a conversation, the recording plays (a WAV), and the CSV has the contact
    assert bubbles >= 2
    assert (recording_status, recording_head) == (200, b"RIFF")
    assert csv_status == 200
    assert any(phone in line and "interested" in line for line in csv_text.splitlines())


def contacts_by_id(contacts: dict[str, Contact]) -> dict[int, str]:
    """Contact id -> its key (persona digit or "waiting")."""
    return {c.pk: key for key, c in contacts.items()}


def contacts_by_pk(contacts: dict[str, Contact]) -> dict[int, Contact]:
    """Contact id -> contact."""
    return {c.pk: c for c in contacts.values()}
