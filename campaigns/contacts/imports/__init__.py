"""Contact import: a CSV file into a campaign's contacts, with a per-row error report.

How a file goes in (stage, then publish, in one transaction):

1. The file is streamed in chunks of ``IMPORT_BATCH_SIZE`` records. A pool of worker processes,
   one per core, checks each chunk and normalises its numbers (``campaigns.rules.phones``). The main
   process COPYs each checked chunk into a temporary staging table. Only a few chunks are in flight
   at a time, so memory stays flat whatever the file size.
2. Once the whole file is staged, one statement ranks every row in SQL: repeated in the file,
   already in the campaign, on a do-not-call list. One INSERT (ON CONFLICT DO NOTHING only if needed) then
   publishes the new contacts. The report of duplicates, do-not-call numbers and numbers without a
   time zone is streamed back in line order and merged with the rows the workers rejected.
3. All of this runs in a single transaction, so nothing is visible (nor dialable) before the
   whole file is in. A crash rolls everything back, and the job is marked failed with the reason.
   Progress (rows done / total) goes through a second, autocommit connection, so operators see it
   while the transaction is open.

Every data row ends in exactly one of: imported, duplicate, invalid, do-not-call. A record that a
stray quote glued together from several lines (``campaigns.contacts.csv_quotes``) is not imported: each of
its non-blank lines is an invalid row of the report, with the lines and the reason, so the counts
add up to the lines of the file; the preview lists such records before the import is confirmed.

The package: ``services`` (the job's state changes and the run), ``preview``, ``pipeline`` (row checks in
worker processes), ``publish`` (the SQL that ranks and inserts), ``error_report``.
"""

from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.imports.preview import ImportPreview, detect_mapping, preview_csv
from campaigns.contacts.imports.services import (
    ImportTimings,
    confirm_import_job,
    create_import_job,
    import_contacts_file,
    refresh_contacts_after_import,
    run_import_job,
)

__all__ = [
    "CsvFormatError",
    "ImportPreview",
    "ImportTimings",
    "confirm_import_job",
    "create_import_job",
    "detect_mapping",
    "import_contacts_file",
    "preview_csv",
    "refresh_contacts_after_import",
    "run_import_job",
]
