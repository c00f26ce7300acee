"""The contact import keeps only what the number allows (F12) and records the contact's jurisdictions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from campaigns.contacts.imports import import_contacts_file, preview_csv
from campaigns.models import Contact, ImportJob
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _report(job: ImportJob) -> list[list[str]]:
    with job.error_report.open("rb") as fh:
        return list(csv.reader(io.StringIO(fh.read().decode("utf-8"))))[1:]


def test_the_f12_case_a_new_york_number_labelled_tokyo_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("phone,time_zone\n+12125550123,Asia/Tokyo\n+13055550123,America/New_York\n")
    job = import_contacts_file(CampaignFactory(), path)
    assert (job.imported, job.invalid) == (1, 1)
    assert _report(job) == [["2", "'+12125550123", "time zone Asia/Tokyo is not possible for +12125550123 "
                                                   "(the number is in America/New_York)"]]
    florida = Contact.objects.get(phone_e164="+13055550123")
    assert (florida.time_zones, florida.jurisdictions) == (["America/New_York"], ["US-FL"])


def test_a_state_column_is_checked_against_the_area_code_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("phone,state\n+12125550123,FL\n+13055550124,Florida\n+18005550125,MD\n+442079460000,\n"
                    "+13055550126,Narnia\n")
    assert preview_csv(path, "US").mapping["state"] == "state"
    campaign = CampaignFactory()
    job = import_contacts_file(campaign, path)
    assert (job.imported, job.invalid) == (3, 2)
    assert [row[0] for row in _report(job)] == ["2", "6"]
    assert "state FL is not possible for +12125550123 (its area code is in NY)" in _report(job)[0][2]
    assert "unknown US state 'Narnia'" in _report(job)[1][2]
    found = {c.phone_e164: (c.jurisdictions, c.time_zones) for c in Contact.objects.filter(campaign=campaign)}
    assert found["+13055550124"][0] == ["US-FL"]
    # a toll-free number with a Maryland address: Maryland's rules and its zone
    assert found["+18005550125"] == (["US-MD"], ["America/New_York"])
    assert found["+442079460000"][0] == []
    # the state stays a variable for the prompt too
    assert Contact.objects.get(phone_e164="+13055550124").variables["state"] == "Florida"


def test_consent_columns_become_consent_records_and_bad_ones_row_errors(tmp_path: Path) -> None:
    from compliance.models import ConsentRecord

    path = tmp_path / "leads.csv"
    path.write_text("phone,consent_type,consent_at,consent_source,plan\n"
                    "+13055550170,written,2026-05-01T10:00:00-04:00,https://example.invalid/form,gold\n"
                    "+13055550171,,,,silver\n"
                    "+13055550172,written,,,bronze\n")
    preview = preview_csv(path, "US")
    assert preview.mapping["consent"] == {"consent_type": "consent_type", "consent_at": "consent_at",
                                          "consent_source": "consent_source"}
    assert preview.mapping["variables"] == ["plan"]
    job = import_contacts_file(CampaignFactory(), path)
    assert (job.imported, job.invalid) == (2, 1)
    assert _report(job) == [["4", "'+13055550172", "consent needs both consent_type and consent_at"]]
    record = ConsentRecord.objects.get()
    assert (record.phone_e164, record.kind, record.source) == ("+13055550170", "prior_express_written",
                                                               "https://example.invalid/form")
    assert record.obtained_at.isoformat() == "2026-05-01T14:00:00+00:00"
