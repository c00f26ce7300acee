"""Redis emptied mid-campaign: the campaign still finishes, within its limits, with no double dial.

Real processes: Celery worker and beat (dispatcher, originate, reaper), one UA worker without media hooks, and a
SIPp peer that answers every call and hangs up 2 s later. The campaign has 8 contacts
and may run 2 calls at once. After the first calls ended, the engine's Redis database is emptied (FLUSHDB:
leases, calls-per-second buckets, the UA registry, command queues and the Celery broker's queues and bindings
all go; the other databases on the server are left to other test runs).

Counted afterwards: every contact done, one attempt dialed per contact (SIPp saw one INVITE per dialed
attempt and no attempt twice), never more than 2 calls up at once (sampled from the ledger every 50 ms), no
attempt left in flight.

Ports (loopback): UA worker SIP 19720 (RTP 49960-49975), SIPp 19730 (RTP 49990).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connections
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.rules.windows import CallingWindow, zones_in_window
from testing.sipp import SippRun, header
from tests.campaigns.dialer_setup import running_campaign
from tests.factories import ContactFactory, TrunkFactory
from tests.faults.conftest import control_plane, good_month
from tests.telephony.conftest import SCENARIOS, running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

UA_SIP_PORT, UA_RTP_PORT, SIPP_PORT, SIPP_RTP_PORT = 19720, 49960, 19730, 49990
CONTACTS, MAX_CONCURRENT = 8, 2


class InFlightSampler(threading.Thread):
    """Samples the number of calls up (dialing, ringing, answered, bridged) every 50 ms on its own connection."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(daemon=True)
        self.campaign_id = campaign_id
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        up = {AttemptState.DIALING, AttemptState.RINGING, AttemptState.ANSWERED, AttemptState.BRIDGED}
        try:
            while not self.stop.is_set():
                count = CallAttempt.objects.filter(campaign_id=self.campaign_id, state__in=up).count()
                self.peak = max(self.peak, count)
                time.sleep(0.05)
        finally:
            connections.close_all()


@pytest.fixture
def sipp_answers(tmp_path: Path) -> Iterator[SippRun]:
    run = SippRun(SCENARIOS / "uas_answer_remote_bye.xml", port=SIPP_PORT, media_port=SIPP_RTP_PORT, workdir=tmp_path)
    run.start(calls=CONTACTS * 3, timeout_s=240)
    yield run
    with contextlib.suppress(Exception):
        run.stop()


def test_redis_emptied_mid_campaign_finishes_it_within_limits_without_double_dials(
        sipp_answers: SippRun, tmp_path: Path) -> None:
    # given a running campaign of 8 contacts, 2 calls at a time, each call 2 s long
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    soon = timezone.now() + dt.timedelta(minutes=5)
    zone = sorted(set(zones_in_window(timezone.now(), window)) & set(zones_in_window(soon, window)))[0]
    campaign = running_campaign(max_concurrent=MAX_CONCURRENT, trunk=TrunkFactory(host="127.0.0.1", port=SIPP_PORT),
                                window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21),
                                ring_timeout_s=10)
    people = [ContactFactory(campaign=campaign, time_zones=[zone]) for _ in range(CONTACTS)]
    # (no agent joins SIPp's calls: without a month of good calls the abandonment governor would pause the
    # campaign whenever its 30 s beat fell before the last call; the first clean-clone run that was slow met it)
    history = good_month(campaign)
    r = redis.Redis.from_url(settings.REDIS_URL)
    sampler = InFlightSampler(campaign.pk)
    with running_worker(f"fault-redis-{campaign.pk}", UA_SIP_PORT, UA_RTP_PORT, tmp_path / "ua.log", "--hooks", ""), \
            control_plane(tmp_path):
        sampler.start()
        try:
            # when the first calls have ended, Redis is emptied
            wait_for(lambda: CallAttempt.objects.filter(
                campaign=campaign, state=AttemptState.ENDED, dialing_at__isnull=False).count() >= 2,
                60, "the first calls to end", interval_s=0.2)
            r.flushdb()
            flushed_at = time.monotonic()
            # then the campaign still completes
            wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED, 150,
                     "the campaign to complete after the flush", interval_s=0.5)
            recovered_s = time.monotonic() - flushed_at
        finally:
            sampler.stop.set()
            sampler.join(5)
    r.close()
    # every contact reached, exactly once
    assert Counter(Contact.objects.filter(campaign=campaign).exclude(pk=history.pk).values_list(
        "status", flat=True)) == {ContactStatus.DONE: CONTACTS}
    dialed = CallAttempt.objects.filter(campaign=campaign, dialing_at__isnull=False)
    assert dialed.count() == CONTACTS
    assert set(dialed.values_list("disposition", flat=True)) == {Disposition.HUMAN}
    assert sorted(dialed.values_list("contact_id", flat=True)) == sorted(p.pk for p in people)
    # SIPp saw one INVITE per dialed attempt, never one attempt twice
    attempt_ids = [header(m, "X-Attempt-Id") for m in sipp_answers.received("INVITE")]
    assert len(attempt_ids) == len(set(attempt_ids)) == CONTACTS
    # never more than the campaign's limit at once, and nothing left in flight
    assert sampler.peak <= MAX_CONCURRENT, sampler.peak
    assert not CallAttempt.objects.filter(campaign=campaign, state__in=ATTEMPT_IN_FLIGHT).exists()
    print(f"campaign completed {recovered_s:.1f} s after the flush; peak calls up {sampler.peak}")
