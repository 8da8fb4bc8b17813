"""Token buckets: the pure arithmetic and the waiting RateLimiter."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amzorders.amazon.ratelimit import InMemoryBucketBackend, RateLimiter
from amzorders.domain import codes
from amzorders.domain.ratebucket import BucketState, full_bucket, refill, reserve


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- pure math ---


def test_new_bucket_starts_full_and_burst_is_free() -> None:
    state = None
    waits = []
    for _ in range(20):
        state, wait = reserve(state, 100.0, 0.0056, 20)
        waits.append(wait)
    assert waits == [0.0] * 20
    assert state == BucketState(tokens=0.0, updated_at=100.0)


def test_empty_bucket_makes_the_next_caller_wait_one_refill_period() -> None:
    state = BucketState(tokens=0.0, updated_at=100.0)
    state, wait = reserve(state, 100.0, 0.5, 30)
    assert wait == pytest.approx(2.0)
    assert state.tokens == pytest.approx(-1.0)
    # A second caller queues behind the first: 2 tokens owed.
    state, wait = reserve(state, 100.0, 0.5, 30)
    assert wait == pytest.approx(4.0)


def test_refill_is_linear_and_capped_at_burst() -> None:
    state = BucketState(tokens=0.0, updated_at=0.0)
    assert refill(state, 10.0, 0.5, 30).tokens == pytest.approx(5.0)
    assert refill(state, 1000.0, 0.5, 30).tokens == 30.0


def test_clock_going_backwards_refills_nothing() -> None:
    state = BucketState(tokens=3.0, updated_at=500.0)
    after = refill(state, 400.0, 1.0, 10)
    assert after.tokens == 3.0


def test_searchorders_plan_after_burst_waits_about_three_minutes() -> None:
    rate, burst = codes.USAGE_PLANS["searchOrders"]
    state = BucketState(tokens=0.0, updated_at=0.0)
    _, wait = reserve(state, 0.0, rate, burst)
    assert wait == pytest.approx(1 / 0.0056)


@pytest.mark.parametrize("rate, burst", [(0.0, 5), (-1.0, 5), (1.0, 0)])
def test_invalid_plans_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        reserve(None, 0.0, rate, burst)


@given(
    rate=st.floats(min_value=0.001, max_value=50.0),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=60),
)
def test_never_more_calls_than_burst_plus_refill(rate: float, burst: int, gaps: list[float]) -> None:
    """Sending when each wait is over never exceeds what the plan allows in any prefix."""
    now = 0.0
    state = full_bucket(burst, now)
    send_times = []
    for gap in gaps:
        now += gap
        state, wait = reserve(state, now, rate, burst)
        send_times.append(now + wait)
    last = max(send_times)
    assert len(send_times) <= burst + last * rate + 1e-6


# --- RateLimiter ---


def test_limiter_sleeps_when_bucket_is_empty_and_not_before() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, plans={"getOrder": (0.5, 3)}, headroom=0, refill_margin=0.0)
    waits = [limiter.acquire("getOrder") for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    # Each sleep moves the fake clock on, so every further call waits one period.
    assert waits[3:] == [pytest.approx(2.0), pytest.approx(2.0)]
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]


def test_limiter_default_plans_come_from_usage_plans() -> None:
    limiter = RateLimiter()
    assert limiter.plan("searchOrders") == codes.USAGE_PLANS["searchOrders"]
    assert limiter.plan("confirmShipment") == (2.0, 10)


def test_unknown_operation_is_not_throttled() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, refill_margin=0.0)
    assert [limiter.acquire("someNewOperation") for _ in range(100)] == [0.0] * 100
    assert clock.sleeps == []
    limiter.observe_rate("someNewOperation", 0.1)
    assert limiter.acquire("someNewOperation") == 0.0


def test_observe_rate_changes_the_refill_but_keeps_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, plans={"getFeed": (2.0, 2)}, headroom=0, refill_margin=0.0)
    limiter.observe_rate("getFeed", 0.25)
    assert limiter.plan("getFeed") == (0.25, 2)
    limiter.acquire("getFeed")
    limiter.acquire("getFeed")
    assert limiter.acquire("getFeed") == pytest.approx(4.0)


@pytest.mark.parametrize("nonsense", [0.0, -3.0, float("inf"), float("nan")])
def test_observe_rate_ignores_nonsense(nonsense: float) -> None:
    limiter = RateLimiter(plans={"getFeed": (2.0, 15)}, refill_margin=0.0)
    limiter.observe_rate("getFeed", nonsense)
    assert limiter.plan("getFeed") == (2.0, 15)


def test_on_wait_is_told_before_sleeping() -> None:
    clock = FakeClock()
    told: list[tuple[str, float]] = []
    limiter = RateLimiter(
        clock=clock, sleep=clock.sleep, plans={"createFeed": (0.0083, 1)}, on_wait=lambda op, s: told.append((op, s)),
        refill_margin=0.0,
    )
    limiter.acquire("createFeed")
    limiter.acquire("createFeed")
    assert told == [("createFeed", pytest.approx(1 / 0.0083))]


class RecordingBackend:
    """A backend as the store will write one: reserve(operation, rate, burst, now)."""

    def __init__(self) -> None:
        self.inner = InMemoryBucketBackend()
        self.calls: list[tuple[str, float, int, float]] = []

    def reserve(self, operation: str, rate: float, burst: int, now: float) -> float:
        self.calls.append((operation, rate, burst, now))
        return self.inner.reserve(operation, rate, burst, now)


def test_limiter_uses_the_given_backend_with_the_plan_and_clock() -> None:
    clock = FakeClock(now=1234.5)
    backend = RecordingBackend()
    limiter = RateLimiter(backend, clock=clock, sleep=clock.sleep, refill_margin=0.0)
    limiter.acquire("getOrder")
    # The whole burst of the usage plan is used.
    assert backend.calls == [("getOrder", 0.5, 30, 1234.5)]


def test_the_whole_burst_is_used_and_refill_waits_get_the_margin() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, plans={"confirmShipment": (2.0, 10), "createFeed": (1.0, 1)})
    waits = [limiter.acquire("confirmShipment") for _ in range(11)]
    # Ten calls at once (the plan's burst), then one refill period plus the jitter margin.
    assert waits == [0.0] * 10 + [pytest.approx(0.5 + limiter.refill_margin)]
    assert limiter.acquire("createFeed") == 0.0
    with pytest.raises(ValueError):
        RateLimiter(headroom=-1)


def test_two_limiters_sharing_a_backend_share_the_budget() -> None:
    clock = FakeClock()
    backend = InMemoryBucketBackend()
    plans = {"confirmShipment": (2.0, 2)}
    first = RateLimiter(backend, clock=clock, sleep=clock.sleep, plans=plans, headroom=0, refill_margin=0.0)
    second = RateLimiter(backend, clock=clock, sleep=clock.sleep, plans=plans, headroom=0, refill_margin=0.0)
    assert first.acquire("confirmShipment") == 0.0
    assert second.acquire("confirmShipment") == 0.0
    assert first.acquire("confirmShipment") == pytest.approx(0.5)


def test_in_memory_backend_is_consistent_across_threads() -> None:
    backend = InMemoryBucketBackend()
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = backend.reserve("getOrder", 1.0, 10, 0.0)
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 reservations at a frozen clock: 10 free, then 1 s more per caller, no duplicates.
    assert sorted(waits) == [0.0] * 10 + [float(n) for n in range(1, 191)]
