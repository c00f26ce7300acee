"""Around every ``/api/v1/`` request: the key, its rate limit, the transaction, ``Idempotency-Key`` and the audit.

Order, and why:
1. Authenticate the key (``Authorization: Bearer`` or ``X-API-Key``): nothing below runs for a stranger.
2. Count the request against the key's per-minute limit in Redis (429 with ``Retry-After``).
3. A write runs in one transaction with its idempotency record and whatever the services write, webhook
   outbox rows included: all of it commits or none. A 5xx rolls it back, so a retry may run again.
4. Every write is audited (key, user, method, path, status): in its transaction when it commits, after it
   when it was refused or rolled back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse

from api import keys, ratelimit
from api.models import AuditEntry, IdempotencyRecord
from api.problems import ApiProblem, problem_response

API_PREFIX = "/api/v1/"
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/docs"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_KEY_MAX = 255


def _presented_key(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip()


class ApiMiddleware:
    """Django middleware; inert outside ``/api/v1/`` and on the schema and docs pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if not path.startswith(API_PREFIX) or path.rstrip("/") in PUBLIC_PATHS or path.startswith(
                API_PREFIX + "problems/"):
            return self.get_response(request)
        try:
            identity = self._identify(request)
        except ApiProblem as problem:
            return problem_response(problem, path)
        request.api_identity = identity  # type: ignore[attr-defined]
        if request.method not in WRITE_METHODS:
            return self.get_response(request)
        idem_key = request.headers.get("Idempotency-Key", "")
        replayed = False
        audit = AuditEntry(api_key_id=identity.key_id, user_id=identity.user_id, method=request.method or "",
                           path=path[:500], idempotency_key=idem_key[:255],
                           remote_addr=request.META.get("REMOTE_ADDR") or None)
        try:
            if len(idem_key) > IDEMPOTENCY_KEY_MAX:
                raise ApiProblem(400, "idempotency-key-invalid", "Invalid Idempotency-Key",
                                 f"An Idempotency-Key is at most {IDEMPOTENCY_KEY_MAX} characters.")
            with transaction.atomic():
                if idem_key and request.method == "POST":
                    response, replayed = self._idempotent(request, identity, idem_key)
                else:
                    response = self.get_response(request)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                else:
                    # In the write's own transaction: the audit and the change commit together (one commit).
                    audit.status_code, audit.replayed = response.status_code, replayed
                    audit.save()
        except ApiProblem as problem:
            response = problem_response(problem, path)
        if audit.pk is None:  # refused before, or rolled back: audited on its own
            audit.status_code, audit.replayed = response.status_code, replayed
            audit.save()
        return response

    @staticmethod
    def _identify(request: HttpRequest) -> keys.KeyIdentity:
        secret = _presented_key(request)
        identity = keys.authenticate(secret) if secret else None
        if identity is None:
            raise ApiProblem(401, "unauthenticated", "Authentication required",
                             "Send a valid, unexpired, unrevoked API key as 'Authorization: Bearer <key>'.",
                             headers={"WWW-Authenticate": 'Bearer realm="api"'})
        decision = ratelimit.take(identity.key_id, identity.rate_per_minute)
        if not decision.allowed:
            raise ApiProblem(429, "rate-limited", "Too many requests",
                             f"This key may make {identity.rate_per_minute} requests per minute.",
                             headers={"Retry-After": str(decision.reset_s)}, retry_after_s=decision.reset_s)
        return identity

    def _idempotent(self, request: HttpRequest, identity: keys.KeyIdentity,
                    idem_key: str) -> tuple[HttpResponse, bool]:
        try:
            # The body is compared, so it is read whole: up to DATA_UPLOAD_MAX_MEMORY_SIZE (10 MB).
            digest = hashlib.sha256(request.body).hexdigest()
        except RequestDataTooBig:
            raise ApiProblem(413, "too-large-for-idempotency", "Body too large for an Idempotency-Key",
                             "Bodies sent with an Idempotency-Key are kept to DATA_UPLOAD_MAX_MEMORY_SIZE; send a "
                             "large CSV upload without one (an import job is not a phone call).") from None
        table = IdempotencyRecord._meta.db_table
        with connection.cursor() as cursor:
            # A concurrent request with the same key waits here, on the unique index, until this one's
            # transaction ends; then it finds the committed record (replay) or none (it runs itself).
            cursor.execute(
                f"INSERT INTO {table} (api_key_id, key, method, path, body_sha256, response, content_type, "  # noqa: S608
                "created_at) VALUES (%s, %s, %s, %s, %s, '', '', now()) ON CONFLICT (api_key_id, key) DO NOTHING "
                "RETURNING id", [identity.key_id, idem_key, request.method, request.path[:500], digest])
            row = cursor.fetchone()
        if row is None:
            stored = IdempotencyRecord.objects.get(api_key_id=identity.key_id, key=idem_key)
            if stored.body_sha256 != digest or stored.path != request.path[:500] or stored.method != request.method:
                raise ApiProblem(409, "idempotency-key-reused", "Idempotency-Key reused",
                                 "This Idempotency-Key was used with another request; use a new key.")
            replay = HttpResponse(bytes(stored.response), status=stored.status_code or 200,
                                  content_type=stored.content_type or "application/json")
            replay["Idempotent-Replayed"] = "true"
            return replay, True
        response = self.get_response(request)
        if response.status_code < 500:
            IdempotencyRecord.objects.filter(pk=row[0]).update(
                status_code=response.status_code, response=bytes(response.content),
                content_type=response.get("Content-Type", ""))
        return response, False
