"""Real SIP software from Debian as test peers: Kamailio as the carrier (digest, forking, Record-Route) and baresip
as a phone. Both run unprivileged on loopback, start in well under a second, and are stopped by the test."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from telephony.sipp import port_is_bound_udp
from tests.telephony.conftest import stop_process

KAMAILIO_CONFIGS = Path(__file__).parent / "kamailio"


def _wait_bound(port: int, process: subprocess.Popen[bytes], log: Path, what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        if port_is_bound_udp(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not bind UDP {port} in {timeout_s}s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def kamailio(config: str, workdir: Path, **ports: int) -> Iterator[Path]:
    """Run Kamailio with `config` (from tests/telephony/kamailio) with its __NAME__ ports filled in; yields its log.

    Args:
        config: the config file's name.
        workdir: where the rendered config, the PID file and the log go.
        ports: ``port`` (where it listens) and the other ``__NAME__`` values of the config.
    """
    binary = shutil.which("kamailio")
    if binary is None:
        raise RuntimeError("kamailio is not installed (Debian package kamailio; see tests/peers.py)")
    text = (KAMAILIO_CONFIGS / config).read_text()
    for name, value in ports.items():
        text = text.replace(f"__{name.upper()}__", str(value))
    rendered = workdir / f"kamailio-{ports['port']}.cfg"
    rendered.write_text(text)
    log = workdir / f"kamailio-{ports['port']}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - a Debian binary with our config
            [binary, "-f", str(rendered), "-DD", "-E", "-m", "32", "-M", "8", "-w", str(workdir),
             "-P", str(workdir / f"kamailio-{ports['port']}.pid")],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_bound(ports["port"], process, log, "kamailio")
        yield log
    finally:
        stop_process(process, timeout_s=5)
