"""`python manage.py run_ua_pool`: the `sip` process of the Procfile.

Every option defaults to its UA setting (`telephony.ua.settings.UaSettings`, declared in config/settings/base.py);
an option given replaces that setting for this pool and its workers.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from telephony.ua.settings import UaSettings
from telephony.ua.supervisor import PoolSettings, UaSupervisor


class Command(BaseCommand):
    help = "Run the pool of SIP user-agent processes that place the calls (supervised; SIGTERM drains)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, help="default: UA_POOL_PROCESSES")
        parser.add_argument("--bind", help="default: UA_BIND_ADDRESS")
        parser.add_argument("--advertise-host", help="default: UA_ADVERTISE_HOST")
        parser.add_argument("--sip-port-base", type=int, help="default: UA_SIP_PORT_BASE")
        parser.add_argument("--rtp-port-base", type=int, help="default: UA_RTP_PORT_BASE")
        parser.add_argument("--rtp-port-range", type=int, help="default: UA_RTP_PORT_RANGE")
        parser.add_argument("--max-calls", type=int, help="default: UA_MAX_CALLS_PER_PROCESS")
        parser.add_argument("--media-timeout", type=float, help="seconds; default: UA_MEDIA_TIMEOUT_S")
        parser.add_argument("--stop-timeout", type=float, help="seconds; default: UA_STOP_TIMEOUT_S")
        parser.add_argument("--name-prefix", default="", help="default: ua-<host name>")
        parser.add_argument("--hooks",
                            help="default: UA_CALL_HOOKS, else the media bridge unless UA_MEDIA_BRIDGE is off")
        parser.add_argument("--nice", type=int, help="default: UA_NICE")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ua = UaSettings.from_django(settings).with_flags(
                pool_processes=options["processes"], bind_address=options["bind"],
                advertise_host=options["advertise_host"], sip_port_base=options["sip_port_base"],
                rtp_port_base=options["rtp_port_base"], rtp_port_range=options["rtp_port_range"],
                max_calls_per_process=options["max_calls"], media_timeout_s=options["media_timeout"],
                stop_timeout_s=options["stop_timeout"], call_hooks=options["hooks"], nice=options["nice"])
            pool = PoolSettings.from_ua(ua, options["name_prefix"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"UA pool: {pool.processes} processes, SIP ports from {pool.sip_port_base}")
        raise SystemExit(UaSupervisor(pool).run())
