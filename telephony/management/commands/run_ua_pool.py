"""`python manage.py run_ua_pool`: the `sip` process of the Procfile."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from telephony.ua.supervisor import PoolSettings, UaSupervisor


class Command(BaseCommand):
    help = "Run the pool of SIP user-agent processes that place the calls (supervised; SIGTERM drains)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=settings.UA_POOL_PROCESSES)
        parser.add_argument("--bind", default=settings.UA_BIND_ADDRESS)
        parser.add_argument("--advertise-host", default=settings.UA_ADVERTISE_HOST)
        parser.add_argument("--sip-port-base", type=int, default=settings.UA_SIP_PORT_BASE)
        parser.add_argument("--rtp-port-base", type=int, default=settings.UA_RTP_PORT_BASE)
        parser.add_argument("--rtp-port-range", type=int, default=settings.UA_RTP_PORT_RANGE)
        parser.add_argument("--max-calls", type=int, default=settings.UA_MAX_CALLS_PER_PROCESS)
        parser.add_argument("--media-timeout", type=float, default=settings.UA_MEDIA_TIMEOUT_S)
        parser.add_argument("--stop-timeout", type=float, default=settings.UA_STOP_TIMEOUT_S)
        parser.add_argument("--name-prefix", default="")
        parser.add_argument("--hooks", default=settings.UA_CALL_HOOKS)
        parser.add_argument("--nice", type=int, default=settings.UA_NICE)

    def handle(self, *args: Any, **options: Any) -> None:
        pool = PoolSettings(
            processes=options["processes"], bind_address=options["bind"], advertise_host=options["advertise_host"],
            sip_port_base=options["sip_port_base"], rtp_port_base=options["rtp_port_base"],
            rtp_port_range=options["rtp_port_range"], max_calls=options["max_calls"],
            media_timeout_s=options["media_timeout"], stop_timeout_s=options["stop_timeout"],
            hooks=options["hooks"], nice=options["nice"],
            **({"name_prefix": options["name_prefix"]} if options["name_prefix"] else {}),
        )
        self.stdout.write(f"UA pool: {pool.processes} processes, SIP ports from {pool.sip_port_base}")
        raise SystemExit(UaSupervisor(pool).run())
