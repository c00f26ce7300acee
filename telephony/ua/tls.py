"""TLS towards trunks with the server verified (F5): CA list, host name, and a clear reason when refused.

pjsip's TLS client trusts any certificate unless its transport says `verifyServer`; then it checks the chain
against the transport's CA list and the host name of the request URI against the certificate's subjectAltName
(DNS or IP entries) or, without one, its CN, and closes the connection before any SIP message is written when
either fails (measured with pjsua2 2.15.1: the OPTIONS or INVITE never reaches the server, and the request ends
with a local `503 SSL certificate verification error`).

The CA list belongs to a TLS transport (a pjsip listener), not to an account, so a process keeps one verifying
transport for the system's CA bundle (`verifying_tls_config`, used for the Endpoint's TLS listener) and one more
per trunk that names its own CA (`TlsTransports`). `TlsRefusals` keeps why the last handshake with each address
was refused (untrusted, wrong name), read from `onTransportState`, so an attempt or a trunk check says more than
pjsip's status text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pjsua2 as pj

logger = logging.getLogger(__name__)

# pjsua's transport table is small (PJSIP_MAX_TRANSPORTS); the Endpoint already uses three (UDP, TCP, TLS).
MAX_TRUNK_CA_TRANSPORTS = 3
# A refusal is matched to a failed request for this long (the request fails within milliseconds of it).
_REFUSAL_TTL_S = 60.0


def system_ca_file() -> str:
    """The CA bundle that verifies trunks without their own CA: ``SSL_CERT_FILE``, else the system's bundle.

    Raises:
        RuntimeError: no bundle exists (TLS trunks could not be verified; better to say so at start).
    """
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE", ""), paths.cafile or "", paths.openssl_cafile or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("no CA bundle found for TLS trunks (install ca-certificates or set SSL_CERT_FILE)")


def verifying_tls_config(transport: pj.TransportConfig, *, ca_pem: str = "", ca_file: str = "") -> None:
    """Make `transport`'s TLS client verify servers: against `ca_pem` when given, else `ca_file` (else the system).

    Why: pjsua's default (`verifyServer = False`, no CA list) completes a handshake with any certificate, so
    whoever sits between us and the trunk reads the dialled numbers and SDP (with any SDES keys) and relays the
    digest authentication (F5, verified as E10).
    """
    tls = transport.tlsConfig
    tls.verifyServer = True
    if ca_pem.strip():
        tls.CaBuf = ca_pem
        return
    try:
        tls.CaListFile = ca_file or system_ca_file()
    except RuntimeError as exc:
        # Still verifying, with nothing trusted: every TLS trunk without its own CA is refused, none is trusted blind.
        logger.warning("%s: TLS trunks need their own CA certificate", exc)


def refusal_text(tls_info: pj.TlsInfo) -> str:
    """Why a TLS handshake was refused, from the transport state's TLS information ("" when it was not)."""
    if tls_info.isEmpty() or not tls_info.verifyStatus:
        return ""
    reasons = "; ".join(str(m) for m in tls_info.verifyMsgs) or f"status {tls_info.verifyStatus:#x}"
    cert = tls_info.remoteCertInfo
    subject = f" (certificate CN={cert.subjectCn})" if not cert.isEmpty() and cert.subjectCn else ""
    return f"TLS server {tls_info.remoteAddr}{subject} refused: {reasons}"


class TlsRefusals:
    """The last refused TLS handshake per remote address ("ip:port"), written on the pjsua thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_address: dict[str, tuple[float, str]] = {}

    def record(self, remote_address: str, text: str) -> None:
        """Keep `text` as the reason the handshake with `remote_address` was refused."""
        with self._lock:
            self._by_address[remote_address] = (self._clock(), text)

    def reason_for(self, host: str, port: int) -> str:
        """A recent refusal of `host:port` (or of any address on that port when `host` is a name), else ""."""
        now = self._clock()
        with self._lock:
            recent = {addr: text for addr, (at, text) in self._by_address.items() if now - at <= _REFUSAL_TTL_S}
        bare = host.strip("[]")
        exact = recent.get(f"{bare}:{port}") or recent.get(f"[{bare}]:{port}")
        if exact:
            return exact
        same_port = [text for addr, text in recent.items() if addr.rsplit(":", 1)[-1] == str(port)]
        return same_port[-1] if same_port else ""


class TlsTransports:
    """One verifying TLS transport per trunk CA (by the PEM's digest), created on first use (pjsua thread).

    Args:
        endpoint: the process's Endpoint.
        bind_address: the address the transports bind to (an ephemeral port each: they dial out only).
        default_id: the Endpoint's TLS transport, which verifies against the system's bundle.
    """

    def __init__(self, endpoint: pj.Endpoint, bind_address: str, default_id: int | None) -> None:
        self.endpoint = endpoint
        self.bind_address = bind_address
        self.default_id = default_id
        self._by_ca: dict[str, int] = {}

    def transport_for(self, ca_pem: str) -> int:
        """The transport id to reach a trunk that trusts `ca_pem` ("" = the system's bundle).

        Raises:
            RuntimeError: TLS is unavailable, or too many distinct trunk CAs are in use in this process.
        """
        if not ca_pem.strip():
            if self.default_id is None:
                raise RuntimeError("TLS transport unavailable in this process")
            return self.default_id
        key = hashlib.sha256(ca_pem.strip().encode()).hexdigest()
        if key not in self._by_ca:
            if len(self._by_ca) >= MAX_TRUNK_CA_TRANSPORTS:
                raise RuntimeError(f"more than {MAX_TRUNK_CA_TRANSPORTS} trunk CA certificates in one UA process")
            config = pj.TransportConfig()
            config.boundAddress = self.bind_address
            config.port = 0
            verifying_tls_config(config, ca_pem=ca_pem)
            self._by_ca[key] = self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_TLS, config)
        return self._by_ca[key]
