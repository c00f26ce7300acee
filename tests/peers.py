"""The independent programs the suite talks to, checked once per session: a missing one fails the run.

A test that needs SIPp, eSpeak NG, Flite or Chromium never skips: a run that silently left out the failover, digest,
opt-out and browser tests would read as a pass while proving nothing. `make test` installs them
(`scripts/ensure-tools.sh`); a bare `pytest` on a machine without them stops at once with the install command.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    """A program from a Debian package that some tests drive."""

    command: str
    package: str
    version_args: tuple[str, ...]
    used_by: str


PEERS = (
    Peer("sipp", "sip-tester", ("-v",), "SIP calls, failover, digest auth, trunk checks, the UA pool"),
    Peer("espeak-ng", "espeak-ng", ("--version",), "speech rendering and the AMD benchmark set"),
    Peer("chromium", "chromium", ("--version",), "the admin browser tests"),
    Peer("kamailio", "kamailio", ("-v",), "a real carrier in the SIP interop tests: digest, forking, Record-Route"),
    Peer("baresip", "baresip", ("-h",), "a real phone as the callee in the SIP interop tests"),
    Peer("flite", "flite", ("--version",),
         "a second synthesiser: far-end voices, AMD and held-out ASR phrasings in voices nothing was tuned on"),
)


def missing_peers() -> list[Peer]:
    """The peers whose command is not on PATH."""
    return [peer for peer in PEERS if shutil.which(peer.command) is None]


def install_hint(peers: list[Peer]) -> str:
    """The one command that installs `peers`."""
    packages = " ".join(peer.package for peer in peers)
    return f"make tools   (or: apt-get install -y --no-install-recommends {packages})"


def peer_versions() -> list[str]:
    """One line per peer: its command and the first line of its version output."""
    lines = []
    for peer in PEERS:
        path = shutil.which(peer.command)
        if path is None:
            lines.append(f"{peer.command}: missing")
            continue
        try:
            out = subprocess.run(  # noqa: S603 - a peer's own version flag
                [path, *peer.version_args],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            text = (out.stdout or out.stderr).strip().splitlines()
            first = next((line.strip() for line in text if line.strip()), "?")
        except (OSError, subprocess.TimeoutExpired):
            first = "?"
        lines.append(f"{peer.command}: {first[:80]}")
    return lines
