"""Which disclosures open a call."""

from __future__ import annotations

from compliance.disclosures import disclosures_for, needs_recording_notice


def test_an_opening_disclosure_is_always_spoken_first() -> None:
    spoken = disclosures_for(["US-NY"], seller="Acme Dental")
    assert [d.kind for d in spoken] == ["opening"]
    assert "artificial intelligence voice, on behalf of Acme Dental" in spoken[0].text


def test_all_party_states_and_unknown_states_hear_the_recording_notice() -> None:
    assert needs_recording_notice(["US-FL"])
    assert needs_recording_notice(["US-NY", "US-CA"])
    assert needs_recording_notice([])  # unknown state: the strictest reading
    assert not needs_recording_notice(["US-NY"])
    spoken = disclosures_for(["US-FL"], seller="Acme", opening="Hi, Acme's AI assistant here.",
                             recording_notice="We record this call.")
    assert [(d.kind, d.text) for d in spoken] == [("opening", "Hi, Acme's AI assistant here."),
                                                  ("recording_notice", "We record this call.")]
    assert [d.kind for d in disclosures_for(["US-FL"], seller="Acme", recording=False)] == ["opening"]
