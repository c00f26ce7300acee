"""The UA's TLS helpers (F5): which CA list a transport verifies with, and matching a refusal to a failed call."""

from __future__ import annotations

import ssl
from pathlib import Path

import pjsua2 as pj
import pytest

from telephony.ua import tls
from telephony.ua.tls import TlsRefusals, system_ca_file, verifying_tls_config


def test_ssl_cert_file_names_the_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert system_ca_file() == str(bundle)


def test_without_ssl_cert_file_the_system_bundle_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert system_ca_file() in (ssl.get_default_verify_paths().cafile, ssl.get_default_verify_paths().openssl_cafile)


def test_a_transport_always_verifies_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with_pem, with_bundle, without_any = pj.TransportConfig(), pj.TransportConfig(), pj.TransportConfig()
    verifying_tls_config(with_pem, ca_pem="-----BEGIN CERTIFICATE-----\n")
    verifying_tls_config(with_bundle, ca_file="/etc/custom.pem")
    monkeypatch.setattr(tls, "system_ca_file", lambda: (_ for _ in ()).throw(RuntimeError("no CA bundle found")))
    verifying_tls_config(without_any)
    assert (with_pem.tlsConfig.verifyServer, with_pem.tlsConfig.CaBuf) == (True, "-----BEGIN CERTIFICATE-----\n")
    assert (with_bundle.tlsConfig.verifyServer, with_bundle.tlsConfig.CaListFile) == (True, "/etc/custom.pem")
    # no bundle on the host: still verifying, with nothing trusted (every such server is refused)
    assert (without_any.tlsConfig.verifyServer, without_any.tlsConfig.CaListFile) == (True, "")


def test_a_refusal_is_matched_by_address_then_by_port_while_recent() -> None:
    now = [100.0]
    refusals = TlsRefusals(clock=lambda: now[0])
    refusals.record("192.0.2.7:5061", "TLS server 192.0.2.7:5061 refused: untrusted")
    refusals.record("[2001:db8::1]:5062", "TLS server [2001:db8::1]:5062 refused: name")
    assert refusals.reason_for("192.0.2.7", 5061) == "TLS server 192.0.2.7:5061 refused: untrusted"
    assert refusals.reason_for("[2001:db8::1]", 5062) == "TLS server [2001:db8::1]:5062 refused: name"
    assert refusals.reason_for("sip.example.com", 5061) == "TLS server 192.0.2.7:5061 refused: untrusted"
    assert refusals.reason_for("192.0.2.7", 5070) == ""
    now[0] += 61
    assert refusals.reason_for("192.0.2.7", 5061) == ""
