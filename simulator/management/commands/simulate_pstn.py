"""`python manage.py simulate_pstn --port 5080`: the simulated phone network (see docs/simulator.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.front import FrontConfig, run_front
from simulator.personas import SimulatorOptions


class Command(BaseCommand):
    help = ("Run a simulated phone network on loopback: a SIP front that redirects each call to a pool of "
            "worker processes answering with personas chosen by the number's last digit.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = SimulatorOptions()
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (loopback)")
        parser.add_argument("--port", type=int, default=5080, help="public SIP port (UDP)")
        parser.add_argument("--workers", type=int, default=4, help="worker processes, 4 calls each")
        parser.add_argument("--worker-port-base", type=int, default=0, help="first worker SIP port (port + 1)")
        parser.add_argument("--rtp-port-base", type=int, default=31000)
        parser.add_argument("--log", default=defaults.log_path, help="JSON-lines call log")
        parser.add_argument("--record-dir", default="", help="write a WAV of what each call received here")
        parser.add_argument("--ring", type=float, default=defaults.ring_s, help="seconds of ringing before 200")
        parser.add_argument("--max-ring", type=float, default=defaults.max_ring_s,
                            help="the no-answer persona gives up (480) after this long")
        parser.add_argument("--silence-ms", type=int, default=defaults.silence_ms,
                            help="silence that ends the agent's turn")
        parser.add_argument("--no-speech-timeout", type=float, default=defaults.no_speech_timeout_s)
        parser.add_argument("--final-wait", type=float, default=defaults.final_wait_s)
        parser.add_argument("--hangup-delay", type=float, default=defaults.hangup_delay_s)
        parser.add_argument("--interrupt-after", type=float, default=defaults.interrupt_after_s)
        parser.add_argument("--max-call", type=float, default=defaults.max_call_s)
        parser.add_argument("--greeting", default=defaults.voicemail_greeting, help="the voicemail greeting")
        parser.add_argument("--beep-hz", type=float, default=defaults.beep_hz)
        parser.add_argument("--beep", type=float, default=defaults.beep_s, help="beep length in seconds")
        parser.add_argument("--voicemail-max", type=float, default=defaults.voicemail_max_s)
        parser.add_argument("--voicemail-silence", type=float, default=defaults.voicemail_silence_s)
        parser.add_argument("--wpm", type=int, default=defaults.words_per_minute, help="speaking rate")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            sim = SimulatorOptions(
                ring_s=options["ring"], max_ring_s=options["max_ring"], silence_ms=options["silence_ms"],
                no_speech_timeout_s=options["no_speech_timeout"], final_wait_s=options["final_wait"],
                hangup_delay_s=options["hangup_delay"], interrupt_after_s=options["interrupt_after"],
                max_call_s=options["max_call"], voicemail_greeting=options["greeting"],
                beep_hz=options["beep_hz"], beep_s=options["beep"], voicemail_max_s=options["voicemail_max"],
                voicemail_silence_s=options["voicemail_silence"], words_per_minute=options["wpm"],
                # Absolute: the workers run from the project root, whatever the command's working directory.
                log_path=str(Path(options["log"]).resolve()),
                record_dir=str(Path(options["record_dir"]).resolve()) if options["record_dir"] else "",
            )
            config = FrontConfig(bind_address=options["bind"], port=options["port"], workers=options["workers"],
                                 worker_port_base=options["worker_port_base"],
                                 rtp_port_base=options["rtp_port_base"], options=sim)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Simulated network: SIP {config.bind_address}:{config.port}, {config.workers} workers "
                          f"from port {config.first_worker_port}, log {sim.log_path}")
        self.stdout.flush()
        raise SystemExit(run_front(config))
