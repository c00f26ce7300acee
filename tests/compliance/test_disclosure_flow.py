"""Disclosures from the campaign to the UA's command, and back into the evidence record at the end of the call."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
import time_machine
from django.conf import settings

from campaigns.dialer.attempts import finish_attempt, mark_attempt_answered, mark_attempt_dialing
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.dialer.handoff import originate_attempt
from campaigns.models import Campaign, Contact
from compliance.choices import ConsentKind
from compliance.models import CampaignCompliance, ConsentRecord, DialEvidence
from compliance.services import record_consent
from telephony.contract import OriginateCommand, open_command
from telephony.ua_registry import pending_raw_commands
from tests.campaigns.dialer_setup import MIDDAY, NY, live_ua, running_campaign
from tests.factories import ContactFactory


def _command(r: redis.Redis, campaign: Campaign) -> OriginateCommand:
    with time_machine.travel(MIDDAY, tick=False):
        [attempt_id] = run_dispatch_tick(now=MIDDAY, r=r, enqueue=lambda ids: None).attempt_ids
        assert originate_attempt(attempt_id, r=r, now=MIDDAY).outcome == "sent"
    [raw] = pending_raw_commands(r, "ua-1")
    command = open_command(raw, settings.UA_COMMAND_KEY, now=MIDDAY.timestamp())
    assert isinstance(command, OriginateCommand)
    return command


@pytest.mark.django_db
def test_a_florida_contact_hears_the_opening_and_the_recording_notice(redis_client: redis.Redis) -> None:
    live_ua(redis_client, "ua-1")
    campaign = running_campaign(name="Acme Dental reminders")
    CampaignCompliance.objects.create(campaign=campaign, seller="Acme Dental")
    ContactFactory(campaign=campaign, phone_e164="+13055550160", time_zones=[NY], jurisdictions=["US-FL"])
    command = _command(redis_client, campaign)
    kinds = [kind for kind, _ in command.conversation.disclosures]
    assert kinds == ["opening", "recording_notice"]
    assert "on behalf of Acme Dental" in command.conversation.disclosures[0][1]


@pytest.mark.django_db
def test_a_campaign_without_compliance_settings_sends_no_disclosure(redis_client: redis.Redis) -> None:
    live_ua(redis_client, "ua-1")
    campaign = running_campaign()
    ContactFactory(campaign=campaign, phone_e164="+12125550161", time_zones=[NY], jurisdictions=["US-NY"])
    assert _command(redis_client, campaign).conversation.disclosures == ()


@pytest.mark.django_db
def test_the_end_of_the_call_completes_the_evidence_and_an_opt_out_revokes_consent() -> None:
    campaign = running_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164="+13055550162", time_zones=[NY], jurisdictions=["US-FL"],
                             status="in_progress")
    record_consent(contact.phone_e164, kind=ConsentKind.WRITTEN, source="form", obtained_at=MIDDAY)
    attempt = contact.call_attempts.create(campaign=campaign, trunk=campaign.trunk, caller_id="+12125550000",
                                           lease_expires_at=MIDDAY + dt.timedelta(days=365))
    with time_machine.travel(MIDDAY, tick=False):
        assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
        assert mark_attempt_answered(attempt.pk)
        played = [{"kind": "opening", "text": "An AI voice.", "offset_ms": 0, "duration_ms": 1800}]
        assert finish_attempt(attempt.pk, disposition="opted_out",
                              results={"amd_result": "human", "disclosures": played})
    evidence = DialEvidence.objects.get(attempt_id=attempt.pk)
    assert (evidence.caller_id, evidence.amd_result, evidence.disclosures) == ("+12125550000", "human", played)
    assert evidence.amd_at is not None
    assert ConsentRecord.objects.get(phone_e164=contact.phone_e164).revoked_at == MIDDAY
    assert Contact.objects.get(pk=contact.pk).status == "dnc"
