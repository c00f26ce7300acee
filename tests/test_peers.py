"""The session check that refuses to run without the independent peers (no silent skips)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import PEERS, install_hint, missing_peers

ROOT = Path(__file__).resolve().parent.parent


def test_every_peer_is_missing_on_an_empty_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing_peers() == list(PEERS)
    assert "apt-get install -y --no-install-recommends sip-tester espeak-ng chromium" in install_hint(missing_peers())


def test_a_run_without_sipp_stops_at_once_with_the_install_command(tmp_path: Path) -> None:
    # given a PATH with everything but sipp (links to the other peers)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for peer in PEERS:
        if peer.command != "sipp":
            (bin_dir / peer.command).symlink_to(shutil.which(peer.command) or f"/usr/bin/{peer.command}")
    # when a test run starts, then it fails before running anything and names the package
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/campaigns/rules/test_retries.py"],
        cwd=ROOT, env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:]
    assert "sipp" in done.stdout + done.stderr
    assert "sip-tester" in done.stdout + done.stderr
    assert " passed" not in done.stdout
