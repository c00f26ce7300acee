"""Logs carry ids and kinds, never phone numbers, transcripts or contact data (audit F23): process logs are
read by more people and kept longer than the database."""

from __future__ import annotations

import logging

import pytest

from campaigns.choices import DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.dialer.ledger import CampaignLedger
from campaigns.models import DoNotCall
from media.adapters.base import ProtocolError
from media.adapters.factory import make_adapter
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from telephony.contract import OptedOut
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NUMBER = "+12125550123"
DIGITS = "2125550123"


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_adding_a_number_to_do_not_call_logs_the_entry_not_the_number(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    entry = add_to_do_not_call("(212) 555-0123", source=DncSource.MANUAL, note="by hand")
    assert entry.phone_e164 == NUMBER
    assert DIGITS not in _logged(caplog)
    assert f"entry {entry.pk}" in _logged(caplog)


def test_an_opt_out_reported_by_the_ua_logs_no_number(caplog: pytest.LogCaptureFixture) -> None:
    # given a contact who says "stop calling me" during a call
    contact = ContactFactory(phone_e164=NUMBER)
    caplog.set_level(logging.DEBUG)
    # when the UA's ledger thread records it
    CampaignLedger().record(OptedOut(attempt_id=41, number=contact.phone_e164, how="phrase"))
    # then the entry exists and the logs name it by id only
    entry = DoNotCall.objects.get(phone_e164=NUMBER, source=DncSource.OPT_OUT)
    assert DIGITS not in _logged(caplog)
    assert f"entry {entry.pk}" in _logged(caplog)


def test_a_malformed_ai_message_is_described_without_its_content() -> None:
    adapter = make_adapter(AgentConfig(provider="local"), BridgeConfig(), CallContext(1), lambda _e: None)
    for raw in ['{"transcript": "my card number is 4111 1111', '["my card number is 4111 1111"]']:
        with pytest.raises(ProtocolError) as bad:
            adapter.parse(raw)
        assert "4111" not in str(bad.value)
