"""Where an AI agent may be reached, and which environment variable may name its key (audit F1, F7).

An agent profile names a WebSocket URL and the environment variable holding the API key; the UA worker sends
that variable's value to that URL on every answered call. Both are operator input, so both are checked against
allow-lists the deployment sets, never the profile:

* **Key variables**: only names on the allow-list (``AI_API_KEY_ENVS``). Without it a profile naming
  ``DATABASE_URL`` or ``DJANGO_SECRET_KEY`` would ship that secret to the profile's host. A cloud provider's own
  key (``OPENAI_API_KEY``, ``GEMINI_API_KEY``, ``GOOGLE_API_KEY``) goes to that provider only, and the local
  agent takes no key at all (it authenticates with ``LOCAL_AGENT_TOKEN``).
* **URLs**: ``ws``/``wss`` only, no credentials in the URL. Cloud providers (``openai_realtime``,
  ``gemini_live``): ``wss://`` and a host on that provider's allow-list, and never an IP literal in a private,
  loopback, link-local or otherwise non-global range. ``twilio_stream`` (the customer's own agent server):
  ``wss://``, except on loopback; optionally a host allow-list. ``local``: loopback, or the host of the
  configured local agent when a shared token is set. Link-local addresses (cloud metadata services) are refused
  for every provider.

Pure functions over an `EndpointPolicy` the caller builds: the control plane checks a profile when it is saved,
the UA pool checks the `media.bridge.config.AgentConfig` it builds for every call, and the adapters check the URL
again right before they connect. This module reads no settings and no environment.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CLOUD_PROVIDERS = frozenset({"openai_realtime", "gemini_live"})
KNOWN_PROVIDERS = frozenset({"openai_realtime", "gemini_live", "twilio_stream", "local"})
DEFAULT_KEY_ENVS = frozenset({"OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AGENT_API_KEY"})
DEFAULT_HOSTS: Mapping[str, frozenset[str]] = {
    "openai_realtime": frozenset({"api.openai.com"}),
    "gemini_live": frozenset({"generativelanguage.googleapis.com"}),
}
# A cloud provider's own key is sent to that provider only: any other provider's host is chosen by the operator.
PROVIDER_OWN_KEYS: Mapping[str, str] = {
    "OPENAI_API_KEY": "openai_realtime",
    "GEMINI_API_KEY": "gemini_live",
    "GOOGLE_API_KEY": "gemini_live",
}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class EndpointRefused(ValueError):
    """An agent URL or key variable the policy does not allow.

    Attributes:
        field: ``url`` or ``api_key_env`` (the agent profile field to blame).
        message: why, in words for the operator (never a secret value).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _host_set(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.strip().lower().rstrip(".") for h in hosts if h and h.strip())


@dataclass(frozen=True)
class EndpointPolicy:
    """The allow-lists an agent endpoint is checked against (built from the deployment's settings).

    Attributes:
        key_envs: environment variable names a profile may name as its API key.
        hosts: per provider, the host names its URL may use. Required for the cloud providers (an empty set
            refuses every URL); optional for ``twilio_stream`` (empty: any host); for ``local``, the non-loopback
            host of the configured local agent.
        allow_loopback: let every provider use a loopback URL, ``ws://`` included (test doubles, benchmarks,
            a local simulator). Off in production.
    """

    key_envs: frozenset[str] = DEFAULT_KEY_ENVS
    hosts: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_HOSTS))
    allow_loopback: bool = False

    def __post_init__(self) -> None:
        names = frozenset(str(n).strip() for n in self.key_envs if str(n).strip())
        bad = sorted(n for n in names if not _ENV_NAME.match(n))
        if bad:
            raise ValueError(f"key_envs: not environment variable names: {', '.join(bad)}")
        unknown = sorted(set(self.hosts) - KNOWN_PROVIDERS)
        if unknown:
            raise ValueError(f"hosts: unknown providers: {', '.join(unknown)}")
        object.__setattr__(self, "key_envs", names)
        object.__setattr__(self, "hosts", {p: _host_set(h) for p, h in self.hosts.items()})


def check_key_env(provider: str, name: str, policy: EndpointPolicy) -> None:
    """Refuse a key variable the policy does not allow for ``provider``.

    Raises:
        EndpointRefused: (field ``api_key_env``) with the reason.
    """
    if not name:
        return
    if provider == "local":
        raise EndpointRefused("api_key_env", "the local agent takes no API key (it uses LOCAL_AGENT_TOKEN); "
                                             "leave the variable blank")
    # F1: the value of this variable is sent to the agent's host, so only AI key variables may be named.
    if name not in policy.key_envs:
        allowed = ", ".join(sorted(policy.key_envs)) or "none"
        raise EndpointRefused("api_key_env", f"{name} is not an allowed API key variable (allowed: {allowed})")
    owner = PROVIDER_OWN_KEYS.get(name)
    if owner is not None and owner != provider:
        raise EndpointRefused("api_key_env", f"{name} is the key of {owner} and is sent to that provider only")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, brackets allowed) is this machine's loopback."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    return address is not None and address.is_loopback


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


def check_url(provider: str, url: str, policy: EndpointPolicy, *, token: bool = False) -> None:
    """Refuse an agent URL the policy does not allow for ``provider``.

    Args:
        provider: the agent's provider.
        url: the WebSocket URL to open ("" passes: there is nothing to connect to, the adapter says so).
        policy: the allow-lists.
        token: whether a shared local agent token is configured (lets ``local`` leave loopback).

    Raises:
        EndpointRefused: (field ``url``) with the reason.
    """
    if not url:
        return
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsing the port is the check: a bad one raises ValueError
    except ValueError as exc:
        raise EndpointRefused("url", f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("ws", "wss") or not host:
        raise EndpointRefused("url", "must be a ws:// or wss:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("url", "must not carry credentials")
    address = _ip(host)
    # SSRF: link-local holds the cloud metadata service (169.254.169.254); 0.0.0.0 reaches this machine.
    if address is not None and (address.is_link_local or address.is_unspecified or address.is_multicast):
        raise EndpointRefused("url", f"{host} is a link-local, unspecified or multicast address")
    loopback = is_loopback_host(host)
    if provider in CLOUD_PROVIDERS:
        _check_cloud(provider, scheme, host, address, loopback, policy)
    elif provider == "twilio_stream":
        if loopback:
            return
        # F7: the key and the call audio must not cross a network in clear.
        if scheme != "wss":
            raise EndpointRefused("url", "a twilio_stream agent off this machine must use wss://")
        allowed = policy.hosts.get(provider) or frozenset()
        if allowed and host not in allowed:
            raise EndpointRefused("url", f"{host} is not an allowed twilio_stream host ({', '.join(sorted(allowed))})")
    elif provider == "local":
        if loopback:
            return
        # F22: a local agent off loopback is reached only at the configured host, and only with the shared token.
        allowed = policy.hosts.get(provider) or frozenset()
        if host not in allowed:
            raise EndpointRefused("url", "the local agent must be on loopback or at the host of LOCAL_AGENT_URL")
        if not token:
            raise EndpointRefused("url", "a local agent off loopback needs LOCAL_AGENT_TOKEN")
    else:
        raise EndpointRefused("url", f"unknown provider {provider!r}")


def _check_cloud(provider: str, scheme: str, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
                 loopback: bool, policy: EndpointPolicy) -> None:
    if loopback and policy.allow_loopback:
        return  # a test double or simulator on this machine, allowed by the deployment
    # F7: an API key and call audio go over this connection: TLS always.
    if scheme != "wss":
        raise EndpointRefused("url", f"{provider} must use wss://")
    # F1/F7 (SSRF): no private, loopback or otherwise non-global address, even if someone allow-listed it.
    if address is not None and not address.is_global:
        raise EndpointRefused("url", f"{host} is a private, loopback or reserved address")
    allowed = policy.hosts.get(provider) or frozenset()
    if host not in allowed:
        raise EndpointRefused("url", f"{host} is not an allowed {provider} host "
                                     f"(allowed: {', '.join(sorted(allowed)) or 'none'})")


def check_agent_endpoint(provider: str, url: str, key_env: str, policy: EndpointPolicy, *, token: bool = False) -> None:
    """Check an agent's URL and key variable together (the URL first: it is where the key would go).

    Raises:
        EndpointRefused: the first refusal.
    """
    check_url(provider, url, policy, token=token)
    check_key_env(provider, key_env, policy)
