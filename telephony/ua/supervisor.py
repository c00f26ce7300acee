"""The `sip` process: starts N UA worker processes, restarts one that dies, stops them all on SIGTERM.

Each worker gets a stable slot: its name (`<prefix>-<index>`), its SIP port (`sip_port_base + 2 * index`;
TLS takes the odd port) and its RTP range (`rtp_port_base + rtp_port_range * index`). A restarted worker
takes the same slot, so commands still queued under its name in Redis are served by its successor (which
drops those whose attempt is no longer queued).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from telephony.ua.settings import UaSettings, drain_timeout_for
from telephony.ua.worker_env import worker_environment

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class PoolSettings:
    """Shape of the pool, validated at start.

    Attributes:
        processes: number of UA worker processes.
        name_prefix: worker names are `<name_prefix>-<index>` (unique per host: defaults to the host name).
        bind_address, advertise_host: where workers listen, and the address other hosts reach them at.
        sip_port_base, rtp_port_base, rtp_port_range: port layout (see the module docstring).
        max_calls: calls per worker (the pjsua2 wheel allows 4).
        media_timeout_s: no-RTP timeout of answered calls.
        restart_backoff_s / max_backoff_s: first and longest delay before restarting a dead worker; the delay
            doubles on each quick death and resets after `stable_after_s` of uptime.
        stop_timeout_s: on SIGTERM, how long workers get to hang up and record their calls before SIGKILL.
        hooks: "module:callable" building per-call hooks, passed to every worker.
        nice: scheduling niceness of the workers (negative: ahead of other work on the host, which keeps the
            20 ms media clock on time on a busy machine; needs CAP_SYS_NICE). 0 leaves it alone.
        extra_args: more worker arguments.
    """

    processes: int = 4
    name_prefix: str = field(default_factory=lambda: f"ua-{socket.gethostname()}")
    bind_address: str = "127.0.0.1"
    advertise_host: str = ""
    sip_port_base: int = 5070
    rtp_port_base: int = 20000
    rtp_port_range: int = 16
    max_calls: int = 4
    media_timeout_s: float = 15.0
    restart_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    stable_after_s: float = 30.0
    stop_timeout_s: float = 15.0
    hooks: str = ""
    nice: int = 0
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}")
        if not 1 <= self.max_calls <= 4:
            raise ValueError(f"max_calls must be 1..4, got {self.max_calls}")
        if self.sip_port_base + 2 * self.processes > 65535:
            raise ValueError("sip_port_base leaves no room for every worker's SIP ports")
        if self.rtp_port_base + self.rtp_port_range * self.processes > 65535:
            raise ValueError("rtp_port_base leaves no room for every worker's RTP ports")
        if self.rtp_port_range < 2 * self.max_calls:
            raise ValueError("rtp_port_range must give each call two ports")
        sip_ports = set(range(self.sip_port_base, self.sip_port_base + 2 * self.processes))
        rtp_ports = set(range(self.rtp_port_base, self.rtp_port_base + self.rtp_port_range * self.processes))
        if sip_ports & rtp_ports:
            raise ValueError("SIP and RTP port ranges overlap")
        if not -20 <= self.nice <= 19:
            raise ValueError(f"nice must be -20..19, got {self.nice}")

    @classmethod
    def from_ua(cls, ua: UaSettings, name_prefix: str = "") -> PoolSettings:
        """The pool shape of these UA settings (`name_prefix` empty: ``ua-<host name>``)."""
        pool = cls(
            processes=ua.pool_processes, bind_address=ua.bind_address, advertise_host=ua.advertise_host,
            sip_port_base=ua.sip_port_base, rtp_port_base=ua.rtp_port_base, rtp_port_range=ua.rtp_port_range,
            max_calls=ua.max_calls_per_process, media_timeout_s=ua.media_timeout_s, stop_timeout_s=ua.stop_timeout_s,
            hooks=ua.call_hooks, nice=ua.nice,
        )
        return replace(pool, name_prefix=name_prefix) if name_prefix else pool

    def worker_name(self, index: int) -> str:
        """The registry name of the worker in slot `index`."""
        return f"{self.name_prefix}-{index}"

    def worker_command(self, index: int) -> list[str]:
        """The command line of the worker in slot `index`."""
        command = [
            sys.executable, "-m", "telephony.ua.process",
            "--name", self.worker_name(index),
            "--bind", self.bind_address,
            "--sip-port", str(self.sip_port_base + 2 * index),
            "--rtp-port", str(self.rtp_port_base + self.rtp_port_range * index),
            "--rtp-port-range", str(self.rtp_port_range),
            "--max-calls", str(self.max_calls),
            "--media-timeout", str(self.media_timeout_s),
            "--drain-timeout", str(drain_timeout_for(self.stop_timeout_s)),
        ]
        # Always passed, empty too: the pool's choice (empty: the bind address) wins over the worker's settings.
        command += ["--advertise-host", self.advertise_host]
        if self.hooks:
            command += ["--hooks", self.hooks]
        return command + list(self.extra_args)


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0


class UaSupervisor:
    """Keeps `settings.processes` UA workers running until `stop()` (or SIGTERM/SIGINT via `run()`)."""

    def __init__(self, settings: PoolSettings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        # F1: the workers get an environment built from an explicit list (telephony/ua/worker_env.py).
        self.env = worker_environment({**os.environ, **(env or {})})
        from config.entrypoints import require_settings_module

        # F6: the workers get the supervisor's settings, named explicitly; never a default.
        require_settings_module("telephony.ua.supervisor", self.env)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), self.env.get("PYTHONPATH")]))
        self.slots = [_Slot(index) for index in range(settings.processes)]
        self._stopping = False

    def worker_pids(self) -> dict[str, int]:
        """Live worker processes by name."""
        return {self.settings.worker_name(s.index): s.process.pid for s in self.slots
                if s.process is not None and s.process.poll() is None}

    def _spawn(self, slot: _Slot) -> None:
        command = self.settings.worker_command(slot.index)
        slot.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env)  # noqa: S603 - our own module
        slot.started_at = time.monotonic()
        if self.settings.nice:
            try:
                # Every thread of the worker (the media clock included) inherits it as it is created.
                os.setpriority(os.PRIO_PROCESS, slot.process.pid, self.settings.nice)
            except PermissionError:
                logger.warning("cannot set nice %s for UA workers (needs CAP_SYS_NICE)", self.settings.nice)
        logger.info("started UA worker %s (pid %s)", self.settings.worker_name(slot.index), slot.process.pid)

    def start(self) -> None:
        """Start every worker."""
        for slot in self.slots:
            self._spawn(slot)

    def poll(self) -> None:
        """Restart dead workers, with a backoff that doubles on quick deaths (one supervision step)."""
        if self._stopping:
            return
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None:
                code = process.poll()
                if code is None:
                    if slot.backoff_s and now - slot.started_at >= self.settings.stable_after_s:
                        slot.backoff_s = 0.0
                    continue
                uptime = now - slot.started_at
                quick = uptime < self.settings.stable_after_s
                slot.backoff_s = (min(self.settings.max_backoff_s, max(self.settings.restart_backoff_s,
                                                                       slot.backoff_s * 2))
                                  if quick else self.settings.restart_backoff_s)
                slot.restart_at = now + slot.backoff_s
                slot.process = None
                logger.warning("UA worker %s exited with %s after %.1fs; restarting in %.1fs",
                               self.settings.worker_name(slot.index), code, uptime, slot.backoff_s)
            elif now >= slot.restart_at:
                slot.restarts += 1
                self._spawn(slot)

    def stop(self) -> None:
        """SIGTERM every worker (they hang up and record their calls), SIGKILL what remains after the timeout."""
        self._stopping = True
        live = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_timeout_s
        for process in live:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("UA worker pid %s did not stop in time; killing it", process.pid)
                process.send_signal(signal.SIGUSR2)  # its thread stacks go to the log first
                time.sleep(0.2)
                process.kill()
                process.wait()

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT; returns the exit code."""
        stop_requested = False

        def _request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stop_requested
            stop_requested = True

        signal.signal(signal.SIGTERM, _request_stop)
        signal.signal(signal.SIGINT, _request_stop)
        self.start()
        while not stop_requested:
            self.poll()
            time.sleep(0.2)
        logger.info("stopping the UA pool")
        self.stop()
        return 0
