"""Contact import service: preview and mapping, counts, duplicates, do-not-call, time zones, failures."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from campaigns.choices import ContactStatus, ImportStatus
from campaigns.contacts import imports as contact_import
from campaigns.contacts.imports import (
    CsvFormatError,
    confirm_import_job,
    create_import_job,
    import_contacts_file,
    preview_csv,
    publish,
    run_import_job,
)
from campaigns.contacts.imports import pipeline as import_pipeline
from campaigns.contacts.imports import services as import_services
from campaigns.models import Campaign, Contact, ImportJob
from tests.factories import CampaignFactory, ContactFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db


def _csv(tmp_path: Path, text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _report(job: ImportJob) -> list[list[str]]:
    with job.error_report.open("rb") as fh:
        return list(csv.reader(io.StringIO(fh.read().decode("utf-8"))))


def _contacts(campaign: Campaign) -> dict[str, Contact]:
    return {c.phone_e164: c for c in Contact.objects.filter(campaign=campaign)}


# --- preview ---------------------------------------------------------------------------------


def test_preview_maps_columns_by_alias_in_any_case(tmp_path: Path) -> None:
    path = _csv(tmp_path, "MOBILE;First Name;LAST_NAME;Time Zone;Priority;Plan\n"
                          "+1 212 555 0101;Ann;Lee;America/New_York;5;gold\n"
                          "2125550102;Bob;;;;silver\n")
    preview = preview_csv(path, "US")
    assert (preview.encoding, preview.delimiter) == ("utf-8", ";")
    assert preview.headers == ["MOBILE", "First Name", "LAST_NAME", "Time Zone", "Priority", "Plan"]
    assert preview.mapping == {
        "phone": "MOBILE", "name": "First Name", "name_last": "LAST_NAME", "time_zone": "Time Zone",
        "priority": "Priority", "variables": ["First Name", "LAST_NAME", "Plan"],
    }
    assert preview.rows[1] == {"MOBILE": "2125550102", "First Name": "Bob", "LAST_NAME": "", "Time Zone": "",
                               "Priority": "", "Plan": "silver"}
    assert preview.rows_estimate == 2


@pytest.mark.parametrize("header", ["phone", "Phone_Number", "TEL", "mobile", "Telephone", "Cell Phone"])
def test_phone_column_aliases(tmp_path: Path, header: str) -> None:
    preview = preview_csv(_csv(tmp_path, f"name,{header}\nAnn,2125550101\n"), "US")
    assert (preview.mapping["phone"], preview.mapping["name"], preview.mapping["variables"]) == (header, "name", [])


def test_preview_shows_at_most_max_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, "phone\n" + "".join(f"21255501{i:02d}\n" for i in range(30)))
    assert len(preview_csv(path, "US").rows) == 10
    assert len(preview_csv(path, "US", max_rows=3).rows) == 3


def test_missing_phone_column_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    upload = ContentFile(b"name,email\nAnn,ann@example.com\n", name="list.csv")
    with pytest.raises(CsvFormatError) as exc:
        create_import_job(campaign, upload)
    assert str(exc.value) == ("No phone column found. Name one of the columns phone, phone_number, mobile or tel "
                              "(found: 'name', 'email').")
    assert not ImportJob.objects.exists()
    assert not list((Path(settings.MEDIA_ROOT) / "imports").rglob("list*.csv"))


def test_unknown_default_region_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"^Unknown default region 'XX'"):
        preview_csv(_csv(tmp_path, "phone\n1\n"), "XX")


def test_create_stores_the_file_and_mapping_awaiting_confirmation() -> None:
    campaign = CampaignFactory(default_region="GB")
    job = create_import_job(campaign, ContentFile(b"Tel,Name\n020 7946 0958,Ann\n", name="uk.csv"))
    assert (job.status, job.default_region, job.original_name, job.rows_total) == (
        ImportStatus.PREVIEW, "GB", "uk.csv", 1)
    assert job.mapping["phone"] == "Tel"
    assert Path(job.file.path).read_bytes() == b"Tel,Name\n020 7946 0958,Ann\n"


def test_confirm_queues_once_and_enqueues_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    job = create_import_job(CampaignFactory(), ContentFile(b"phone\n2125550101\n", name="a.csv"))
    with django_capture_on_commit_callbacks() as callbacks:
        first = confirm_import_job(job.pk)
        second = confirm_import_job(job.pk)
    assert (first.status, second.status) == (ImportStatus.QUEUED, ImportStatus.QUEUED)
    assert len(callbacks) == 1


def test_run_ignores_a_job_that_is_not_queued() -> None:
    job = create_import_job(CampaignFactory(), ContentFile(b"phone\n2125550101\n", name="a.csv"))
    assert run_import_job(job.pk).status == ImportStatus.PREVIEW
    assert not Contact.objects.exists()


# --- the import ------------------------------------------------------------------------------


def test_import_normalises_numbers_names_variables_and_priorities(tmp_path: Path) -> None:
    # given
    campaign = CampaignFactory()
    path = _csv(tmp_path, "Phone,First Name,Last Name,Plan,Priority\n"
                          "(212) 555-0101,Ann,Lee,gold,5\n"
                          "+1 416 555 0199,Bob,,silver,\n"
                          "+44 20 7946 0958,,Ng,,-3\n")
    # when
    job = import_contacts_file(campaign, path)
    # then
    assert (job.status, job.imported, job.duplicates, job.invalid, job.dnc) == (ImportStatus.COMPLETED, 3, 0, 0, 0)
    assert (job.rows_done, job.rows_total) == (3, 3)
    contacts = _contacts(campaign)
    ann, bob, ng = contacts["+12125550101"], contacts["+14165550199"], contacts["+442079460958"]
    assert (ann.name, ann.priority, ann.status, ann.import_job_id) == ("Ann Lee", 5, ContactStatus.PENDING, job.pk)
    assert ann.variables == {"first_name": "Ann", "last_name": "Lee", "plan": "gold"}
    assert (bob.name, bob.priority, bob.time_zones) == ("Bob", 0, ["America/Toronto"])
    assert (ng.name, ng.priority, ng.time_zones) == ("Ng", -3, ["Europe/London"])
    assert not job.error_report


def test_national_numbers_use_the_jobs_default_region(tmp_path: Path) -> None:
    campaign = CampaignFactory(default_region="US")
    job = import_contacts_file(campaign, _csv(tmp_path, "phone\n020 7946 0958\n"), default_region="GB")
    assert job.default_region == "GB"
    assert list(_contacts(campaign)) == ["+442079460958"]


def test_every_bad_row_is_reported_with_its_reason(tmp_path: Path, settings: Any) -> None:
    # given one good row and one of each kind of bad row
    settings.IMPORT_MAX_FIELD_LENGTH = 20
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone,name,tz,priority\n"
                          "2125550101,Good,,\n"
                          ",No Number,,\n"
                          "=1+2,Formula,,\n"
                          "555-0100,Short,,\n"
                          "+1 900 555 0199,Premium,,\n"
                          "2125550102,Zone,Mars/Olympus,\n"
                          "2125550103,Prio,,high\n"
                          "2125550104,Prio,,99999\n"
                          f"2125550105,{'x' * 21},,\n"
                          "2125550106,Wide,,,surplus\n"
                          "2125550107,Trailing,,,,\n")
    # when
    job = import_contacts_file(campaign, path)
    # then
    assert (job.imported, job.duplicates, job.invalid, job.dnc) == (2, 0, 9, 0)
    assert _report(job) == [
        ["line", "raw_value", "reason"],
        ["3", "", "empty phone number"],
        ["4", "'=1+2", "not a phone number (The string supplied did not seem to be a phone number.)"],
        ["5", "555-0100", "not a valid number"],
        ["6", "'+1 900 555 0199", "not dialable for a campaign (premium rate)"],
        ["7", "2125550102", "unknown time zone 'Mars/Olympus' (use an IANA name such as America/New_York)"],
        ["8", "2125550103", "priority 'high' is not a whole number between -32768 and 32767"],
        ["9", "2125550104", "priority '99999' is not a whole number between -32768 and 32767"],
        ["10", "2125550105", "field 'name' is longer than 20 characters"],
        ["11", "2125550106", "5 fields but the header has 4"],
    ]
    assert sorted(_contacts(campaign)) == ["+12125550101", "+12125550107"]


def test_name_longer_than_the_model_allows_is_rejected(tmp_path: Path) -> None:
    job = import_contacts_file(CampaignFactory(), _csv(tmp_path, f"phone,first,last\n2125550101,{'a' * 150},"
                                                                 f"{'b' * 100}\n"))
    assert job.invalid == 1
    assert _report(job)[1][2] == "name is longer than 200 characters"


def test_duplicates_in_the_file_and_in_the_campaign_are_counted_not_imported(tmp_path: Path) -> None:
    # given a campaign that already has one of the numbers, and a file repeating another
    campaign = CampaignFactory()
    ContactFactory(campaign=campaign, phone_e164="+12125550101", name="Existing")
    path = _csv(tmp_path, "phone,name\n"
                          "212-555-0101,Already\n"
                          "2125550102,First\n"
                          "+1 (212) 555-0102,Again\n"
                          "2125550103,New\n")
    # when
    job = import_contacts_file(campaign, path)
    # then
    assert (job.imported, job.duplicates, job.invalid, job.dnc) == (2, 2, 0, 0)
    contacts = _contacts(campaign)
    assert (contacts["+12125550101"].name, contacts["+12125550102"].name) == ("Existing", "First")
    assert _report(job)[1:] == [["2", "212-555-0101", "duplicate: already in this campaign"],
                                ["4", "'+1 (212) 555-0102", "duplicate: repeated in this file"]]


def test_rerun_of_the_same_file_imports_nothing_new(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone\n2125550101\n2125550102\nbad\n")
    first = import_contacts_file(campaign, path)
    second = import_contacts_file(campaign, path)
    assert first.summary == "imported=2 duplicates=0 invalid=1 dnc=0"
    assert second.summary == "imported=0 duplicates=2 invalid=1 dnc=0"
    assert Contact.objects.filter(campaign=campaign).count() == 2


def test_duplicates_across_chunks_are_found(tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_BATCH_SIZE = 2
    campaign = CampaignFactory()
    job = import_contacts_file(campaign, _csv(tmp_path, "phone\n2125550101\n2125550102\n2125550103\n"
                                                        "+12125550101\n2125550103\n"))
    assert (job.imported, job.duplicates) == (3, 2)
    assert [r[2] for r in _report(job)[1:]] == ["duplicate: repeated in this file"] * 2


def test_do_not_call_numbers_are_recorded_as_dnc_not_dialable(tmp_path: Path) -> None:
    # given a global entry, one for this campaign and one for another campaign
    campaign = CampaignFactory()
    DoNotCallFactory(phone_e164="+12125550101")
    DoNotCallFactory(phone_e164="+12125550102", campaign=campaign)
    DoNotCallFactory(phone_e164="+12125550103", campaign=CampaignFactory())
    path = _csv(tmp_path, "phone\n2125550101\n2125550102\n2125550103\n2125550102\n")
    # when
    job = import_contacts_file(campaign, path)
    # then
    assert (job.imported, job.duplicates, job.invalid, job.dnc) == (1, 1, 0, 2)
    statuses = {e164: c.status for e164, c in _contacts(campaign).items()}
    assert statuses == {"+12125550101": ContactStatus.DNC, "+12125550102": ContactStatus.DNC,
                        "+12125550103": ContactStatus.PENDING}
    assert _report(job)[1:] == [
        ["2", "2125550101", publish.REASON_DNC],
        ["3", "2125550102", publish.REASON_DNC],
        ["5", "2125550102", "duplicate: repeated in this file"],
    ]


def test_time_zone_column_may_only_narrow_the_numbers_zones(tmp_path: Path) -> None:
    # F12: a zone the number cannot be in is a row error with its line, never a replacement
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone,timezone\n2125550101,america/los_angeles\n2125550102,\n2125550103,EST5EDT\n"
                          "2125550104,America/New_York\n2125550105,Mars/Base\n")
    job = import_contacts_file(campaign, path)
    zones = {e164: c.time_zones for e164, c in _contacts(campaign).items()}
    # EST5EDT keeps New York's clock: it is accepted as the number's own zone
    assert (job.imported, job.invalid) == (3, 2)
    assert zones == {"+12125550102": ["America/New_York"], "+12125550103": ["America/New_York"],
                     "+12125550104": ["America/New_York"]}
    report = _report(job)[1:]
    assert [row[0] for row in report] == ["2", "6"]
    assert report[0][2] == ("time zone America/Los_Angeles is not possible for +12125550101 "
                            "(the number is in America/New_York)")
    assert report[1][2].startswith("unknown time zone 'Mars/Base'")


def test_zones_derived_from_the_number_record_every_candidate_or_none(tmp_path: Path) -> None:
    # given a UK mobile (four candidate zones) and an international freephone number (no zone)
    campaign = CampaignFactory()
    job = import_contacts_file(campaign, _csv(tmp_path, "phone\n+447911123456\n+80012345678\n"))
    # then both are imported; the zone-less one is flagged in the report (the dialer will not call it)
    contacts = _contacts(campaign)
    assert contacts["+447911123456"].time_zones == ["Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey",
                                                    "Europe/London"]
    assert contacts["+80012345678"].time_zones == []
    assert not contacts["+80012345678"].time_zone_known
    assert job.imported == 2
    assert _report(job)[1:] == [["3", "'+80012345678", publish.REASON_NO_ZONE]]


def test_latin1_semicolon_file_with_bom_less_headers_imports(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = _csv(tmp_path, "Téléphone;Nom\n\n2125550101;Hélène\n", encoding="cp1252")
    with pytest.raises(CsvFormatError, match="No phone column found"):
        import_contacts_file(campaign, path)
    path = _csv(tmp_path, "Tel;Nom;Ville\n\n2125550101;Hélène;Québec\n", encoding="cp1252")
    job = import_contacts_file(campaign, path)
    assert job.imported == 1
    assert _contacts(campaign)["+12125550101"].variables == {"nom": "Hélène", "ville": "Québec"}


# --- failures --------------------------------------------------------------------------------


def test_crash_mid_import_leaves_no_contacts_and_a_failed_job(tmp_path: Path, settings: Any) -> None:
    # given a file of three chunks, and a failure after the first chunk was written
    settings.IMPORT_BATCH_SIZE = 2
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone\n" + "".join(f"21255501{i:02d}\n" for i in range(6)))
    calls: list[int] = []

    def progress(done: int, total: int | None) -> None:
        calls.append(done)
        if done >= 4:
            raise RuntimeError("disk on fire")

    # when
    with pytest.raises(RuntimeError):
        import_contacts_file(campaign, path, progress=progress)
    # then nothing of the file is visible, and the job says why
    job = ImportJob.objects.get()
    assert (job.status, job.error, job.imported) == (ImportStatus.FAILED, "RuntimeError: disk on fire", 0)
    assert job.finished_at is not None
    assert calls == [2, 4]
    assert not Contact.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'import_stage_%%' AND relpersistence = 't'")
        assert cursor.fetchone() == (0,)


def test_file_that_breaks_mid_way_fails_the_job_and_imports_nothing(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "broken.csv"
    # given good rows past the preview, then a quote that never closes
    good = b"".join(b"21255501%02d,ok\n" % i for i in range(12))
    path.write_bytes(b"phone,note\n" + good + b'2125550199,"never closed\n' + b"x" * (1 << 20) + b"\n")
    with pytest.raises(CsvFormatError, match=r"^Line 14: the file cannot be read as CSV past this point"):
        import_contacts_file(campaign, path)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("Line 14: the file cannot be read as CSV past this point")
    assert not Contact.objects.exists()


def test_unreadable_file_stores_nothing(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match=r"^The file cannot be read: No such file or directory\.$"):
        import_contacts_file(CampaignFactory(), tmp_path / "missing.csv")
    assert not ImportJob.objects.exists()


# --- big files -------------------------------------------------------------------------------


def test_worker_pool_path_gives_the_same_counts(tmp_path: Path, settings: Any, monkeypatch: Any) -> None:
    # given a file big enough for the worker pool (threshold lowered), in many chunks
    monkeypatch.setattr(import_pipeline, "_POOL_MIN_ROWS", 0)
    settings.IMPORT_BATCH_SIZE = 500
    campaign = CampaignFactory()
    lines = [f"+1212{2000000 + i:07d},Person {i}" for i in range(3000)]
    lines[100] = "invalid,Bad"
    lines[2500] = lines[10]
    path = _csv(tmp_path, "phone,name\n" + "\n".join(lines) + "\n")
    progress: list[int] = []
    # when
    job = import_contacts_file(campaign, path, progress=lambda done, total: progress.append(done))
    # then
    assert (job.imported, job.duplicates, job.invalid, job.dnc, job.rows_done) == (2998, 1, 1, 0, 3000)
    assert progress == list(range(500, 3001, 500))
    assert Contact.objects.filter(campaign=campaign).count() == 2998
    assert Contact.objects.get(campaign=campaign, phone_e164="+12122002999").name == "Person 2999"
    assert [r[0] for r in _report(job)[1:]] == ["102", "2502"]


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_others_while_the_import_runs(tmp_path: Path, settings: Any,
                                                             monkeypatch: Any) -> None:
    # given an import in chunks of two rows, progress written at every chunk
    monkeypatch.setattr(import_services, "_PROGRESS_EVERY_S", 0)
    settings.IMPORT_BATCH_SIZE = 2
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone\n" + "".join(f"21255501{i:02d}\n" for i in range(6)))
    seen: list[tuple[int, int | None, int]] = []

    def progress(done: int, total: int | None) -> None:
        # what others see: the job's progress, and no contact yet
        job = ImportJob.objects.get()
        visible = _other_connection_count("SELECT count(*) FROM campaigns_contact")
        seen.append((job.rows_done, job.rows_total, visible))

    # when
    job = import_contacts_file(campaign, path, progress=progress)
    # then
    assert seen == [(2, 6, 0), (4, 6, 0), (6, 6, 0)]
    assert (job.status, job.imported) == (ImportStatus.COMPLETED, 6)
    assert _other_connection_count("SELECT count(*) FROM campaigns_contact") == 6


@pytest.mark.django_db(transaction=True)
def test_a_big_import_vacuums_the_contact_table_so_counts_read_the_index_alone(tmp_path: Path,
                                                                              monkeypatch: Any) -> None:
    # given imports count as big from 5 new contacts
    monkeypatch.setattr(import_services, "VACUUM_AFTER_IMPORT_ROWS", 5)
    vacuums = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'campaigns_contact'"
    before = _other_connection_count(vacuums)
    # when a file of 4 new numbers, then one of 6, is imported
    small = import_contacts_file(CampaignFactory(), _csv(tmp_path, "phone\n" + "".join(
        f"21255502{i:02d}\n" for i in range(4)), name="small.csv"))
    after_small = _other_connection_count(vacuums)
    timings = contact_import.ImportTimings()
    big = import_contacts_file(CampaignFactory(), _csv(tmp_path, "phone\n" + "".join(
        f"21255501{i:02d}\n" for i in range(6))), timings=timings)
    # then only the big one vacuumed the table, after it completed
    assert (small.imported, big.imported, big.status) == (4, 6, ImportStatus.COMPLETED)
    assert after_small == before
    assert _other_connection_count(vacuums) == before + 1
    assert timings.vacuum > 0


def test_no_vacuum_inside_a_transaction(tmp_path: Path, monkeypatch: Any) -> None:
    # given a big import run inside the test's transaction, where PostgreSQL refuses VACUUM
    monkeypatch.setattr(import_services, "VACUUM_AFTER_IMPORT_ROWS", 1)
    job = import_contacts_file(CampaignFactory(), _csv(tmp_path, "phone\n2125550100\n2125550101\n"))
    # then the import completes and the vacuum is skipped, not failed
    assert (job.status, job.imported) == (ImportStatus.COMPLETED, 2)
    assert contact_import.refresh_contacts_after_import(job) is False


def _other_connection_count(sql: str) -> int:
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    finally:
        other.close()


def test_header_only_file_completes_with_nothing_imported(tmp_path: Path) -> None:
    job = import_contacts_file(CampaignFactory(), _csv(tmp_path, "phone,name\n\n"))
    assert (job.status, job.summary, job.rows_done) == (ImportStatus.COMPLETED,
                                                         "imported=0 duplicates=0 invalid=0 dnc=0", 0)


@pytest.mark.django_db(transaction=True)
def test_number_put_on_do_not_call_during_the_import_is_not_published_dialable(tmp_path: Path,
                                                                                settings: Any) -> None:
    # given an import in chunks of two rows
    settings.IMPORT_BATCH_SIZE = 2
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone\n2125550101\n2125550102\n2125550103\n2125550104\n")

    def progress(done: int, total: int | None) -> None:
        if done == 2:
            # an operator lists the first number (already scrubbed and inserted) from another session
            other = connection.get_new_connection(connection.get_connection_params())
            other.autocommit = True
            with other.cursor() as cursor:
                cursor.execute("INSERT INTO campaigns_donotcall (phone_e164, source, note, created_at) "
                               "VALUES ('+12125550101', 'manual', '', now())")
            other.close()

    # when
    job = import_contacts_file(campaign, path, progress=progress)
    # then
    assert (job.imported, job.dnc) == (3, 1)
    assert Contact.objects.get(phone_e164="+12125550101").status == ContactStatus.DNC


# --- the contacts' link to their import job (kept by a lock, not a foreign key) -------------------


def test_deleting_a_finished_job_unlinks_its_contacts(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    job = import_contacts_file(campaign, _csv(tmp_path, "phone\n2125550101\n2125550102\n"))
    assert Contact.objects.filter(import_job=job).count() == 2
    job.delete()
    assert list(Contact.objects.filter(campaign=campaign).values_list("import_job_id", flat=True)) == [None, None]


@pytest.mark.django_db(transaction=True)
def test_job_deleted_while_its_import_runs_leaves_no_contact_pointing_at_it(tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    # given an import whose job an operator deletes from another session half-way through
    monkeypatch.setattr(import_services, "_PROGRESS_EVERY_S", 0)
    campaign = CampaignFactory()
    path = _csv(tmp_path, "phone\n2125550101\n2125550102\n")
    job = create_import_job(campaign, ContentFile(path.read_bytes(), name="contacts.csv"))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    deleter: list[threading.Thread] = []

    def delete_job() -> None:
        try:
            ImportJob.objects.filter(pk=job.pk).delete()  # waits for the import's lock on the job row
        finally:
            connection.close()

    def progress(done: int, total: int | None) -> None:
        if not deleter:
            deleter.append(threading.Thread(target=delete_job))
            deleter[0].start()
            deleter[0].join(0.5)
            assert deleter[0].is_alive(), "the delete should wait for the import to commit"

    # when the import commits
    import_services._import(ImportJob.objects.select_related("campaign").get(pk=job.pk), progress,
                           contact_import.ImportTimings())
    deleter[0].join(10)
    # then the job is gone and its contacts were unlinked, not left with a dangling id
    assert not ImportJob.objects.filter(pk=job.pk).exists()
    assert list(Contact.objects.filter(campaign=campaign).values_list("import_job_id", flat=True)) == [None, None]


@pytest.mark.django_db(transaction=True)
def test_import_of_a_job_deleted_before_it_ran_fails_and_imports_nothing(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    job = create_import_job(campaign, ContentFile(b"phone\n2125550101\n", name="contacts.csv"))
    loaded = ImportJob.objects.select_related("campaign").get(pk=job.pk)
    # The row goes while the worker already reads the file (a deleted job's files go on commit, retention.py):
    # deleted in SQL, so the file the running import holds open stays.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_importjob WHERE id = %s", [job.pk])
    with pytest.raises(CsvFormatError, match="deleted before it ran"):
        import_services._import(loaded, None, contact_import.ImportTimings())
    assert not Contact.objects.exists()


def _add_contact_and_close(campaign: Any, phone: str, name: str) -> None:
    try:
        Contact.objects.create(campaign=campaign, phone_e164=phone, name=name)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_number_added_to_the_campaign_after_the_ranking_is_kept_and_counted_duplicate(tmp_path: Path) -> None:
    # given an import, and another session that commits a contact with one of the file's numbers right after
    # the ranking ran (when the ranking can no longer see it) and before the insert
    campaign = CampaignFactory()
    raced: list[str] = []

    def commit_a_contact_after_the_ranking(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if not raced and "row_number() OVER (PARTITION BY s.e164" in sql:  # the ranking statement
            # a thread has its own database connection in autocommit: the contact is committed at once
            other = threading.Thread(target=_add_contact_and_close, args=(campaign, "+12125550101", "Existing"))
            other.start()
            other.join(10)
            raced.append(sql)
        return result

    # when the import runs
    with connection.execute_wrapper(commit_a_contact_after_the_ranking):
        job = import_contacts_file(campaign, _csv(tmp_path, "phone,name\n2125550101,New\n2125550102,Other\n"))
    # then the race happened, the insert met the other session's contact and was retried with ON CONFLICT:
    # that contact is kept and the row counted a duplicate
    assert raced
    assert (job.status, job.imported, job.duplicates) == (ImportStatus.COMPLETED, 1, 1)
    assert _contacts(campaign)["+12125550101"].name == "Existing"
    assert _contacts(campaign)["+12125550102"].import_job_id == job.pk


def test_repeat_in_a_later_chunk_of_a_number_already_in_the_campaign_is_reported_as_repeated(
        tmp_path: Path, settings: Any) -> None:
    # given chunks of two rows, and a number already in the campaign that the file lists twice
    settings.IMPORT_BATCH_SIZE = 2
    campaign = CampaignFactory()
    ContactFactory(campaign=campaign, phone_e164="+12125550101")
    path = _csv(tmp_path, "phone\n2125550101\n2125550102\n2125550103\n+1 212 555 0101\n2125550102\n")
    # when
    job = import_contacts_file(campaign, path)
    # then
    assert (job.imported, job.duplicates) == (2, 3)
    assert _report(job)[1:] == [["2", "2125550101", "duplicate: already in this campaign"],
                                ["5", "'+1 212 555 0101", "duplicate: repeated in this file"],
                                ["6", "2125550102", "duplicate: repeated in this file"]]
