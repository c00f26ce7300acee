"""``manage.py import_contacts`` and ``manage.py demo``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns.choices import ContactStatus
from campaigns.models import AgentProfile, Campaign, Contact, ImportJob
from telephony.models import Trunk
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _run(*args: object) -> list[str]:
    out = io.StringIO()
    call_command("import_contacts", *[str(a) for a in args], stdout=out)
    return out.getvalue().splitlines()


def test_cli_ends_with_the_counts_line_even_with_bad_rows(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "list.csv"
    path.write_text("phone,name\n2125550101,Ann\nnope,Bob\n2125550101,Ann again\n")
    lines = _run(campaign.pk, path)
    assert lines[-1] == "imported=1 duplicates=1 invalid=1 dnc=0"
    assert any(line.startswith("Per-row report: ") for line in lines)


def test_cli_rerun_says_nothing_new(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "list.csv"
    path.write_text("phone\n2125550101\n2125550102\n")
    _run(campaign.pk, path)
    lines = _run(campaign.pk, path)
    assert lines[-2:] == ["Nothing new: every valid number is already in this campaign.",
                          "imported=0 duplicates=2 invalid=0 dnc=0"]


def test_cli_default_region_reads_national_numbers(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "uk.csv"
    path.write_text("phone\n020 7946 0958\n")
    assert _run(campaign.pk, path, "--default-region", "GB")[-1] == "imported=1 duplicates=0 invalid=0 dnc=0"
    assert Contact.objects.get().phone_e164 == "+442079460958"


def test_cli_fails_when_the_file_cannot_be_used(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "nophone.csv"
    path.write_text("name\nAnn\n")
    with pytest.raises(CommandError, match=r"^No phone column found\."):
        _run(campaign.pk, path)
    with pytest.raises(CommandError, match=r"^The file cannot be read: No such file or directory\.$"):
        _run(campaign.pk, tmp_path / "missing.csv")
    with pytest.raises(CommandError, match=r"^No campaign with id 999999\.$"):
        _run(999999, path)
    assert not ImportJob.objects.exists()


def test_demo_creates_its_data_once_and_imports_the_sample() -> None:
    # when run twice
    first, second = io.StringIO(), io.StringIO()
    call_command("demo", stdout=first)
    call_command("demo", stdout=second)
    # then one trunk, agent and campaign, with the sample's contacts imported once
    campaign = Campaign.objects.get()
    assert (Trunk.objects.get().host, Trunk.objects.get().port) == ("127.0.0.1", 5080)
    assert [o["label"] for o in AgentProfile.objects.get().outcome_schema] == [
        "interested", "not_interested", "call_back", "opted_out"]
    first_job, second_job = ImportJob.objects.order_by("pk")
    contacts = Contact.objects.filter(campaign=campaign)
    assert 50 <= contacts.count() == first_job.imported + first_job.dnc <= 70
    assert first_job.invalid >= 1  # the sample has bad rows, reported with reasons
    assert len({z for c in contacts for z in c.time_zones}) >= 3
    assert not contacts.exclude(status=ContactStatus.PENDING).exists()
    assert (second_job.imported, second_job.duplicates) == (0, first_job.imported + first_job.duplicates)
    first_out, second_out = first.getvalue(), second.getvalue()
    assert first_job.summary in first_out
    assert second_job.summary in second_out
    assert "Nothing has been dialed" in first_out
    assert "Found campaign" in second_out
