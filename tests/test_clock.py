"""The clock seam: SystemClock and the hand-moved VirtualClock."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from reflow_actors.clock import Clock, SystemClock, VirtualClock

UTC = timezone.utc
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
START_EPOCH = START.timestamp()


def wait_for_real_time_to_pass() -> None:
    """Spin (no sleep) until the real monotonic clock visibly moves."""
    first = time.monotonic()
    give_up = first + 5.0
    while time.monotonic() <= first + 0.002:
        assert time.monotonic() < give_up


# --- SystemClock -------------------------------------------------------------------------


def test_system_clock_is_a_clock():
    assert isinstance(SystemClock(), Clock)
    assert isinstance(VirtualClock(), Clock)


def test_system_clock_reads_real_time():
    clock = SystemClock()
    before = time.time()
    now = clock.now()
    now_ms = clock.now_ms()
    after = time.time()
    assert before <= now <= after
    assert type(now_ms) is int
    assert int(before * 1000) <= now_ms <= int(after * 1000) + 1


def test_system_clock_monotonic_moves_forward():
    clock = SystemClock()
    first = clock.monotonic()
    assert abs(first - time.monotonic()) < 1.0
    wait_for_real_time_to_pass()
    assert clock.monotonic() > first


def test_system_clock_real_delay():
    clock = SystemClock()
    assert clock.real_delay(clock.monotonic() - 10) == 0.0
    delay = clock.real_delay(clock.monotonic() + 10)
    assert delay is not None
    assert 9.0 < delay <= 10.0


def test_system_clock_subscribe_never_calls_back():
    calls = []
    unsubscribe = SystemClock().subscribe(lambda: calls.append(1))
    assert callable(unsubscribe)
    unsubscribe()
    unsubscribe()  # harmless twice
    assert calls == []


# --- VirtualClock: construction -----------------------------------------------------------


def test_starts_from_aware_datetime():
    clock = VirtualClock(START)
    assert clock.now() == START_EPOCH
    assert clock.now_ms() == int(START_EPOCH * 1000)
    assert clock.now_datetime() == START


def test_starts_from_naive_datetime_as_utc():
    assert VirtualClock(datetime(2026, 3, 10, 12, 0)).now() == START_EPOCH


def test_starts_from_non_utc_datetime():
    plus2 = timezone(timedelta(hours=2))
    assert VirtualClock(datetime(2026, 3, 10, 14, 0, tzinfo=plus2)).now() == START_EPOCH


@pytest.mark.parametrize("start", [0, 1_700_000_000, 1_700_000_000.25])
def test_starts_from_epoch_seconds(start):
    clock = VirtualClock(start)
    assert clock.now() == start
    assert clock.now_ms() == int(start * 1000)
    assert type(clock.now_ms()) is int


def test_default_start_is_now():
    before = time.time()
    clock = VirtualClock()
    after = time.time()
    assert before <= clock.now() <= after


def test_datetime_is_aware_utc():
    moment = VirtualClock(1_700_000_000.5).now_datetime()
    assert moment.utcoffset() == timedelta(0)
    assert moment == datetime.fromtimestamp(1_700_000_000.5, tz=UTC)


# --- VirtualClock: frozen ----------------------------------------------------------------


def test_frozen_time_stands_still():
    clock = VirtualClock(START)
    now, mono = clock.now(), clock.monotonic()
    wait_for_real_time_to_pass()
    assert clock.now() == now
    assert clock.monotonic() == mono
    assert clock.now_ms() == int(START_EPOCH * 1000)


def test_advance_moves_every_reading():
    clock = VirtualClock(START)
    mono = clock.monotonic()
    clock.advance(5)
    assert clock.now() == START_EPOCH + 5
    assert clock.now_ms() == int(START_EPOCH * 1000) + 5000
    assert clock.monotonic() == pytest.approx(mono + 5)
    assert clock.now_datetime() == START + timedelta(seconds=5)
    clock.advance(0.25)
    assert clock.now() == pytest.approx(START_EPOCH + 5.25)
    clock.advance(0)
    assert clock.now() == pytest.approx(START_EPOCH + 5.25)


def test_advance_days():
    clock = VirtualClock(START)
    clock.advance(timedelta(days=7).total_seconds())
    assert clock.now_datetime() == START + timedelta(days=7)


def test_set_moves_to_a_datetime_or_epoch():
    clock = VirtualClock(START)
    mono = clock.monotonic()
    clock.set(START + timedelta(hours=1))
    assert clock.now_datetime() == START + timedelta(hours=1)
    assert clock.monotonic() == pytest.approx(mono + 3600)
    clock.set(START_EPOCH + 7200)
    assert clock.now() == pytest.approx(START_EPOCH + 7200)
    clock.set(datetime(2026, 3, 10, 15, 0))  # naive means UTC
    assert clock.now() == pytest.approx(START_EPOCH + 3 * 3600)


def test_set_never_moves_backwards():
    clock = VirtualClock(START)
    clock.advance(60)
    clock.set(START)
    assert clock.now() == START_EPOCH + 60


@pytest.mark.parametrize("seconds", [-1, -0.001])
def test_negative_advance_raises(seconds):
    clock = VirtualClock(START)
    calls = []
    clock.subscribe(lambda: calls.append(1))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds)
    assert clock.now() == START_EPOCH
    assert calls == []


def test_subscribers_called_on_each_move_and_not_after_unsubscribe():
    clock = VirtualClock(START)
    seen_a: list[float] = []
    seen_b: list[float] = []
    unsubscribe_a = clock.subscribe(lambda: seen_a.append(clock.now()))
    clock.subscribe(lambda: seen_b.append(clock.now()))
    clock.advance(1)
    clock.set(START_EPOCH + 10)
    # Callbacks run after the move, so they see the new time.
    assert seen_a == [START_EPOCH + 1, START_EPOCH + 10]
    unsubscribe_a()
    unsubscribe_a()  # harmless twice
    clock.advance(1)
    assert seen_a == [START_EPOCH + 1, START_EPOCH + 10]
    assert seen_b == [START_EPOCH + 1, START_EPOCH + 10, START_EPOCH + 11]


def test_subscriber_may_unsubscribe_itself_during_callback():
    clock = VirtualClock(START)
    calls = []

    def once() -> None:
        calls.append(1)
        unsubscribe()

    unsubscribe = clock.subscribe(once)
    clock.advance(1)
    clock.advance(1)
    assert calls == [1]


def test_frozen_real_delay():
    clock = VirtualClock(START)
    deadline = clock.monotonic() + 5
    assert clock.real_delay(deadline) is None  # only a move can reach it
    clock.advance(4.5)
    assert clock.real_delay(deadline) is None
    clock.advance(0.5)
    assert clock.real_delay(deadline) == 0.0
    assert clock.real_delay(deadline - 100) == 0.0


def test_concurrent_advances_all_count():
    clock = VirtualClock(0)
    calls = []
    clock.subscribe(lambda: calls.append(1))

    def mover() -> None:
        for _ in range(500):
            clock.advance(1)

    threads = [threading.Thread(target=mover) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert clock.now() == 2000
    assert len(calls) == 2000


# --- VirtualClock: running ---------------------------------------------------------------


def test_running_clock_advances_with_real_time():
    clock = VirtualClock(START, frozen=False)
    first_now, first_mono = clock.now(), clock.monotonic()
    assert first_now >= START_EPOCH
    assert first_now - START_EPOCH < 1.0
    give_up = time.monotonic() + 5.0
    while clock.monotonic() <= first_mono:
        assert time.monotonic() < give_up
    assert clock.monotonic() > first_mono
    assert clock.now() > first_now


def test_running_clock_advance_adds_an_offset():
    clock = VirtualClock(START, frozen=False)
    before = clock.now()
    mono = clock.monotonic()
    clock.advance(3600)
    after = clock.now()
    assert after >= before + 3600
    assert after < before + 3600 + 1.0
    assert clock.monotonic() >= mono + 3600
    clock.set(START + timedelta(days=1))
    assert clock.now_datetime() >= START + timedelta(days=1)


def test_running_real_delay():
    clock = VirtualClock(START, frozen=False)
    delay = clock.real_delay(clock.monotonic() + 10)
    assert delay is not None
    assert 9.0 < delay <= 10.0
    assert clock.real_delay(clock.monotonic() - 1) == 0.0
    deadline = clock.monotonic() + 60
    clock.advance(60)
    assert clock.real_delay(deadline) == 0.0
