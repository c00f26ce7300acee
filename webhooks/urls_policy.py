"""Which webhook URLs may be used: https only; http only to loopback with a development setting; no private,
link-local or otherwise internal address unless a setting allows it (SSRF: the sender runs inside the network).

The host is resolved and every address it resolves to is checked, when the endpoint is saved and again before
each delivery (a name may be re-pointed at an internal address after it was saved), and the delivery connects to
an address so checked, not to whatever the name resolves to a moment later.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

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


def check_webhook_url(url: str, policy: UrlPolicy | None = None) -> list[str]:
    """Refuse ``url`` unless the policy allows it; return the addresses checked (to connect to exactly those).

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
    return [str(a) for a in addresses]


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` with its host replaced by the checked ``address``, the Host header and the TLS server name.

    Connecting to the address that was checked (not resolving the name again) closes the window in which a name
    could be re-pointed at an internal address between the check and the connect (DNS rebinding). TLS still
    verifies the certificate against the host name (``sni_hostname``).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    headers = {"Host": host + (f":{parts.port}" if parts.port else "")}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), headers, extensions
