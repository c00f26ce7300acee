"""Login throttling's authentication backend (django-axes), tolerant of calls without a request."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend


class ThrottlingBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes with a request (the admin login, API logins).

    ``authenticate()`` without a request (a management command, a script) cannot be throttled per address and is
    not a remote guess: it is left to the next backend instead of failing with axes' "request required" error.
    """

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
