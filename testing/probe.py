"""A media probe for benchmarks: numbered 20 ms frames sent on each call and timed when the echo returns.

Run the pool with `--hooks testing.probe:probe_hooks` against a peer that echoes RTP (SIPp
`-rtp_echo`). Each frame we send carries its sequence number in its first samples, coded as G.711 μ-law
code words, which survive the PCM16 -> μ-law -> echo -> μ-law -> PCM16 round trip bit-exactly. The receive
side decodes the number and compares the arrival time with the frame's send time (the round trip through
both jitter buffers and the peer). A frame whose round trip exceeds the call's median by more than `LATE_MS`,
or that the bridge clock sent more than `LATE_MS` after its slot (a stalled clock), is *late*; a number that
never comes back (within the received range) is *missing* (lost, or replaced by packet-loss concealment).
Frame boundaries may shift on the way back (measured: 5 ms), so the header is searched across frames.

The callbacks stay on the fast path: the code words are precomputed, the frame is built by one join, and the
read side looks at the first 40 bytes only.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import redis

from telephony.contract import OriginateCommand
from telephony.ua.call import OutboundCall
from telephony.ua.hooks import CallHooks, EndReport
from telephony.ua.media_port import CallMediaPort

PROBE_STATS_KEY = "ua:probe:stats"  # the benchmark reads each call's frame statistics here

LATE_MS = 20.0  # one frame period behind the best case
ABSOLUTE_LATE_MS = 60.0  # a round trip (both jitter buffers and the peer) longer than this is late, full stop
FRAME_MS = 20
SAMPLES = 160
_NIBBLES = 8  # a 32-bit sequence number, 4 bits per sample
_MAGIC = (0xA, 0x5, 0xC, 0x3)


def _ulaw_decode(code: int) -> int:
    """G.711 μ-law code word -> linear PCM16 sample (ITU-T G.711)."""
    code = ~code & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


# Sixteen well separated code words (never 0x7F/0xFF, which both decode to zero).
_SYMBOL_CODES = [0x10 + 8 * n for n in range(16)]
_SYMBOL_BYTES = [_ulaw_decode(c).to_bytes(2, "little", signed=True) for c in _SYMBOL_CODES]
_BYTES_TO_SYMBOL = {b: n for n, b in enumerate(_SYMBOL_BYTES)}
_HEADER_SAMPLES = len(_MAGIC) + 2 * _NIBBLES  # magic, seq, complement of seq
_FILL = b"".join(int(800 * ((i % 16) - 8) / 8).to_bytes(2, "little", signed=True)
                 for i in range(SAMPLES - _HEADER_SAMPLES))
_MAGIC_BYTES = b"".join(_SYMBOL_BYTES[n] for n in _MAGIC)


def encode_frame(seq: int) -> bytes:
    """A 20 ms PCM16 frame (8 kHz) carrying `seq`."""
    seq &= 0xFFFFFFFF
    inverse = ~seq & 0xFFFFFFFF
    parts = [_MAGIC_BYTES]
    parts += [_SYMBOL_BYTES[(seq >> (4 * i)) & 0xF] for i in range(_NIBBLES)]
    parts += [_SYMBOL_BYTES[(inverse >> (4 * i)) & 0xF] for i in range(_NIBBLES)]
    parts.append(_FILL)
    return b"".join(parts)


def decode_frame(frame: bytes, start: int = 0) -> int | None:
    """The sequence number carried at byte offset `start` of a frame, or None when none is there."""
    if frame[start:start + 8] != _MAGIC_BYTES:
        return None
    symbols = []
    for i in range(len(_MAGIC), _HEADER_SAMPLES):
        symbol = _BYTES_TO_SYMBOL.get(frame[start + 2 * i:start + 2 * i + 2])
        if symbol is None:
            return None
        symbols.append(symbol)
    seq = sum(s << (4 * i) for i, s in enumerate(symbols[:_NIBBLES]))
    inverse = sum(s << (4 * i) for i, s in enumerate(symbols[_NIBBLES:]))
    return seq if seq ^ inverse == 0xFFFFFFFF else None


_HEADER_BYTES = 2 * _HEADER_SAMPLES


class FrameReader:
    """Finds sequence numbers in a stream of frames whose boundaries need not match the sender's.

    The jitter buffer and the conference clock may cut the received audio at another phase than the one we
    sent (measured: 5 ms), so the header is searched across the previous frame's tail and the new frame.
    """

    def __init__(self) -> None:
        self.tail = b""

    def feed(self, frame: bytes) -> int | None:
        """The sequence number whose header ends in this frame, if any."""
        data = self.tail + frame
        self.tail = frame[-(_HEADER_BYTES - 2):]  # even: samples stay aligned
        index = data.find(_MAGIC_BYTES)
        while index != -1:
            if index % 2 == 0 and index + _HEADER_BYTES <= len(data):
                seq = decode_frame(data, index)
                if seq is not None:
                    return seq
            index = data.find(_MAGIC_BYTES, index + 1)
        return None


class ProbeHooks(CallHooks):
    """Sends numbered frames on each answered call and times their echo."""

    def __init__(self) -> None:
        self.next_seq = 0
        self.sent_at: list[float] = []
        self.arrivals: dict[int, float] = {}
        self.undecodable = 0
        self.reader = FrameReader()

    def _source(self) -> bytes:
        now = time.monotonic()
        seq = self.next_seq
        self.next_seq += 1
        self.sent_at.append(now)
        return encode_frame(seq)

    def _sink(self, frame: bytes) -> None:
        now = time.monotonic()
        seq = self.reader.feed(frame)
        if seq is None:
            self.undecodable += 1
        elif seq not in self.arrivals:
            self.arrivals[seq] = now

    def attach_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
        """Send numbered frames on the call and record their echo."""
        port.sink = self._sink
        port.source = self._source
        return True

    def stats(self) -> dict[str, Any]:
        """Frames expected, late and missing over the received range (first to last echoed frame).

        A frame is late when its round trip (sent -> echoed back to this port) exceeds the call's median round
        trip by more than `LATE_MS` (one frame period), or when the bridge clock sent it more than `LATE_MS`
        after its slot (a stalled clock delays the frame whatever the network does). The median, not the
        best, is the reference: the adaptive jitter buffer may settle one frame deeper after the first
        packets, which is latency, not lateness. `late_vs_best` and `late_60ms` are printed alongside.
        """
        if not self.arrivals:
            return {"expected": 0, "late": 0, "missing": 0, "sent": self.next_seq}
        # Snapshots: the media clock may still be adding frames while the stats are read (copying a dict of
        # ints and floats runs no Python code, so it is atomic under the GIL; iterating the live one is not).
        sent_at = list(self.sent_at)
        arrivals = dict(self.arrivals)
        rtts = {seq: t - sent_at[seq] for seq, t in arrivals.items() if seq < len(sent_at)}
        ordered = sorted(rtts.values())
        best, median = ordered[0], ordered[len(ordered) // 2]
        first, last = min(rtts), max(rtts)
        expected = last - first + 1
        late_rtt = {seq for seq, rtt in rtts.items() if (rtt - median) * 1000 > LATE_MS}
        stalled = {seq for seq in range(max(first, 1), last + 1)
                   if (sent_at[seq] - sent_at[seq - 1]) * 1000 > FRAME_MS + LATE_MS}
        late_set = (late_rtt | stalled) & set(rtts)
        late = len(late_set)
        # When each late or missing frame was sent (wall clock), so a benchmark can tell the steady hold
        # from the set-up and tear-down of other calls.
        wall_offset = time.time() - time.monotonic()
        bad = sorted(late_set | {seq for seq in range(first, last + 1) if seq not in rtts})
        bad_at = [round(wall_offset + sent_at[seq], 2) for seq in bad]
        return {"expected": expected, "late": late, "missing": expected - len(rtts), "sent": self.next_seq,
                "late_vs_best": sum(1 for rtt in ordered if (rtt - best) * 1000 > LATE_MS),
                # Absolute: a round trip over ABSOLUTE_LATE_MS, whatever the call's own median (a uniformly slow
                # path is late here, not in the relative figure).
                "late_abs": len(({seq for seq, rtt in rtts.items() if rtt * 1000 > ABSOLUTE_LATE_MS} | stalled)
                                & set(rtts)),
                "late_60ms": sum(1 for rtt in ordered if (rtt - median) * 1000 > 60),
                "clock_stalls": len(stalled), "undecodable": self.undecodable, "bad_at": bad_at,
                "best_rtt_ms": round(best * 1000, 1), "median_rtt_ms": round(median * 1000, 1),
                "p99_rtt_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)}

    def on_ended(self, call: OutboundCall, event: EndReport) -> None:
        """Store the frame statistics of the call in Redis, for the benchmark."""
        _redis().rpush(PROBE_STATS_KEY, json.dumps({"attempt_id": event.attempt_id, **self.stats()}))


@functools.cache
def _redis() -> redis.Redis:
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def probe_hooks(request: OriginateCommand) -> ProbeHooks:
    """Hooks factory for `--hooks testing.probe:probe_hooks`."""
    return ProbeHooks()
