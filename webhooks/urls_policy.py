"""Which webhook URLs may be used: https only; http only to loopback with a development setting; no private,
link-local or otherwise internal address unless a setting allows it (SSRF: the sender runs inside the network).

The host is resolved and every address it resolves to is checked, when the endpoint is saved and again before
each delivery (a name may be re-pointed at an internal address after it was saved).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class UrlRefused(ValueError):
    """A webhook URL that the policy refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """``allow_http_loopback``: development only. ``allow_private``: receivers on an internal network."""

    allow_http_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def from_settings(cls) -> UrlPolicy:
        """The deployment's policy (WEBHOOK_ALLOW_HTTP_LOOPBACK, WEBHOOK_ALLOW_PRIVATE_ADDRESSES)."""
        return cls(allow_http_loopback=getattr(settings, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False),
                   allow_private=getattr(settings, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False))


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"the host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_webhook_url(url: str, policy: UrlPolicy | None = None) -> None:
    """Refuse ``url`` unless the policy allows it.

    Raises:
        UrlRefused: with the reason.
    """
    policy = policy or UrlPolicy.from_settings()
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise UrlRefused("use an https:// URL")
    if parts.username or parts.password:
        raise UrlRefused("credentials in the URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UrlRefused("invalid port") from exc
    addresses = _addresses(parts.hostname, port)
    loopback = all(a.is_loopback for a in addresses)
    if parts.scheme == "http" and not (loopback and policy.allow_http_loopback):
        raise UrlRefused("use https:// (http:// is allowed only to loopback, in development)")
    for address in addresses:
        if address.is_loopback and (policy.allow_http_loopback or policy.allow_private):
            continue
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified) and not policy.allow_private:
            raise UrlRefused(f"{parts.hostname} resolves to {address}, an internal address")
