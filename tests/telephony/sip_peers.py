"""Real SIP software from Debian as test peers: Kamailio as the carrier (digest, forking, Record-Route) and baresip
as a phone. Both run unprivileged on loopback, start in well under a second, and are stopped by the test."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from testing.sipp import port_is_bound_udp
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


@contextlib.contextmanager
def baresip_phone(workdir: Path, *, number: str, port: int, rtp_port: int, speech: Path, codec: str = "PCMU",
                  quit_after_s: int = 14, console_port: int = 0, tls_certificate: Path | None = None,
                  media_encryption: str = "") -> Iterator[Path]:
    """A baresip phone on loopback that answers at once, says `speech` (an 8 kHz mono WAV) and records what it
    hears (module sndfile, the decoded stream); it quits, hanging up, after `quit_after_s`. Yields the folder of
    its recordings (`dump-*-dec.wav`: what it heard). With `console_port`, keys sent there as UDP datagrams
    are typed on the phone (module cons): a digit during the call is sent as RFC 2833 DTMF. With
    `tls_certificate` (certificate and key in one PEM) it also takes SIP over TLS on `port + 1`; with
    `media_encryption` (e.g. ``srtp-mand``: SDES, refusing plain RTP) its account encrypts the media (module srtp)."""
    binary = shutil.which("baresip")
    if binary is None:
        raise RuntimeError("baresip is not installed (Debian package baresip; see tests/peers.py)")
    home = workdir / f"baresip-{port}"
    home.mkdir()
    (home / "config").write_text(
        f"sip_listen\t\t127.0.0.1:{port}\n"
        "net_interface\t\t127.0.0.1\n"
        "audio_player\t\taubridge,phone\n"
        f"audio_source\t\taufile,{speech}\n"
        "audio_alert\t\taubridge,alert\n"
        f"snd_path\t\t{home}\n"
        "ausrc_srate\t\t8000\nauplay_srate\t\t8000\nausrc_channels\t\t1\nauplay_channels\t\t1\n"
        f"rtp_ports\t\t{rtp_port}-{rtp_port + 9}\n"
        "module_path\t\t/usr/lib/baresip/modules\n"
        "module\t\t\tg711.so\nmodule\t\t\tg722.so\nmodule\t\t\taufile.so\nmodule\t\t\taubridge.so\n"
        "module\t\t\tsndfile.so\n"
        "module_app\t\taccount.so\nmodule_app\t\tmenu.so\n"
        + (f"module\t\t\tcons.so\ncons_listen\t\t127.0.0.1:{console_port}\n" if console_port else "")
        + (f"sip_certificate\t\t{tls_certificate}\n" if tls_certificate else "")
        + ("module\t\t\tsrtp.so\n" if media_encryption else ""))
    (home / "accounts").write_text(
        f"<sip:{number}@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs={codec}"
        + (f";mediaenc={media_encryption}" if media_encryption else "") + "\n")
    log = home / "baresip.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - a Debian binary with our config
            [binary, "-f", str(home), "-t", str(quit_after_s)], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        _wait_bound(port, process, log, "baresip")
        yield home
    finally:
        stop_process(process, timeout_s=5)


def type_on_phone(console_port: int, keys: str) -> None:
    """Type `keys` on a baresip phone through its console (one datagram per key)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for key in keys:
            sock.sendto(key.encode(), ("127.0.0.1", console_port))
            time.sleep(0.2)
