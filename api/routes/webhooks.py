"""Webhook endpoints: list, create (the secret shown once), read (never the secret), update, delete, rotate.

The URL goes through the same checks as the admin's form (a valid URL, then ``webhooks.urls_policy``: https, no
private or link-local address unless the deployment allows it). Every write is audited by ``api.middleware``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from api.problems import ApiProblem, not_found
from api.schemas import Page
from api.v1 import paginate, problems, require
from campaigns.models import Campaign
from webhooks import services
from webhooks.models import EventType, WebhookEndpoint
from webhooks.urls_policy import UrlRefused, check_webhook_url

router = Router()

class EndpointFields(Schema):
    """The fields a client may set; on an update, only those sent change."""

    url: str = Field(..., max_length=500, description="https:// (http:// only to loopback in development).")
    description: str = Field("", max_length=200)
    campaign_id: int | None = Field(None, description="Null: events of every campaign.")
    events: list[EventType] = Field(default_factory=list, description="Empty: every event type.")
    enabled: bool = True


class EndpointUpdate(Schema):
    """A partial update of an endpoint."""

    url: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=200)
    campaign_id: int | None = None
    events: list[EventType] | None = None
    enabled: bool | None = None


class EndpointOut(Schema):
    """An endpoint as read: never its secret."""

    id: int
    url: str
    description: str
    campaign_id: int | None
    events: list[str]
    enabled: bool
    disabled_reason: str
    disabled_at: dt.datetime | None = Field(None, description="When it was disabled after failing deliveries.")
    rotating: bool = Field(..., description="A rotation is under way: deliveries are signed with both secrets.")
    created_at: dt.datetime


class EndpointWithSecret(EndpointOut):
    """The create and rotate answer: the signing secret, shown this once."""

    secret: str = Field(..., description="Shown only in this response; store it now.")


class EndpointPage(Page):
    """A page of endpoints."""

    items: list[EndpointOut]


def _out(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    out = {f: getattr(endpoint, f) for f in ("id", "url", "description", "campaign_id", "events", "enabled",
                                             "disabled_reason", "disabled_at", "created_at")}
    out["rotating"] = bool(endpoint.previous_secret)
    if with_secret:
        out["secret"] = endpoint.secret
    return out


def _get(endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    qs = WebhookEndpoint.objects.select_for_update() if lock else WebhookEndpoint.objects
    endpoint = qs.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


def _invalid(field: str, detail: str) -> ApiProblem:
    return ApiProblem(422, "validation", "Invalid request", detail, errors=[{"field": field, "detail": detail}])


def _checked_url(url: str) -> str:
    # The admin form's rules: a well-formed URL (Django's URLField), then the SSRF policy on its addresses.
    try:
        URLValidator(schemes=["http", "https"])(url)
        check_webhook_url(url)
    except DjangoValidationError:
        raise _invalid("body.payload.url", "not a valid URL") from None
    except UrlRefused as exc:
        raise _invalid("body.payload.url", str(exc)) from None
    return url


def _checked_campaign(campaign_id: int | None) -> int | None:
    if campaign_id is not None and not Campaign.objects.filter(pk=campaign_id).exists():
        raise _invalid("body.payload.campaign_id", "no such campaign")
    return campaign_id


@router.get("", response={200: EndpointPage, **problems()}, summary="List webhook endpoints")
def list_endpoints(request: HttpRequest, cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    require(request, "webhooks.view_webhookendpoint")
    page = paginate(WebhookEndpoint.objects.all(), cursor, limit)
    page["items"] = [_out(e) for e in page["items"]]
    return page


@router.post("", response={201: EndpointWithSecret, **problems()},
             summary="Create a webhook endpoint (its signing secret is in this response only)")
def create_endpoint(request: HttpRequest, payload: EndpointFields) -> Status[dict[str, Any]]:
    require(request, "webhooks.add_webhookendpoint")
    endpoint = services.create_endpoint(_checked_url(payload.url), events=[str(e) for e in payload.events],
                                        campaign_id=_checked_campaign(payload.campaign_id),
                                        description=payload.description)
    if not payload.enabled:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
        endpoint.enabled = False
    return Status(201, _out(endpoint, with_secret=True))


@router.get("/{endpoint_id}", response={200: EndpointOut, **problems(404)}, summary="Read a webhook endpoint")
def read_endpoint(request: HttpRequest, endpoint_id: int) -> dict[str, Any]:
    require(request, "webhooks.view_webhookendpoint")
    return _out(_get(endpoint_id))


@router.patch("/{endpoint_id}", response={200: EndpointOut, **problems(404)}, summary="Change a webhook endpoint")
def update_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointUpdate) -> dict[str, Any]:
    require(request, "webhooks.change_webhookendpoint")
    changes = payload.dict(exclude_unset=True)
    for field in ("url", "description", "events", "enabled"):
        if field in changes and changes[field] is None:
            raise _invalid(f"body.payload.{field}", "may not be null")
    if "url" in changes:
        _checked_url(changes["url"])
    if "campaign_id" in changes:
        _checked_campaign(changes["campaign_id"])
    if "events" in changes:
        changes["events"] = [str(e) for e in changes["events"]]
    with transaction.atomic():
        endpoint = _get(endpoint_id, lock=True)
        enabling = changes.get("enabled") is True and not endpoint.enabled
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if enabling:
            endpoint.enabled = False  # re-enabled through the service: its pending deliveries become due
        endpoint.save(update_fields=list(changes) or None)
    if enabling:
        services.enable_endpoint(endpoint.pk)
    return _out(_get(endpoint_id))


@router.delete("/{endpoint_id}", response={204: None, **problems(404)}, summary="Delete a webhook endpoint")
def delete_endpoint(request: HttpRequest, endpoint_id: int) -> Status[None]:
    require(request, "webhooks.delete_webhookendpoint")
    _get(endpoint_id).delete()
    return Status(204, None)


@router.post("/{endpoint_id}/rotate-secret", response={200: EndpointWithSecret, **problems(404)},
             summary="Issue a new secret (shown once); the previous one keeps signing until the rotation ends")
def rotate(request: HttpRequest, endpoint_id: int) -> dict[str, Any]:
    require(request, "webhooks.change_webhookendpoint")
    _get(endpoint_id)
    return _out(services.rotate_secret(endpoint_id), with_secret=True)


@router.post("/{endpoint_id}/end-rotation", response={200: EndpointOut, **problems(404)},
             summary="Stop signing with the previous secret")
def finish_rotation(request: HttpRequest, endpoint_id: int) -> dict[str, Any]:
    require(request, "webhooks.change_webhookendpoint")
    _get(endpoint_id)
    services.end_rotation(endpoint_id)
    return _out(_get(endpoint_id))
