"""The do-not-call list: adding numbers (one by one or from a CSV) and asking whether a number is on it.

An entry is global (no campaign: never call this number from any campaign) or scoped to one campaign.
Adding an entry takes effect at once: in the same transaction every matching contact that is still
waiting to be dialed becomes ``dnc``. A contact already claimed by the dispatcher (in progress) is
not touched here; the dial path re-checks :func:`is_on_do_not_call` before it dials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.choices import CONTACT_DIALABLE, ContactStatus, DncSource
from campaigns.contacts.csv_input import PHONE_ALIASES, CsvFormatError, CsvSource, open_csv
from campaigns.models import Campaign, Contact, DoNotCall
from campaigns.rules.phones import InvalidNumber, normalize_number
from webhooks import events as webhook_events

logger = logging.getLogger(__name__)

# Rows are inserted and contacts marked in batches of this size, one transaction each, so a large
# list neither holds one long transaction nor locks millions of contact rows at once.
DNC_BATCH_SIZE = 1000


class DncFileError(CsvFormatError):
    """The do-not-call file has columns but none holds phone numbers; the message is for the operator."""


@dataclass
class DncImportResult:
    """What a do-not-call upload did."""

    added: int = 0
    already: int = 0
    invalid: int = 0
    # (line number in the file, raw value, reason)
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    contacts_marked: int = 0


def add_to_do_not_call(
    raw_number: str,
    *,
    campaign: Campaign | None = None,
    source: str = DncSource.MANUAL,
    note: str = "",
    default_region: str = "US",
    attempt_id: int | None = None,
) -> DoNotCall:
    """Put a number on the do-not-call list and stop dialing it at once.

    Idempotent: adding a number that is already listed (with the same scope) returns the
    existing entry unchanged.

    Args:
        raw_number: The number as typed (national format is read in ``default_region``).
        campaign: The campaign the entry applies to; ``None`` means every campaign.
        source: Where the entry comes from (a ``DncSource`` value).
        note: Free text kept with the entry.
        default_region: ISO country used to read a national-format number.
        attempt_id: The call during which the person opted out (``source`` OPT_OUT), for the webhook event.

    Returns:
        The entry (new or existing).

    Raises:
        InvalidNumber: ``raw_number`` is not a phone number.
    """
    e164 = normalize_number(raw_number, default_region).e164
    campaign_id = campaign.pk if campaign is not None else None
    with transaction.atomic():
        added = _insert_entries([e164], campaign_id=campaign_id, source=source, note=note)
        marked = _mark_contacts([e164], campaign_id=campaign_id)
        if added and source == DncSource.OPT_OUT:  # once per opt-out, committed with the entry
            webhook_events.contact_opted_out(e164, campaign_id=campaign_id, attempt_id=attempt_id)
        entry = DoNotCall.objects.get(phone_e164=e164, campaign=campaign)
    # F23: ids and kinds only; the number is in the database, whose access and retention are the narrower ones.
    logger.info("do-not-call: entry %s scope=%s source=%s contacts_marked=%d",
                entry.pk, campaign_id or "global", source, marked)
    return entry


def import_do_not_call_csv(
    path: Path, *, campaign: Campaign | None = None, default_region: str = "US",
    progress: Callable[[int, DncImportResult], None] | None = None,
) -> DncImportResult:
    """Add every number of a CSV file to the do-not-call list.

    The file may have a header row naming the phone column (``phone``, ``number``, ...) or be a
    plain list with one number per line. Invalid numbers are reported, not fatal.

    Args:
        path: The CSV file.
        campaign: Scope of the new entries; ``None`` means every campaign.
        default_region: ISO country used to read national-format numbers.
        progress: called after each stored batch with the lines read so far and the counts.

    Returns:
        The counts and the per-line errors.

    Raises:
        CsvFormatError: the file cannot be used (not text, no phone column...); the message says why.
    """
    result = DncImportResult()
    campaign_id = campaign.pk if campaign is not None else None
    seen: set[str] = set()
    batch: list[str] = []
    for line, raw, problem in read_dnc_numbers(path):
        if problem is not None:
            result.invalid += 1
            result.errors.append((line, raw, problem))
            continue
        try:
            e164 = normalize_number(raw, default_region).e164
        except InvalidNumber as exc:
            result.invalid += 1
            result.errors.append((line, raw, str(exc)))
            continue
        if e164 in seen:
            result.already += 1
            continue
        seen.add(e164)
        batch.append(e164)
        if len(batch) >= DNC_BATCH_SIZE:
            _store_batch(batch, campaign_id, result)
            batch = []
            if progress is not None:
                progress(line, result)
    if batch:
        _store_batch(batch, campaign_id, result)
    logger.info("do-not-call upload: scope=%s added=%d already=%d invalid=%d contacts_marked=%d",
                campaign_id or "global", result.added, result.already, result.invalid, result.contacts_marked)
    return result


def is_on_do_not_call(e164: str, campaign_id: int) -> bool:
    """Whether ``e164`` must not be called from campaign ``campaign_id`` (global or scoped entry)."""
    return DoNotCall.objects.filter(
        Q(campaign__isnull=True) | Q(campaign_id=campaign_id), phone_e164=e164
    ).exists()


def do_not_call_numbers(e164s: Iterable[str], campaign_id: int) -> set[str]:
    """The subset of ``e164s`` that must not be called from campaign ``campaign_id`` (one query)."""
    numbers = list(set(e164s))
    if not numbers:
        return set()
    return set(
        DoNotCall.objects.filter(Q(campaign__isnull=True) | Q(campaign_id=campaign_id), phone_e164__in=numbers)
        .values_list("phone_e164", flat=True)
    )


def read_dnc_numbers(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """Yield ``(line number, raw value, problem)`` for each number in a do-not-call file.

    The file has a header naming the phone column (the contact import's aliases: ``phone``,
    ``number``, ``mobile``...), or is a plain list with one number per line and no header.
    ``problem`` is None, or the reason the line cannot be read: a stray quote glued it to others
    (the raw value is then the whole line).

    Raises:
        CsvFormatError: not a text CSV file (``DncFileError`` when it has columns but none for phones).
    """
    source = open_csv(path)
    column = source.column(PHONE_ALIASES)
    if column is None:
        if len(source.headers) > 1:
            raise DncFileError("No phone column found: name it phone or number, or upload one number per line.")
        column = 0
        if _looks_like_number(source.headers[0]):
            yield _header_line(source), source.headers[0], None  # no header: the first line is a number too
    source.key_column = column
    for row in source.rows():
        if row.problem is not None:
            for line, text in row.problem.lines:
                yield line, text[:200], row.problem.reason
            continue
        value = row.fields[column] if column < len(row.fields) else ""
        yield row.line, value.strip(), None


def _header_line(source: CsvSource) -> int:
    """The line the header (first non-blank record) is on."""
    with source.path.open("r", encoding=source.encoding, newline="") as fh:
        for number, text in enumerate(fh, start=1):
            if text.strip():
                return number
    return 1


def _looks_like_number(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 5 and digits * 2 >= len(cell.strip())


def _store_batch(batch: list[str], campaign_id: int | None, result: DncImportResult) -> None:
    with transaction.atomic():
        added = _insert_entries(batch, campaign_id=campaign_id, source=DncSource.UPLOAD, note="")
        result.contacts_marked += _mark_contacts(batch, campaign_id=campaign_id)
    result.added += added
    result.already += len(batch) - added


def _insert_entries(e164s: list[str], *, campaign_id: int | None, source: str, note: str) -> int:
    """Insert the entries that do not exist yet; returns how many were new.

    ON CONFLICT DO NOTHING makes concurrent adds of the same number safe: the partial unique
    indexes (one global entry per number, one per number and campaign) decide, not a prior SELECT.
    """
    table = DoNotCall._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (phone_e164, campaign_id, source, note, created_at) "  # noqa: S608 (table name from model meta)
            "SELECT n, %s, %s, %s, %s FROM unnest(%s::text[]) AS n "
            "ON CONFLICT DO NOTHING RETURNING id",
            [campaign_id, source, note, timezone.now(), e164s],
        )
        return len(cursor.fetchall())


def _mark_contacts(e164s: list[str], *, campaign_id: int | None) -> int:
    """Mark waiting contacts with these numbers do-not-call (all campaigns when global).

    Compliance: a number on the list must not be dialed again, so contacts still waiting
    (pending or retry scheduled) leave the queue in the same transaction as the entry. The status
    condition is re-evaluated by PostgreSQL after any row lock the dispatcher holds, so a contact it
    just claimed (now in progress) is left to the dial path's own DNC re-check.
    """
    contacts = Contact.objects.filter(phone_e164__in=e164s, status__in=sorted(CONTACT_DIALABLE))
    if campaign_id is not None:
        contacts = contacts.filter(campaign_id=campaign_id)
    return contacts.update(status=ContactStatus.DNC, next_attempt_at=None, updated_at=timezone.now())
