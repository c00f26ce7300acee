"""Contacts: add up to 10,000 as JSON (the CSV import's checks), list them; CSV upload as an import job."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import File, Router, Status
from ninja.files import UploadedFile

from api.contacts import add_contacts
from api.problems import ApiProblem, not_found
from api.schemas import ContactPage, ContactsAdded, ContactsIn, ImportJobOut
from api.v1 import paginate, problems, require
from campaigns.contacts.csv_input import CsvFormatError
from campaigns.contacts.imports.services import confirm_import_job, create_import_job
from campaigns.models import Campaign, Contact, ImportJob

router = Router()


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise not_found("campaign")
    return campaign


@router.post("/campaigns/{campaign_id}/contacts", response={200: ContactsAdded, **problems(404)},
             summary="Add contacts (1 to 10,000) with the CSV import's checks")
def add(request: HttpRequest, campaign_id: int, payload: ContactsIn) -> dict[str, Any]:
    require(request, "campaigns.add_contact")
    campaign = _campaign(campaign_id)
    try:
        result = add_contacts(campaign, [row.dict() for row in payload.contacts])
    except CsvFormatError as exc:
        raise ApiProblem(422, "import-failed", "Contacts not imported", str(exc)) from None
    job = result.job
    return {"import_job_id": job.pk, "received": result.received, "imported": job.imported,
            "duplicates": job.duplicates, "invalid": job.invalid + result.refused_before_import, "dnc": job.dnc,
            "rejected": [{"index": i, "phone": phone, "reason": reason} for i, phone, reason in result.rejected]}


@router.get("/campaigns/{campaign_id}/contacts", response={200: ContactPage, **problems(404)},
            summary="List a campaign's contacts")
def list_contacts(request: HttpRequest, campaign_id: int, status: str | None = None, phone: str | None = None,
                  cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    require(request, "campaigns.view_contact")
    qs = Contact.objects.filter(campaign_id=_campaign(campaign_id).pk)
    if status:
        qs = qs.filter(status=status)
    if phone:
        qs = qs.filter(phone_e164=phone)
    return paginate(qs, cursor, limit)


@router.post("/campaigns/{campaign_id}/imports", response={202: ImportJobOut, **problems(404)},
             summary="Upload a contacts CSV as an import job (poll it for progress)")
def upload(request: HttpRequest, campaign_id: int, file: UploadedFile = File(...)) -> Status[ImportJob]:  # noqa: B008
    require(request, "campaigns.add_importjob")
    campaign = _campaign(campaign_id)
    try:
        job = create_import_job(campaign, file, user=None)
    except CsvFormatError as exc:
        raise ApiProblem(422, "import-failed", "File not usable", str(exc),
                         errors=[{"field": "body.file", "detail": str(exc)}]) from None
    return Status(202, confirm_import_job(job.pk))


@router.get("/imports/{job_id}", response={200: ImportJobOut, **problems(404)},
            summary="An import job and its progress")
def read_import(request: HttpRequest, job_id: int) -> ImportJob:
    require(request, "campaigns.view_importjob")
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise not_found("import job")
    return job
