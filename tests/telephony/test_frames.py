"""Frame copies and the clock thread's pinned Python thread state, on a real pjsua2 conference bridge."""

from __future__ import annotations

import threading
import time

import pjsua2 as pj
import pytest

from telephony.ua import frames
from telephony.ua.endpoint import EndpointSettings, PjsuaThread
from telephony.ua.media_port import CallMediaPort


def test_fast_copies_match_the_slow_ones() -> None:
    data = bytes(range(256)) + bytes(64)
    vector = pj.ByteVector(data)
    assert frames.FAST_PATH
    assert frames.read_vector(vector) == bytes(vector) == data
    target = pj.ByteVector()
    frames.write_vector(target, data[::-1])
    assert bytes(target) == data[::-1]
    frames.write_vector(target, b"")
    assert frames.read_vector(target) == b""


@pytest.fixture
def endpoint_thread():
    thread = PjsuaThread(EndpointSettings(sip_port=17990, rtp_port=31990, enable_tls=False, log_level=0))
    thread.start()
    thread.ready.wait(10)
    assert thread.startup_error is None
    yield thread
    thread.stop()
    thread.join(10)


def test_frames_cross_the_bridge_and_the_clock_thread_keeps_one_state(endpoint_thread: PjsuaThread) -> None:
    heard: list[tuple[int, bytes]] = []
    payload = bytes(range(160)) * 2

    def sink(frame: bytes) -> None:
        heard.append((threading.get_ident(), frame))

    ports: list[CallMediaPort] = []

    def build() -> None:
        talker = CallMediaPort(source=lambda: payload)
        listener = CallMediaPort(sink=sink)
        talker.create("talker")
        listener.create("listener")
        talker.startTransmit(listener)
        ports.extend([talker, listener])

    def release() -> None:  # pjsua2 objects go away on the thread that owns them, before the Endpoint
        ports[0].stopTransmit(ports[1])
        ports.clear()

    endpoint_thread.submit(build).result(5)
    deadline = time.monotonic() + 5
    while len(heard) < 25 and time.monotonic() < deadline:
        time.sleep(0.02)
    endpoint_thread.submit(release).result(5)

    assert len(heard) >= 25
    clock_threads = {ident for ident, _ in heard}
    assert len(clock_threads) == 1  # every frame arrives on the bridge's clock thread
    assert clock_threads <= frames._pinned_threads  # ...whose Python thread state was pinned once
    assert threading.get_ident() not in clock_threads
    assert all(frame == payload for _, frame in heard[5:])  # the bridge passes PCM through untouched at 8 kHz


def test_a_submitted_job_interrupts_a_long_poll() -> None:
    # A one-second poll: without the wake-up datagram each job would wait for up to a second.
    thread = PjsuaThread(EndpointSettings(sip_port=17992, rtp_port=31990, enable_tls=False, log_level=0),
                         tick_s=1.0, poll_ms=1000)
    thread.start()
    thread.ready.wait(10)
    try:
        latencies = []
        for _ in range(10):
            time.sleep(0.05)  # let the loop go back into its wait
            started = time.monotonic()
            thread.submit(lambda: None).result(5)
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 0.25, latencies
    finally:
        thread.stop()
        thread.join(10)


def test_the_startup_heap_is_frozen_out_of_the_collector() -> None:
    import gc

    from telephony.ua.endpoint import freeze_startup_heap

    gc.collect()  # garbage left by earlier tests is collected, not frozen: count only what is alive
    alive = len(gc.get_objects())
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= alive * 0.9  # what start-up made is no longer scanned
        assert len(gc.get_objects()) < alive * 0.1
    finally:
        gc.unfreeze()  # the test process goes on creating and dropping objects
