"""TLS trunks for the tests: certificates from a test CA (made with `cryptography`) and a small SIP-over-TLS peer."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM."""

    cert_pem: str
    key_pem: str

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """The certificate and key as files (`stem`.crt, `stem`.key)."""
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


class TestCa:
    """A certificate authority for one test: it signs server certificates for chosen names."""

    __test__ = False  # not a test class

    def __init__(self, common_name: str = "Campaign Engine Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        """The CA certificate, PEM (what a trunk's `tls_ca_pem` holds)."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, *names: str) -> Issued:
        """A server certificate for `names` (subjectAltName), signed by this CA."""
        return _issue(common_name, names, issuer=(self.cert.subject, self.key))


def self_signed(common_name: str, *names: str) -> Issued:
    """A self-signed server certificate (what an attacker in the path can make for any name)."""
    return _issue(common_name, names or (common_name,), issuer=None)


def _issue(common_name: str, names: tuple[str, ...],
           issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    issuer_name, signer = issuer if issuer else (_name(common_name), key)
    builder = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
    )
    if names:
        builder = builder.add_extension(_alt_names(names), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(),
                  key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode())


class TlsSipPeer(threading.Thread):
    """A minimal SIP-over-TLS server on loopback (this SIPp build has no TLS).

    It answers OPTIONS 200, INVITE 486 (and takes the ACK), and records every message it read (with its body).
    `handshakes` counts completed TLS handshakes, `errors` what failed, so a test can tell "refused before any
    SIP message was written" from "never connected".
    """

    def __init__(self, port: int, issued: Issued, workdir: Path, *, connections: int = 1) -> None:
        super().__init__(daemon=True)
        cert, key = issued.write(workdir, f"peer-{port}")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(15)
        self.connections = connections
        self.received: list[str] = []
        self.handshakes = 0
        self.accepted = 0
        self.errors: list[str] = []

    def run(self) -> None:
        with self.listener:
            for _ in range(self.connections):
                try:
                    raw, _address = self.listener.accept()
                except TimeoutError:
                    return
                self.accepted += 1
                try:
                    with self.context.wrap_socket(raw, server_side=True) as conn:
                        self.handshakes += 1
                        self._serve(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _serve(self, conn: ssl.SSLSocket) -> None:
        conn.settimeout(10)
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            while len(buffer) < length:
                buffer += conn.recv(4096)
            body, buffer = buffer[:length], buffer[length:]
            message = (head + b"\r\n\r\n" + body).decode()
            self.received.append(message)
            method = message.split(" ", 1)[0]
            if method in ("OPTIONS", "INVITE"):
                conn.sendall(_reply(message, "200 OK" if method == "OPTIONS" else "486 Busy Here").encode())
            if method in ("ACK", "OPTIONS"):
                return


def _reply(request: str, status: str) -> str:
    lines = request.split("\r\n")[1:]
    copied = [line for line in lines if line.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq")]
    to = next(line for line in lines if line.lower().startswith("to:"))
    return "\r\n".join([f"SIP/2.0 {status}", *copied, f"{to};tag=tls-peer", "Content-Length: 0", "", ""])
