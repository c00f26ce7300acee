"""What the agent is told when a transfer failed and the caller is back with it (the "back to the agent"
fallback): why it failed, in words, and what the caller just heard."""

from __future__ import annotations

import pytest

from telephony.conversation.transfer import transfer_failed_note


@pytest.mark.parametrize(("record", "why"), [
    ({"sip_code": 486}, "the line was busy"),
    ({"sip_code": 600}, "the line was busy"),
    ({"sip_code": 487}, "nobody answered in time"),
    ({}, "nobody answered in time"),
    ({"sip_code": 200, "declined": True}, "the person there declined the call"),
    ({"sip_code": 503}, "the call did not go through (SIP 503)"),
])
def test_the_note_says_why_the_transfer_failed_and_what_the_caller_heard(record: dict[str, object],
                                                                           why: str) -> None:
    note = transfer_failed_note("Sales desk", record, "Nobody is free right now.")

    assert f"the transfer to Sales desk did not work: {why}." in note
    assert 'The caller has just heard: "Nobody is free right now."' in note
    assert "offer the transfer again only if they ask" in note
