"""A UA host lost mid-campaign: the campaign finishes on the other host, no attempt dialed twice, all resolved.

Two UA "hosts", each a network namespace of its own with a veth link to this machine (addresses of these test
hosts only: 10.231.1.0/30 and 10.231.2.0/30; the services answer on 10.231.0.1, added to this machine's
loopback interface for the test). Each runs
one UA worker; both share this test run's PostgreSQL and Redis, reached through TCP proxies on 10.231.0.1 (the
servers themselves listen on loopback only). SIPp on 10.231.0.1 is the trunk: it answers and hangs up 2 s
later. Celery worker and beat run here. While calls are up on both hosts, host A's link is cut (its veth goes
down): its worker can no longer reach anything, and the calls it carried are lost.

Counted afterwards: every contact resolved (done, or review for a call that was answered on A and whose result is
unknown), no attempt dialed twice (one INVITE per attempt id), no contact with two calls up at once, the
campaign completed, and every attempt ended.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact, RetryRule
from campaigns.rules.windows import CallingWindow, zones_in_window
from telephony.ua_registry import live_uas
from testing.sipp import SippRun, header
from tests.campaigns.dialer_setup import running_campaign
from tests.factories import ContactFactory, TrunkFactory
from tests.faults.conftest import control_plane, good_month
from tests.faults.tcp_proxy import TcpProxy
from tests.telephony.conftest import PROJECT_ROOT, SCENARIOS, stop_process, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES_IP = "10.231.0.1"
HOSTS = {"a": ("10.231.1.1", "10.231.1.2"), "b": ("10.231.2.1", "10.231.2.2")}
PG_PORT, REDIS_PORT, SIPP_PORT, SIPP_RTP_PORT, UA_SIP_PORT, UA_RTP_PORT = 15432, 16379, 19760, 50060, 19770, 50100
CONTACTS, MAX_CONCURRENT = 10, 4
IP = shutil.which("ip") or "/usr/sbin/ip"
CALLS_UP = (AttemptState.DIALING, AttemptState.RINGING, AttemptState.ANSWERED)


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True, timeout=10)  # noqa: S603 - iproute2


@pytest.fixture
def test_hosts() -> Iterator[dict[str, str]]:
    """Two network namespaces linked to this machine; yields their names by host key."""
    tag = os.getpid() % 10000
    names = {key: f"ce-ua-{key}-{tag}" for key in HOSTS}
    created: list[str] = []
    try:
        _ip("addr", "add", f"{SERVICES_IP}/32", "dev", "lo")
        for key, (outside, inside) in HOSTS.items():
            ns, veth = names[key], f"ce-v{key}{tag}"
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("addr", "add", f"{outside}/30", "dev", veth)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "addr", "add", f"{inside}/30", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", f"{SERVICES_IP}/32", "via", outside)
        yield names
    finally:
        for key in HOSTS:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", f"ce-v{key}{tag}")
        for ns in created:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", ns)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("addr", "del", f"{SERVICES_IP}/32", "dev", "lo")


def _ua_worker(ns: str, name: str, inside: str, log: Path) -> subprocess.Popen[bytes]:
    db = settings.DATABASES["default"]
    redis_db = settings.REDIS_URL.rsplit("/", 1)[1]
    env = {**worker_env(), "DATABASE_URL": f"postgres://{db['USER']}@{SERVICES_IP}:{PG_PORT}/{db['NAME']}",
           "REDIS_URL": f"redis://{SERVICES_IP}:{REDIS_PORT}/{redis_db}"}
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own module, inside our own test host
            [IP, "netns", "exec", ns, sys.executable, "-m", "telephony.ua.process", "--name", name,
             "--bind", inside, "--sip-port", str(UA_SIP_PORT), "--rtp-port", str(UA_RTP_PORT), "--hooks", "",
             "--lease-renew", "1", "--media-timeout", "0"],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)


def test_a_ua_host_cut_off_mid_campaign_leaves_the_campaign_to_the_other_host(
        test_hosts: dict[str, str], tmp_path: Path) -> None:
    db = settings.DATABASES["default"]
    redis_host, redis_port = "127.0.0.1", int(settings.REDIS_URL.split(":")[2].split("/")[0])
    window = CallingWindow.for_campaign(range(7), dt.time(8), dt.time(21))
    soon = timezone.now() + dt.timedelta(minutes=5)
    zone = sorted(set(zones_in_window(timezone.now(), window)) & set(zones_in_window(soon, window)))[0]
    campaign = running_campaign(max_concurrent=MAX_CONCURRENT, trunk=TrunkFactory(host=SERVICES_IP, port=SIPP_PORT),
                                window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21),
                                ring_timeout_s=10)
    # A call that may have rung and was lost is tried again soon (the operator's rule for this campaign).
    RetryRule.objects.create(campaign=campaign, disposition=Disposition.FAILED_UNKNOWN, delay_s=2, max_attempts=3)
    people = [ContactFactory(campaign=campaign, time_zones=[zone]) for _ in range(CONTACTS)]
    good_month(campaign)
    sipp = SippRun(SCENARIOS / "uas_answer_remote_bye.xml", port=SIPP_PORT, media_port=SIPP_RTP_PORT,
                   workdir=tmp_path)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    r = redis.Redis.from_url(settings.REDIS_URL)
    with TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)), PG_PORT, SERVICES_IP), \
            TcpProxy((redis_host, redis_port), REDIS_PORT, SERVICES_IP):
        # later -i/-mi override SippRun's loopback defaults: SIPp answers on the services address
        sipp.start(calls=CONTACTS * 3, timeout_s=240, extra=["-i", SERVICES_IP, "-mi", SERVICES_IP])
        try:
            for key, ns in test_hosts.items():
                workers[key] = _ua_worker(ns, f"host-{key}", HOSTS[key][1], tmp_path / f"ua-{key}.log")
            wait_for(lambda: {"host-a", "host-b"} <= set(live_uas(r)), 30, "both UA hosts to register")
            with control_plane(tmp_path):
                # when both hosts carry calls, host A is cut off
                def up_on(name: str) -> int:
                    return CallAttempt.objects.filter(campaign=campaign, ua_name=name,
                                                      state__in=CALLS_UP).count()
                wait_for(lambda: up_on("host-a") >= 1 and up_on("host-b") >= 1, 60, "calls on both hosts",
                         interval_s=0.05)
                _ip("-n", test_hosts["a"], "link", "set", "eth0", "down")
                cut_at = timezone.now()
                # then the campaign completes on host B
                wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED, 180,
                         "the campaign to complete on host B", interval_s=0.5)
        finally:
            for process in workers.values():
                stop_process(process, timeout_s=15)
            sipp.stop()
    r.close()
    attempts = CallAttempt.objects.filter(campaign=campaign)
    assert not attempts.filter(state__in=ATTEMPT_IN_FLIGHT).exists()
    statuses = Counter(Contact.objects.filter(pk__in=[p.pk for p in people]).values_list("status", flat=True))
    assert set(statuses) <= {ContactStatus.DONE, ContactStatus.REVIEW}, statuses
    assert sum(statuses.values()) == len(people)
    # every attempt was dialed at most once (SIPp saw each attempt id once)
    invited = Counter(header(m, "X-Attempt-Id") for m in sipp.received("INVITE"))
    assert invited
    assert max(invited.values()) == 1, invited
    # host A's lost calls ended failed_unknown; everything after the cut went out on host B
    lost = attempts.filter(ua_name="host-a", disposition=Disposition.FAILED_UNKNOWN)
    assert lost.exists()
    # (a command A took from its queue in the instant before the cut may still pass its gate just after it)
    assert not attempts.filter(ua_name="host-a", dialing_at__gt=cut_at + dt.timedelta(seconds=1)).exists()
    assert attempts.filter(ua_name="host-b", disposition=Disposition.HUMAN).exists()
    print(f"contacts: {dict(statuses)}; attempts: {attempts.count()}; lost on A: {lost.count()}")
