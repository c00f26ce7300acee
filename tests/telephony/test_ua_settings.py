"""`UaSettings`: the UA pool's one source of configuration, its defaults, the flags over it and its refusals."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings

from config.settings import base
from telephony.contract import OriginateCommand
from telephony.conversation.controller import campaign_call
from telephony.conversation.plan import bridge_config_from_settings
from telephony.ua.process import WorkerSettings, worker_settings
from telephony.ua.settings import MEDIA_HOOKS, UaSettings, install_process_settings, process_settings
from telephony.ua.supervisor import PoolSettings

SLOT = ["--name", "ua-test-0", "--sip-port", "15070", "--rtp-port", "21000"]

# Each UaSettings field and the setting of config/settings/base.py it comes from.
DECLARED = {
    "pool_processes": "UA_POOL_PROCESSES", "bind_address": "UA_BIND_ADDRESS", "advertise_host": "UA_ADVERTISE_HOST",
    "sip_port_base": "UA_SIP_PORT_BASE", "rtp_port_base": "UA_RTP_PORT_BASE", "rtp_port_range": "UA_RTP_PORT_RANGE",
    "max_calls_per_process": "UA_MAX_CALLS_PER_PROCESS", "media_timeout_s": "UA_MEDIA_TIMEOUT_S",
    "stop_timeout_s": "UA_STOP_TIMEOUT_S", "nice": "UA_NICE", "gil_switch_interval_ms": "UA_GIL_SWITCH_INTERVAL_MS",
    "ledger": "UA_LEDGER", "redis_socket_timeout_s": "UA_REDIS_SOCKET_TIMEOUT_S", "local_agent_url": "LOCAL_AGENT_URL",
    "local_agent_token": "LOCAL_AGENT_TOKEN",
}


def test_the_defaults_are_the_settings_modules() -> None:
    ua = UaSettings.from_django(django_settings)
    for field, setting in DECLARED.items():
        assert getattr(ua, field) == getattr(base, setting), field
    assert ua.command_key == django_settings.UA_COMMAND_KEY
    assert ua.spool_dir == django_settings.UA_SPOOL_DIR
    assert ua.recordings_root == django_settings.RECORDINGS_ROOT
    assert ua.redis_url == django_settings.REDIS_URL
    # the derived ones: a third of the dialer's lease, 3 s inside the supervisor's stop timeout
    assert ua.lease_renew_s == max(1.0, base.DIALER_LEASE_TTL_S // 3) == 10.0
    assert ua.drain_timeout_s == base.UA_STOP_TIMEOUT_S - 3 == 12.0
    # the test settings turn the media bridge off; the base module's default is on
    assert ua.call_hooks == ("" if not django_settings.UA_MEDIA_BRIDGE else MEDIA_HOOKS)
    assert base.UA_MEDIA_BRIDGE is True


def test_a_worker_without_flags_takes_every_setting() -> None:
    ua = UaSettings.from_django(django_settings)
    applied, worker = worker_settings(ua, SLOT)
    assert applied == ua
    assert worker == WorkerSettings(
        name="ua-test-0", redis_url=ua.redis_url, command_key=ua.command_key, spool_dir=str(ua.spool_dir),
        bind_address=ua.bind_address, advertise_host=ua.bind_address, sip_port=15070, rtp_port=21000,
        rtp_port_range=ua.rtp_port_range, max_calls=ua.max_calls_per_process, media_timeout_s=ua.media_timeout_s,
        lease_renew_s=ua.lease_renew_s, drain_timeout_s=ua.drain_timeout_s, hooks=ua.call_hooks,
        redis_timeout_s=ua.redis_socket_timeout_s)


def test_a_flag_overrides_its_setting_and_nothing_else() -> None:
    ua = UaSettings.from_django(django_settings)
    applied, worker = worker_settings(ua, [*SLOT, "--media-timeout", "2.5", "--max-calls", "2", "--hooks", "m.n:f"])
    assert (applied.media_timeout_s, applied.max_calls_per_process, applied.call_hooks) == (2.5, 2, "m.n:f")
    assert (worker.media_timeout_s, worker.max_calls, worker.hooks) == (2.5, 2, "m.n:f")
    assert applied == dataclasses.replace(ua, media_timeout_s=2.5, max_calls_per_process=2, call_hooks="m.n:f")
    # --lease-renew 0 keeps its old meaning: the dialer's interval
    assert worker_settings(ua, [*SLOT, "--lease-renew", "0"])[1].lease_renew_s == ua.lease_renew_s
    # an empty --hooks installs none
    assert worker_settings(dataclasses.replace(ua, call_hooks=MEDIA_HOOKS), [*SLOT, "--hooks", ""])[1].hooks == ""


def test_unknown_or_unusable_values_are_refused_with_the_setting_named(settings: Settings) -> None:
    ua = UaSettings.from_django(django_settings)
    with pytest.raises(ValueError, match=r"^unknown UA setting\(s\): media_timeout$"):
        ua.with_flags(media_timeout=3.0)
    with pytest.raises(ValueError, match=re.escape("UA_MAX_CALLS_PER_PROCESS must be 1..4, got 9")):
        worker_settings(ua, [*SLOT, "--max-calls", "9"])
    with pytest.raises(SystemExit):
        worker_settings(ua, [*SLOT, "--max-call", "2"])  # argparse: no such option
    settings.UA_MEDIA_TIMEOUT_S = -1.0
    with pytest.raises(ValueError, match=re.escape("UA_MEDIA_TIMEOUT_S must be >= 0, got -1.0")):
        UaSettings.from_django(settings)
    settings.UA_MEDIA_TIMEOUT_S, settings.UA_LEDGER = 15.0, "campaigns.dialer.ledger.CampaignLedger"
    with pytest.raises(ValueError, match="UA_LEDGER must be \"module:callable\""):
        UaSettings.from_django(settings)


def test_the_pool_and_its_worker_command_come_from_the_same_settings() -> None:
    ua = UaSettings.from_django(django_settings).with_flags(pool_processes=2, stop_timeout_s=20.0)
    pool = PoolSettings.from_ua(ua, "p")
    assert (pool.processes, pool.sip_port_base, pool.media_timeout_s, pool.nice) == (
        2, ua.sip_port_base, ua.media_timeout_s, ua.nice)
    command = pool.worker_command(1)
    assert command[command.index("--drain-timeout") + 1] == "17.0"
    assert command[command.index("--sip-port") + 1] == str(ua.sip_port_base + 2)
    # the worker reading that command line gets what the pool meant
    _, worker = worker_settings(UaSettings.from_django(django_settings), command[3:])
    assert (worker.name, worker.drain_timeout_s, worker.rtp_port) == ("p-1", 17.0, ua.rtp_port_base + ua.rtp_port_range)
    # and a pool told to advertise its bind address does so, whatever the worker's own settings say
    worker_ua = UaSettings.from_django(django_settings).with_flags(advertise_host="ua.example")
    pool = PoolSettings.from_ua(ua.with_flags(advertise_host=""), "p")
    assert worker_settings(worker_ua, pool.worker_command(0)[3:])[1].advertise_host == ua.bind_address


def test_the_call_plan_and_the_bridge_take_the_installed_ua_settings(settings: Settings) -> None:
    # given the worker installed settings that differ from Django's
    settings.LOCAL_AGENT_URL, settings.LOCAL_AGENT_TOKEN = "ws://agent.example:1/v1", "tok"
    ua = UaSettings.from_django(settings).with_flags(recordings_root=Path("/srv/rec-x"))
    settings.LOCAL_AGENT_URL, settings.LOCAL_AGENT_TOKEN = "ws://not-this.example:2/v1", ""
    command = OriginateCommand.from_wire({
        "type": "originate", "attempt_id": 7, "destination": "+12025550100", "campaign_id": 3,
        "trunk": {"id": 1, "host": "127.0.0.1"}, "conversation": {"agent": {"provider": "local"}}})
    previous = process_settings()
    install_process_settings(ua)
    try:
        # when the controller builds a call's hooks
        call = campaign_call(command)
    finally:
        install_process_settings(previous)
    # then the plan and the bridge use the installed settings, not Django's
    assert call.plan.agent is not None
    assert (call.plan.agent.resolved_url, call.plan.agent.token) == ("ws://agent.example:1/v1/realtime", "tok")
    assert bridge_config_from_settings(ua).recordings_root == Path("/srv/rec-x")


def test_the_ai_limits_reach_the_bridge_and_bad_ones_are_refused_by_name(settings: Settings) -> None:
    # given the F13/F20 limits set for the deployment
    settings.AI_PROMPT_VARIABLE_MAX_CHARS, settings.AI_MAX_PLAYOUT_S, settings.AI_SILENCE_TIMEOUT_S = 80, 20, 9.5
    # then every call's bridge uses them
    config = bridge_config_from_settings(UaSettings.from_django(settings))
    assert (config.prompt_variable_max_chars, config.max_playout_ms, config.ai_silence_timeout_s) == (80, 20_000, 9.5)
    # and an unusable one stops the UA at start, naming the setting
    settings.AI_MAX_PLAYOUT_S = 0
    with pytest.raises(ValueError, match="AI_MAX_PLAYOUT_S must be >= 1"):
        UaSettings.from_django(settings)
    settings.AI_MAX_PLAYOUT_S, settings.AI_SILENCE_TIMEOUT_S = 30, 0.0
    with pytest.raises(ValueError, match="AI_SILENCE_TIMEOUT_S must be positive"):
        UaSettings.from_django(settings)
