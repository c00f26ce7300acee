"""What the bridge may ask of the call it is attached to (hang up, transfer), and the do-nothing default."""

from __future__ import annotations

from typing import Protocol


class CallControls(Protocol):
    """What the bridge may ask of the call. Called on the event loop: post to the pjsua thread and return."""

    def hangup(self, reason: str) -> None:
        """End the call (the agent said goodbye, or the AI failed and the fallback message was played)."""

    def transfer(self, reason: str) -> bool:
        """Start a transfer to a human; return False when none is possible."""


class NoControls:
    """Controls that do nothing (a session not attached to a call)."""

    def hangup(self, reason: str) -> None:
        """Ignore."""

    def transfer(self, reason: str) -> bool:
        """Refuse."""
        return False
