"""One object of every admin model, and a staff user per shipped role, for the permission matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, Permission, User
from django.core.files.base import ContentFile
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import ExportKind, ExportRecord
from api.models import ApiKey, AuditEntry
from campaigns.choices import AttemptState, Disposition, DncSource, ImportStatus
from campaigns.models import CallAttempt, DncUpload, ImportJob
from compliance.choices import ConsentKind, GovernorAction, ReassignedResult
from compliance.models import (
    CampaignCompliance,
    CampaignHistory,
    CompanyRule,
    ConsentRecord,
    DialEvidence,
    NationalDncList,
    ReassignedNumberResult,
)
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, DoNotCallFactory, TrunkFactory
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent

ROLES = ("operator", "analyst", "supervisor", "admin", "viewonly", "nobody")
KEY_DIGEST = "feed" * 16
ENDPOINT_SECRET = "whsec_matrix_secret"
PRODUCT_APPS = ("campaigns", "telephony", "access", "api", "webhooks", "compliance")


@dataclass
class World:
    """The ids that fill each URL's placeholders."""

    campaign: int
    contact: int
    callattempt: int
    agentprofile: int
    trunk: int
    callerid: int
    donotcall: int
    importjob: int
    exportrecord: int
    group: int
    user: int
    totpdevice: int
    dncupload: int
    apikey: int
    auditentry: int
    webhookendpoint: int
    webhookevent: int
    webhookdelivery: int
    companyrule: int
    campaigncompliance: int
    consentrecord: int
    nationaldnclist: int
    reassignednumberresult: int
    dialevidence: int
    campaignhistory: int


def build_world(recordings: Path) -> World:
    """A campaign with a contact, an ended attempt with transcript and recording file, and one of everything else."""
    trunk = TrunkFactory()
    campaign = CampaignFactory(trunk=trunk)
    contact = ContactFactory(campaign=campaign, name="Ada Lovelace")
    attempt = CallAttempt.objects.create(
        campaign=campaign, contact=contact, trunk=trunk, state=AttemptState.ENDED, disposition=Disposition.HUMAN,
        transcript=[{"speaker": "callee", "text": "secret-transcript-words", "start_ms": 0}],
        recording="c/attempt.wav", ended_at=timezone.now())
    (recordings / "c").mkdir(parents=True, exist_ok=True)
    (recordings / "c" / "attempt.wav").write_bytes(b"RIFF" + b"\x00" * 64)
    # A contact without attempts, so its delete page is a real delete page.
    job = ImportJob.objects.create(campaign=campaign, file=ContentFile(b"phone\n+12125550100\n", name="in.csv"),
                                   status=ImportStatus.COMPLETED)
    job.error_report.save("errors.csv", ContentFile(b"line,value,reason\n2,+1,invalid\n"))
    record = ExportRecord.objects.create(username="someone", kind=ExportKind.CONTACTS_CSV, object_id=campaign.pk,
                                         description="contacts")
    group = Group.objects.get(name="operator")
    target = User.objects.create_user("target")
    now = timezone.now()
    key = ApiKey.objects.create(name="crm", user=target, prefix="abcd1234", digest=KEY_DIGEST)
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/in", secret=ENDPOINT_SECRET)
    event = WebhookEvent.objects.create(type=EventType.values[0], campaign_id=campaign.pk, subject="a1")
    evidence = DialEvidence.objects.create(
        attempt_id=attempt.pk, campaign_id=campaign.pk, campaign_name=campaign.name, contact_id=contact.pk,
        phone_e164=contact.phone_e164, decided_at=now, local_time="10:00 America/New_York",
        allowed_by="federal 8-21", retain_until=now.date())
    more = {
        "apikey": key.pk,
        "auditentry": AuditEntry.objects.create(api_key=key, user=target, method="POST", path="/api/v1/calls",
                                                status_code=201).pk,
        "webhookendpoint": endpoint.pk, "webhookevent": event.pk,
        "webhookdelivery": WebhookDelivery.objects.create(event=event, endpoint=endpoint).pk,
        "companyrule": CompanyRule.objects.create().pk,
        "campaigncompliance": CampaignCompliance.objects.get_or_create(campaign=campaign)[0].pk,
        "consentrecord": ConsentRecord.objects.create(phone_e164=contact.phone_e164, kind=ConsentKind.WRITTEN,
                                                      source="form", obtained_at=now).pk,
        "nationaldnclist": NationalDncList.objects.create(downloaded_at=now, numbers=1).pk,
        "reassignednumberresult": ReassignedNumberResult.objects.create(
            phone_e164=contact.phone_e164, date_asked=now.date(), result=ReassignedResult.NO, queried_at=now).pk,
        "dialevidence": evidence.pk,
        "campaignhistory": CampaignHistory.objects.create(campaign=campaign, at=now, action=GovernorAction.PAUSE,
                                                          reason="abandonment over 3%").pk,
    }
    return World(campaign=campaign.pk, contact=contact.pk, callattempt=attempt.pk,
                 agentprofile=campaign.agent_id,
                 trunk=trunk.pk, callerid=CallerIDFactory(trunk=trunk).pk,
                 donotcall=DoNotCallFactory(source=DncSource.MANUAL).pk, importjob=job.pk,
                 exportrecord=record.pk, group=group.pk, user=target.pk,
                 totpdevice=TOTPDevice.objects.create(user=target, name="phone").pk,
                 dncupload=DncUpload.objects.create(status=ImportStatus.COMPLETED, added=1).pk, **more)


def role_user(role: str) -> User:
    """A staff user in the shipped group of that name; ``viewonly`` holds every view permission and nothing else."""
    user = User.objects.create_user(f"user-{role}", password="x", is_staff=True)
    if role == "viewonly":
        user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=PRODUCT_APPS,
                                                            codename__startswith="view_"))
    elif role != "nobody":
        user.groups.add(Group.objects.get(name=role))
    return user
