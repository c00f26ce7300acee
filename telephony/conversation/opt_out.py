"""Opt-out during a campaign call: the agent's outcome labels, the caller's phrases, the closing words."""

from __future__ import annotations

OPT_OUT_LABELS = frozenset({"opted_out", "opt_out", "do_not_call", "dnc", "unsubscribe"})
THANK_YOU = "Thank you. You will not be called again. Goodbye."
# An agent that heard the opt-out usually says its own goodbye and ends the call; after this long without that,
# the bridge is stopped and our thank-you played.
OPT_OUT_AGENT_GRACE_S = 6.0


def is_opt_out_label(outcome: str) -> bool:
    """Whether an agent's outcome label means the person opted out."""
    return outcome.lower() in OPT_OUT_LABELS


def is_opt_out_phrase(text: str) -> bool:
    """Whether the caller asked not to be called again (the local agent's opt-out rules)."""
    from media.speech.intents import Intent, classify

    return classify(text).intent is Intent.OPT_OUT
