"""``manage.py run_demo`` (``make demo``): a whole campaign against the simulated phone network, end to end.

Creates the demo data (a fresh campaign each run), starts the processes of ``Procfile.demo`` with honcho
(web, Celery worker and beat, the UA pool, the local agent, the simulated network), waits until they answer,
starts the campaign, draws its progress, and when every contact inside its calling window is done prints the
report summary and the admin login. The services are stopped at the end unless ``--keep-running``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from campaigns.choices import CampaignStatus
from campaigns.contacts.imports import CsvFormatError
from campaigns.models import Campaign
from campaigns.reports.report import build_campaign_report
from campaigns.services import CampaignTransitionError, pause_campaign, start_campaign
from demo.demo_campaign import (
    DEMO_PASSWORD,
    DEMO_USER,
    OVERRIDE_FLAG,
    SAMPLE_CONTACTS,
    DemoOptions,
    DemoProgress,
    NotADemoDatabase,
    calls_outside_window,
    create_demo_campaign,
    demo_database_refusal,
    ensure_demo_superuser,
    progress_bar,
    read_demo_progress,
    report_summary_lines,
)
from telephony.ua_registry import live_uas

DEMO_DIR = Path(settings.BASE_DIR) / "var" / "demo"
PROCFILE = Path(settings.BASE_DIR) / "Procfile.demo"
SIMULATOR_WORKERS = 3
POLL_S = 0.5
# No dial this long after the start with contacts due: a process is missing (the log says which).
NOTHING_DIALED_WARNING_S = 60
COMPLETION_GRACE_S = 15  # the dispatcher marks a campaign with nothing left completed within a tick or two
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (0: no more; a no-op elsewhere).

    Why: ``make demo &`` then ``kill <make's pid>`` kills only make; without this the demo and every process it
    started would keep running, dialing, on their ports.
    """
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or name is None:
        return
    libc = ctypes.CDLL(name, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


class Command(BaseCommand):
    help = ("Run the demo end to end: demo data, the Procfile.demo processes (honcho), a campaign against the "
            "simulated phone network with a progress bar, then the report summary and the admin login.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep-running", action="store_true",
                            help="leave the services running after the summary (Ctrl-C stops them)")
        parser.add_argument("--no-services", action="store_true",
                            help="do not start honcho: the processes are already running")
        parser.add_argument("--timeout", type=float, default=480, help="seconds the campaign may take")
        parser.add_argument("--ready-timeout", type=float, default=120, help="seconds for the processes to start")
        parser.add_argument("--web-port", type=int, default=8000)
        parser.add_argument("--simulator-port", type=int, default=5080)
        parser.add_argument("--agent-port", type=int, default=8765)
        parser.add_argument("--ua-processes", type=int, default=2, help="UA worker processes (4 lines each)")
        parser.add_argument("--max-concurrent", type=int, default=8)
        parser.add_argument("--ring-timeout", type=int, default=8)
        parser.add_argument("--retry-delay", type=int, default=15)
        parser.add_argument("--csv", type=Path, default=SAMPLE_CONTACTS, help="contacts to import")
        parser.add_argument(OVERRIDE_FLAG, action="store_true", dest="not_production",
                            help="run even though DEBUG is off or the database is not named like a demo one "
                                 "(the demo creates the superuser demo/demo)")

    def handle(self, *args: Any, **options: Any) -> None:
        # F24: checked before anything else, so a refused run starts no process and writes nothing.
        refusal = demo_database_refusal(debug=settings.DEBUG, database_name=str(connection.settings_dict["NAME"]))
        if refusal is not None and not options["not_production"]:
            raise CommandError(f"The demo creates the superuser {DEMO_USER}/{DEMO_PASSWORD} and dials: refusing, "
                               f"{refusal}. Pass {OVERRIDE_FLAG} if this database is not production.")
        # Carriage-return redraws only on a terminal (a log or a test gets one line per change).
        self.tty = sys.stdout.isatty() and self.stdout._out is sys.stdout
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        demo = DemoOptions(simulator_port=options["simulator_port"], ring_timeout_s=options["ring_timeout"],
                           retry_delay_s=options["retry_delay"], max_concurrent=options["max_concurrent"],
                           contacts_csv=options["csv"])
        if not options["no_services"] and (busy := _busy_ports(options)):
            raise CommandError("These loopback ports are already in use, so the demo's processes could not "
                               f"start: {', '.join(busy)}. Stop what uses them or pick other ports "
                               "(--web-port, --simulator-port, --agent-port, UA_SIP_PORT_BASE).")
        try:
            created = ensure_demo_superuser(allow_any_database=options["not_production"])
        except NotADemoDatabase as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{'Created' if created else 'Found'} admin login {DEMO_USER} / {DEMO_PASSWORD}")
        try:
            setup = create_demo_campaign(demo)
        except CsvFormatError as exc:
            raise CommandError(f"The sample contacts could not be imported: {exc}") from exc
        campaign = setup.campaign
        if setup.cancelled_earlier:
            self.stdout.write(f"Cancelled earlier demo campaigns still open: {setup.cancelled_earlier}")
        self.stdout.write(f"Created campaign \u201c{campaign.name}\u201d (id {campaign.pk}); imported "
                          f"{demo.contacts_csv.name}: {setup.import_job.summary}")
        if setup.import_job.dnc:
            self.stdout.write(f"{setup.import_job.dnc} contacts are on the do-not-call list (people who opted out in "
                              "an earlier demo run: the list is company-wide and kept) and will not be called.")
        if options["no_services"]:
            self._drive(campaign, options, None)
            return
        # SIGTERM, SIGHUP and the death of the parent stop the demo the way Ctrl-C does: every process it started
        # is stopped and its campaign paused. Only while the demo owns processes, and undone afterwards, so a
        # caller in the same process (a test) keeps its own signal handling.
        parent = os.getppid()
        previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
        die_with_parent()
        try:
            if os.getppid() != parent:  # the parent died before the request took effect
                raise CommandError("The process that started the demo is gone.")
            self._drive(campaign, options, self._start_services(options))
        finally:
            die_with_parent(0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _drive(self, campaign: Campaign, options: dict[str, Any], honcho: subprocess.Popen[bytes] | None) -> None:
        """Run the campaign to its end (or until interrupted), then stop what was started."""
        try:
            self._wait_ready(options, started_services=honcho is not None, honcho=honcho)
            self._run_campaign(campaign, options, honcho)
            if options["keep_running"] and honcho is not None:
                self.stdout.write("Services keep running (Ctrl-C stops them).")
                with contextlib.suppress(KeyboardInterrupt):
                    honcho.wait()
                self._pause(campaign)
        except KeyboardInterrupt:
            self.stdout.write("\nInterrupted.")
            self._pause(campaign)
        except CommandError:
            self._pause(campaign)
            raise
        finally:
            if honcho is not None:
                self._stop_services(honcho)

    def _pause(self, campaign: Campaign) -> None:
        # Nothing dials the campaign once the demo's processes are gone; paused, it waits for the operator.
        with contextlib.suppress(CampaignTransitionError):
            pause_campaign(campaign.pk)
            self.stdout.write(f"Paused the campaign \u201c{campaign.name}\u201d.")

    # ---- services ---------------------------------------------------------------------------------------

    def _start_services(self, options: dict[str, Any]) -> subprocess.Popen[bytes]:
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYTHONUNBUFFERED": "1", "DEMO_WEB_PORT": str(options["web_port"]),
               "DEMO_SIMULATOR_PORT": str(options["simulator_port"]), "DEMO_AGENT_PORT": str(options["agent_port"]),
               "DEMO_SIMULATOR_WORKERS": str(SIMULATOR_WORKERS), "UA_POOL_PROCESSES": str(options["ua_processes"]),
               "LOCAL_AGENT_URL": f"ws://127.0.0.1:{options['agent_port']}/v1"}
        log_path = DEMO_DIR / "services.log"
        self.stdout.write(f"Starting the demo processes (honcho -f {PROCFILE.name}); their output: {log_path}")
        with log_path.open("wb") as log:  # one run per log: the readiness check reads it
            return subprocess.Popen(  # noqa: S603 (our own venv's honcho and Procfile)
                [str(Path(bin_dir) / "honcho"), "-f", str(PROCFILE), "-d", str(settings.BASE_DIR), "start"],
                cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent)  # prctl only: a SIGKILLed demo still stops honcho

    def _stop_services(self, honcho: subprocess.Popen[bytes]) -> None:
        if honcho.poll() is not None:
            return
        self.stdout.write("Stopping the demo processes...")
        # A second SIGTERM or Ctrl-C while stopping must not leave the processes behind: ignore them until done.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            honcho.send_signal(signal.SIGTERM)  # honcho passes it on; the UA pool hangs up and records its calls
            with contextlib.suppress(subprocess.TimeoutExpired):
                honcho.wait(timeout=settings.UA_STOP_TIMEOUT_S + 20)
            # honcho's own session: whatever survived it (a stuck child) goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(honcho.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                honcho.wait(timeout=5)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")

    def _wait_ready(self, options: dict[str, Any], *, started_services: bool,
                    honcho: subprocess.Popen[bytes] | None) -> None:
        r = redis.Redis.from_url(settings.REDIS_URL)
        want_uas = options["ua_processes"] if started_services else 1
        checks: list[tuple[str, Callable[[], bool]]] = [
            (f"the simulated network on udp 127.0.0.1:{options['simulator_port']}",
             lambda: _sip_options_ok("127.0.0.1", options["simulator_port"])),
            (f"the local agent on 127.0.0.1:{options['agent_port']}",
             lambda: _tcp_open("127.0.0.1", options["agent_port"])),
            (f"{want_uas} UA worker(s) in the registry", lambda: len(live_uas(r)) >= want_uas),
        ]
        if started_services:
            # The front answers OPTIONS as soon as it listens; its workers announce themselves a little later.
            checks.append(("the simulator's workers",
                           lambda: "simulated network ready" in _tail(DEMO_DIR / "services.log", 2000)))
            checks.append((f"the web server on 127.0.0.1:{options['web_port']}",
                           lambda: _tcp_open("127.0.0.1", options["web_port"])))
        deadline = time.monotonic() + options["ready_timeout"]
        try:
            for what, check in checks:
                self.stdout.write(f"Waiting for {what}...", ending="")
                self.stdout.flush()
                while not check():
                    if honcho is not None and honcho.poll() is not None:
                        raise CommandError(f"\nThe demo processes stopped; see {DEMO_DIR / 'services.log'}:\n"
                                           + _tail(DEMO_DIR / "services.log"))
                    if time.monotonic() > deadline:
                        hint = f"; see {DEMO_DIR / 'services.log'}" if started_services else " (--no-services)"
                        raise CommandError(f"\nTimed out waiting for {what}{hint}.")
                    time.sleep(POLL_S)
                self.stdout.write(" ready")
        finally:
            r.close()

    # ---- the campaign -----------------------------------------------------------------------------------

    def _run_campaign(self, campaign: Campaign, options: dict[str, Any],
                      honcho: subprocess.Popen[bytes] | None) -> None:
        now = timezone.now()
        first = read_demo_progress(campaign.pk, now=now)
        if first.waiting:
            self.stdout.write(f"{len(first.waiting)} of {first.contacts} contacts are outside the calling window "
                              "(08:00-21:00 their local time, the legal maximum) right now: they wait for their "
                              "window and are not called in this run:")
            zones: dict[str, list[str]] = {}
            for w in first.waiting:
                zones.setdefault(w.local_time, []).append(w.phone_e164)
            for local_time, phones in zones.items():
                self.stdout.write(f"  local time {local_time}: {', '.join(phones)}")
        try:
            start_campaign(campaign.pk)
        except CampaignTransitionError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Started the campaign: {first.callable} contacts to call, at most "
                          f"{options['max_concurrent']} at a time.")
        started = time.monotonic()
        progress = self._watch(campaign.pk, started, options["timeout"], honcho)
        if not progress.waiting:
            # The dispatcher completes a campaign with nothing left within a tick or two.
            deadline = time.monotonic() + COMPLETION_GRACE_S
            while time.monotonic() < deadline and Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING:
                time.sleep(POLL_S)
        elif not (options["keep_running"] and honcho is not None):
            # Nobody watches the waiting contacts once the services stop; the operator resumes it in the admin.
            with contextlib.suppress(CampaignTransitionError):
                pause_campaign(campaign.pk)
        self._print_summary(campaign.pk, progress, time.monotonic() - started, options)

    def _watch(self, campaign_id: int, started: float, timeout_s: float,
               honcho: subprocess.Popen[bytes] | None) -> DemoProgress:
        last_line, last_print, warned = "", 0.0, False
        while True:
            progress = read_demo_progress(campaign_id)
            elapsed = time.monotonic() - started
            line = progress_bar(progress, elapsed)
            if self.tty:
                # Redraw in place: clip to the terminal's width (a wrapped line cannot be redrawn), clear the rest.
                columns = shutil.get_terminal_size().columns
                self.stdout.write(f"\r{line[:columns - 1]}\033[K", ending="")
                self.stdout.flush()
            elif line.split(" (")[0] != last_line or time.monotonic() - last_print > 10:
                self.stdout.write(line)
                last_line, last_print = line.split(" (")[0], time.monotonic()
            if progress.finished:
                break
            if honcho is not None and honcho.poll() is not None:
                raise CommandError(f"\nThe demo processes stopped; see {DEMO_DIR / 'services.log'}:\n"
                                   + _tail(DEMO_DIR / "services.log"))
            if not warned and progress.dialed == 0 and elapsed > NOTHING_DIALED_WARNING_S:
                warned = True
                self.stdout.write(f"\nNothing dialed after {NOTHING_DIALED_WARNING_S} s: are the Celery worker "
                                  f"and beat running? See {DEMO_DIR / 'services.log'}.")
            if elapsed > timeout_s:
                self.stdout.write("")
                self._print_summary(campaign_id, progress, elapsed, {})
                raise CommandError(f"The campaign did not finish within {timeout_s:.0f} s "
                                   f"({progress.in_flight} calls in flight, {progress.due_in_window} contacts due).")
            time.sleep(POLL_S)
        if self.tty:
            self.stdout.write("")
        return progress

    def _print_summary(self, campaign_id: int, progress: DemoProgress, elapsed_s: float,
                       options: dict[str, Any]) -> None:
        campaign = Campaign.objects.select_related("agent", "trunk").get(pk=campaign_id)
        report = build_campaign_report(campaign)
        lines = report_summary_lines(report, outside_window=calls_outside_window(campaign),
                                     waiting=read_demo_progress(campaign_id).waiting)
        self.stdout.write("")
        self.stdout.write(f"Report summary after {elapsed_s:.0f} s")
        for line in lines:
            self.stdout.write(f"  {line}")
        if not options:
            return
        if progress.waiting:
            state = ("keeps running: they are called when their window opens" if campaign.status ==
                     CampaignStatus.RUNNING else "is paused: resume it in the admin to call them when it opens")
            self.stdout.write(f"{len(progress.waiting)} contacts wait for their calling window; the campaign {state}.")
        web = f"http://127.0.0.1:{options['web_port']}/{settings.ADMIN_URL}"
        self.stdout.write(f"Admin: {web} (login {DEMO_USER} / {DEMO_PASSWORD})")
        self.stdout.write(f"Report: {web}campaigns/campaign/{campaign_id}/report/")
        if not options["keep_running"] and not options["no_services"]:
            self.stdout.write("Run `make demo KEEP=1` to keep the services running and browse the admin.")


def _busy_ports(options: dict[str, Any]) -> list[str]:
    wanted = [("tcp", options["web_port"]), ("tcp", options["agent_port"]), ("udp", options["simulator_port"])]
    wanted += [("udp", options["simulator_port"] + 1 + i) for i in range(SIMULATOR_WORKERS)]
    wanted += [("udp", settings.UA_SIP_PORT_BASE + 2 * i) for i in range(options["ua_processes"])]
    busy = []
    for kind, port in wanted:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        try:
            if kind == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        except OSError:
            busy.append(f"{kind} {port}")
        finally:
            sock.close()
    return busy


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _sip_options_ok(host: str, port: int) -> bool:
    """Whether a SIP OPTIONS to ``host:port`` over UDP gets a 200 (the simulator's front answers it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        try:
            sock.bind(("127.0.0.1", 0))
            local_port = sock.getsockname()[1]
            request = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
                       "Max-Forwards: 70\r\n"
                       f"From: <sip:demo@127.0.0.1:{local_port}>;tag={uuid.uuid4().hex[:8]}\r\n"
                       f"To: <sip:{host}:{port}>\r\n"
                       f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
                       "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            sock.connect((host, port))
            sock.send(request.encode())
            return sock.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
