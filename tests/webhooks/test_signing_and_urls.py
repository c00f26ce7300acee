"""The signature scheme and the URL policy (https, no internal addresses unless allowed)."""

from __future__ import annotations

import time

import pytest

from tests.webhooks.receiver import documented_check
from webhooks.signing import signature_header, verify
from webhooks.urls_policy import UrlPolicy, UrlRefused, check_webhook_url, pinned


def test_a_signature_verifies_under_either_active_secret_and_not_after_tampering() -> None:
    body = b'{"id":"e1","type":"attempt.ended"}'
    now = int(time.time())
    header = signature_header(["new-secret", "old-secret"], now, body)
    assert header.startswith(f"t={now},v1=")
    assert header.count("v1=") == 2
    for secret in ("new-secret", "old-secret"):
        assert verify(header, body, secret)
        assert documented_check(header, body, secret)
    assert not verify(header, body, "other-secret")
    assert not verify(header, body + b" ", "new-secret")
    assert not documented_check(header, body.replace(b"e1", b"e2"), "new-secret")


def test_an_old_timestamp_is_refused() -> None:
    body = b"{}"
    stale = int(time.time()) - 301
    header = signature_header(["s"], stale, body)
    assert not verify(header, body, "s")
    assert not documented_check(header, body, "s")
    # the timestamp is signed: moving it forward breaks the signature
    forged = header.replace(f"t={stale}", f"t={int(time.time())}")
    assert not verify(forged, body, "s")


@pytest.mark.parametrize(("url", "policy", "refused"), [
    ("https://93.184.216.34/hook", UrlPolicy(), False),
    ("http://93.184.216.34/hook", UrlPolicy(), True),  # http to the internet: never
    ("http://127.0.0.1:8000/hook", UrlPolicy(), True),
    ("http://127.0.0.1:8000/hook", UrlPolicy(allow_http_loopback=True), False),
    ("http://localhost:8000/hook", UrlPolicy(allow_http_loopback=True), False),
    ("https://127.0.0.1/hook", UrlPolicy(), True),
    ("https://10.1.2.3/hook", UrlPolicy(), True),
    ("https://192.168.1.10/hook", UrlPolicy(), True),
    ("https://169.254.169.254/latest/meta-data", UrlPolicy(), True),  # cloud metadata (link-local)
    ("https://[fe80::1]/hook", UrlPolicy(), True),
    ("https://[::1]/hook", UrlPolicy(), True),
    ("https://10.1.2.3/hook", UrlPolicy(allow_private=True), False),
    ("https://user:pw@93.184.216.34/hook", UrlPolicy(), True),
    ("ftp://93.184.216.34/hook", UrlPolicy(), True),
    ("https://no-such-host.invalid/hook", UrlPolicy(), True),
])
def test_url_policy(url: str, policy: UrlPolicy, refused: bool) -> None:
    if refused:
        with pytest.raises(UrlRefused):
            check_webhook_url(url, policy)
    else:
        check_webhook_url(url, policy)


@pytest.mark.parametrize(("url", "address", "expected", "host", "sni"), [
    ("https://hooks.example.com/in?x=1", "93.184.216.34", "https://93.184.216.34/in?x=1", "hooks.example.com",
     "hooks.example.com"),
    ("https://hooks.example.com:8443/in", "2606:2800:220:1::1", "https://[2606:2800:220:1::1]:8443/in",
     "hooks.example.com:8443", "hooks.example.com"),
    ("http://localhost:8000", "127.0.0.1", "http://127.0.0.1:8000/", "localhost:8000", None),
])
def test_a_delivery_connects_to_the_checked_address(url: str, address: str, expected: str, host: str,
                                                    sni: str | None) -> None:
    pinned_url, headers, extensions = pinned(url, address)
    assert pinned_url == expected
    assert headers == {"Host": host}
    assert extensions.get("sni_hostname") == sni
