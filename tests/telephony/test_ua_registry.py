"""The user-agent registry in real Redis: liveness, atomic line reservation, command queues."""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings

from telephony.contract import HangupCommand, seal_command
from telephony.ua_registry import (
    advertise_ua,
    held_attempts,
    live_uas,
    pending_commands,
    pop_command,
    push_command,
    release_ua_line,
    reserve_ua_line,
    total_free_lines,
    withdraw_ua,
)


def sealed(command: HangupCommand) -> str:
    return seal_command(command, settings.UA_COMMAND_KEY, now=time.time())


def test_no_live_ua_means_no_line(redis_client: redis.Redis) -> None:
    assert reserve_ua_line(redis_client) is None
    assert total_free_lines(redis_client) == 0


def test_reserve_takes_from_the_ua_with_most_free_lines(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=1, host="h", sip_port=5070)
    advertise_ua(redis_client, "ua-2", free_lines=3, host="h", sip_port=5071)
    assert reserve_ua_line(redis_client) == "ua-2"
    assert total_free_lines(redis_client) == 3


def test_lines_run_out_and_come_back_on_release(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=1, host="h", sip_port=5070)
    assert reserve_ua_line(redis_client) == "ua-1"
    assert reserve_ua_line(redis_client) is None
    release_ua_line(redis_client, "ua-1")
    assert reserve_ua_line(redis_client) == "ua-1"


def test_a_ua_that_stops_heartbeating_drops_out(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=4, host="h", sip_port=5070, ttl_s=1)
    assert "ua-1" in live_uas(redis_client)
    time.sleep(1.1)
    assert reserve_ua_line(redis_client) is None
    assert live_uas(redis_client) == {}


def test_withdrawn_ua_gets_no_calls(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=4, host="h", sip_port=5070)
    withdraw_ua(redis_client, "ua-1")
    assert reserve_ua_line(redis_client) is None


def test_queued_commands_count_as_busy_lines_in_a_heartbeat(redis_client: redis.Redis) -> None:
    push_command(redis_client, "ua-1", sealed(HangupCommand(1)))
    advertise_ua(redis_client, "ua-1", free_lines=1, host="h", sip_port=5070)
    assert reserve_ua_line(redis_client) is None


def test_concurrent_reservations_never_oversubscribe(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=4, host="h", sip_port=5070)
    advertise_ua(redis_client, "ua-2", free_lines=4, host="h", sip_port=5071)
    got: list[str] = []
    lock = threading.Lock()

    def grab() -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for _ in range(5):
            name = reserve_ua_line(client)
            if name:
                with lock:
                    got.append(name)
        client.close()

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ["ua-1"] * 4 + ["ua-2"] * 4


def test_commands_are_delivered_in_order(redis_client: redis.Redis) -> None:
    first, second = sealed(HangupCommand(1, reason="first")), sealed(HangupCommand(1, reason="second"))
    push_command(redis_client, "ua-1", first)
    push_command(redis_client, "ua-1", second)
    assert [c["reason"] for c in pending_commands(redis_client, "ua-1")] == ["first", "second"]
    assert pop_command(redis_client, "ua-1", 1) == first.encode()
    assert pop_command(redis_client, "ua-1", 1) == second.encode()
    assert pop_command(redis_client, "ua-1", 0.1) is None


def test_a_queue_expires_with_its_commands(redis_client: redis.Redis) -> None:
    # given a command pushed with a 0.3 s life
    push_command(redis_client, "ua-1", sealed(HangupCommand(1)), ttl_s=0.3)
    assert 0 < redis_client.pttl("ce:ua:commands:ua-1") <= 300
    # when nobody reads it in time, then the queue is gone with it
    time.sleep(0.5)
    assert pending_commands(redis_client, "ua-1") == []


def test_a_heartbeat_names_the_attempts_the_ua_holds(redis_client: redis.Redis) -> None:
    advertise_ua(redis_client, "ua-1", free_lines=3, host="h", sip_port=5070, holding=[7, 3])
    advertise_ua(redis_client, "ua-2", free_lines=4, host="h", sip_port=5071)
    assert held_attempts(redis_client) == {3, 7}
    withdraw_ua(redis_client, "ua-1")
    assert held_attempts(redis_client) == set()
