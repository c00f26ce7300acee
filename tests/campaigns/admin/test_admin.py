"""The operator's admin: campaign form, trunk passwords, read-mostly contacts and attempts, do-not-call."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition, DncSource
from campaigns.contacts.dnc_uploads import run_dnc_upload
from campaigns.models import CallAttempt, Campaign, Contact, DncUpload, DoNotCall, RetryRule
from telephony.admin import TrunkAdmin
from telephony.choices import TrunkAuth
from telephony.models import Trunk
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, TrunkFactory

pytestmark = pytest.mark.django_db

SECRET = "Tr0mb0ne-s3cret-pw"


def admin_form_data(response: Any) -> dict[str, Any]:
    """The POST data a browser would send for an admin change form as rendered (fields and inlines)."""
    data: dict[str, Any] = {}

    def add_form(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if value is None or value is False:
                continue
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            elif isinstance(value, dt.time):
                data[key] = value.strftime("%H:%M")
            else:
                data[key] = str(value)

    add_form(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add_form(formset.management_form)
        for form in formset.forms:
            add_form(form)
    return data


# --- Campaign ---------------------------------------------------------------------------------------


def test_campaign_form_groups_settings_in_fieldsets(admin_client: Client) -> None:
    campaign = CampaignFactory()

    response = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert response.status_code == 200
    headings = [fieldset.name for fieldset in response.context["adminform"]]
    assert headings == [None, "Agent", "Telephony", "Schedule", "Limits", "Answering machines", "Retries"]
    assert "Upload contacts" in response.content.decode()
    assert response.context["inline_admin_formsets"][0].formset.prefix == "retry_rules"
    machines = next(fs for fs in response.context["adminform"] if fs.name == "Answering machines")
    assert "amd_late_beep" in [field.field.name for line in machines for field in line]


def test_campaign_change_saves_settings_and_retry_rules(admin_client: Client) -> None:
    # given a campaign and its change form as rendered
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = admin_form_data(admin_client.get(url))

    # when the operator narrows the window, raises the limit, stops listening for a late beep (an unchecked box
    # is not sent) and adds a retry rule for busy
    assert data.pop("amd_late_beep") == "on"
    data.update({"window_start": "10:00", "window_end": "18:30", "max_concurrent": "12", "window_days": ["0", "2"],
                 "retry_rules-TOTAL_FORMS": "1", "retry_rules-0-disposition": Disposition.BUSY,
                 "retry_rules-0-delay_s": "600", "retry_rules-0-max_attempts": "4",
                 "retry_rules-0-campaign": str(campaign.pk)})
    response = admin_client.post(url, data)

    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert (campaign.window_start, campaign.window_end) == (dt.time(10, 0), dt.time(18, 30))
    assert campaign.max_concurrent == 12
    assert campaign.window_days == [0, 2]
    assert campaign.amd_late_beep is False
    rule = RetryRule.objects.get(campaign=campaign)
    assert (rule.disposition, rule.delay_s, rule.max_attempts) == (Disposition.BUSY, 600, 4)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("window_start", "07:30", "before 08:00"),
        ("window_end", "21:30", "after 21:00"),
        ("window_end", "08:30", "end after it starts"),
        ("default_region", "USA", "two-letter country code"),
    ],
)
def test_campaign_window_outside_legal_hours_is_refused(
    admin_client: Client, field: str, value: str, message: str
) -> None:
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = admin_form_data(admin_client.get(url))
    data.update({"window_start": "09:00", field: value})

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)


def test_campaign_caller_ids_must_belong_to_its_trunk(admin_client: Client) -> None:
    campaign = CampaignFactory()
    foreign = CallerIDFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = admin_form_data(admin_client.get(url))
    data["caller_ids"] = [str(foreign.pk)]

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert foreign.number in str(response.context["adminform"].form.errors["caller_ids"])


def test_retry_rules_offer_only_retryable_dispositions(admin_client: Client) -> None:
    campaign = CampaignFactory()

    response = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    choices = dict(response.context["inline_admin_formsets"][0].formset.empty_form.fields["disposition"].choices)
    assert Disposition.BUSY in choices
    assert Disposition.HUMAN not in choices
    assert Disposition.OPTED_OUT not in choices


def test_saving_the_form_keeps_a_status_changed_meanwhile(admin_client: Client) -> None:
    # given the operator opened the form of a draft campaign
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = admin_form_data(admin_client.get(url))
    # and the campaign was started while the form was open
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)

    # when the operator saves a settings change
    data["max_concurrent"] = "7"
    response = admin_client.post(url, data)

    # then the setting is saved and the status is not put back to draft
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.max_concurrent == 7
    assert campaign.status == CampaignStatus.RUNNING


def test_operator_sets_the_amd_deadline_and_greet_at_once(admin_client: Client) -> None:
    # given a campaign's change form as rendered, with the AMD defaults
    campaign = CampaignFactory()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    data = admin_form_data(admin_client.get(url))
    assert (data["amd_max_decision_ms"], data.get("amd_greet_immediately")) == ("5000", None)

    # when the operator asks for a deadline outside 1-10 s, the form says so and saves nothing
    response = admin_client.post(url, {**data, "amd_max_decision_ms": "12000"})
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 10000." in response.content.decode()
    # and a 2.5 s deadline with the agent greeting at once is saved
    response = admin_client.post(url, {**data, "amd_max_decision_ms": "2500", "amd_greet_immediately": "on"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.amd_max_decision_ms, campaign.amd_greet_immediately) == (2500, True)


def test_campaign_status_is_not_editable_in_the_form(admin_client: Client) -> None:
    campaign = CampaignFactory()

    response = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    assert "status" not in response.context["adminform"].form.fields


# --- Trunk passwords ----------------------------------------------------------------------------------


_ENDPOINT = {"host": "sip.example.net", "port": 5060, "transport": "udp", "realm": "carrier.example"}


def _trunk_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "carrier", "host": "sip.example.net", "port": "5060", "transport": "udp",
        "auth_mode": TrunkAuth.DIGEST, "username": "acct1", "password": SECRET, "realm": "carrier.example",
        "register_expiry_s": "300", "srtp_policy": "disabled", "codecs": "PCMU,PCMA", "max_channels": "30",
        "max_cps": "5", "cost_per_minute": "0.01", "enabled": "on",
        "caller_ids-TOTAL_FORMS": "0", "caller_ids-INITIAL_FORMS": "0",
        "caller_ids-MIN_NUM_FORMS": "0", "caller_ids-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_trunk_password_is_stored_but_never_displayed_or_logged(
    admin_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    # when the operator creates a trunk with a password
    response = admin_client.post(reverse("admin:telephony_trunk_add"), _trunk_data())

    # then it is stored
    assert response.status_code == 302
    trunk = Trunk.objects.get(name="carrier")
    assert trunk.password == SECRET
    # and no admin page, history entry or log line shows it
    pages = [
        reverse("admin:telephony_trunk_changelist"),
        reverse("admin:telephony_trunk_change", args=[trunk.pk]),
        reverse("admin:telephony_trunk_history", args=[trunk.pk]),
    ]
    for page in pages:
        body = admin_client.get(page).content.decode()
        assert SECRET not in body, page
    change_page = admin_client.get(pages[1]).content.decode()
    assert 'type="password"' in change_page
    assert "leave this blank to keep it" in change_page
    assert not any(SECRET in entry.change_message for entry in LogEntry.objects.all())
    assert SECRET not in repr(trunk)
    assert SECRET not in caplog.text


def test_trunk_password_left_blank_keeps_the_stored_one(admin_client: Client) -> None:
    trunk = TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="acct1", password=SECRET, **_ENDPOINT)

    response = admin_client.post(reverse("admin:telephony_trunk_change", args=[trunk.pk]),
                                 _trunk_data(name=trunk.name, password="", max_channels="40"))

    assert response.status_code == 302
    trunk.refresh_from_db()
    assert trunk.password == SECRET
    assert trunk.max_channels == 40


def test_trunk_password_typed_again_replaces_it(admin_client: Client) -> None:
    trunk = TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="acct1", password=SECRET, **_ENDPOINT)

    admin_client.post(reverse("admin:telephony_trunk_change", args=[trunk.pk]),
                      _trunk_data(name=trunk.name, password="n3w-pass"))

    trunk.refresh_from_db()
    assert trunk.password == "n3w-pass"


def test_trunk_password_can_be_removed_for_ip_auth(admin_client: Client) -> None:
    trunk = TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="acct1", password=SECRET, **_ENDPOINT)

    admin_client.post(reverse("admin:telephony_trunk_change", args=[trunk.pk]),
                      _trunk_data(name=trunk.name, password="", auth_mode=TrunkAuth.IP, clear_password="on"))

    trunk.refresh_from_db()
    assert trunk.password == ""


def test_digest_trunk_without_password_is_refused(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:telephony_trunk_add"), _trunk_data(password=""))

    assert response.status_code == 200
    assert "need a password" in str(response.context["adminform"].form.errors["password"])


def test_trunk_form_error_does_not_echo_the_password(admin_client: Client) -> None:
    # a form error re-renders the page: the typed password must not come back in the HTML
    response = admin_client.post(reverse("admin:telephony_trunk_add"), _trunk_data(username="", port="0"))

    assert response.status_code == 200
    assert SECRET not in response.content.decode()


# --- Contacts and attempts ------------------------------------------------------------------------------


def test_contacts_cannot_be_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:campaigns_contact_add")).status_code == 403


def test_contact_edit_writes_only_the_editable_fields(admin_client: Client) -> None:
    # given the operator opened a pending contact
    contact = ContactFactory(name="Old name")
    url = reverse("admin:campaigns_contact_change", args=[contact.pk])
    data = admin_form_data(admin_client.get(url))
    # and the dialer moved it meanwhile
    Contact.objects.filter(pk=contact.pk).update(status=ContactStatus.IN_PROGRESS, attempts=1)

    # when the operator fixes the name
    data["name"] = "New name"
    response = admin_client.post(url, data)

    # then the name changed and the dialer's progress is intact
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.name == "New name"
    assert (contact.status, contact.attempts) == (ContactStatus.IN_PROGRESS, 1)


def test_contact_status_is_read_only(admin_client: Client) -> None:
    contact = ContactFactory()

    response = admin_client.get(reverse("admin:campaigns_contact_change", args=[contact.pk]))

    assert set(response.context["adminform"].form.fields) == {"name", "priority", "variables"}


def test_contact_action_adds_numbers_to_do_not_call(admin_client: Client) -> None:
    contact = ContactFactory()

    response = admin_client.post(reverse("admin:campaigns_contact_changelist"),
                                 {"action": "add_to_dnc_global", "_selected_action": [str(contact.pk)]})

    assert response.status_code == 302
    assert DoNotCall.objects.filter(phone_e164=contact.phone_e164, campaign__isnull=True).exists()
    contact.refresh_from_db()
    assert contact.status == ContactStatus.DNC


def test_contact_search_accepts_a_national_format_number(admin_client: Client) -> None:
    wanted = ContactFactory(phone_e164="+12125550123")
    ContactFactory(phone_e164="+12125550199")

    response = admin_client.get(reverse("admin:campaigns_contact_changelist"), {"q": "(212) 555-0123"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_call_attempts_are_read_only(admin_client: Client) -> None:
    contact = ContactFactory()
    attempt = CallAttempt.objects.create(
        campaign=contact.campaign, contact=contact, state=AttemptState.QUEUED,
        transcript=[{"speaker": "agent", "text": "Hello <b>there</b>", "start_ms": 1200, "end_ms": 2000}],
    )
    url = reverse("admin:campaigns_callattempt_change", args=[attempt.pk])

    page = admin_client.get(url)
    post = admin_client.post(url, {"state": AttemptState.ENDED})

    assert page.status_code == 200
    body = page.content.decode()
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in body  # transcript rendered, escaped
    assert 'name="_save"' not in body
    assert post.status_code == 403
    assert admin_client.get(reverse("admin:campaigns_callattempt_add")).status_code == 403
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.QUEUED


# --- Do-not-call -----------------------------------------------------------------------------------------


def test_adding_a_dnc_number_makes_matching_contacts_non_dialable(admin_client: Client) -> None:
    contact = ContactFactory(phone_e164="+12125550123")

    response = admin_client.post(reverse("admin:campaigns_donotcall_add"),
                                 {"phone_e164": "(212) 555-0123", "default_region": "US", "note": "called in"})

    assert response.status_code == 302
    entry = DoNotCall.objects.get()
    assert (entry.phone_e164, entry.source, entry.note) == ("+12125550123", DncSource.MANUAL, "called in")
    contact.refresh_from_db()
    assert contact.status == ContactStatus.DNC


def test_adding_a_listed_number_again_says_so(admin_client: Client) -> None:
    DoNotCall.objects.create(phone_e164="+12125550123")

    response = admin_client.post(reverse("admin:campaigns_donotcall_add"),
                                 {"phone_e164": "+1 212 555 0123", "default_region": "US"})

    assert response.status_code == 200
    assert "already on the do-not-call list for every campaign" in response.content.decode()
    assert DoNotCall.objects.count() == 1


def test_adding_an_invalid_dnc_number_shows_why(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:campaigns_donotcall_add"),
                                 {"phone_e164": "12", "default_region": "US"})

    assert response.status_code == 200
    assert "Not a valid number" in response.content.decode()
    assert not DoNotCall.objects.exists()


def test_dnc_entry_keeps_number_and_scope_read_only(admin_client: Client) -> None:
    entry = DoNotCall.objects.create(phone_e164="+12125550123", note="old")
    url = reverse("admin:campaigns_donotcall_change", args=[entry.pk])

    response = admin_client.post(url, {"note": "new", "phone_e164": "+12125550999"})

    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.phone_e164, entry.note) == ("+12125550123", "new")


def test_dnc_search_finds_a_number_typed_in_national_format(admin_client: Client) -> None:
    wanted = DoNotCall.objects.create(phone_e164="+12125550123")
    DoNotCall.objects.create(phone_e164="+12125550199")

    response = admin_client.get(reverse("admin:campaigns_donotcall_changelist"), {"q": "212 555 0123"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_dnc_upload_page_adds_numbers_in_a_worker_and_lists_bad_lines(
        admin_client: Client, django_capture_on_commit_callbacks: Any, redis_client: Any) -> None:
    campaign = CampaignFactory()
    waiting = ContactFactory(campaign=campaign, phone_e164="+12125550101")
    upload = SimpleUploadedFile("dnc.csv", b"phone\n2125550101\n2125550102\nnope\n", content_type="text/csv")

    # when the list is uploaded (F15: the request stores it and enqueues the job on the bulk queue)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:campaigns_donotcall_upload"),
                                     {"file": upload, "campaign": str(campaign.pk), "default_region": "US"})
    job = DncUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_donotcall_upload_job", args=[job.pk])
    assert redis_client.llen("bulk") == 1
    assert not DoNotCall.objects.exists()
    pending = admin_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in pending
    # and a worker runs it
    run_dnc_upload(job.pk)

    page = admin_client.get(response["Location"])
    body = page.content.decode()
    assert 'id="dnc-added">2<' in body
    assert "nope" in body
    assert 'http-equiv="refresh"' not in body
    assert DoNotCall.objects.filter(campaign=campaign).count() == 2
    waiting.refresh_from_db()
    assert waiting.status == ContactStatus.DNC
    job.refresh_from_db()
    assert not job.file  # the list is not kept once its numbers are


def test_dnc_upload_of_an_unusable_file_shows_a_clear_error(admin_client: Client) -> None:
    upload = SimpleUploadedFile("dnc.csv", b"name,email\nAnn,ann@example.com\n", content_type="text/csv")

    response = admin_client.post(reverse("admin:campaigns_donotcall_upload"), {"file": upload, "default_region": "US"})

    assert response.status_code == 200
    assert "No phone column found" in response.content.decode()
    assert not DoNotCall.objects.exists()
    assert not DncUpload.objects.exists()


def test_dnc_changelist_links_to_the_upload(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:campaigns_donotcall_changelist"))

    assert reverse("admin:campaigns_donotcall_upload") in response.content.decode()


def test_trunk_password_is_masked_in_error_reports(admin_user: User, rf: RequestFactory) -> None:
    # given a trunk save request (with an error, as when something goes wrong)
    request = rf.post(reverse("admin:telephony_trunk_add"), _trunk_data(port="0"))
    request.user = admin_user
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]

    # when the admin handles it
    TrunkAdmin(Trunk, admin.site).changeform_view(request)

    # then an error report built from this request masks the password
    post = SafeExceptionReporterFilter().get_post_parameters(request)
    assert post["password"] != SECRET
    assert post["username"] == "acct1"


def test_contacts_filter_by_known_time_zone(admin_client: Client) -> None:
    known = ContactFactory()
    unknown = ContactFactory(time_zones=[])

    response = admin_client.get(reverse("admin:campaigns_contact_changelist"), {"zone_known": "no"})

    assert list(response.context["cl"].result_list) == [unknown]
    assert known not in response.context["cl"].result_list


def test_campaign_list_counts_contacts_by_progress(admin_client: Client) -> None:
    busy, empty = CampaignFactory(), CampaignFactory()
    ContactFactory.create_batch(2, campaign=busy, status=ContactStatus.PENDING)
    ContactFactory(campaign=busy, status=ContactStatus.RETRY_SCHEDULED)
    ContactFactory(campaign=busy, status=ContactStatus.DONE)
    ContactFactory(campaign=busy, status=ContactStatus.DNC)

    response = admin_client.get(reverse("admin:campaigns_campaign_changelist"))

    changelist = response.context["cl"]
    admin_ = changelist.model_admin
    rows = {c.pk: (c.contact_counts, admin_.waiting(c)) for c in changelist.result_list}
    # finished = done, failed, do-not-call or invalid: with "waiting" and "in a call" the counts add up
    assert rows[busy.pk] == ({"total": 5, "waiting": 3, "finished": 2}, 3)
    assert rows[empty.pk] == (None, 0)
    assert f'campaign__id__exact={busy.pk}" title="finished / all contacts">2 / 5</a>' in response.content.decode()
