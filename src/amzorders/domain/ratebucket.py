"""Token-bucket arithmetic for Amazon's usage plans (pure: no clock, no I/O, no locks).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second. Every
request takes one token. When none is left the request still *reserves* its token: the
balance goes negative, and the caller must wait until the refill has paid that debt.
Reserving instead of polling lets several processes share one bucket (the SQLite store
keeps a ``BucketState`` per operation and calls ``reserve`` inside one transaction) and
serves waiting callers in arrival order.

Times are plain floats in seconds. Use wall-clock time (``time.time()``) when the state
is shared between processes, since monotonic clocks differ from process to process.
"""

from __future__ import annotations

import msgspec


class BucketState(msgspec.Struct, frozen=True):
    """Tokens left (negative: reserved ahead of the refill) as of ``updated_at``."""

    tokens: float
    updated_at: float


def full_bucket(burst: int, now: float) -> BucketState:
    """A bucket as Amazon starts one: full."""
    return BucketState(tokens=float(burst), updated_at=now)


def refill(state: BucketState, now: float, rate: float, burst: int) -> BucketState:
    """The state at ``now`` after refilling at ``rate`` per second, capped at ``burst``.

    A clock that went backwards (wall clock adjusted) refills nothing rather than
    draining the bucket.
    """
    _check_plan(rate, burst)
    elapsed = max(0.0, now - state.updated_at)
    tokens = min(float(burst), state.tokens + elapsed * rate)
    return BucketState(tokens=tokens, updated_at=now)


def reserve(
    state: BucketState | None, now: float, rate: float, burst: int
) -> tuple[BucketState, float]:
    """Take one token; return the new state and how many seconds to wait before sending.

    ``state`` None means the bucket was never used: it starts full.
    """
    _check_plan(rate, burst)
    current = full_bucket(burst, now) if state is None else refill(state, now, rate, burst)
    tokens = current.tokens - 1.0
    wait_seconds = 0.0 if tokens >= 0.0 else -tokens / rate
    return BucketState(tokens=tokens, updated_at=now), wait_seconds


def _check_plan(rate: float, burst: int) -> None:
    if not rate > 0.0:
        raise ValueError(f"token bucket rate must be positive, got {rate!r}")
    if burst < 1:
        raise ValueError(f"token bucket burst must be at least 1, got {burst!r}")


def seconds_for_calls(state: BucketState | None, now: float, rate: float, burst: int, calls: int) -> float:
    """How long ``calls`` more requests take to be allowed, from the bucket as it is now:
    the burst left (or the debt of callers already waiting, e.g. a running sync) and then
    one call per ``1 / rate`` seconds. The time of the last call's token, not of the work."""
    _check_plan(rate, burst)
    if calls <= 0:
        return 0.0
    current = full_bucket(burst, now) if state is None else refill(state, now, rate, burst)
    return max(0.0, calls - current.tokens) / rate
