"""One worker process of the simulated network: a pjsua2 UAS with up to four calls, each played by a persona.

Threads:
- `pjsua` (`telephony.ua.endpoint.PjsuaThread`, shared with the UA pool): owns every pjsua2 object; answers
  INVITEs (180, 200, or the persona's rejection), runs the ring timers and hangs up on request.
- `conversation`: every 20 ms advances each answered call's `Conversation` (VAD on what it heard, eSpeak lines,
  hang-up decisions), writes each finished call to the log, and reports this worker's load to the front.
- the conference bridge clock (pjsua2's own): only copies frames in and out of the calls' deques.

Started by the front (`front.py`) as `python -m simulator.worker --index ... --sip-port ...`.
"""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType

import pjsua2 as pj

from simulator.calllog import append_record
from simulator.conversation import Conversation, speech
from simulator.personas import (
    GREETING,
    INTERRUPTION,
    NUDGE,
    OPENINGS,
    REJECTIONS,
    REPLIES,
    Persona,
    SimulatorOptions,
    persona_for_number,
)
from telephony.ua.endpoint import EndpointSettings, PjsuaThread, exit_without_teardown, freeze_startup_heap
from telephony.ua.media_port import CallMediaPort, MediaPortPool

logger = logging.getLogger(__name__)

MAX_CALLS = 4  # the pjsua2 wheel's compile-time limit
# Media ports are pooled, never destroyed mid-run: destroying an AudioMediaPort right after its call let the
# bridge clock call a freed port in pjmedia 2.15 (measured by the UA pool). One per line plus spares.
MAX_MEDIA_PORTS = 2 * MAX_CALLS
STATUS_INTERVAL_S = 0.5
STEP_S = 0.02


def parse_request_line(message: str) -> tuple[str, str]:
    """(Request-URI user part, Call-ID) of a raw SIP request."""
    lines = message.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    uri = parts[1] if len(parts) > 1 else ""
    user = uri.split(":", 1)[1] if ":" in uri else uri
    user = user.split("@", 1)[0] if "@" in user else ""
    call_id = ""
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        if name.strip().lower() in ("call-id", "i"):
            call_id = value.strip()
            break
    return user.split(";", 1)[0], call_id


@dataclass(frozen=True)
class WorkerConfig:
    """Where one worker listens and whom it reports to."""

    index: int
    bind_address: str
    sip_port: int
    rtp_port: int
    rtp_port_range: int
    front_port: int
    options: SimulatorOptions

    @property
    def name(self) -> str:
        """The worker's name in the log."""
        return f"sim-{self.index}"


class SimAccount(pj.Account):
    """The worker's only account: takes every INVITE, whatever the user part."""

    def __init__(self, worker: SimWorker) -> None:
        super().__init__()
        self.worker = worker

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # pjsua2 callback name
        self.worker.on_incoming(self, prm)


class PersonaCall(pj.Call):
    """An incoming call and the conversation that answers it (pjsua thread)."""

    def __init__(self, worker: SimWorker, account: SimAccount, call_index: int, conversation: Conversation) -> None:
        super().__init__(account, call_index)
        self.worker = worker
        self.conversation = conversation
        self.index = call_index
        self.answer_at: float | None = None
        self.give_up_at: float | None = None
        self.answered = False
        self.we_hung_up = False
        self.rejected = False
        self.disconnected = False
        self.media_port: CallMediaPort | None = None
        self.audio_media: pj.AudioMedia | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.conversation.answered_at is None:
            self.conversation.event("ack")
            self.conversation.answered_at = time.monotonic()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.worker.on_disconnected(self, int(info.lastStatusCode), str(info.lastReason))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # pjsua2 callback name
        if self.audio_media is not None:
            return
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio_media = self.getAudioMedia(index)
                port = self.worker.ports.acquire()
                if port is None:
                    logger.warning("no free media port for call %s", self.conversation.call_id)
                    return
                port.sink = self.conversation.on_frame
                port.source = self.conversation.next_frame
                self.media_port = port
                port.startTransmit(self.audio_media)
                self.audio_media.startTransmit(port)
                return

    def send(self, code: int, reason: str = "") -> None:
        """Answer with a provisional or final response, or reject (>= 300)."""
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        if reason:
            prm.reason = reason
        if code >= 300:
            self.rejected = True
            self.hangup(prm)
        else:
            self.answer(prm)
        self.conversation.event(str(code))

    def bye(self, reason: str) -> None:
        """Hang up (BYE after the answer, a final response before it) unless already gone."""
        if self.disconnected:
            return
        self.we_hung_up = True
        prm = pj.CallOpParam(True)
        if not self.answered:
            prm.statusCode = 480
        try:
            self.hangup(prm)
        except pj.Error as exc:  # already terminating: DISCONNECTED follows anyway
            logger.debug("hangup: %s", exc.info())
            return
        self.conversation.event("bye_sent" if self.answered else "480", reason=reason)


class SimWorker:
    """One simulator worker process (see the module docstring)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.options = config.options
        self.pjsua = PjsuaThread(EndpointSettings(
            bind_address=config.bind_address, sip_port=config.sip_port, rtp_port=config.rtp_port,
            rtp_port_range=config.rtp_port_range, max_calls=MAX_CALLS, enable_tls=False,
            user_agent="simulated-pstn", log_level=1), tick_s=0.05)
        self.account: SimAccount | None = None
        self.calls: dict[int, PersonaCall] = {}  # pjsua thread only
        # Disconnected calls by pjsua slot, dropped by the next job on the pjsua thread (see `on_disconnected`).
        self._dying: dict[int, PersonaCall] = {}
        self.ports = MediaPortPool("sim-port", self.pjsua.settings.clock_rate, MAX_MEDIA_PORTS)
        self._lock = threading.Lock()  # guards _talking and the counters (pjsua thread writes, conversation reads)
        # Answered calls by pjsua slot. The conversation thread never holds a PersonaCall: if it dropped the
        # last reference, the Call destructor would run on a thread pjlib does not know (an abort).
        self._talking: list[tuple[int, Conversation]] = []
        self.live_calls = 0
        self.invites = 0  # INVITEs received so far: lets the front match its redirects with arrivals
        self.finished: queue.SimpleQueue[tuple[Conversation, int | None, str]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self._status = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    # ---- pjsua thread ------------------------------------------------------------------------------------

    def _setup(self) -> None:
        endpoint = self.pjsua.endpoint
        assert endpoint is not None  # noqa: S101 - called once the endpoint exists
        # G.711 only: what a phone network hands a dialer; no wideband codec is chosen behind our back.
        for info in endpoint.codecEnum2():
            wanted = {"pcmu/8000": 255, "pcma/8000": 254}
            priority = next((p for name, p in wanted.items() if info.codecId.lower().startswith(name)), 0)
            endpoint.codecSetPriority(info.codecId, priority)
        config = pj.AccountConfig()
        config.idUri = f"sip:pstn@{self.config.bind_address}:{self.config.sip_port}"
        config.regConfig.registerOnAdd = False
        config.sipConfig.transportId = self.pjsua.transport_ids["udp"]
        media = config.mediaConfig
        media.transportConfig.boundAddress = self.config.bind_address
        media.transportConfig.port = self.config.rtp_port
        media.transportConfig.portRange = self.config.rtp_port_range
        config.natConfig.sipOutboundUse = 0
        self.account = SimAccount(self)
        self.account.create(config, True)
        self.pjsua.tick_handlers.append(self._tick)
        self.pjsua.shutdown_hook = self._shutdown

    def on_incoming(self, account: SimAccount, prm: pj.OnIncomingCallParam) -> None:
        """An INVITE arrived: pick the persona from the Request-URI and answer the way it does."""
        stale = self._dying.pop(prm.callId, None)
        if stale is not None:
            # Its slot was reused before the release job ran: its destructor would now detach and hang up
            # the new call, so it is never destroyed (a small, rare leak instead of a lost call).
            stale.thisown = False
            logger.warning("slot %s reused before its old call was released", prm.callId)
        number, call_id = parse_request_line(str(prm.rdata.wholeMsg))
        persona = persona_for_number(number)
        conversation = Conversation(persona, self.options, number=number, call_id=call_id,
                                    worker=self.config.name)
        conversation.event("invite", source=str(prm.rdata.srcAddress))
        call = PersonaCall(self, account, prm.callId, conversation)
        self.calls[prm.callId] = call
        with self._lock:
            self.invites += 1
        self._count_live()
        if persona in REJECTIONS:
            call.send(*REJECTIONS[persona])
            return
        if sum(1 for c in self.calls.values() if not c.disconnected) > MAX_CALLS:
            call.send(503, "Simulator Busy")
            return
        call.send(180)
        now = time.monotonic()
        if persona == Persona.NO_ANSWER:
            call.give_up_at = now + self.options.max_ring_s
        else:
            call.answer_at = now + self.options.ring_s

    def _tick(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.disconnected:
                continue
            if call.answer_at is not None and now >= call.answer_at:
                call.answer_at = None
                call.answered = True
                call.send(200)
                with self._lock:
                    self._talking.append((call.index, call.conversation))
            elif call.give_up_at is not None and now >= call.give_up_at:
                call.give_up_at = None
                call.bye("rang out")
            elif call.answered and call.conversation.keys:
                digit = call.conversation.keys.popleft()
                try:
                    call.dialDtmf(digit)  # RFC 2833, as a phone's keypad
                except pj.Error as exc:
                    logger.warning("DTMF %s not sent: %s", digit, exc.info())

    def on_disconnected(self, call: PersonaCall, code: int, reason: str) -> None:
        """A call ended: return its media port, hand its conversation to the log writer."""
        call.disconnected = True
        port, call.media_port = call.media_port, None
        if port is not None:
            self.ports.release(port)
        call.audio_media = None
        conversation = call.conversation
        if call.rejected:
            ended_by = "rejected"
        elif call.we_hung_up:
            ended_by = "callee"
        else:
            ended_by = "caller"
            conversation.event("bye_received" if call.answered else "cancelled", code=code, reason=reason)
        with self._lock:
            self._talking = [(i, v) for i, v in self._talking if v is not conversation]
        if self.calls.get(call.index) is call:
            del self.calls[call.index]
        # pjsua2's Call destructor detaches and hangs up whatever call holds its slot id, and pjsua reuses slots:
        # the object must go before a new INVITE can take the slot, yet not inside this callback (pjproject
        # issue 2815). A job runs right after the current libHandleEvents returns.
        self._dying[call.index] = call
        self.pjsua.call_soon(self._release, call)
        self._count_live()
        self.finished.put((conversation, 200 if call.answered else code, ended_by))

    def _release(self, call: PersonaCall) -> None:
        if self._dying.get(call.index) is call:
            del self._dying[call.index]  # the last reference: the Call is destroyed here, on the pjsua thread


    def hangup(self, index: int, conversation: Conversation, reason: str) -> None:
        """Hang up the call in pjsua slot `index` if it is still that conversation's (pjsua thread)."""
        call = self.calls.get(index)
        if call is not None and call.conversation is conversation:
            call.bye(reason)

    def hangup_all(self) -> None:
        """Hang up every call (pjsua thread, at shutdown)."""
        for call in list(self.calls.values()):
            call.bye("simulator stopping")

    def _count_live(self) -> None:
        with self._lock:
            self.live_calls = sum(1 for c in self.calls.values() if not c.disconnected)
            live, invites = self.live_calls, self.invites
        # Reported at once (one loopback datagram), so the front knows before the caller can dial again.
        self._report(live, invites)

    def _shutdown(self) -> None:
        self.calls.clear()
        self._dying.clear()
        self.ports.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None

    # ---- conversation thread -----------------------------------------------------------------------------

    def _converse(self) -> None:
        next_status = 0.0
        while not self.stopping.is_set():
            with self._lock:
                talking = list(self._talking)
                live, invites = self.live_calls, self.invites
            for index, conversation in talking:
                try:
                    if conversation.step():
                        self.pjsua.call_soon(self.hangup, index, conversation, conversation.leave_reason)
                except Exception:  # one broken conversation must not silence the others
                    logger.exception("conversation of call %s failed", conversation.call_id)
            self._write_finished()
            now = time.monotonic()
            if now >= next_status:  # the heartbeat; changes are reported as they happen
                next_status = now + STATUS_INTERVAL_S
                self._report(live, invites)
            time.sleep(STEP_S)
        self._write_finished()

    def _write_finished(self) -> None:
        while True:
            try:
                conversation, code, ended_by = self.finished.get_nowait()
            except queue.Empty:
                return
            try:
                append_record(self.options.log_path, conversation.record(final_code=code, ended_by=ended_by))
            except Exception:  # a full disk must not stop the calls
                logger.exception("could not log call %s", conversation.call_id)

    def _report(self, live: int, invites: int) -> None:
        message = f"SIMSTAT {self.config.index} {live} {invites}".encode()
        try:
            self._status.sendto(message, (self.config.bind_address, self.config.front_port))
        except OSError:  # the front is restarting; the next report gets through
            logger.debug("status report failed", exc_info=True)

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        # Render every line once before taking calls: eSpeak takes tens of milliseconds per phrase.
        for text in (GREETING, NUDGE, INTERRUPTION, self.options.voicemail_greeting, *OPENINGS.values(),
                     *(line for lines in REPLIES.values() for line in lines)):
            speech(text, self.options)
        self.pjsua.start()
        self.pjsua.ready.wait()
        if self.pjsua.startup_error is not None:
            logger.error("pjsua2 endpoint failed to start: %s", self.pjsua.startup_error)
            return 1
        self.pjsua.submit(self._setup).result(timeout=10)
        freeze_startup_heap()
        conversation_thread = threading.Thread(target=self._converse, name="conversation", daemon=True)
        conversation_thread.start()
        logger.info("%s listening on %s:%s", self.config.name, self.config.bind_address, self.config.sip_port)
        while not self.stopping.wait(0.5):
            pass
        self.pjsua.call_soon(self.hangup_all)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and self.live_calls:
            time.sleep(0.05)
        conversation_thread.join(timeout=2)
        self.pjsua.stop()
        self.pjsua.join(timeout=10)
        return 0

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler."""
        self.stopping.set()


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of a worker (the front fills them)."""
    parser = argparse.ArgumentParser(description="One worker process of the simulated phone network.")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--rtp-port-range", type=int, default=16)
    parser.add_argument("--front-port", type=int, required=True)
    parser.add_argument("--options", default="{}", help="SimulatorOptions as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = SimWorker(WorkerConfig(index=args.index, bind_address=args.bind, sip_port=args.sip_port,
                                    rtp_port=args.rtp_port, rtp_port_range=args.rtp_port_range,
                                    front_port=args.front_port, options=SimulatorOptions.from_json(args.options)))
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    return worker.run()


if __name__ == "__main__":
    exit_without_teardown(main())
