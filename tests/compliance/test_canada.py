"""Canada: the CRTC's rules as data (hours, National DNCL, identification), area codes -> provinces and zones, and
the claim and the dial gate at Toronto's and Vancouver's window edges (time travel)."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import redis
import time_machine
from django.apps import apps as django_apps
from django.db import connection

from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.dialer.handoff import originate_attempt
from campaigns.models import CallAttempt, Campaign, Contact
from compliance.canada import area_codes
from compliance.choices import CampaignPurpose, ConsentKind
from compliance.disclosures import MissingIdentification, disclosures_for
from compliance.jurisdictions import ImpossibleLocation, narrow_location, number_jurisdictions, number_zones
from compliance.models import CampaignCompliance
from compliance.policy import may_call_at, nanp_zones
from compliance.rules_table import RULES_BY_CODE
from compliance.services import import_national_dnc, record_consent
from tests.campaigns.dialer_setup import live_ua, running_campaign
from tests.factories import ContactFactory

TORONTO, VANCOUVER = "America/Toronto", "America/Vancouver"
TORONTO_NUMBER, VANCOUVER_NUMBER = "+14165550123", "+16045550123"
CANADA = ("CA", "CA-ON")


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


# ---- area codes, provinces, zones ------------------------------------------------------------------------------


def test_canadian_area_codes_give_the_province_and_every_zone() -> None:
    table = area_codes()
    assert table["416"] == (("ON",), (TORONTO,))
    assert table["604"] == (("BC",), (VANCOUVER,))
    assert table["902"][0] == ("NS", "PE")
    # area codes that span several zones carry all of them (northwestern Ontario keeps Central time)
    assert set(table["807"][1]) == {TORONTO, "America/Winnipeg"}
    assert {"America/Whitehorse", "America/Iqaluit", "America/Rankin_Inlet"} <= set(table["867"][1])
    assert table["867"][0] == ("NT", "NU", "YT")
    # every Canadian area code phonenumbers knows has a province, and every zone is one the rules can check
    assert len(table) >= 50
    assert all(provinces for provinces, _ in table.values())
    assert {z for _, zones in table.values() for z in zones} <= set(nanp_zones())


def test_a_canadian_number_is_governed_by_the_crtc_rules_and_its_province() -> None:
    assert number_jurisdictions(TORONTO_NUMBER) == CANADA
    assert number_jurisdictions(VANCOUVER_NUMBER) == ("CA", "CA-BC")
    assert number_jurisdictions("+12125550123") == ("US-NY",)
    assert number_zones("+18075550123", ("America/Toronto",)) == ("America/Toronto", "America/Winnipeg")
    assert number_zones("+12125550123", ("America/New_York",)) == ("America/New_York",)


def test_a_contact_file_may_only_narrow_a_canadian_number() -> None:
    assert narrow_location(TORONTO_NUMBER, (TORONTO,), "", "Ontario").jurisdictions == CANADA
    assert narrow_location("+18075550123", (TORONTO,), "America/Winnipeg", "ON").time_zones == ("America/Winnipeg",)
    with pytest.raises(ImpossibleLocation, match="not a Canadian province"):
        narrow_location(TORONTO_NUMBER, (TORONTO,), "", "Florida")
    with pytest.raises(ImpossibleLocation, match="province BC is not possible"):
        narrow_location(TORONTO_NUMBER, (TORONTO,), "", "BC")
    with pytest.raises(ImpossibleLocation, match="time zone America/Vancouver is not possible"):
        narrow_location(TORONTO_NUMBER, (TORONTO,), VANCOUVER, "")


# ---- hours: 09:00-21:30 on weekdays, 10:00-18:00 on weekends (and the US federal 21:00 on top) ----------------

# (zone, UTC instant, allowed): Tuesday 2026-06-16 and Saturday 2026-06-20 (EDT = UTC-4, PDT = UTC-7), and a
# winter Saturday 2026-12-05 (EST = UTC-5, PST = UTC-8).
EDGES = [
    (TORONTO, _utc(2026, 6, 16, 12, 59), False),  # Tue 08:59: the CRTC's 09:00 (the US federal 08:00 would allow)
    (TORONTO, _utc(2026, 6, 16, 13, 0), True),  # Tue 09:00
    (TORONTO, _utc(2026, 6, 17, 0, 59), True),  # Tue 20:59
    (TORONTO, _utc(2026, 6, 17, 1, 0), False),  # Tue 21:00: the US federal end, before the CRTC's 21:30
    (TORONTO, _utc(2026, 6, 20, 13, 59), False),  # Sat 09:59
    (TORONTO, _utc(2026, 6, 20, 14, 0), True),  # Sat 10:00
    (TORONTO, _utc(2026, 6, 20, 21, 59), True),  # Sat 17:59
    (TORONTO, _utc(2026, 6, 20, 22, 0), False),  # Sat 18:00
    (TORONTO, _utc(2026, 12, 5, 14, 59), False),  # winter Sat 09:59 EST
    (TORONTO, _utc(2026, 12, 5, 15, 0), True),  # winter Sat 10:00 EST
    (VANCOUVER, _utc(2026, 6, 16, 15, 59), False),  # Tue 08:59 PDT
    (VANCOUVER, _utc(2026, 6, 16, 16, 0), True),  # Tue 09:00 PDT
    (VANCOUVER, _utc(2026, 6, 20, 16, 59), False),  # Sat 09:59 PDT
    (VANCOUVER, _utc(2026, 6, 20, 17, 0), True),  # Sat 10:00 PDT
    (VANCOUVER, _utc(2026, 6, 21, 0, 59), True),  # Sat 17:59 PDT
    (VANCOUVER, _utc(2026, 6, 21, 1, 0), False),  # Sat 18:00 PDT
    (VANCOUVER, _utc(2026, 12, 6, 1, 59), True),  # winter Sat 17:59 PST
    (VANCOUVER, _utc(2026, 12, 6, 2, 0), False),  # winter Sat 18:00 PST
]


@pytest.mark.parametrize(("zone", "at", "allowed"), EDGES)
def test_crtc_hours_at_the_edges(zone: str, at: dt.datetime, allowed: bool) -> None:
    province = "CA-ON" if zone == TORONTO else "CA-BC"
    verdict = may_call_at((zone,), ("CA", province), at)
    assert verdict.allowed is allowed, verdict.reason


def test_the_crtc_rule_is_data_with_its_sources() -> None:
    rule = RULES_BY_CODE["CA"]
    assert rule.describe_hours() == "09:00-21:30, Sat 10:00-18:00, Sun 10:00-18:00"
    assert any("Telemarketing Rules" in s for s in rule.sources)
    assert any("National DNCL" in s for s in rule.sources)
    assert rule.identification == ("callback_number", "mailing_address")
    # Sunday like Saturday; a Toronto Sunday 09:30 is refused although the US federal hours allow it
    assert not may_call_at((TORONTO,), CANADA, _utc(2026, 6, 21, 13, 30)).allowed
    assert may_call_at((TORONTO,), CANADA, _utc(2026, 6, 21, 14, 0)).allowed


# ---- where the rules act: the claim and the dial gate -------------------------------------------------------


def _wide_campaign(**fields: object) -> Campaign:
    return running_campaign(window_days=list(range(7)), window_start=dt.time(0), window_end=dt.time(23, 59),
                            max_concurrent=20, **fields)


def _claimed(r: redis.Redis, now: dt.datetime) -> set[int]:
    with time_machine.travel(now, tick=False):
        result = run_dispatch_tick(now=now, r=r, enqueue=lambda ids: None)
    ids = {a.contact_id for a in CallAttempt.objects.filter(pk__in=result.attempt_ids)}
    CallAttempt.objects.filter(pk__in=result.attempt_ids).delete()  # not dialed: called again at the next edge
    Contact.objects.filter(pk__in=ids).update(status="pending")
    return ids


@pytest.mark.django_db(transaction=True)
def test_claim_calls_toronto_and_vancouver_only_inside_their_crtc_hours(redis_client: redis.Redis) -> None:
    live_ua(redis_client)
    campaign = _wide_campaign()
    toronto = ContactFactory(campaign=campaign, phone_e164=TORONTO_NUMBER, time_zones=[TORONTO],
                             jurisdictions=list(CANADA)).pk
    vancouver = ContactFactory(campaign=campaign, phone_e164=VANCOUVER_NUMBER, time_zones=[VANCOUVER],
                               jurisdictions=["CA", "CA-BC"]).pk
    # Saturday 10:00 in Toronto is 07:00 in Vancouver
    assert _claimed(redis_client, _utc(2026, 6, 20, 13, 59)) == set()
    assert _claimed(redis_client, _utc(2026, 6, 20, 14, 0)) == {toronto}
    # Saturday 18:00 in Toronto is 15:00 in Vancouver
    assert _claimed(redis_client, _utc(2026, 6, 20, 21, 59)) == {toronto, vancouver}
    assert _claimed(redis_client, _utc(2026, 6, 20, 22, 0)) == {vancouver}
    # Saturday 18:00 in Vancouver
    assert _claimed(redis_client, _utc(2026, 6, 21, 1, 0)) == set()
    # Tuesday 09:00 in Vancouver is 12:00 in Toronto; 08:59 is too early there
    assert _claimed(redis_client, _utc(2026, 6, 16, 15, 59)) == {toronto}
    assert _claimed(redis_client, _utc(2026, 6, 16, 16, 0)) == {toronto, vancouver}


@pytest.mark.django_db
def test_the_gate_refuses_a_toronto_contact_queued_before_1800_on_saturday_and_dialed_after() -> None:
    campaign = _wide_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164=TORONTO_NUMBER, time_zones=[TORONTO],
                             jurisdictions=list(CANADA), status="in_progress")
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                         lease_expires_at=_utc(2026, 6, 21, 0, 0))
    at_1800 = _utc(2026, 6, 20, 22, 0)
    with time_machine.travel(at_1800, tick=False):
        decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=at_1800)
    assert not decision
    assert decision.reason.startswith("CA (09:00-21:30, Sat 10:00-18:00, Sun 10:00-18:00)"), decision.reason
    # it waits for Sunday 10:00 in Toronto, shown on the contact
    contact.refresh_from_db()
    assert contact.next_attempt_at == _utc(2026, 6, 21, 14, 0)


# ---- National DNCL and identification ------------------------------------------------------------------------


@pytest.mark.django_db
def test_telemarketing_to_canada_needs_a_fresh_national_dncl_download_and_not_being_on_it() -> None:
    campaign = _wide_campaign()
    CampaignCompliance.objects.create(campaign=campaign, purpose=CampaignPurpose.TELEMARKETING,
                                      callback_number="+18005550100", mailing_address="1 Main St, Toronto ON")
    monday_noon = _utc(2026, 6, 15, 16, 0)

    def gate(phone: str) -> str:
        record_consent(phone, kind=ConsentKind.WRITTEN, source="form", obtained_at=monday_noon)
        contact = ContactFactory(campaign=campaign, phone_e164=phone, time_zones=[TORONTO],
                                 jurisdictions=list(CANADA), status="in_progress")
        attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                             lease_expires_at=monday_noon + dt.timedelta(hours=1))
        decision = mark_attempt_dialing(attempt.pk, ua_name="ua", now=monday_noon)
        return "dial" if decision else str(decision.reason)

    assert "no National Do Not Call Registry download" in gate("+14165550101")
    # a US registry download cannot cover a Canadian area code
    with pytest.raises(ValueError, match="416 are Canadian"):
        import_national_dnc(["4165550102"], downloaded_at=monday_noon - dt.timedelta(days=3))
    with pytest.raises(ValueError, match="212 are not Canadian"):
        import_national_dnc(["2125550102"], downloaded_at=monday_noon - dt.timedelta(days=3), registry="ca")
    import_national_dnc(["4165550103"], downloaded_at=monday_noon - dt.timedelta(days=32), registry="ca")
    assert "no National Do Not Call Registry download" in gate("+14165550104")  # 32 days old
    import_national_dnc(["4165550105"], downloaded_at=monday_noon - dt.timedelta(days=3), registry="ca")
    assert "on the National Do Not Call Registry" in gate("+14165550105")
    assert gate("+14165550106") == "dial"


def test_a_call_to_canada_identifies_the_caller_with_a_number_and_a_mailing_address() -> None:
    spoken = disclosures_for(CANADA, seller="Acme", callback_number="1-800-555-0100",
                             mailing_address="1 Main St, Toronto ON")
    assert [d.kind for d in spoken] == ["opening", "identification", "recording_notice"]
    assert spoken[1].text == ("You can reach Acme at 1-800-555-0100. Our mailing address is 1 Main St, Toronto ON.")
    with pytest.raises(MissingIdentification, match="mailing_address"):
        disclosures_for(CANADA, seller="Acme", callback_number="1-800-555-0100")
    # a US contact needs neither
    assert [d.kind for d in disclosures_for(["US-NY"], seller="Acme")] == ["opening"]


@pytest.mark.django_db
def test_a_campaign_without_identification_details_does_not_dial_canada(redis_client: redis.Redis) -> None:
    live_ua(redis_client, "ua-1")
    campaign = _wide_campaign()
    CampaignCompliance.objects.create(campaign=campaign, seller="Acme")
    contact = ContactFactory(campaign=campaign, phone_e164=TORONTO_NUMBER, time_zones=[TORONTO],
                             jurisdictions=list(CANADA), status="in_progress")
    noon = _utc(2026, 6, 16, 16, 0)
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                         lease_expires_at=noon + dt.timedelta(hours=1))
    with time_machine.travel(noon, tick=False):
        result = originate_attempt(attempt.pk, r=redis_client, now=noon)
    assert result.outcome == "not_dialed"
    assert "callback_number and mailing_address" in str(result.reason)


@pytest.mark.django_db
def test_the_migration_fills_canadian_contacts_imported_before() -> None:
    backfill = importlib.import_module("compliance.migrations.0002_compl20_canada").backfill_canadian_contacts
    campaign = _wide_campaign()
    kenora = ContactFactory(campaign=campaign, phone_e164="+18075550123", time_zones=[TORONTO], jurisdictions=[])
    narrowed = ContactFactory(campaign=campaign, phone_e164="+18075550124", time_zones=["America/Winnipeg"],
                              jurisdictions=[])
    new_york = ContactFactory(campaign=campaign, phone_e164="+12125550123", time_zones=["America/New_York"],
                              jurisdictions=[])
    with connection.schema_editor() as editor:
        backfill(django_apps, editor)
    kenora.refresh_from_db()
    narrowed.refresh_from_db()
    new_york.refresh_from_db()
    assert (kenora.jurisdictions, kenora.time_zones) == (list(CANADA), [TORONTO, "America/Winnipeg"])
    assert (narrowed.jurisdictions, narrowed.time_zones) == (list(CANADA), ["America/Winnipeg"])
    assert (new_york.jurisdictions, new_york.time_zones) == ([], ["America/New_York"])
