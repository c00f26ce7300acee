"""Who may send SIP to a UA worker (audit F27): its trunks' addresses, configured networks, its own loopback.

The workers only place calls. On a routable ``UA_BIND_ADDRESS`` anyone could otherwise send them INVITEs, which
take one of the process's four call slots (and RTP ports) each until answered, or probe them. An INVITE from an
address outside this policy is answered ``403 Forbidden`` at once (`telephony.ua.accounts.refuse_incoming_call`);
one from an allowed address gets pjsua2's default answer to a call nobody takes (the workers take no inbound calls).
Plain Python (no pjsua2), so the settings can validate ``UA_SIP_ALLOWED_SOURCES`` at start.

This is a second line: pjsip answers some requests (OPTIONS) itself before any account sees them, and RTP is
handled in C. The first line is the firewall (docs/security.md, F27).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def source_ip(src_address: str) -> Address | None:
    """The IP of pjsip's ``srcAddress`` ("1.2.3.4:5060", "[2001:db8::1]:5060"); None when it cannot be read."""
    host = src_address.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class SipSourcePolicy:
    """The addresses a worker accepts SIP requests from. Thread-safe: trunks are added as they are first used.

    Args:
        networks: allowed networks or addresses (``UA_SIP_ALLOWED_SOURCES``: the carrier's signalling ranges).
        allow_loopback: accept 127.0.0.1 and ::1 (``UA_SIP_ALLOW_LOOPBACK``: a trunk or proxy on the same host,
            the demo, the tests). Other 127/8 addresses are not loopback here: they are other senders.

    Raises:
        ValueError: a network that is not an IP address or CIDR, named in the message.
    """

    def __init__(self, networks: Iterable[str] = (), *, allow_loopback: bool = True) -> None:
        parsed: list[Network] = list(LOOPBACK) if allow_loopback else []
        for text in networks:
            text = text.strip()
            if not text:
                continue
            try:
                parsed.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"UA_SIP_ALLOWED_SOURCES: {text!r} is not an IP address or network") from None
        self._networks = tuple(parsed)
        self._hosts: frozenset[Address] = frozenset()
        self._lock = threading.Lock()

    def add_host(self, host: str) -> None:
        """Allow a trunk's host: an IP literal, or every address its name resolves to now.

        A name that does not resolve is logged and adds nothing (pjsip will fail the call on it too).
        """
        try:
            addresses: set[Address] = {ipaddress.ip_address(host.strip("[]"))}
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
            except OSError:
                logger.warning("trunk host %s does not resolve: not added to the SIP sources", host)
                return
            addresses = {ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos}
        with self._lock:
            self._hosts = self._hosts | addresses

    def allows(self, src_address: str) -> bool:
        """Whether a request from ``src_address`` (pjsip's "ip:port") may be handled."""
        ip = source_ip(src_address)
        if ip is None:
            return False
        if ip in self._hosts:
            return True
        return any(ip.version == net.version and ip in net for net in self._networks)
