"""The report's admin pages: access, bounded queries, attempt detail, recordings and the contacts CSV."""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.choices import Disposition
from campaigns.models import CallAttempt
from campaigns.reports.report import build_campaign_report
from tests.campaigns.report_data import INJECTED_NAME, INJECTED_REASON, add_attempt, at, build_report_campaign
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

WAV = b"RIFF" + b"\x00" * 40 + b"recorded-audio" * 100


ANALYST = ("campaigns.view_campaign", "campaigns.view_callattempt", "access.read_transcript", "campaigns.view_contact",
           "access.export_contacts")


def _staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def recordings(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    root.mkdir()
    settings.RECORDINGS_ROOT = root  # type: ignore[attr-defined]
    return root


def _report_url(campaign_id: int) -> str:
    return reverse("admin:campaigns_campaign_report", args=[campaign_id])


def _recording_url(attempt: CallAttempt) -> str:
    return reverse("admin:campaigns_campaign_report_recording", args=[attempt.campaign_id, attempt.pk])


def test_report_page_shows_the_funnel_and_definitions() -> None:
    data = build_report_campaign()
    client = _client(_staff("viewer", *ANALYST))

    response = client.get(_report_url(data.campaign.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body
    assert 'id="funnel-connected"' in body
    assert "50.0%" in body  # abandoned rate
    assert "agent_first_audio_at" in body  # the definition says where the time comes from
    assert reverse("admin:campaigns_campaign_report_csv", args=[data.campaign.pk]) in body


def test_report_page_query_count_does_not_grow_with_the_campaign() -> None:
    data = build_report_campaign()
    client = _client(_staff("viewer", *ANALYST))
    client.get(_report_url(data.campaign.pk))  # warm the session and content types
    with CaptureQueriesContext(connection) as small:
        assert client.get(_report_url(data.campaign.pk)).status_code == 200

    for k in range(30):
        contact = ContactFactory(campaign=data.campaign, time_zones=["Europe/London"])
        add_attempt(data.campaign, contact, 1, at(9, k), Disposition.HUMAN, answered_after_s=3, talk_s=40 + k,
                    first_audio_after_s=0.4, first_response_ms=[600], outcome="interested",
                    outcome_fields={"budget": k})
    client.get(_report_url(data.campaign.pk))  # the rollup moves over the new attempts
    with CaptureQueriesContext(connection) as large:
        assert client.get(_report_url(data.campaign.pk)).status_code == 200

    assert len(large.captured_queries) == len(small.captured_queries)
    # 25 for the report itself, 4 for the abandonment governor's view (30-day counts, limit, history, purpose)
    assert len(small.captured_queries) <= 29


def test_staff_without_view_permission_cannot_see_the_report() -> None:
    data = build_report_campaign()
    client = _client(_staff("nobody"))

    assert client.get(_report_url(data.campaign.pk)).status_code == 403
    assert client.get(reverse("admin:campaigns_campaign_report_csv", args=[data.campaign.pk])).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page() -> None:
    data = build_report_campaign()

    response = Client().get(_report_url(data.campaign.pk))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_attempt_detail_shows_sip_timings_and_the_conversation_in_time_order() -> None:
    data = build_report_campaign()
    attempt = data.attempts["ny_2"]
    client = _client(_staff("viewer", *ANALYST[:3]))

    response = client.get(reverse("admin:campaigns_campaign_report_attempt", args=[data.campaign.pk, attempt.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Hi, this is &lt;Acme&gt; calling." in body  # escaped
    assert body.index("Hi, this is") < body.index("Yes, speaking.")  # sorted by start time
    assert 'class="turn agent"' in body
    assert 'class="turn caller"' in body
    assert "callback_date" in body
    assert "62 s billed" in body
    assert "permission to listen" in body  # no player without the permission
    assert "<audio" not in body


def test_attempt_of_another_campaign_is_not_found_under_this_one() -> None:
    data = build_report_campaign()
    other = build_report_campaign()
    client = _client(_staff("viewer", "campaigns.view_campaign", "campaigns.view_callattempt"))

    url = reverse("admin:campaigns_campaign_report_attempt", args=[data.campaign.pk, other.attempts["ny_2"].pk])

    assert client.get(url).status_code == 404


def test_recording_is_refused_without_the_listen_permission(recordings: Path) -> None:
    data = build_report_campaign()
    attempt = data.attempts["ny_2"]
    (recordings / attempt.recording).parent.mkdir(parents=True)
    (recordings / attempt.recording).write_bytes(WAV)
    client = _client(_staff("viewer", "campaigns.view_campaign"))

    response = client.get(_recording_url(attempt))

    assert response.status_code == 403


def test_recording_is_served_to_staff_with_the_listen_permission(recordings: Path) -> None:
    data = build_report_campaign()
    attempt = data.attempts["ny_2"]
    (recordings / attempt.recording).parent.mkdir(parents=True)
    (recordings / attempt.recording).write_bytes(WAV)
    client = _client(_staff("listener", *ANALYST[:2], "campaigns.listen_recording"))

    detail = client.get(reverse("admin:campaigns_campaign_report_attempt", args=[data.campaign.pk, attempt.pk]))
    response = client.get(_recording_url(attempt))

    assert f'src="{_recording_url(attempt)}"' in detail.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/x-wav"
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == WAV


def test_recording_answers_a_byte_range_for_seeking(recordings: Path) -> None:
    data = build_report_campaign()
    attempt = data.attempts["ny_2"]
    (recordings / attempt.recording).parent.mkdir(parents=True)
    (recordings / attempt.recording).write_bytes(WAV)
    client = _client(_staff("listener", "campaigns.view_campaign", "campaigns.listen_recording"))

    response = client.get(_recording_url(attempt), HTTP_RANGE="bytes=44-57")

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 44-57/{len(WAV)}"
    assert b"".join(response.streaming_content) == b"recorded-audio"


@pytest.mark.parametrize("stored", ["../outside.wav", "{root}/../outside.wav", "/etc/passwd", "link/outside.wav"])
def test_recording_paths_leading_out_of_the_recordings_root_are_refused(recordings: Path, stored: str) -> None:
    data = build_report_campaign()
    outside = recordings.parent / "outside.wav"
    outside.write_bytes(WAV)
    os.symlink(recordings.parent, recordings / "link")
    attempt = data.attempts["ny_2"]
    CallAttempt.objects.filter(pk=attempt.pk).update(recording=stored.format(root=recordings))
    client = _client(_staff("listener", "campaigns.view_campaign", "campaigns.listen_recording"))

    response = client.get(_recording_url(attempt))

    assert response.status_code == 404


def _csv_rows(data_campaign_id: int, client: Client) -> list[list[str]]:
    response = client.get(reverse("admin:campaigns_campaign_report_csv", args=[data_campaign_id]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_csv_has_one_row_per_contact_with_every_outcome_field() -> None:
    data = build_report_campaign()
    client = _client(_staff("viewer", "campaigns.view_campaign", "campaigns.view_contact", "access.export_contacts"))

    rows = _csv_rows(data.campaign.pk, client)

    header, body = rows[0], rows[1:]
    assert header == ["phone", "name", "status", "attempts", "last_disposition", "outcome",
                      "outcome.callback_date", "outcome.budget", "outcome.reason"]
    assert len(body) == len(data.contacts)
    ny = next(r for r in body if r[0] == "'" + data.contacts["ny"].phone_e164)
    assert ny[2:] == ["Done", "2", "human", "interested", "2026-07-01", "1000", ""]


def test_csv_defuses_spreadsheet_formulas_in_every_cell() -> None:
    data = build_report_campaign()
    client = _client(_staff("viewer", "campaigns.view_campaign", "campaigns.view_contact", "access.export_contacts"))

    rows = _csv_rows(data.campaign.pk, client)

    la = next(r for r in rows if r[0] == "'" + data.contacts["la"].phone_e164)
    assert la[1] == "'" + INJECTED_NAME
    assert la[-1] == "'" + INJECTED_REASON
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_csv_keeps_fields_the_schema_no_longer_declares() -> None:
    data = build_report_campaign()
    ContactFactory(campaign=data.campaign, outcome="interested", outcome_fields={"legacy_note": "call after 5"})
    client = _client(_staff("viewer", "campaigns.view_campaign", "campaigns.view_contact", "access.export_contacts"))

    rows = _csv_rows(data.campaign.pk, client)

    assert rows[0][-1] == "outcome.legacy_note"
    assert rows[-1][-1] == "call after 5"


def test_campaign_list_and_change_page_link_to_the_report() -> None:
    data = build_report_campaign()
    client = _client(User.objects.create_superuser("root", "root@example.com", "pw"))

    listing = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    change = client.get(reverse("admin:campaigns_campaign_change", args=[data.campaign.pk])).content.decode()

    assert _report_url(data.campaign.pk) in listing
    assert _report_url(data.campaign.pk) in change


def test_report_shows_cost_with_its_currency_and_per_outcome(settings: pytest.FixtureRequest) -> None:
    # given a campaign with priced calls and two contacts who ended "interested"
    settings.COST_CURRENCY = "EUR"  # type: ignore[attr-defined]
    campaign = build_report_campaign().campaign
    campaign.contacts.update(outcome="")
    for contact in campaign.contacts.order_by("id")[:2]:
        type(contact).objects.filter(pk=contact.pk).update(outcome="interested")
    total = build_campaign_report(campaign).cost_total

    body = _client(_staff("viewer", "campaigns.view_campaign")).get(_report_url(campaign.pk)).content.decode()

    # then the total and the cost per interested contact (all spend / 2) carry the currency
    assert total > 0
    assert f'id="card-cost"><span class="figure">{total} EUR</span>' in body
    each = (total / 2).quantize(Decimal("0.01"))
    assert f'data-outcome="interested"><span class="figure">{each} EUR</span><span class="what">per interested' in body


def test_attempt_detail_shows_the_human_agent_after_a_hand_over_on_the_agents_side() -> None:
    # given a transferred call whose transcript goes on after the hand-over with the person at the desk
    data = build_report_campaign()
    attempt = data.attempts["ny_2"]
    CallAttempt.objects.filter(pk=attempt.pk).update(transcript=[
        {"speaker": "agent", "text": "Let me transfer you.", "start_ms": 1000, "end_ms": 2000},
        {"speaker": "human_agent", "text": "Sales desk, how can I help you?", "start_ms": 9000, "end_ms": 11000},
        {"speaker": "caller", "text": "Hello, thank you.", "start_ms": 12000, "end_ms": 13000},
    ])
    client = _client(_staff("viewer", *ANALYST[:3]))
    # when the attempt's page is read
    body = client.get(reverse("admin:campaigns_campaign_report_attempt",
                              args=[data.campaign.pk, attempt.pk])).content.decode()
    # then the person at the desk is named, on the agent's side, between the agent and the caller's reply
    assert "human agent &middot; 0:09" in body
    assert body.index("Let me transfer you.") < body.index("Sales desk, how can I help") < body.index("Hello, thank")
    assert body.count('class="turn agent"') == 2
