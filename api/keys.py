"""API keys: issue (shown once), look up by the presented secret, revoke; the permissions a key carries."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import transaction
from django.db.models import OuterRef, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from api.models import ApiKey

KEY_PREFIX = "ce_"
# last_used_at is written at most this often per key: a write per request would make every GET a write.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is the only copy of the key in clear; it is not stored anywhere."""

    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a request authenticated as: the key, its user (if any) and its permissions (``app.codename``)."""

    key_id: int
    user_id: int | None
    rate_per_minute: int
    permissions: frozenset[str]

    def has_perm(self, perm: str) -> bool:
        """Whether the key's groups grant ``perm`` (``app_label.codename``)."""
        return perm in self.permissions


def digest_of(secret: str) -> str:
    """SHA-256 of the key, hex: what is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(name: str, *, groups: list[Group] | None = None, user_id: int | None = None,
                  expires_at: dt.datetime | None = None, rate_per_minute: int = 600) -> IssuedKey:
    """Create a key and return its secret, which is shown once and stored only as a digest."""
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(name=name, prefix=prefix, digest=digest_of(secret), user_id=user_id,
                                    expires_at=expires_at, rate_per_minute=rate_per_minute)
        if groups:
            key.groups.set(groups)
    return IssuedKey(key=key, secret=secret)


def revoke_api_key(key_id: int) -> bool:
    """Revoke a key for good; returns False when it was already revoked."""
    return bool(ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def authenticate(secret: str) -> KeyIdentity | None:
    """The identity of a presented key, or None when it is unknown, revoked, expired or its user is inactive."""
    parts = secret.split("_")
    if len(parts) < 3 or not secret.startswith(KEY_PREFIX):
        return None
    now = timezone.now()
    # One query: the key and its groups' permissions (as "app.codename" strings).
    perms = (Permission.objects.filter(group__api_keys=OuterRef("pk"))
             .annotate(perm=Concat("content_type__app_label", Value("."), "codename")).values("perm"))
    key = (ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True)
           .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
           .filter(Q(user__isnull=True) | Q(user__is_active=True))
           .annotate(perms=ArraySubquery(perms))
           .values("pk", "digest", "user_id", "rate_per_minute", "last_used_at", "perms").first())
    # Constant-time comparison: the prefix is public, the rest must not leak through timing.
    if key is None or not hmac.compare_digest(key["digest"], digest_of(secret)):
        return None
    if key["last_used_at"] is None or key["last_used_at"] < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key["pk"]).update(last_used_at=now)
    return KeyIdentity(key_id=key["pk"], user_id=key["user_id"], rate_per_minute=key["rate_per_minute"],
                       permissions=frozenset(key["perms"] or ()))
