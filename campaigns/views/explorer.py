"""The attempts explorer of a campaign's report: filter, search transcripts, listen in turn, export.

Filters (all optional, combined with AND): disposition, outcome, AMD result, a date range of the dial (UTC days),
words in the transcript, and "with a recording". The report's charts and tables link here with the filter set,
so a click on "Busy 9" lists those nine attempts. The same filters drive the listen queue (the recordings of the
filtered attempts, played one after another) and the attempts CSV.

Mounted under the campaign's admin URLs, so the admin site has required a staff user; each view checks the
model permission, and recordings still need ``campaigns.listen_recording``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access.models import ExportKind
from access.services import record_export
from campaigns.contacts.csv_export import write_csv
from campaigns.models import CallAttempt, Campaign
from telephony.choices import Disposition

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

ATTEMPTS_PERMISSION = "campaigns.view_callattempt"
TRANSCRIPT_PERMISSION = "access.read_transcript"
EXPORT_PERMISSIONS = ("campaigns.view_contact", "access.export_contacts")
PAGE_SIZE = 50
QUEUE_MAX = 200  # recordings in one listen queue; narrow the filter for more
EXPORT_CHUNK = 2000
AMD_CHOICES = [("", "any"), ("human", "Human"), ("machine", "Machine"), ("unknown", "Unknown"),
               ("none", "Not run")]


class AttemptFilterForm(forms.Form):
    """The explorer's filters, read from the query string."""

    disposition = forms.ChoiceField(required=False, choices=[("", "any"), *Disposition.choices])
    outcome = forms.ChoiceField(required=False, choices=[("", "any")])
    amd = forms.ChoiceField(required=False, choices=AMD_CHOICES, label="AMD result")
    since = forms.DateField(required=False, label="From (UTC day)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To (UTC day)", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Transcript contains")
    recorded = forms.BooleanField(required=False, label="With a recording")

    def __init__(self, *args: Any, outcomes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        outcome = self.fields["outcome"]
        assert isinstance(outcome, forms.ChoiceField)  # noqa: S101 (declared above)
        outcome.choices = [("", "any"), ("-", "none"), *[(o, o.replace("_", " ")) for o in outcomes]]


def campaign_outcomes(campaign: Campaign) -> list[str]:
    """Outcome labels of the agent's schema, then any other label found on the campaign's attempts."""
    schema = campaign.agent.outcome_schema if isinstance(campaign.agent.outcome_schema, list) else []
    labels = [str(o.get("label")) for o in schema if isinstance(o, dict) and o.get("label")]
    found = (CallAttempt.objects.filter(campaign_id=campaign.pk).exclude(outcome="")
             .values_list("outcome", flat=True).distinct().order_by())
    return labels + sorted(set(found) - set(labels))


def filtered_attempts(campaign_id: int, data: dict[str, Any]) -> QuerySet[CallAttempt]:
    """The campaign's attempts matching the cleaned filter values, newest first."""
    qs = CallAttempt.objects.filter(campaign_id=campaign_id)
    if data.get("disposition"):
        qs = qs.filter(disposition=data["disposition"])
    if data.get("outcome") == "-":
        qs = qs.filter(outcome="")
    elif data.get("outcome"):
        qs = qs.filter(outcome=data["outcome"])
    amd = data.get("amd")
    if amd == "none":
        qs = qs.filter(amd_result="")
    elif amd:
        qs = qs.filter(amd_result=amd)
    if data.get("since"):
        qs = qs.filter(queued_at__gte=dt.datetime.combine(data["since"], dt.time(), tzinfo=dt.UTC))
    if data.get("until"):
        qs = qs.filter(queued_at__lt=dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time(),
                                                         tzinfo=dt.UTC))
    if data.get("q"):
        # The transcript is a JSON list of segments; its text form holds every segment's words.
        qs = qs.filter(transcript__icontains=data["q"])
    if data.get("recorded"):
        qs = qs.exclude(recording="")
    return qs.select_related("contact").order_by("-id")


def _form(request: HttpRequest, campaign: Campaign) -> tuple[AttemptFilterForm, dict[str, Any]]:
    form = AttemptFilterForm(request.GET or None, outcomes=campaign_outcomes(campaign))
    if not request.user.has_perm(TRANSCRIPT_PERMISSION):
        del form.fields["q"]  # F4: searching transcripts reads them
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    return form, data


def _query(data: dict[str, Any]) -> str:
    pairs = {k: (v.isoformat() if isinstance(v, dt.date) else ("1" if v is True else v))
             for k, v in data.items() if v not in (None, "", False)}
    return urlencode(pairs)


def first_transcript_match(transcript: Any, words: str) -> str:
    """The first transcript line containing ``words`` (case-insensitive), for the results table."""
    if not words or not isinstance(transcript, list):
        return ""
    needle = words.lower()
    for segment in transcript:
        text = str(segment.get("text", "")) if isinstance(segment, dict) else ""
        if needle in text.lower():
            return f"{segment.get('speaker', '')}: {text}"
    return ""


def _campaign_for(request: HttpRequest, campaign_id: int, model_admin: ModelAdmin) -> Campaign:
    # F4: the explorer lists numbers, names and results: it needs the attempts permission, not just the report's.
    if not request.user.has_perm(ATTEMPTS_PERMISSION):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign.objects.select_related("agent", "trunk"), pk=campaign_id)
    if not model_admin.has_view_permission(request, campaign):
        raise PermissionDenied
    return campaign


def _csv_chunks(header: list[str], rows: Iterator[list[Any]]) -> Iterator[str]:
    batch: list[list[Any]] = [header]
    for row in rows:
        batch.append(row)
        if len(batch) >= EXPORT_CHUNK:
            buffer = io.StringIO()
            write_csv(batch, buffer)
            yield buffer.getvalue()
            batch = []
    buffer = io.StringIO()
    write_csv(batch, buffer)
    yield buffer.getvalue()


@require_GET
def attempts_explorer(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """The filtered attempts, a page at a time, with the listen queue and the CSV link for the same filter."""
    campaign = _campaign_for(request, campaign_id, model_admin)
    form, data = _form(request, campaign)
    qs = filtered_attempts(campaign.pk, data)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    can_listen = request.user.has_perm("campaigns.listen_recording")
    rows = [{
        "attempt": a,
        "url": reverse("admin:campaigns_campaign_report_attempt", args=[campaign.pk, a.pk]),
        "match": first_transcript_match(a.transcript, data.get("q", "")),
    } for a in page.object_list]
    queue: list[dict[str, Any]] = []
    if can_listen:
        queue = [{"id": a_id, "label": f"#{a_id} {phone} {outcome or disposition}",
                  "src": reverse("admin:campaigns_campaign_report_recording", args=[campaign.pk, a_id]),
                  "page": reverse("admin:campaigns_campaign_report_attempt", args=[campaign.pk, a_id])}
                 for a_id, phone, outcome, disposition in qs.exclude(recording="")
                 .values_list("id", "contact__phone_e164", "outcome", "disposition")[:QUEUE_MAX]]
    query = _query(data)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "original": campaign,
        "title": f"Attempts: {campaign}",
        "form": form,
        "page": page,
        "rows": rows,
        "query": query,
        "csv_url": reverse("admin:campaigns_campaign_report_attempts_csv", args=[campaign.pk])
                   + (f"?{query}" if query else ""),
        "can_listen": can_listen,
        "queue_json": json.dumps(queue),
        "queue_size": len(queue),
        "queue_max": QUEUE_MAX,
        "currency": campaign.trunk.currency,
    }
    return TemplateResponse(request, "admin/campaigns/report_attempts.html", context)


ATTEMPTS_CSV_HEADER = ["attempt", "queued_at_utc", "phone", "name", "attempt_number", "state", "disposition",
                       "sip_code", "amd_result", "answered_at_utc", "ended_at_utc", "talk_s", "outcome",
                       "outcome_fields", "first_response_ms", "cost", "currency", "recording_url", "transcript"]


def _utc(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def attempt_csv_rows(request: HttpRequest, campaign_id: int, qs: QuerySet[CallAttempt], *,
                     with_transcripts: bool = True, currency: str = "") -> Iterator[list[Any]]:
    """One row per attempt, read in chunks (a large campaign never sits in memory).

    ``currency`` names a cost charged without one (the campaign's trunk's: a campaign's spend is one currency).
    """
    for a in qs.iterator(EXPORT_CHUNK):
        talk = a.talk_seconds
        recording = (request.build_absolute_uri(
            reverse("admin:campaigns_campaign_report_recording", args=[campaign_id, a.pk])) if a.recording else "")
        transcript = " | ".join(f"{s.get('speaker', '')}: {s.get('text', '')}" for s in (a.transcript or [])
                                if isinstance(s, dict)) if with_transcripts else ""
        yield [a.pk, _utc(a.queued_at), a.contact.phone_e164, a.contact.name, a.attempt_number, a.state,
               a.disposition, a.sip_code or "", a.amd_result, _utc(a.answered_at), _utc(a.ended_at),
               "" if talk is None else f"{talk:.1f}", a.outcome,
               json.dumps(a.outcome_fields, sort_keys=True) if a.outcome_fields else "",
               " ".join(str(ms) for ms in a.first_response_ms or []),
               "" if a.cost is None else f"{a.cost:.4f}", (a.cost_currency or currency) if a.cost is not None else "",
               recording, transcript]


@require_GET
def attempts_csv(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> StreamingHttpResponse:
    """The filtered attempts as CSV: times in UTC, outcome, latencies, cost with its currency, recording link,
    transcript."""
    if not request.user.has_perms(EXPORT_PERMISSIONS):
        raise PermissionDenied
    campaign = _campaign_for(request, campaign_id, model_admin)
    _, data = _form(request, campaign)
    qs = filtered_attempts(campaign.pk, data).order_by("id")
    with_transcripts = request.user.has_perm(TRANSCRIPT_PERMISSION)
    # F4: every export of personal data is logged before the file is sent.
    record_export(request, ExportKind.CONTACTS_CSV, campaign.pk,
                  f"attempts of campaign {campaign.pk} {campaign.name}" + (f" ({_query(data)})" if data else ""))
    rows = attempt_csv_rows(request, campaign.pk, qs, with_transcripts=with_transcripts,
                            currency=campaign.trunk.currency)
    response = StreamingHttpResponse(_csv_chunks(ATTEMPTS_CSV_HEADER, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-attempts-{stamp}.csv"'
    return response


def explorer_link(campaign_id: int, **filters: str) -> str:
    """The explorer URL with filters set (the report's click-throughs)."""
    query = urlencode({k: v for k, v in filters.items() if v})
    return reverse("admin:campaigns_campaign_report_attempts", args=[campaign_id]) + (f"?{query}" if query else "")
