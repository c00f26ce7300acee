"""The do-not-call service: adding numbers, uploads, and the effect on contacts waiting to be dialed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.choices import ContactStatus, DncSource
from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.dnc import (
    DncFileError,
    add_to_do_not_call,
    do_not_call_numbers,
    import_do_not_call_csv,
    is_on_do_not_call,
)
from campaigns.models import Contact, DoNotCall
from campaigns.rules.phones import InvalidNumber
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

NUMBER = "+12125550123"


def test_adding_a_national_number_stores_it_in_e164() -> None:
    entry = add_to_do_not_call("(212) 555-0123", note="asked by email")

    assert entry.phone_e164 == NUMBER
    assert entry.campaign is None
    assert entry.source == DncSource.MANUAL
    assert entry.note == "asked by email"


def test_adding_twice_returns_the_same_entry() -> None:
    first = add_to_do_not_call(NUMBER)
    second = add_to_do_not_call("212-555-0123", source=DncSource.API, note="again")

    assert second.pk == first.pk
    assert second.source == DncSource.MANUAL  # the original entry is kept as it was
    assert DoNotCall.objects.count() == 1


def test_an_invalid_number_is_refused() -> None:
    with pytest.raises(InvalidNumber):
        add_to_do_not_call("not a number")
    assert not DoNotCall.objects.exists()


def test_a_global_entry_marks_waiting_contacts_in_every_campaign() -> None:
    # given the number waiting in two campaigns, in progress in a third, done in a fourth
    pending = ContactFactory(phone_e164=NUMBER, status=ContactStatus.PENDING)
    retry = ContactFactory(phone_e164=NUMBER, status=ContactStatus.RETRY_SCHEDULED)
    in_progress = ContactFactory(phone_e164=NUMBER, status=ContactStatus.IN_PROGRESS)
    done = ContactFactory(phone_e164=NUMBER, status=ContactStatus.DONE)
    other = ContactFactory(phone_e164="+12125550199", status=ContactStatus.PENDING)

    # when
    add_to_do_not_call(NUMBER)

    # then
    statuses = dict(Contact.objects.values_list("pk", "status"))
    assert statuses[pending.pk] == ContactStatus.DNC
    assert statuses[retry.pk] == ContactStatus.DNC
    assert statuses[in_progress.pk] == ContactStatus.IN_PROGRESS  # the dial path re-checks before dialing
    assert statuses[done.pk] == ContactStatus.DONE
    assert statuses[other.pk] == ContactStatus.PENDING
    assert Contact.objects.get(pk=retry.pk).next_attempt_at is None


def test_a_campaign_entry_marks_only_that_campaigns_contacts() -> None:
    here = ContactFactory(phone_e164=NUMBER)
    elsewhere = ContactFactory(phone_e164=NUMBER)

    entry = add_to_do_not_call(NUMBER, campaign=here.campaign)

    assert entry.scope == "campaign"
    assert Contact.objects.get(pk=here.pk).status == ContactStatus.DNC
    assert Contact.objects.get(pk=elsewhere.pk).status == ContactStatus.PENDING


def test_global_and_campaign_entries_for_one_number_coexist() -> None:
    campaign = CampaignFactory()

    add_to_do_not_call(NUMBER, campaign=campaign)
    add_to_do_not_call(NUMBER)

    assert DoNotCall.objects.filter(phone_e164=NUMBER).count() == 2


def test_is_on_do_not_call_honours_scope() -> None:
    listed_here, elsewhere = CampaignFactory(), CampaignFactory()
    add_to_do_not_call(NUMBER, campaign=listed_here)

    assert is_on_do_not_call(NUMBER, listed_here.pk)
    assert not is_on_do_not_call(NUMBER, elsewhere.pk)

    add_to_do_not_call(NUMBER)
    assert is_on_do_not_call(NUMBER, elsewhere.pk)


def test_do_not_call_numbers_returns_the_listed_subset() -> None:
    campaign = CampaignFactory()
    add_to_do_not_call("+12125550101")
    add_to_do_not_call("+12125550102", campaign=campaign)
    add_to_do_not_call("+12125550103", campaign=CampaignFactory())

    listed = do_not_call_numbers(["+12125550101", "+12125550102", "+12125550103", "+12125550104"], campaign.pk)

    assert listed == {"+12125550101", "+12125550102"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_one_number_create_one_entry() -> None:
    # given several threads adding the same number at once
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def add() -> None:
        try:
            barrier.wait(timeout=5)
            add_to_do_not_call(NUMBER)
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then none failed and the database holds one entry
    assert errors == []
    assert DoNotCall.objects.filter(phone_e164=NUMBER).count() == 1


def test_csv_with_a_header_adds_valid_numbers_and_reports_bad_lines(tmp_path: Path) -> None:
    # given a file with a phone column, a duplicate, an existing entry and two bad lines
    add_to_do_not_call("+12125550104")
    waiting = ContactFactory(phone_e164="+12125550101")
    path = tmp_path / "dnc.csv"
    path.write_text(
        "name,Phone Number\n"
        "Ann,(212) 555-0101\n"
        "Bob,+1 212 555 0102\n"
        "Ann again,212.555.0101\n"
        "Carl,hello\n"
        "Dee,+12125550104\n"
        "Eve,\n",
        encoding="utf-8",
    )

    # when
    result = import_do_not_call_csv(path)

    # then
    assert (result.added, result.already, result.invalid) == (2, 2, 2)
    assert [(line, raw) for line, raw, _ in result.errors] == [(5, "hello"), (7, "")]
    assert all(reason for _, _, reason in result.errors)
    assert set(DoNotCall.objects.values_list("phone_e164", flat=True)) == {
        "+12125550101", "+12125550102", "+12125550104"
    }
    assert set(DoNotCall.objects.filter(phone_e164__in=["+12125550101", "+12125550102"])
               .values_list("source", flat=True)) == {DncSource.UPLOAD}
    assert Contact.objects.get(pk=waiting.pk).status == ContactStatus.DNC
    assert result.contacts_marked == 1


def test_csv_without_header_is_read_as_one_number_per_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("2125550101\n2125550102\n\n2125550103\n", encoding="utf-8")

    result = import_do_not_call_csv(path)

    assert result.added == 3
    assert result.errors == []


def test_csv_scoped_to_a_campaign(tmp_path: Path) -> None:
    campaign = CampaignFactory()
    path = tmp_path / "list.csv"
    path.write_text("phone\n2125550101\n", encoding="utf-8")

    import_do_not_call_csv(path, campaign=campaign)

    assert DoNotCall.objects.get().campaign == campaign


def test_csv_semicolon_separated_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes("Nom;Téléphone;number\nRené;x;2125550101\n".encode("cp1252"))

    result = import_do_not_call_csv(path)

    assert result.added == 1


def test_csv_with_columns_but_no_phone_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("name,email\nAnn,ann@example.com\n", encoding="utf-8")

    with pytest.raises(DncFileError, match="No phone column"):
        import_do_not_call_csv(path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"\x00\x01\x02PK\x03\x04" * 20)

    with pytest.raises(CsvFormatError, match="NUL bytes"):
        import_do_not_call_csv(path)


def test_large_csv_is_stored_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("phone\n" + "".join(f"+1212555{n:04d}\n" for n in range(2500)), encoding="utf-8")

    with CaptureQueriesContext(connection) as queries:
        result = import_do_not_call_csv(path)

    assert result.added == 2500
    assert DoNotCall.objects.count() == 2500
    # batches of DNC_BATCH_SIZE (1,000): three inserts of many rows each, not one per number
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO campaigns_donotcall")]
    assert len(inserts) == 3, len(inserts)


def test_csv_without_header_reports_the_right_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("\n2125550101\n99999x12345\n2125550102\n", encoding="utf-8")

    result = import_do_not_call_csv(path)

    assert result.added == 2
    assert [(line, raw) for line, raw, _ in result.errors] == [(3, "99999x12345")]


def test_csv_lines_glued_by_a_stray_quote_are_reported_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text('phone,note\n2125550101,"5 ft\n2125550102,x\n2125550103,6"w\n2125550104,y\n', encoding="utf-8")

    result = import_do_not_call_csv(path)

    assert (result.added, result.invalid) == (1, 3)
    assert [(line, raw) for line, raw, _ in result.errors] == [
        (2, '2125550101,"5 ft'), (3, "2125550102,x"), (4, '2125550103,6"w')]
    assert result.errors[0][2].startswith("Lines 2-4: a quote opened in line 2 is closed only in line 4")
