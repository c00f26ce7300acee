"""How a SIP outcome maps to an attempt disposition, and when a call may fail over to the secondary trunk."""

from __future__ import annotations

from dataclasses import dataclass

from telephony.choices import Disposition

# Final responses that say something about the called party: never retried on another trunk, because the
# person (or their network) already answered the question. Retrying a 486 or a 603 elsewhere would ring
# someone who is busy or who declined, twice.
BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({480, 408})
REJECTED_CODES = frozenset({603, 403})
INVALID_NUMBER_CODES = frozenset({404, 484, 410, 604})


@dataclass(frozen=True)
class CallOutcome:
    """What is known when a call leg ends.

    Attributes:
        sip_code: final SIP status code (200 when the call was answered, whatever ended it later).
        answered: whether the call was ever confirmed (200 OK + ACK).
        ring_timeout: we cancelled it because nobody answered in time.
        network_error: no response at all (transport error or timer B/F), pjsip reports it as 408/503.
        media_timeout: no RTP for the configured time during the call.
        rang: a provisional 180/183 arrived: the called party's phone may have rung.
    """

    sip_code: int | None
    answered: bool = False
    ring_timeout: bool = False
    network_error: bool = False
    media_timeout: bool = False
    rang: bool = False


def disposition_for(outcome: CallOutcome) -> str:
    """Map a call outcome to a `Disposition` value.

    An answered call maps to HUMAN: answering-machine detection, when it runs, replaces it later through the
    results it hands to `finish_attempt`.

    Args:
        outcome: the facts gathered about the leg.

    Returns:
        The disposition value to store on the attempt.
    """
    if outcome.media_timeout:
        return Disposition.FAILED
    if outcome.answered:
        return Disposition.HUMAN
    if outcome.ring_timeout:
        return Disposition.NO_ANSWER
    if outcome.network_error:
        return Disposition.FAILED
    code = outcome.sip_code
    if code is None:
        return Disposition.FAILED
    if code in BUSY_CODES:
        return Disposition.BUSY
    if code in NO_ANSWER_CODES:
        return Disposition.NO_ANSWER
    if code in REJECTED_CODES:
        return Disposition.REJECTED
    if code in INVALID_NUMBER_CODES:
        return Disposition.INVALID_NUMBER
    return Disposition.FAILED


def should_fail_over(outcome: CallOutcome) -> bool:
    """Whether the attempt may be re-tried at once on the trunk's secondary.

    Only failures of the trunk itself qualify (5xx, no response), and only before the phone may have rung:
    after a 180/183 the person may already have heard it ring, and a second call on another trunk seconds later
    would ring them twice. A ring timeout is the called party not answering, so it does not qualify either.

    Args:
        outcome: the facts gathered about the leg on the primary trunk.

    Returns:
        True when the secondary trunk should be tried.
    """
    if outcome.answered or outcome.ring_timeout or outcome.media_timeout or outcome.rang:
        return False
    if outcome.network_error:
        return True
    code = outcome.sip_code
    return code is not None and 500 <= code <= 599
