"""One object of every admin model, and a staff user per shipped role, for the permission matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import Group, Permission, User
from django.core.files.base import ContentFile
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import ExportKind, ExportRecord
from campaigns.choices import AttemptState, Disposition, DncSource, ImportStatus
from campaigns.models import CallAttempt, DncUpload, ImportJob
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, DoNotCallFactory, TrunkFactory

ROLES = ("operator", "analyst", "supervisor", "admin", "viewonly", "nobody")
PRODUCT_APPS = ("campaigns", "telephony", "access")


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
    return World(campaign=campaign.pk, contact=contact.pk, callattempt=attempt.pk,
                 agentprofile=campaign.agent_id,
                 trunk=trunk.pk, callerid=CallerIDFactory(trunk=trunk).pk,
                 donotcall=DoNotCallFactory(source=DncSource.MANUAL).pk, importjob=job.pk,
                 exportrecord=record.pk, group=group.pk, user=target.pk,
                 totpdevice=TOTPDevice.objects.create(user=target, name="phone").pk,
                 dncupload=DncUpload.objects.create(status=ImportStatus.COMPLETED, added=1).pk)


def role_user(role: str) -> User:
    """A staff user in the shipped group of that name; ``viewonly`` holds every view permission and nothing else."""
    user = User.objects.create_user(f"user-{role}", password="x", is_staff=True)
    if role == "viewonly":
        user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=PRODUCT_APPS,
                                                            codename__startswith="view_"))
    elif role != "nobody":
        user.groups.add(Group.objects.get(name=role))
    return user
