"""The permission matrix: every admin and custom URL, as each shipped group and a view-only user (audit F4, F16).

Every URL the admin site serves has a row in MATRIX with the status each role gets for a GET; a URL added without
a row fails the test. ACTIONS lists the actions each role is offered on each model's list page. Roles: the shipped
groups (access/roles.py), ``viewonly`` (every view permission of the product apps, nothing else) and ``nobody``
(staff without any permission). The expectations are written by hand from the role table in docs/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from access.models import ExportKind, ExportRecord
from tests.access.matrix_data import ENDPOINT_SECRET, KEY_DIGEST, ROLES, World, build_world, role_user

pytestmark = pytest.mark.django_db

# Not data pages, and not GET-able as such: login/logout, autocomplete (needs a field), view_on_site, per-app index.
_SKIPPED = {"login", "logout", "autocomplete", "view_on_site", "app_list"}

# 302 on a delete page: the object has call attempts and is kept (F25); the page sends the user back to it.
# 302 on the import preview: a finished import has no preview, the page sends the user to the job.
#                                        operator analyst supervisor admin viewonly nobody
MATRIX: dict[str, tuple[int, ...]] = {
    "index":                                (200, 200, 200, 200, 200, 200),
    "password_change":                      (200, 200, 200, 200, 200, 200),
    "password_change_done":                 (200, 200, 200, 200, 200, 200),
    "jsi18n":                               (200, 200, 200, 200, 200, 200),
    "auth_group_changelist":                (403, 403, 403, 200, 403, 403),
    "auth_group_add":                       (403, 403, 403, 200, 403, 403),
    "auth_group_history":                   (403, 403, 403, 200, 403, 403),
    "auth_group_delete":                    (403, 403, 403, 200, 403, 403),
    "auth_group_change":                    (403, 403, 403, 200, 403, 403),
    "auth_user_password_change":            (403, 403, 403, 200, 403, 403),
    "auth_user_changelist":                 (403, 403, 403, 200, 403, 403),
    "auth_user_add":                        (403, 403, 403, 200, 403, 403),
    "auth_user_history":                    (403, 403, 403, 200, 403, 403),
    "auth_user_delete":                     (403, 403, 403, 200, 403, 403),
    "auth_user_change":                     (403, 403, 403, 200, 403, 403),
    "telephony_trunk_changelist":           (200, 200, 200, 200, 200, 403),
    "telephony_trunk_add":                  (403, 403, 403, 200, 403, 403),
    "telephony_trunk_history":              (200, 200, 200, 200, 200, 403),
    "telephony_trunk_delete":               (403, 403, 403, 200, 403, 403),
    "telephony_trunk_change":               (200, 200, 200, 200, 200, 403),
    "telephony_callerid_changelist":        (200, 200, 200, 200, 200, 403),
    "telephony_callerid_add":               (403, 403, 200, 200, 403, 403),
    "telephony_callerid_history":           (200, 200, 200, 200, 200, 403),
    "telephony_callerid_delete":            (403, 403, 403, 200, 403, 403),
    "telephony_callerid_change":            (200, 200, 200, 200, 200, 403),
    "campaigns_agentprofile_changelist":    (200, 200, 200, 200, 200, 403),
    "campaigns_agentprofile_add":           (403, 403, 200, 200, 403, 403),
    "campaigns_agentprofile_history":       (200, 200, 200, 200, 200, 403),
    "campaigns_agentprofile_delete":        (403, 403, 403, 200, 403, 403),
    "campaigns_agentprofile_change":        (200, 200, 200, 200, 200, 403),
    "campaigns_campaign_import":            (200, 403, 200, 200, 403, 403),
    "campaigns_campaign_live":              (200, 200, 200, 200, 200, 403),
    "campaigns_campaign_report":            (200, 200, 200, 200, 200, 403),
    "campaigns_campaign_compare":           (200, 200, 200, 200, 200, 403),  # aggregates only, as the report
    "campaigns_campaign_report_attempt":    (403, 200, 200, 200, 200, 403),
    "campaigns_campaign_report_recording":  (403, 403, 200, 200, 403, 403),
    "campaigns_campaign_report_csv":        (403, 200, 200, 200, 403, 403),
    # The console (docs/console.md): the attempts explorer and its CSV, the control bar, the outcome review.
    "campaigns_campaign_report_attempts":   (403, 200, 200, 200, 200, 403),
    "campaigns_campaign_report_attempts_csv": (403, 200, 200, 200, 403, 403),
    "campaigns_campaign_report_review":     (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_campaign_lifecycle_start":   (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_campaign_lifecycle_pause":   (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_campaign_lifecycle_resume":  (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_campaign_lifecycle_cancel":  (200, 403, 200, 200, 403, 403),  # the confirmation page
    "campaigns_contact_retry":              (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_contact_callback":           (405, 405, 405, 405, 405, 405),  # POST only
    "campaigns_campaign_changelist":        (200, 200, 200, 200, 200, 403),
    "campaigns_campaign_add":               (200, 403, 200, 200, 403, 403),
    "campaigns_campaign_history":           (200, 200, 200, 200, 200, 403),
    "campaigns_campaign_delete":            (403, 403, 403, 302, 403, 403),
    "campaigns_campaign_change":            (200, 200, 200, 200, 200, 403),
    "campaigns_contact_changelist":         (200, 200, 200, 200, 200, 403),
    "campaigns_contact_add":                (403, 403, 403, 403, 403, 403),
    "campaigns_contact_history":            (200, 200, 200, 200, 200, 403),
    "campaigns_contact_delete":             (403, 403, 403, 302, 403, 403),
    "campaigns_contact_change":             (200, 200, 200, 200, 200, 403),
    "campaigns_callattempt_changelist":     (403, 200, 200, 200, 200, 403),
    "campaigns_callattempt_add":            (403, 403, 403, 403, 403, 403),
    "campaigns_callattempt_history":        (403, 200, 200, 200, 200, 403),
    "campaigns_callattempt_delete":         (403, 403, 403, 403, 403, 403),
    "campaigns_callattempt_change":         (403, 200, 200, 200, 200, 403),
    "campaigns_donotcall_upload":           (200, 403, 200, 200, 403, 403),
    "campaigns_donotcall_upload_job":       (200, 200, 200, 200, 200, 403),
    "campaigns_donotcall_changelist":       (200, 200, 200, 200, 200, 403),
    "campaigns_donotcall_add":              (200, 403, 200, 200, 403, 403),
    "campaigns_donotcall_history":          (200, 200, 200, 200, 200, 403),
    "campaigns_donotcall_delete":           (403, 403, 200, 200, 403, 403),
    "campaigns_donotcall_change":           (200, 200, 200, 200, 200, 403),
    "campaigns_importjob_preview":          (302, 302, 302, 302, 302, 403),
    "campaigns_importjob_progress":         (200, 200, 200, 200, 200, 403),
    "campaigns_importjob_errors":           (403, 200, 200, 200, 403, 403),
    "campaigns_importjob_changelist":       (200, 200, 200, 200, 200, 403),
    "campaigns_importjob_add":              (403, 403, 403, 403, 403, 403),
    "campaigns_importjob_history":          (200, 200, 200, 200, 200, 403),
    "campaigns_importjob_delete":           (403, 403, 403, 200, 403, 403),
    "campaigns_importjob_change":           (200, 200, 200, 200, 200, 403),
    "access_exportrecord_changelist":       (403, 403, 200, 200, 200, 403),
    "access_exportrecord_add":              (403, 403, 403, 403, 403, 403),
    "access_exportrecord_history":          (403, 403, 200, 200, 200, 403),
    "access_exportrecord_delete":           (403, 403, 403, 403, 403, 403),
    "access_exportrecord_change":           (403, 403, 200, 200, 200, 403),
    "otp_totp_totpdevice_changelist":       (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_add":              (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_history":          (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_delete":           (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_change":           (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_config":           (403, 403, 403, 200, 403, 403),
    "otp_totp_totpdevice_qrcode":           (403, 403, 403, 200, 403, 403),
    "api_apikey_changelist":                (403, 403, 200, 200, 200, 403),
    "api_apikey_add":                       (403, 403, 403, 200, 403, 403),
    "api_apikey_history":                   (403, 403, 200, 200, 200, 403),
    "api_apikey_delete":                    (403, 403, 403, 200, 403, 403),
    "api_apikey_change":                    (403, 403, 200, 200, 200, 403),
    "api_auditentry_changelist":            (403, 403, 200, 200, 200, 403),
    "api_auditentry_add":                   (403, 403, 403, 403, 403, 403),
    "api_auditentry_history":               (403, 403, 200, 200, 200, 403),
    "api_auditentry_delete":                (403, 403, 403, 403, 403, 403),
    "api_auditentry_change":                (403, 403, 200, 200, 200, 403),
    "webhooks_webhookendpoint_replay":      (403, 403, 403, 200, 403, 403),
    "webhooks_webhookendpoint_changelist":  (403, 403, 403, 200, 200, 403),
    "webhooks_webhookendpoint_add":         (403, 403, 403, 200, 403, 403),
    "webhooks_webhookendpoint_history":     (403, 403, 403, 200, 200, 403),
    "webhooks_webhookendpoint_delete":      (403, 403, 403, 200, 403, 403),
    "webhooks_webhookendpoint_change":      (403, 403, 403, 200, 200, 403),
    "webhooks_webhookevent_changelist":     (403, 403, 200, 200, 200, 403),
    "webhooks_webhookevent_add":            (403, 403, 403, 403, 403, 403),
    "webhooks_webhookevent_history":        (403, 403, 200, 200, 200, 403),
    "webhooks_webhookevent_delete":         (403, 403, 403, 200, 403, 403),
    "webhooks_webhookevent_change":         (403, 403, 200, 200, 200, 403),
    "webhooks_webhookdelivery_changelist":  (403, 403, 200, 200, 200, 403),
    "webhooks_webhookdelivery_add":         (403, 403, 403, 403, 403, 403),
    "webhooks_webhookdelivery_history":     (403, 403, 200, 200, 200, 403),
    "webhooks_webhookdelivery_delete":      (403, 403, 403, 200, 403, 403),
    "webhooks_webhookdelivery_change":      (403, 403, 200, 200, 200, 403),
    "compliance_dialevidence_changelist":   (403, 200, 200, 200, 200, 403),
    "compliance_dialevidence_add":          (403, 403, 403, 403, 403, 403),
    "compliance_dialevidence_history":      (403, 200, 200, 200, 200, 403),
    "compliance_dialevidence_delete":       (403, 403, 403, 403, 403, 403),
    "compliance_dialevidence_change":       (403, 200, 200, 200, 200, 403),
    "compliance_campaignhistory_changelist":(200, 200, 200, 200, 200, 403),
    "compliance_campaignhistory_add":       (403, 403, 403, 403, 403, 403),
    "compliance_campaignhistory_history":   (200, 200, 200, 200, 200, 403),
    "compliance_campaignhistory_delete":    (403, 403, 403, 403, 403, 403),
    "compliance_campaignhistory_change":    (200, 200, 200, 200, 200, 403),
    "compliance_nationaldnclist_changelist":(200, 200, 200, 200, 200, 403),
    "compliance_nationaldnclist_add":       (403, 403, 403, 403, 403, 403),
    "compliance_nationaldnclist_history":   (200, 200, 200, 200, 200, 403),
    "compliance_nationaldnclist_delete":    (403, 403, 403, 403, 403, 403),
    "compliance_nationaldnclist_change":    (200, 200, 200, 200, 200, 403),
    "compliance_reassignednumberresult_changelist":(403, 200, 200, 200, 200, 403),
    "compliance_reassignednumberresult_add":(403, 403, 403, 403, 403, 403),
    "compliance_reassignednumberresult_history":(403, 200, 200, 200, 200, 403),
    "compliance_reassignednumberresult_delete":(403, 403, 403, 403, 403, 403),
    "compliance_reassignednumberresult_change":(403, 200, 200, 200, 200, 403),
    "compliance_consentrecord_changelist":  (200, 200, 200, 200, 200, 403),
    "compliance_consentrecord_add":         (403, 403, 200, 200, 403, 403),
    "compliance_consentrecord_history":     (200, 200, 200, 200, 200, 403),
    "compliance_consentrecord_delete":      (403, 403, 403, 403, 403, 403),
    "compliance_consentrecord_change":      (200, 200, 200, 200, 200, 403),
    "compliance_companyrule_changelist":    (200, 200, 200, 200, 200, 403),
    "compliance_companyrule_add":           (403, 403, 200, 200, 403, 403),
    "compliance_companyrule_history":       (200, 200, 200, 200, 200, 403),
    "compliance_companyrule_delete":        (403, 403, 403, 200, 403, 403),
    "compliance_companyrule_change":        (200, 200, 200, 200, 200, 403),
    "compliance_campaigncompliance_changelist":(200, 200, 200, 200, 200, 403),
    "compliance_campaigncompliance_add":    (403, 403, 200, 200, 403, 403),
    "compliance_campaigncompliance_history":(200, 200, 200, 200, 200, 403),
    "compliance_campaigncompliance_delete": (403, 403, 403, 200, 403, 403),
    "compliance_campaigncompliance_change": (200, 200, 200, 200, 200, 403),
}

_LIFECYCLE = ("cancel_campaigns", "pause_campaigns", "resume_campaigns", "start_campaigns")
_COMPARE = ("compare_selected",)  # view_campaign, as the report
_DNC = ("add_to_dnc_campaign", "add_to_dnc_global")
_DEL = ("delete_selected",)
_EVIDENCE = ("export_csv", "export_pdf")  # an export of personal data: view + access.export_contacts
# Columns: operator, analyst, supervisor, admin, viewonly, nobody.
ACTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "access.exportrecord":    ((), (), (), (), (), ()),
    "auth.group":             ((), (), (), _DEL, (), ()),
    "auth.user":              ((), (), (), _DEL, (), ()),
    "campaigns.agentprofile": ((), (), (), _DEL, (), ()),
    "campaigns.callattempt":  ((), (), (), (), (), ()),
    "campaigns.campaign":     ((*_LIFECYCLE, *_COMPARE), _COMPARE, (*_LIFECYCLE, *_COMPARE),
                               (*_LIFECYCLE, *_DEL, *_COMPARE), _COMPARE, ()),
    "campaigns.contact":      ((*_DNC, "retry_now"), (), (*_DNC, "retry_now"), (*_DNC, *_DEL, "retry_now"), (), ()),
    "campaigns.donotcall":    ((), (), _DEL, _DEL, (), ()),
    "campaigns.importjob":    ((), (), (), _DEL, (), ()),
    "telephony.callerid":     ((), (), (), _DEL, (), ()),
    "telephony.trunk":        ((), (), ("test_trunk",), ("test_trunk", *_DEL), (), ()),
    "otp_totp.totpdevice":    ((), (), (), _DEL, (), ()),
    "api.apikey":             ((), (), (), ("revoke", *_DEL), (), ()),
    "api.auditentry":         ((), (), (), (), (), ()),
    "webhooks.webhookendpoint": ((), (), (), ("enable", "finish_rotation", "rotate", *_DEL), (), ()),
    "webhooks.webhookevent":  ((), (), ("replay",), ("replay", *_DEL), (), ()),
    "webhooks.webhookdelivery": ((), (), ("replay",), ("replay", *_DEL), (), ()),
    "compliance.dialevidence": ((), _EVIDENCE, _EVIDENCE, _EVIDENCE, (), ()),
    "compliance.campaignhistory": ((), (), (), (), (), ()),
    "compliance.nationaldnclist": ((), (), (), (), (), ()),
    "compliance.reassignednumberresult": ((), (), (), (), (), ()),
    "compliance.consentrecord": ((), (), ("revoke",), ("revoke",), (), ()),
    "compliance.companyrule": ((), (), (), _DEL, (), ()),
    "compliance.campaigncompliance": ((), (), (), _DEL, (), ()),
}


def _admin_urls() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[Any], namespace: str | None) -> Iterator[tuple[str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif namespace == "admin" and pattern.name and pattern.name not in _SKIPPED:
                yield pattern.name, pattern
    yield from walk(get_resolver().url_patterns, None)


def _url(name: str, pattern: URLPattern, world: World) -> str:
    model = re.match(r"(?:auth|telephony|campaigns|access|otp_totp|api|webhooks|compliance)_([a-z]+)_", name)
    args = []
    for key in pattern.pattern.regex.groupindex:
        if key == "campaign_id":
            args.append(world.campaign)
        elif key == "endpoint_id":
            args.append(world.webhookendpoint)
        elif key == "attempt_id":
            args.append(world.callattempt)
        elif key == "job_id":
            args.append(world.dncupload if name.startswith("campaigns_donotcall") else world.importjob)
        else:
            assert model, name
            args.append(getattr(world, model.group(1)))
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> World:
    settings.RECORDINGS_ROOT = tmp_path
    return build_world(tmp_path)


def test_every_admin_url_is_in_the_matrix() -> None:
    assert {name for name, _ in _admin_urls()} == set(MATRIX)


def test_every_admin_url_answers_each_role_as_the_matrix_says(world: World) -> None:
    # given a user of each role
    clients = {}
    for role in ROLES:
        clients[role] = Client()
        clients[role].force_login(role_user(role))
    # when each GETs every admin URL, then each status is the matrix's
    wrong = []
    for name, pattern in _admin_urls():
        url = _url(name, pattern, world)
        for role, expected in zip(ROLES, MATRIX[name], strict=True):
            got = clients[role].get(url).status_code
            if got != expected:
                wrong.append(f"{name} as {role}: {got}, expected {expected}")
    assert wrong == []


def test_each_role_is_offered_only_the_actions_its_rights_allow() -> None:
    users = {role: role_user(role) for role in ROLES}
    offered = {}
    for model, model_admin in admin.site._registry.items():
        row = []
        for role in ROLES:
            request = RequestFactory().get("/")
            request.user = users[role]
            row.append(tuple(sorted(model_admin.get_actions(request))))
        offered[model._meta.label_lower] = tuple(row)
    assert offered == {label: tuple(tuple(sorted(a)) for a in row) for label, row in ACTIONS.items()}


def test_every_admin_action_declares_its_permissions() -> None:
    for model_admin in admin.site._registry.values():
        for action in model_admin.actions or ():
            function = getattr(model_admin, action) if isinstance(action, str) else action
            assert getattr(function, "allowed_permissions", None), f"{type(model_admin).__name__}.{action}"


def test_the_integration_pages_a_supervisor_reads_show_no_secret(world: World) -> None:
    # given a supervisor, who may read API keys, the API audit, webhook events and deliveries
    client = Client()
    client.force_login(role_user("supervisor"))
    for name, pk in [("api_apikey_change", world.apikey), ("api_apikey_changelist", None),
                     ("api_auditentry_change", world.auditentry), ("webhooks_webhookevent_change", world.webhookevent),
                     ("webhooks_webhookdelivery_change", world.webhookdelivery),
                     ("webhooks_webhookdelivery_changelist", None)]:
        # when each page is read
        response = client.get(reverse(f"admin:{name}", args=[pk] if pk else []))
        # then it answers, without the key's digest or the endpoint's signing secret
        page = response.content.decode()
        assert response.status_code == 200, name
        assert KEY_DIGEST not in page, name
        assert ENDPOINT_SECRET not in page, name
    # and the endpoint's own page, which shows the secret, is the admin's only
    assert client.get(reverse("admin:webhooks_webhookendpoint_change", args=[world.webhookendpoint])).status_code == 403


@pytest.mark.parametrize(("role", "sees_numbers", "reads_transcript"), [
    ("operator", False, False), ("viewonly", True, False), ("analyst", True, True), ("supervisor", True, True)])
def test_personal_data_on_the_report_follows_the_permissions(world: World, role: str, sees_numbers: bool,
                                                             reads_transcript: bool) -> None:
    client = Client()
    client.force_login(role_user(role))
    report = client.get(reverse("admin:campaigns_campaign_report", args=[world.campaign])).content.decode()
    assert ("Ada Lovelace" in report) is sees_numbers
    assert ('id="attempts-hidden"' in report) is not sees_numbers
    detail = client.get(reverse("admin:campaigns_campaign_report_attempt", args=[world.campaign, world.callattempt]))
    assert ("secret-transcript-words" in detail.content.decode()) is reads_transcript
    page = client.get(reverse("admin:campaigns_callattempt_change", args=[world.callattempt]))
    assert ("secret-transcript-words" in page.content.decode()) is reads_transcript


def test_exports_are_logged_with_who_and_what(world: World) -> None:
    client = Client()
    user = role_user("analyst")
    client.force_login(user)
    before = set(ExportRecord.objects.values_list("pk", flat=True))
    response = client.get(reverse("admin:campaigns_campaign_report_csv", args=[world.campaign]))
    b"".join(response.streaming_content)
    client.get(reverse("admin:campaigns_importjob_errors", args=[world.importjob]))
    new = ExportRecord.objects.exclude(pk__in=before).order_by("pk")
    assert [(r.user_id, r.username, r.kind, r.object_id) for r in new] == [
        (user.pk, "user-analyst", ExportKind.CONTACTS_CSV, world.campaign),
        (user.pk, "user-analyst", ExportKind.IMPORT_ERRORS, world.importjob)]
    # a refused export leaves no record
    operator = Client()
    operator.force_login(role_user("operator"))
    assert operator.get(reverse("admin:campaigns_campaign_report_csv", args=[world.campaign])).status_code == 403
    assert ExportRecord.objects.exclude(pk__in=before).count() == 2


@pytest.mark.parametrize("role", ROLES)
def test_a_comparison_of_campaigns_answers_as_the_report_and_shows_aggregates_only(world: World, role: str) -> None:
    # given a second campaign beside the world's (whose contact is Ada Lovelace)
    from tests.factories import CampaignFactory

    other = CampaignFactory()
    client = Client()
    client.force_login(role_user(role))
    # when a comparison of both is opened, then it answers as the report does for that role
    url = f"{reverse('admin:campaigns_campaign_compare')}?ids={world.campaign},{other.pk}"
    response = client.get(url)
    assert response.status_code == MATRIX["campaigns_campaign_report"][ROLES.index(role)]
    if response.status_code == 200:
        body = response.content.decode()
        assert 'id="compare-table"' in body
        assert "Ada Lovelace" not in body
        assert "secret-transcript-words" not in body
