"""Who may open a session with the local agent, and how many at once (audit F22).

On loopback the agent needs no credentials: only this machine reaches it. Bound to any other address it refuses
to start without a shared token, and then every connection must present it as ``Authorization: Bearer <token>``
(the `local` provider adapter sends ``LOCAL_AGENT_TOKEN``). Sessions are capped, since each one costs
recognition and synthesis CPU; a refused connection gets an HTTP error before any session exists.
"""

from __future__ import annotations

import hmac

from media.endpoints import is_loopback_host

UNAUTHORIZED = 401
BUSY = 503


def check_bind(host: str, token: str) -> None:
    """Refuse to listen off loopback without a token.

    Raises:
        ValueError: ``host`` is not loopback (``0.0.0.0`` and ``::`` are not) and ``token`` is empty.
    """
    # F22: anyone who reaches a widened port could open sessions (CPU, memory) without a token.
    if not is_loopback_host(host) and not token:
        raise ValueError(f"the local agent listens on {host or 'every address'}, beyond loopback: "
                         "set a shared token (--token or LOCAL_AGENT_TOKEN)")


def authorized(authorization: str | None, token: str) -> bool:
    """Whether a request's ``Authorization`` header carries the token (always true without a token)."""
    if not token:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    # Constant-time comparison: the token must not be guessable byte by byte from response times.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


class SessionSlots:
    """A count of open sessions against a cap (used on the server's event loop only, so no lock).

    Args:
        limit: most sessions at once (>= 1).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_sessions must be >= 1, got {limit}")
        self.limit = limit
        self.open = 0

    @property
    def full(self) -> bool:
        """No slot left."""
        return self.open >= self.limit

    def take(self) -> bool:
        """Take a slot; False when none is free."""
        if self.full:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        """Return a slot taken by `take`."""
        self.open = max(0, self.open - 1)
