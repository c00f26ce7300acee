"""Run SIPp (Debian package `sip-tester`) as an independent SIP peer for tests and benchmarks.

SIPp plays scripted scenarios (XML) as a UAS or UAC; with `-rtp_echo` it sends every RTP packet back to
its sender. `SippRun` starts one instance on loopback, waits for its socket, and reads back what it saw:
its exit code (0 when every call passed the scenario), its message trace and its final statistics.
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SIPP = shutil.which("sipp")
_MESSAGE_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)


def port_is_bound_udp(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on this UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class SippRun:
    """One SIPp process and its output files."""

    scenario: Path
    port: int
    media_port: int
    workdir: Path
    local_ip: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    message_file: Path = field(init=False)
    stat_file: Path = field(init=False)
    error_file: Path = field(init=False)
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        stem = f"sipp-{self.scenario.stem}-{self.port}"
        self.message_file = self.workdir / f"{stem}-messages.log"
        self.stat_file = self.workdir / f"{stem}-stats.csv"
        self.error_file = self.workdir / f"{stem}-errors.log"
        self.log_file = self.workdir / f"{stem}-stdout.log"

    def start(self, *, calls: int = 1, rtp_echo: bool = True, remote: str | None = None, rate: float | None = None,
              extra: list[str] | None = None, trace_messages: bool = True, timeout_s: float = 120) -> SippRun:
        """Start SIPp in the background and wait until its SIP socket is bound.

        Args:
            calls: stop after this many calls (`-m`).
            rtp_echo: echo RTP back to its sender.
            remote: `host:port` to call (UAC mode); None for a UAS.
            rate: new calls per second (UAC).
            extra: more SIPp arguments.
            trace_messages: write every SIP message to `message_file` (costly under load).
            timeout_s: SIPp's own global timeout, a backstop against a hung test.
        """
        if SIPP is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        command = [SIPP, "-sf", str(self.scenario), "-i", self.local_ip, "-p", str(self.port),
                   "-mi", self.local_ip, "-mp", str(self.media_port), "-m", str(calls), "-nostdin",
                   "-timeout", f"{int(timeout_s)}s", "-timeout_error",
                   "-trace_err", "-error_file", str(self.error_file),
                   "-trace_stat", "-stf", str(self.stat_file), "-fd", "1"]
        if trace_messages:
            command += ["-trace_msg", "-message_file", str(self.message_file)]
        if rtp_echo:
            command.append("-rtp_echo")
        if rate is not None:
            command += ["-r", str(rate), "-rp", "1000"]
        command += extra or []
        if remote:
            command.append(remote)
        with self.log_file.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                            stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not port_is_bound_udp(self.port, self.local_ip):
            if self.process.poll() is not None:
                raise RuntimeError(f"sipp exited at start: {self.log_file.read_text(errors='replace')[-2000:]}")
            time.sleep(0.02)
        return self

    def wait(self, timeout_s: float = 30) -> int:
        """Wait for SIPp to finish its calls; returns its exit code (0: every call passed)."""
        assert self.process is not None  # noqa: S101 - start() first
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """Stop SIPp if it still runs (SIGUSR1 asks for a soft exit; then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGUSR1)
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def messages(self) -> list[str]:
        """Every SIP message SIPp sent or received, in order, each prefixed by its direction line."""
        if not self.message_file.exists():
            return []
        text = self.message_file.read_text(errors="replace")
        return [m.strip() for m in _MESSAGE_SEPARATOR.split(text) if m.strip()]

    def parsed(self) -> list[tuple[str, str]]:
        """(direction line, message from its start line) for every traced message."""
        out = []
        for m in self.messages():
            direction, _, body = m.partition("\n")
            out.append((direction, body.lstrip("\r\n")))
        return out

    def received(self, method: str) -> list[str]:
        """Received requests with this method (message text from the start line)."""
        return [body for direction, body in self.parsed() if "received" in direction
                and body.startswith(f"{method} ")]

    def sent_responses(self) -> list[int]:
        """Status codes of the responses SIPp sent, in order."""
        return [int(body.split()[1]) for direction, body in self.parsed()
                if "sent" in direction and body.startswith("SIP/2.0 ")]

    def received_responses(self) -> list[int]:
        """Status codes of the responses SIPp received, in order."""
        return [int(body.split()[1]) for direction, body in self.parsed()
                if "received" in direction and body.startswith("SIP/2.0 ")]

    def sent(self, method: str) -> list[str]:
        """Requests with this method SIPp sent."""
        return [body for direction, body in self.parsed() if "sent" in direction and body.startswith(f"{method} ")]

    def final_stats(self) -> dict[str, str]:
        """The last row of SIPp's statistics file (cumulative counters: SuccessfulCall(C), FailedCall(C)...)."""
        if not self.stat_file.exists():
            return {}
        rows = list(csv.DictReader(self.stat_file.read_text(errors="replace").splitlines(), delimiter=";"))
        return rows[-1] if rows else {}


def header(message: str, name: str) -> str | None:
    """The value of the first header `name` in a SIP message (case-insensitive), or None."""
    match = re.search(rf"^{re.escape(name)}:\s*(.*)$", message, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip() if match else None


_DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def write_rtp_event_pcap(path: Path, digit: str, *, payload_type: int, start_delay_ms: int = 200) -> Path:
    """Write a pcap of one RFC 2833 (4733) telephone-event digit for SIPp's `play_pcap_audio`.

    SIPp ships DTMF captures with payload type 101; pjsua receives events on the payload type it offered
    (120 in this build), so tests generate their own: 8 packets 20 ms apart, the last 3 with the end bit.
    """
    import struct

    event = _DTMF_EVENTS[digit]
    packets = []
    timestamp, ssrc = 8000, 0x5EED1234
    for i in range(8):
        end = i >= 5
        duration = 160 * (min(i, 5) + 1)
        payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
        marker = 0x80 if i == 0 else 0
        rtp = struct.pack("!BBHII", 0x80, marker | payload_type, 1000 + i, timestamp, ssrc) + payload
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        at_ms = start_delay_ms + 20 * min(i, 5)
        packets.append(struct.pack("<IIII", at_ms // 1000, (at_ms % 1000) * 1000, len(frame), len(frame)) + frame)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + b"".join(packets))
    return path


def write_rtp_speech_pcap(path: Path, lines: list[tuple[int, bytes]], *, tail_ms: int = 20_000) -> Path:
    """Write a pcap of PCMU RTP (payload type 0, 20 ms packets) for SIPp's `play_pcap_audio`: each `(at_ms, pcm)`
    is 8 kHz PCM16 audio starting `at_ms` after the start. Packets flow without a gap (silence between the lines
    and for `tail_ms` after the last), as a phone sends them: a silent stream would trip the UA's media timeout."""
    import struct

    from media.audio.g711 import pcm16_to_ulaw

    timeline = bytearray()
    for start_ms, pcm in sorted(lines, key=lambda line: line[0]):
        offset = start_ms * 16
        if len(timeline) < offset:
            timeline += bytes(offset - len(timeline))
        timeline[offset : offset + len(pcm)] = pcm
    timeline += bytes(tail_ms * 16 + (-len(timeline) % 320))
    payload = pcm16_to_ulaw(bytes(timeline))
    packets = []
    ssrc = 0x5EED4321
    for seq, i in enumerate(range(0, len(payload), 160)):
        at_ms = seq * 20
        rtp = struct.pack("!BBHII", 0x80, 0x80 if seq == 0 else 0, (1000 + seq) & 0xFFFF, at_ms * 8, ssrc)
        rtp += payload[i : i + 160]
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        packets.append(struct.pack("<IIII", at_ms // 1000, (at_ms % 1000) * 1000, len(frame), len(frame)) + frame)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + b"".join(packets))
    return path
