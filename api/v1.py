"""The ``/api/v1/`` application: django-ninja, its OpenAPI schema, the docs page and problem-details errors."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from api.keys import KeyIdentity
from api.problems import PROBLEM_CONTENT_TYPE, ApiProblem, forbidden, problem_response
from api.schemas import Problem

MAX_PAGE = 200
DEFAULT_PAGE = 50


class KeyAuth(HttpBearer):
    """``Authorization: Bearer <key>``; the key was checked by ``api.middleware.ApiMiddleware``."""

    def __call__(self, request: HttpRequest) -> KeyIdentity | None:
        return getattr(request, "api_identity", None)

    def authenticate(self, request: HttpRequest, token: str) -> KeyIdentity | None:
        return getattr(request, "api_identity", None)


api = NinjaAPI(
    title="Campaign engine API",
    version="1",
    description="Campaigns, contacts, do-not-call, call attempts, reports and calls. Errors are RFC 9457 problem "
                "details. Every POST takes an Idempotency-Key. See docs/api.md.",
    urls_namespace="api-v1",
    auth=KeyAuth(),
    # Swagger UI from the django-ninja package's own static files: the docs page needs no network.
    docs=Swagger(settings={"persistAuthorization": True}),
)

# Problems every authenticated operation may answer with, documented on each operation.
COMMON_PROBLEMS: dict[int, Any] = {400: Problem, 401: Problem, 403: Problem, 422: Problem, 429: Problem}


def problems(*codes: int) -> dict[int, Any]:
    """The response map of an operation's problems: the common ones plus ``codes``."""
    return {**COMMON_PROBLEMS, **dict.fromkeys(codes, Problem)}


def identity(request: HttpRequest) -> KeyIdentity:
    """The authenticated key of the request."""
    found: KeyIdentity | None = getattr(request, "api_identity", None)
    if found is None:
        raise ApiProblem(401, "unauthenticated", "Authentication required")
    return found


def require(request: HttpRequest, *perms: str) -> KeyIdentity:
    """The request's key if its groups grant every one of ``perms``; else a 403 problem naming the first missing."""
    key = identity(request)
    for perm in perms:
        if not key.has_perm(perm):
            raise forbidden(perm)
    return key


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
        return int(value["before"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiProblem(400, "bad-cursor", "Invalid cursor", "Pass next_cursor from a previous page as is.",
                         errors=[{"field": "query.cursor", "detail": "not a cursor of this API"}]) from None


def paginate(queryset: QuerySet[Any], cursor: str | None, limit: int | None) -> dict[str, Any]:
    """A page of ``queryset`` newest first (by id) after ``cursor``: stable under inserts, unlike offsets."""
    size = min(max(limit or DEFAULT_PAGE, 1), MAX_PAGE)
    before = _decode_cursor(cursor)
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    rows = list(queryset.order_by("-pk")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = base64.urlsafe_b64encode(json.dumps({"before": rows[-1].pk}).encode()).decode().rstrip("=")
    return {"items": rows, "next_cursor": next_cursor}


@api.exception_handler(ApiProblem)
def _on_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return problem_response(exc, request.path)


@api.exception_handler(ValidationError)
def _on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"field": ".".join(str(p) for p in err.get("loc", ())), "detail": err.get("msg", "")}
              for err in exc.errors]
    return problem_response(ApiProblem(422, "validation", "Invalid request", "The request has invalid fields.",
                                       errors=errors), request.path)


@api.exception_handler(AuthenticationError)
def _on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(ApiProblem(401, "unauthenticated", "Authentication required",
                                       headers={"WWW-Authenticate": 'Bearer realm="api"'}), request.path)


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja raises these for a body it cannot parse (400) and the like.
    return problem_response(ApiProblem(exc.status_code, "http-error", str(exc.message)), request.path)


@api.exception_handler(Http404)
def _on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(ApiProblem(404, "not-found", "Not found"), request.path)


_IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Same key and body: the stored response again; same key, other body: 409.",
                    "schema": {"type": "string", "maxLength": 255}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
             "description": "The version (ETag) read; required (428 without it), 412 when it is stale.",
             "schema": {"type": "string"}}


def _problem_content_types(schema: dict[str, Any]) -> dict[str, Any]:
    # The headers the middleware and the update service read, which the generator cannot see.
    problem_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if method == "post":
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
                for code, what in ((409, "Idempotency-Key reused with another body"),
                                   (413, "Body too large for an Idempotency-Key")):
                    responses.setdefault(code, {"description": what, "content": problem_ref})
            if method == "patch" and {428, "428"} & set(responses):  # only the updates that check a version
                operation.setdefault("parameters", []).append(_IF_MATCH)
    # Error responses are application/problem+json (RFC 9457), not the generator's application/json.
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(code) >= 400 and "application/json" in content:
                    response["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
    return schema


_generate = api.get_openapi_schema


def _openapi_schema(**kwargs: Any) -> Any:
    return _problem_content_types(_generate(**kwargs))


api.get_openapi_schema = _openapi_schema  # type: ignore[method-assign]


def _register_routes() -> None:
    from api.routes import attempts, calls, campaigns, catalog, contacts, dnc, webhooks

    api.add_router("/campaigns", campaigns.router, tags=["campaigns"])
    api.add_router("/", contacts.router, tags=["contacts"])
    api.add_router("/dnc", dnc.router, tags=["do-not-call"])
    api.add_router("/attempts", attempts.router, tags=["attempts"])
    api.add_router("/calls", calls.router, tags=["calls"])
    api.add_router("/", catalog.router, tags=["catalogue"])
    api.add_router("/webhooks", webhooks.router, tags=["webhooks"])


_register_routes()
