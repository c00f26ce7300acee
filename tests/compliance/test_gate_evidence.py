"""The evidence record the dial gate writes from its own statement's values equals what the record's read path
(``lists_checked``, ``consent_relied_on``, ``check_caps``) finds: the same consent, registry, answer and counts."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.dialer.attempts import mark_attempt_dialing
from compliance.caps import check_caps
from compliance.choices import CampaignPurpose, ConsentKind, ReassignedResult
from compliance.evidence import consent_relied_on, lists_checked
from compliance.models import CampaignCompliance, DialEvidence
from compliance.services import import_national_dnc, record_consent, record_reassigned_result, revoke_consent
from tests.campaigns.dialer_setup import MIDDAY, NY
from tests.compliance.test_dial_time import FL_NUMBER, _dialed, _queued, _wide_campaign
from tests.factories import ContactFactory


@pytest.mark.django_db
def test_the_gate_evidence_equals_the_read_path() -> None:
    campaign = _wide_campaign()
    CampaignCompliance.objects.create(campaign=campaign, purpose=CampaignPurpose.TELEMARKETING)
    # consents: an older written one (relied on: written first), a newer prior-express one, a revoked one
    record_consent(FL_NUMBER, kind=ConsentKind.WRITTEN, source="form-a", obtained_at=MIDDAY - dt.timedelta(days=40),
                   evidence_ref="proof-a", seller="Seller A")
    record_consent("+13055550999", kind=ConsentKind.WRITTEN, source="other", obtained_at=MIDDAY)
    revoke_consent("+13055550999")
    record_consent(FL_NUMBER, kind=ConsentKind.PRIOR_EXPRESS, source="call", obtained_at=MIDDAY - dt.timedelta(days=2))
    # registry downloads: a stale one, two fresh ones covering 305 (the newest is the version checked)
    for days in (45, 20, 4):
        import_national_dnc(["2125550100"], downloaded_at=MIDDAY - dt.timedelta(days=days), area_codes=["305", "212"])
    # reassigned-numbers answers: the newest query is shown
    record_reassigned_result(FL_NUMBER, date_asked=dt.date(2026, 5, 1), result=ReassignedResult.NO,
                             queried_at=MIDDAY - dt.timedelta(days=30))
    record_reassigned_result(FL_NUMBER, date_asked=dt.date(2026, 5, 7), result=ReassignedResult.NO_DATA,
                             queried_at=MIDDAY - dt.timedelta(days=10))
    # calls from other campaigns: two inside 24 h (the Florida cap counts them), one older
    for hours in (30, 5, 1):
        _dialed(FL_NUMBER, MIDDAY - dt.timedelta(hours=hours))
    contact = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    attempt = _queued(campaign, contact, MIDDAY)

    assert mark_attempt_dialing(attempt.pk, ua_name="ua", now=MIDDAY)
    evidence = DialEvidence.objects.get(attempt_id=attempt.pk)
    assert evidence.consent == consent_relied_on(FL_NUMBER, MIDDAY)
    assert evidence.consent["evidence_ref"] == "proof-a"
    assert evidence.lists_checked == lists_checked(FL_NUMBER, campaign.pk, MIDDAY)
    assert evidence.lists_checked["national_dnc"]["downloaded_at"] == (MIDDAY - dt.timedelta(days=4)).isoformat()
    assert evidence.lists_checked["reassigned_numbers"]["date_asked"] == "2026-05-07"
    read = check_caps(FL_NUMBER, ["US-FL"], MIDDAY, exclude_attempt=attempt.pk, count_queued=False)
    assert evidence.caps == [c.as_json() for c in read]
    assert evidence.caps == [{"rule": "US-FL", "limit": "3 per 24h", "counted": 2, "reached": False}]
