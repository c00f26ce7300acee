"""The webhook signature: HMAC-SHA256 over ``"{timestamp}.{body}"``, as a receiver checks it.

Header ``Webhook-Signature: t=1765000000,v1=<hex>[,v1=<hex>]``: one ``v1`` per active secret (two while a
secret is being rotated), so a receiver that knows either secret accepts the delivery. The timestamp is inside
the signed text, so a captured delivery cannot be replayed later than the receiver's tolerance (300 s).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Webhook-Signature"
EVENT_ID_HEADER = "Webhook-Id"
EVENT_TYPE_HEADER = "Webhook-Event"
TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 (the visible prefix of generated secrets, not a secret)


def new_secret() -> str:
    """A fresh signing secret (shown to the operator, who gives it to the receiver)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: int, body: bytes) -> str:
    """The header value: the timestamp and one ``v1`` signature per secret."""
    parts = [f"t={timestamp}"] + [f"v1={signature(s, timestamp, body)}" for s in secrets_ if s]
    return ",".join(parts)


def verify(header: str, body: bytes, secret: str, *, tolerance_s: int = TOLERANCE_S, now: float | None = None) -> bool:
    """What a receiver does: the timestamp is recent and one ``v1`` matches ``secret`` (constant time)."""
    items = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in items if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in items if k.strip() == "v1")
