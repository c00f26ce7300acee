"""Errors as RFC 9457 problem details (``application/problem+json``), each with the field at fault when there is one."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse

PROBLEM_TYPE_BASE = "/api/v1/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiProblem(Exception):
    """Raised by a route or service to answer with a problem document.

    Args:
        status: The HTTP status.
        slug: The problem type, appended to ``/api/v1/problems/`` (documented in docs/api.md).
        title: A short summary of the problem type.
        detail: What happened in this case.
        errors: Fields at fault: ``[{"field": "body.to", "detail": "..."}]`` (or ``index`` for bulk rows).
        headers: Extra response headers (``Retry-After``...).
        extra: Extension members (``retry_at``, ``reason``...).
    """

    def __init__(self, status: int, slug: str, title: str, detail: str = "", *,
                 errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    def document(self, instance: str = "") -> dict[str, Any]:
        """The problem document (RFC 9457 section 3)."""
        doc: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extra)
        return doc


def problem_response(problem: ApiProblem, instance: str = "") -> HttpResponse:
    """An ``HttpResponse`` carrying ``problem``."""
    response = HttpResponse(json.dumps(problem.document(instance), default=str), status=problem.status,
                            content_type=PROBLEM_CONTENT_TYPE)
    for name, value in problem.headers.items():
        response[name] = value
    return response


def not_found(what: str) -> ApiProblem:
    """404 for an object that does not exist or that the key may not see."""
    return ApiProblem(404, "not-found", "Not found", f"No such {what}.")


def forbidden(perm: str) -> ApiProblem:
    """403 naming the missing permission."""
    return ApiProblem(403, "forbidden", "Permission denied", f"This key's groups lack the permission {perm!r}.",
                      permission=perm)


def validation_problem(errors: list[dict[str, Any]], detail: str = "The request has invalid fields.") -> ApiProblem:
    """422 with the fields at fault."""
    return ApiProblem(422, "validation", "Invalid request", detail, errors=errors)
