"""Admin pages of the per-campaign report: the report, one attempt's detail, its recording, the CSV.

The views are mounted under the campaign's admin URLs (``CampaignAdmin.get_urls``), so the admin site
has already required a logged-in staff user; each view then checks the model permission it needs.
Each kind of personal data has its own permission (audit F4): the report itself (``view_campaign``) shows
aggregate figures only; the attempts with numbers and names and one attempt's details need
``campaigns.view_callattempt``; its transcript ``access.read_transcript``; its recording
``campaigns.listen_recording`` (a person's voice, which many who may read the report should not hear); the
contacts CSV ``campaigns.view_contact`` and ``access.export_contacts``, and each export is logged.
"""

from __future__ import annotations

import io
import math
import mimetypes
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from access.models import ExportKind
from access.services import record_export
from campaigns.budget import budget_state
from campaigns.contacts.csv_export import write_csv
from campaigns.dialer.reviews import attempt_reviews
from campaigns.models import CallAttempt, Campaign
from campaigns.reports import export, facts
from campaigns.reports import report as reporting
from campaigns.reports.charts import MUTED, PRIMARY, SECONDARY, Bar, Column, Segment, bar_chart, column_chart
from campaigns.views.reviews import outcome_labels
from compliance.selectors import campaign_compliance_view

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

LISTEN_PERMISSION = "campaigns.listen_recording"
ATTEMPTS_PERMISSION = "campaigns.view_callattempt"
TRANSCRIPT_PERMISSION = "access.read_transcript"
EXPORT_PERMISSIONS = ("campaigns.view_contact", "access.export_contacts")
TIMELINE_LABELS = 12
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _campaign_for(request: HttpRequest, campaign_id: int, model_admin: ModelAdmin) -> Campaign:
    campaign = get_object_or_404(Campaign.objects.select_related("agent", "trunk"), pk=campaign_id)
    if not model_admin.has_view_permission(request, campaign):
        raise PermissionDenied
    return campaign


@require_GET
def campaign_report(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """The campaign's report: funnel, dispositions, outcomes, charts, timings, cost, recent attempts."""
    campaign = _campaign_for(request, campaign_id, model_admin)
    report = reporting.build_campaign_report(campaign)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "original": campaign,
        "title": f"Report: {campaign}",
        "report": report,
        "funnel_chart": funnel_chart(report),
        "timeline_chart": timeline_chart(report),
        "local_hour_chart": local_hour_chart(report),
        "disposition_chart": disposition_chart(report),
        # F4: numbers and names of the latest attempts only to those who may see attempts; others get aggregates.
        "can_see_attempts": (can_see_attempts := request.user.has_perm(ATTEMPTS_PERMISSION)),
        "attempts": export.recent_attempts(campaign.pk) if can_see_attempts else [],
        "can_export": request.user.has_perms(EXPORT_PERMISSIONS),
        "cost_per_outcome": cost_per_outcome(report),
        # One currency per campaign: its trunk's (a failover trunk shares it; campaigns/budget.py).
        "currency": campaign.trunk.currency,
        "budget": budget_state(campaign.pk, campaign.budget, campaign.trunk.currency),
        "abandon_after_s": facts.ABANDON_AFTER_S,
        # The abandonment governor's view (rolling 30 days) and what it did to the campaign, with its reasons.
        "compliance": campaign_compliance_view(campaign.pk, timezone.now()),
        "can_listen": request.user.has_perm(LISTEN_PERMISSION),
    }
    return TemplateResponse(request, "admin/campaigns/report.html", context)


def cost_per_outcome(report: reporting.CampaignReport) -> list[tuple[str, int, Decimal]]:
    """``(label, contacts, spend / contacts)`` per outcome: what each result cost, all calls' spend included
    (a conversion costs the unanswered calls it took too)."""
    return [(o.label, o.contacts, (report.cost_total / o.contacts).quantize(Decimal("0.01")))
            for o in report.outcomes if o.contacts]


@require_GET
def attempt_detail(request: HttpRequest, campaign_id: int, attempt_id: int, *,
                   model_admin: ModelAdmin) -> HttpResponse:
    """One attempt: SIP result, timings, the transcript as a conversation, the recording, the outcome."""
    if not request.user.has_perm(ATTEMPTS_PERMISSION):
        raise PermissionDenied  # F4: an attempt shows the number, the name and the call's result
    campaign = _campaign_for(request, campaign_id, model_admin)
    try:
        attempt = export.attempt_for_report(campaign.pk, attempt_id)
    except CallAttempt.DoesNotExist as exc:
        raise Http404("No such attempt in this campaign.") from exc
    can_listen = request.user.has_perm(LISTEN_PERMISSION)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "original": campaign,
        "title": f"Attempt {attempt.attempt_number} to {attempt.contact.phone_e164}",
        "attempt": attempt,
        "timeline": attempt_timeline(attempt),
        "talk_seconds": _billed_seconds(attempt),
        "can_read_transcript": (can_read := request.user.has_perm(TRANSCRIPT_PERMISSION)),
        "conversation": conversation(attempt.transcript) if can_read else [],
        "outcome_fields": sorted((attempt.outcome_fields or {}).items())
        if isinstance(attempt.outcome_fields, dict) else [],
        "can_listen": can_listen,
        "has_recording": bool(attempt.recording) and recording_path(attempt.recording) is not None,
        "can_review": model_admin.has_change_permission(request, campaign),
        "outcome_labels": outcome_labels(campaign),
        "reviews": attempt_reviews(attempt.pk),
        "currency": attempt.cost_currency or campaign.trunk.currency,
    }
    return TemplateResponse(request, "admin/campaigns/report_attempt.html", context)


@require_GET
def attempt_recording(request: HttpRequest, campaign_id: int, attempt_id: int, *,
                      model_admin: ModelAdmin) -> HttpResponse | StreamingHttpResponse:
    """The attempt's stereo recording, to staff holding ``campaigns.listen_recording`` only.

    Supports a single byte range (``Range: bytes=a-b``) so the audio player can seek.
    """
    # Permission first: whether the attempt or its file exists is itself not told to others.
    if not request.user.has_perm(LISTEN_PERMISSION):
        raise PermissionDenied
    campaign = _campaign_for(request, campaign_id, model_admin)
    attempt = get_object_or_404(CallAttempt.objects.only("id", "recording"), pk=attempt_id, campaign_id=campaign.pk)
    path = recording_path(attempt.recording)
    if path is None:
        raise Http404("No recording.")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    size = path.stat().st_size
    wanted = _byte_range(request.headers.get("Range", ""), size)
    if wanted is None:
        response: HttpResponse | StreamingHttpResponse = FileResponse(path.open("rb"), content_type=content_type)
    else:
        start, end = wanted
        response = StreamingHttpResponse(_read_range(path, start, end), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    # A voice recording is personal data: no shared cache may keep a copy.
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def contacts_csv(request: HttpRequest, campaign_id: int, *, model_admin: ModelAdmin) -> StreamingHttpResponse:
    """Every contact of the campaign as CSV (status, attempts, last disposition, outcome, each field).

    Streamed in chunks through ``campaigns.contacts.csv_export.write_csv``, which defuses spreadsheet formulas.
    Needs ``campaigns.view_contact`` and ``access.export_contacts``; every export is logged (F4).
    """
    if not request.user.has_perms(EXPORT_PERMISSIONS):
        raise PermissionDenied
    campaign = _campaign_for(request, campaign_id, model_admin)
    record_export(request, ExportKind.CONTACTS_CSV, campaign.pk, f"contacts of campaign {campaign.pk} {campaign.name}")
    header, rows = export.contact_export_rows(campaign)
    response = StreamingHttpResponse(_csv_chunks(header, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-contacts-{stamp}.csv"'
    return response


def _csv_chunks(header: list[str], rows: Iterator[list[Any]], chunk: int = facts.EXPORT_CHUNK) -> Iterator[str]:
    batch: list[list[Any]] = [header]
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            yield _csv_text(batch)
            batch = []
    if batch:
        yield _csv_text(batch)


def _csv_text(batch: list[list[Any]]) -> str:
    buffer = io.StringIO()
    write_csv(batch, buffer)
    return buffer.getvalue()


def recording_path(relative: str) -> Path | None:
    """The recording file for a path stored on an attempt, only if it lies inside ``RECORDINGS_ROOT``.

    A stored path is data, not trusted: ``../`` parts, absolute paths and symbolic links leading out of the
    recordings folder are refused, so the view can never serve another file of the server.

    Returns:
        The resolved file path, or None when it is missing, not a file or outside the root.
    """
    if not relative or "\x00" in relative:
        return None
    root = Path(settings.RECORDINGS_ROOT).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    match = _RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    elif last:
        start, end = max(0, size - int(last)), size - 1  # the final N bytes
    else:
        return None
    return (start, end) if start <= end and start < size else None


def _read_range(path: Path, start: int, end: int, block: int = 64 * 1024) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = end - start + 1
        while left > 0:
            data = fh.read(min(block, left))
            if not data:
                break
            left -= len(data)
            yield data


def _billed_seconds(attempt: CallAttempt) -> int | None:
    seconds = attempt.talk_seconds
    return None if seconds is None else math.ceil(seconds)


def attempt_timeline(attempt: CallAttempt) -> list[tuple[str, Any, int | None]]:
    """``(event, time, ms since the dial)`` for each timestamp the attempt has."""
    events = [("Queued", attempt.queued_at), ("Handed to a user agent", attempt.originated_at),
              ("Dialing (INVITE sent)", attempt.dialing_at), ("Ringing", attempt.ringing_at),
              ("Answered", attempt.answered_at), ("Bridged to the agent", attempt.bridged_at),
              ("Agent's first audio", attempt.agent_first_audio_at), ("Ended", attempt.ended_at)]
    origin = attempt.dialing_at or attempt.originated_at or attempt.queued_at
    return [(name, at, round((at - origin).total_seconds() * 1000) if origin else None)
            for name, at in events if at is not None]


def conversation(transcript: Any) -> list[dict[str, Any]]:
    """Transcript segments in time order, ready for the conversation view (speaker side, time, text)."""
    if not isinstance(transcript, list):
        return []
    segments = [s for s in transcript if isinstance(s, dict)]
    segments.sort(key=lambda s: s["start_ms"] if isinstance(s.get("start_ms"), int | float) else 0)
    turns = []
    for segment in segments:
        speaker = str(segment.get("speaker", ""))
        start = segment.get("start_ms")
        # After a hand-over the person at the transfer target speaks on the agent's side (and channel).
        turns.append({"speaker": speaker.replace("_", " ") or "unknown", "agent": speaker in ("agent", "human_agent"),
                      "text": str(segment.get("text", "")),
                      "ms": int(start) if isinstance(start, int | float) else None,
                      "at": f"{int(start) // 60000}:{int(start) // 1000 % 60:02d}"
                      if isinstance(start, int | float) else ""})
    return turns


def funnel_chart(report: reporting.CampaignReport) -> Any:
    """The funnel as horizontal bars of contacts, with each stage's share of all contacts."""
    total = report.contacts_total
    bars = [Bar(stage.label, stage.contacts, f"{stage.contacts:,} ({_percent(stage.contacts, total)})")
            for stage in report.funnel]
    return bar_chart(bars, title="Funnel: contacts reaching each stage", max_value=max(total, 1))


def disposition_chart(report: reporting.CampaignReport) -> Any:
    """Ended attempts by disposition."""
    bars = [Bar(label, n, f"{n:,} ({share * 100:.1f}%)", PRIMARY if value in facts.HUMAN_DISPOSITIONS else
                SECONDARY) for value, label, n, share in report.dispositions]
    return bar_chart(bars, title="Ended attempts by disposition")


def timeline_chart(report: reporting.CampaignReport) -> Any:
    """Dialed attempts per hour (or per wider bucket on long campaigns), connected ones darker."""
    bars = report.timeline
    hours = report.timeline_bucket_hours
    every = max(1, math.ceil(len(bars) / TIMELINE_LABELS))
    columns = [Column(label=f"{bar.start:%m-%d %H:%M}",
                      segments=[Segment(bar.connected, PRIMARY), Segment(bar.attempts - bar.connected, SECONDARY)],
                      tooltip=f"{bar.start:%Y-%m-%d %H:%M} +{hours} h: {bar.attempts:,} dialed, "
                              f"{bar.connected:,} connected ({_percent(bar.connected, bar.attempts)})")
               for bar in bars]
    unit = "hour" if hours == 1 else f"{hours} hours"
    zone = timezone.get_current_timezone_name()
    return column_chart(columns, title=f"Dialed attempts per {unit} ({zone})", label_every=every,
                        legend=[(PRIMARY, "connected"), (SECONDARY, "not connected")])


def local_hour_chart(report: reporting.CampaignReport) -> Any:
    """Answer rate at each hour of the day in the contacts' own time."""
    rates = [h.answer_rate or 0.0 for h in report.local_hours]
    top = min(1.0, max(0.1, math.ceil(max(rates, default=0) * 10) / 10))
    columns = [Column(label=f"{h.hour:02d}",
                      segments=[Segment(h.answer_rate or 0.0, PRIMARY if h.attempts else MUTED)],
                      tooltip=f"{h.hour:02d}:00-{h.hour:02d}:59 local: {h.attempts:,} dialed, {h.connected:,} "
                              f"connected ({_percent(h.connected, h.attempts)})")
               for h in report.local_hours]
    return column_chart(columns, title="Answer rate by the contact's local hour", y_max=top, y_format="percent")


def _percent(part: float, whole: float) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "-"


def outcome_field_columns(outcomes: Sequence[reporting.OutcomeSummary]) -> list[str]:
    """Every field name shown in the outcomes table, in order of first appearance."""
    names: list[str] = []
    for outcome in outcomes:
        names.extend(f.name for f in outcome.fields if f.name not in names)
    return names
