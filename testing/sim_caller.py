"""A bare dialer for the simulator tests: the UA pool's own `CallManager` on its own pjsua thread, no database.

Run as `python -m testing.sim_caller --port 17000 --out result.json NUMBER...`: dials the numbers
through a trunk at 127.0.0.1:PORT (four at a time, the pjsua2 limit), plays a small scripted agent on each
answered call, and writes one JSON object per number: the ledger event the UA would record (disposition,
sip_code, reason) and the agent's side (what it said and heard, barge-ins).

The agent: waits for the callee's first turn (or 3 s), then says its lines one per callee turn; while it
speaks, speech from the callee stops it (barge-in); when its lines run out or the callee stays silent for
`--reply-wait` seconds it hangs up, unless the callee hangs up first.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from collections import deque
from typing import Any

from media.audio.vad import EnergyVad, VadConfig, VadEventKind
from media.speech.tts import synthesize
from telephony.contract import CallEvent, Ended, OriginateCommand, TrunkSpec
from telephony.ua.call import OutboundCall, new_sip_call_id
from telephony.ua.endpoint import EndpointSettings, PjsuaThread
from telephony.ua.hooks import CallHooks, EndReport
from telephony.ua.manager import CallManager
from telephony.ua.media_port import CallMediaPort

FRAME_BYTES = 320
LINES = (
    "Hi, this is Alex from Acme Solar. We help families cut their power bills. Do you have a minute?",
    "Wonderful. It costs nothing to start.",
    "Thank you for your time. Goodbye.",
)


class ScriptedAgent(CallHooks):
    """The caller's voice and ears on one call (see the module docstring)."""

    def __init__(self, request: OriginateCommand, reply_wait_s: float) -> None:
        self.request = request
        self.reply_wait_s = reply_wait_s
        self.rx: deque[bytes] = deque()
        self.tx: deque[bytes] = deque()
        self.said: list[dict[str, Any]] = []
        self.heard: list[dict[str, Any]] = []
        self.barge_ins: list[int] = []
        self.answered_at: float | None = None
        self.ended = threading.Event()
        self.control: Any = None

    # media (bridge clock thread): copy and return
    def _sink(self, frame: bytes) -> None:
        self.rx.append(frame)

    def _source(self) -> bytes | None:
        try:
            return self.tx.popleft()
        except IndexError:
            return None

    def attach_media(self, call: OutboundCall, port: CallMediaPort) -> bool:
        """Pooled-port form of the hook."""
        port.sink = self._sink
        port.source = self._source
        return True

    def create_media_port(self, call: OutboundCall) -> CallMediaPort:
        """Port-per-call form of the hook."""
        port = CallMediaPort(self._sink, self._source)
        port.create(f"agent-{self.request.attempt_id}")
        return port

    def on_answered(self, call: OutboundCall) -> None:
        self.answered_at = time.monotonic()
        self.control = call.control
        threading.Thread(target=self._talk, daemon=True).start()

    def on_ended(self, call: OutboundCall, report: EndReport) -> None:
        self.ended.set()

    def _ms(self) -> int:
        return round((time.monotonic() - (self.answered_at or 0.0)) * 1000)

    def _say(self, text: str) -> float:
        pcm = synthesize(text, 8000)
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        self.tx.extend(pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))
        self.said.append({"text": text, "start_ms": self._ms(), "end_ms": self._ms() + len(pcm) // 16})
        return time.monotonic() + len(pcm) / 16000

    def _talk(self) -> None:
        vad = EnergyVad(8000, VadConfig(prefix_padding_ms=0, silence_duration_ms=500, min_speech_ms=100))
        lines = list(LINES)
        speaking_until = 0.0
        turn_seen = False
        waiting_since = time.monotonic()
        wait_limit = 3.0  # for the callee's "Hello?"
        while not self.ended.is_set():
            time.sleep(0.02)
            now = time.monotonic()
            turn_over = False
            while self.rx:
                for event in vad.feed(self.rx.popleft()):
                    if event.kind == VadEventKind.SPEECH_STARTED:
                        self.heard.append({"start_ms": self._ms(), "end_ms": None})
                        turn_seen = True
                        if now < speaking_until and self.tx:  # barge-in: stop talking at once
                            self.tx.clear()
                            self.said[-1]["end_ms"] = self._ms()
                            self.said[-1]["cut"] = True
                            speaking_until = now
                            self.barge_ins.append(self._ms())
                    elif self.heard:
                        self.heard[-1]["end_ms"] = self._ms() - 500
                        turn_over = now >= speaking_until
            if now < speaking_until or vad.in_speech:
                continue
            if (turn_seen and turn_over) or now - waiting_since > wait_limit:
                if not lines or (not turn_seen and wait_limit == self.reply_wait_s):
                    self.control.hangup("agent done")
                    return
                speaking_until = self._say(lines.pop(0))
                turn_seen = False
                waiting_since = speaking_until
                wait_limit = self.reply_wait_s

    def summary(self) -> dict[str, Any]:
        """What the agent did and heard."""
        return {"said": self.said, "heard": self.heard, "barge_ins": self.barge_ins}


def run(port: int, numbers: list[str], *, sip_port: int, rtp_port: int, ring_timeout_s: float,
        reply_wait_s: float, timeout_s: float) -> list[dict[str, Any]]:
    """Dial every number (four at a time) and return one result per number, in order."""
    pjsua = PjsuaThread(EndpointSettings(sip_port=sip_port, rtp_port=rtp_port, rtp_port_range=16,
                                         enable_tls=False, user_agent="sim-test-caller", log_level=1))
    pjsua.start()
    pjsua.ready.wait()
    if pjsua.startup_error is not None:
        raise RuntimeError(pjsua.startup_error)
    events: queue.SimpleQueue[CallEvent] = queue.SimpleQueue()
    agents: dict[int, ScriptedAgent] = {}

    def hooks_for(request: OriginateCommand) -> ScriptedAgent:
        agents[request.attempt_id] = ScriptedAgent(request, reply_wait_s)
        return agents[request.attempt_id]

    manager = pjsua.submit(lambda: CallManager(pjsua, events, bind_address="127.0.0.1", rtp_port=rtp_port,
                                               rtp_port_range=16, media_timeout_s=0,
                                               hooks_factory=hooks_for)).result(timeout=10)
    pjsua.shutdown_hook = manager.shutdown
    trunk = TrunkSpec(id=1, host="127.0.0.1", port=port)
    results: dict[int, dict[str, Any]] = {}
    pending = list(enumerate(numbers, start=1))
    live: dict[int, str] = {}
    sip_call_ids: dict[int, str] = {}
    deadline = time.monotonic() + timeout_s
    while (pending or live) and time.monotonic() < deadline:
        while pending and len(live) < 4:
            attempt_id, number = pending.pop(0)
            request = OriginateCommand(attempt_id=attempt_id, destination=number, trunk=trunk,
                                       ring_timeout_s=ring_timeout_s, max_call_s=60)
            sip_call_ids[attempt_id] = new_sip_call_id()
            live[attempt_id] = number
            pjsua.call_soon(manager.originate, request, sip_call_ids[attempt_id])
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            continue
        if not isinstance(event, Ended):
            continue
        number = live.pop(event.attempt_id)
        agent = agents.get(event.attempt_id)
        results[event.attempt_id] = {
            "number": number, "call_id": sip_call_ids[event.attempt_id], "disposition": event.disposition,
            "sip_code": event.sip_code, "reason": event.reason, "talk_s": event.talk_s,
            **(agent.summary() if agent is not None else {}),
        }
    pjsua.call_soon(manager.hangup_all, "caller stopping")
    time.sleep(0.5)
    pjsua.stop()
    pjsua.join(timeout=10)
    return [results.get(i, {"number": n, "error": "no end within the time limit"})
            for i, n in enumerate(numbers, start=1)]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("numbers", nargs="+")
    parser.add_argument("--port", type=int, required=True, help="the simulator's front port")
    parser.add_argument("--sip-port", type=int, required=True, help="this caller's SIP port")
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--ring-timeout", type=float, default=3.0)
    parser.add_argument("--reply-wait", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results = run(args.port, args.numbers, sip_port=args.sip_port, rtp_port=args.rtp_port,
                  ring_timeout_s=args.ring_timeout, reply_wait_s=args.reply_wait, timeout_s=args.timeout)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def agent_hooks(request: OriginateCommand) -> ScriptedAgent:
    """Hooks factory for a UA worker: `--hooks testing.sim_caller:agent_hooks`."""
    return ScriptedAgent(request, reply_wait_s=4.0)
