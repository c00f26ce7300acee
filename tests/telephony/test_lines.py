"""A UA process's lines: attempts and the second calls of transfers share them (docs/transfer.md)."""

from __future__ import annotations

import threading

from telephony.ua.lines import Lines


def test_a_transfer_call_takes_a_line_of_its_own_and_gives_it_back() -> None:
    # given a process with two lines, one held by a call
    changes: list[int] = []
    lines = Lines(2, on_change=lambda: changes.append(1))
    assert lines.take(11)
    assert lines.attempts() == []  # at the last gate: its lease is not renewed yet
    lines.dialing(11)
    # when the call's transfer places its second call
    assert lines.take_transfer(11)
    # then no line is free: neither another attempt nor another transfer gets one
    assert lines.free() == 0
    assert not lines.take(12)
    assert not lines.take_transfer(13)
    assert changes == [1]  # the heartbeat was woken to advertise it
    # when the second call ends, the line is free again (once: a second release changes nothing)
    lines.release_transfer(11)
    lines.release_transfer(11)
    assert lines.free() == 1
    assert changes == [1, 1]
    assert lines.attempts() == [11]


def test_a_transfer_is_refused_when_every_line_is_held_by_calls() -> None:
    lines = Lines(1)
    assert lines.take(21)
    assert not lines.take_transfer(21)  # the line is held from the gate on
    lines.dialing(21)
    assert not lines.take_transfer(21)
    assert lines.free() == 0
    lines.release(21)
    assert lines.free() == 1


def test_lines_are_never_given_twice_under_threads() -> None:
    # given four lines and many threads asking at once for attempts and transfers
    lines = Lines(4)
    granted: list[int] = []
    lock = threading.Lock()

    def ask(i: int) -> None:
        ok = lines.take(i) if i % 2 else lines.take_transfer(i)
        if ok:
            with lock:
                granted.append(i)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly the four lines were given
    assert len(granted) == 4
    assert lines.free() == 0
