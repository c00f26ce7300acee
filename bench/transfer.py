"""Benchmark the added CPU of a transferred call: the caller's call bridged to a second call placed by the UA.

Usage:
    python bench/transfer.py [--calls 16] [--hold 20] [--processes 8] [--no-transcribed]

No database: each of ``--processes`` child processes runs the UA pool's own `CallManager` on its own pjsua thread
(as a UA worker does) and places ``--calls / --processes`` calls through a trunk at SIPp (UAS, ``-rtp_echo``).
Each call's media port exchanges 20 ms frames with Python as a bridged call does (frames heard are queued, a
frame is sent every tick: a spoken sentence and a second of silence, in a loop, which SIPp echoes back). Three
phases, in the same run, with the same number of callers:

* **plain**: the calls are held ``--hold`` seconds;
* **transferred**: every call is transferred by a bridged second call (`CallManager.bridge_transfer`) to a second
  SIPp UAS (``-rtp_echo``); once every second call is up, both legs are held ``--hold`` seconds, connected in
  pjmedia's conference bridge (the caller's port still hears both, as it does when no listen port is free);
* **transcribed**: as transferred, and both people are transcribed as after a real hand-over: the target's audio
  goes to a listen port of its own, and each direction to a `HandoverTranscript` (energy VAD, PocketSphinx in
  worker threads) on an asyncio loop. Both "people" speak all the time the echo of the sentence plays: about
  three times the speech of a real conversation, where each person speaks about half the time and never both.

Each child measures its own CPU time (every thread: pjsua, the media clock, Python) over the hold only, with all
calls up. Prints details, then last:
``calls=N plain_cores=A transferred_cores=B added_cpu_ms_per_s_per_call=C ratio=R``
where ``added_cpu_ms_per_s_per_call`` is (B - A) / N in CPU milliseconds per wall second, and ``ratio`` is B / A,
then ``transcribed_cores=T transcription_cpu_ms_per_s_per_call=D utterances=U`` (D = (T - B) / N).
Loopback ports: children SIP 15100+, RTP 15300+ (16 each), SIPp 16100 (caller) and 16101 (target), RTP 31000+.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIOS = ROOT / "tests" / "telephony" / "sipp"
CHILD_SIP_BASE, CHILD_RTP_BASE = 15100, 15300
CALLER_PORT, TARGET_PORT = 16100, 16101
CALLER_MEDIA, TARGET_MEDIA = 31000, 32000
SILENT_FRAME = bytes(320)
SENTENCE = "Hello, this is Jo from the sales desk. How can I help you?"


def child(mode: str, calls: int, hold_s: float, index: int) -> dict[str, Any]:
    """One UA-like process: place `calls` calls, transfer them in `transferred` mode, measure CPU over the hold."""
    import asyncio
    import threading

    from media.speech.tts import synthesize
    from telephony.contract import CallEvent, Ended, OriginateCommand, TrunkSpec
    from telephony.conversation.handover import HandoverTranscript
    from telephony.ua.call import OutboundCall, new_sip_call_id
    from telephony.ua.endpoint import EndpointSettings, PjsuaThread
    from telephony.ua.hooks import CallHooks
    from telephony.ua.manager import CallManager
    from telephony.ua.media_port import CallMediaPort

    speech = synthesize(SENTENCE, 8000) + bytes(16000)
    frames = [speech[i : i + 320] for i in range(0, len(speech) - 319, 320)]
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="media-loop").start()

    def spawn(coro: Any) -> Any:
        return loop.create_task(coro)

    class BenchHooks(CallHooks):
        def __init__(self) -> None:
            self.rx: deque[bytes] = deque(maxlen=50)
            self.answered = False
            self.transfer_code: int | None = None
            self.handover: HandoverTranscript | None = None
            self._next = 0

        def attach_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
            port.sink = self._heard
            port.source = self._speak
            return True

        def _heard(self, pcm: bytes) -> None:
            self.rx.append(pcm)
            if self.handover is not None:
                self.handover.caller_frame(pcm, 0)

        def _speak(self) -> bytes:
            self._next = (self._next + 1) % len(frames)
            return frames[self._next]

        def attach_transfer_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
            handover = self.handover
            if handover is None:
                return False
            port.sink = lambda pcm: handover.human_frame(pcm, 0)
            return True

        def on_answered(self, call: OutboundCall) -> None:
            self.answered = True

        def on_transfer_status(self, call: OutboundCall, code: int, method: str) -> None:
            self.transfer_code = code

    sip_port, rtp_port = CHILD_SIP_BASE + index, CHILD_RTP_BASE + 16 * index
    pjsua = PjsuaThread(
        EndpointSettings(
            sip_port=sip_port,
            rtp_port=rtp_port,
            rtp_port_range=16,
            enable_tls=False,
            user_agent="bench-transfer",
            log_level=1,
        )
    )
    pjsua.start()
    pjsua.ready.wait()
    if pjsua.startup_error is not None:
        raise RuntimeError(pjsua.startup_error)
    events: queue.SimpleQueue[CallEvent] = queue.SimpleQueue()
    hooks: dict[int, BenchHooks] = {}

    async def new_handover() -> HandoverTranscript:
        return HandoverTranscript(spawn)

    def hooks_for(request: OriginateCommand) -> BenchHooks:
        hooks[request.attempt_id] = BenchHooks()
        if mode == "transcribed":
            hooks[request.attempt_id].handover = asyncio.run_coroutine_threadsafe(new_handover(), loop).result(5)
        return hooks[request.attempt_id]

    manager = pjsua.submit(
        lambda: CallManager(
            pjsua,
            events,
            bind_address="127.0.0.1",
            rtp_port=rtp_port,
            rtp_port_range=16,
            media_timeout_s=0,
            hooks_factory=hooks_for,
        )
    ).result(timeout=10)
    pjsua.shutdown_hook = manager.shutdown
    trunk = TrunkSpec(id=1, host="127.0.0.1", port=CALLER_PORT)
    for n in range(calls):
        request = OriginateCommand(
            attempt_id=1000 * index + n + 1,
            destination=f"+1202555{index:02d}{n:02d}",
            trunk=trunk,
            ring_timeout_s=10,
            max_call_s=hold_s + 60,
        )
        pjsua.call_soon(manager.originate, request, new_sip_call_id())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (len(hooks) == calls and all(h.answered for h in hooks.values())):
        time.sleep(0.05)
    up = sum(h.answered for h in hooks.values())
    transferred = 0
    if mode in ("transferred", "transcribed"):
        for attempt_id in hooks:
            pjsua.call_soon(manager.bridge_transfer, attempt_id, f"sip:desk@127.0.0.1:{TARGET_PORT}", 10.0)
        while time.monotonic() < deadline + 15 and any(h.transfer_code is None for h in hooks.values()):
            time.sleep(0.05)
        transferred = sum(1 for h in hooks.values() if h.transfer_code == 200)
    time.sleep(1.0)  # let the streams settle (jitter buffers, the conference's new connections)
    ended_early = 0
    while not events.empty():
        ended_early += isinstance(events.get(), Ended)
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(hold_s)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    while not events.empty():
        ended_early += isinstance(events.get(), Ended)
    utterances = 0
    for h in hooks.values():
        if h.handover is not None:
            utterances += len(asyncio.run_coroutine_threadsafe(h.handover.close(2.0), loop).result(10))
    pjsua.call_soon(manager.hangup_all, "bench done")
    time.sleep(1.0)
    pjsua.stop()
    pjsua.join(timeout=10)
    return {
        "mode": mode,
        "calls": calls,
        "up": up,
        "transferred": transferred,
        "ended_early": ended_early,
        "cores": cpu / wall,
        "utterances": utterances,
    }


def run_phase(mode: str, calls: int, processes: int, hold_s: float) -> dict[str, Any]:
    """Run the children of one phase at once and add up their cores."""
    per = [calls // processes + (1 if i < calls % processes else 0) for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", mode, "--calls", str(n), "--hold", str(hold_s), "--index", str(i)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for i, n in enumerate(per)
        if n
    ]
    results = []
    for process in children:
        out, _ = process.communicate(timeout=hold_s + 120)
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return {
        "mode": mode,
        "cores": sum(r["cores"] for r in results),
        "up": sum(r["up"] for r in results),
        "transferred": sum(r["transferred"] for r in results),
        "ended_early": sum(r["ended_early"] for r in results),
        "utterances": sum(r["utterances"] for r in results),
    }


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument(
        "--processes",
        type=int,
        default=8,
        help="UA-like processes (2 transferred calls each fit pjsua2's 4 calls per process)",
    )
    parser.add_argument("--no-transcribed", action="store_true", help="skip the transcribed phase")
    parser.add_argument("--child", choices=["plain", "transferred", "transcribed"])
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls, args.hold, args.index)), flush=True)
        return
    if -(-args.calls // args.processes) > 2:
        parser.error("at most 2 calls per process: a transferred call uses 2 of pjsua2's 4 call slots")
    from testing.sipp import SippRun

    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        workdir = Path(tmp)
        caller = SippRun(SCENARIOS / "uas_answer.xml", port=CALLER_PORT, media_port=CALLER_MEDIA, workdir=workdir)
        target = SippRun(SCENARIOS / "uas_answer.xml", port=TARGET_PORT, media_port=TARGET_MEDIA, workdir=workdir)
        caller.start(calls=100_000, trace_messages=False, timeout_s=3600)
        target.start(calls=100_000, trace_messages=False, timeout_s=3600)
        try:
            plain = run_phase("plain", args.calls, args.processes, args.hold)
            print(f"plain: {plain}")
            transferred = run_phase("transferred", args.calls, args.processes, args.hold)
            print(f"transferred: {transferred}")
            transcribed = None if args.no_transcribed else run_phase("transcribed", args.calls, args.processes,
                                                                      args.hold)
            print(f"transcribed: {transcribed}")
        finally:
            caller.stop()
            target.stop()
    n = args.calls
    added = (transferred["cores"] - plain["cores"]) / n * 1000
    ratio = transferred["cores"] / plain["cores"] if plain["cores"] else float("nan")
    print(f"host: {os.cpu_count()} cores; {args.processes} processes; hold {args.hold:g} s")
    print(
        f"calls={n} plain_cores={plain['cores']:.3f} transferred_cores={transferred['cores']:.3f} "
        f"added_cpu_ms_per_s_per_call={added:.2f} ratio={ratio:.2f}"
    )
    if transcribed is not None:
        asr = (transcribed["cores"] - transferred["cores"]) / n * 1000
        print(f"transcribed_cores={transcribed['cores']:.3f} transcription_cpu_ms_per_s_per_call={asr:.2f} "
              f"utterances={transcribed['utterances']}")


if __name__ == "__main__":
    main()
