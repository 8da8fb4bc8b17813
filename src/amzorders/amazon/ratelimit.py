"""Client-side token buckets per SP-API operation, so the client waits instead of
collecting 429s.

The bucket arithmetic lives in ``amzorders.domain.ratebucket``; a ``BucketBackend``
keeps the bucket states. The default backend keeps them in memory for one process; the
store can provide a SQLite backend so that concurrent processes (a cron ``sync`` and an
operator's ``ship``) share one budget, as Amazon counts it per seller and application.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from amzorders.domain import codes
from amzorders.domain.ratebucket import BucketState, reserve, seconds_for_calls


class BucketBackend(Protocol):
    """Where bucket states live. ``reserve`` must be one atomic step."""

    def reserve(self, operation: str, rate: float, burst: int, now: float) -> float:
        """Take one token of ``operation``'s bucket; return the seconds to wait first."""
        ...

    def peek(self, operation: str) -> BucketState | None:
        """The bucket's state as last written (None: never used), without taking a token."""
        ...


class InMemoryBucketBackend:
    """Bucket states of this process, guarded by a lock (threads may share a client)."""

    def __init__(self) -> None:
        self._states: dict[str, BucketState] = {}
        self._lock = threading.Lock()

    def reserve(self, operation: str, rate: float, burst: int, now: float) -> float:
        with self._lock:
            state, wait_seconds = reserve(self._states.get(operation), now, rate, burst)
            self._states[operation] = state
            return wait_seconds

    def peek(self, operation: str) -> BucketState | None:
        with self._lock:
            return self._states.get(operation)


class RateLimiter:
    """Waits before each SP-API call as long as the operation's usage plan requires.

    ``clock`` must be wall-clock time when the backend is shared between processes.
    Operations without a usage plan are not throttled. ``on_wait(operation, seconds)``
    is told before every wait, so a caller can say what it waits for (``plan`` gives
    the rate) and for how long.

    The whole burst is used (``headroom`` 0): Amazon's usage plans promise ``burst``
    requests at once ("Usage Plans and Rate Limits" in the SP-API docs), and a first
    import of 20 pages must not wait ~3 minutes for a spare token. Once the burst is
    spent, each wait for the refill gets ``refill_margin`` seconds more: a request sent
    the instant our bucket has a token again may otherwise reach Amazon's bucket a few
    milliseconds early (network jitter). A 429 that still comes is retried after the
    wait Amazon's rate implies (client.py).
    The plan (rate, burst) comes from ``plans`` (Amazon's published usage plans) and
    ``observe_rate`` (the x-amzn-RateLimit-Limit header), never from a bucket's level.
    """

    def __init__(
        self,
        backend: BucketBackend | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        *,
        plans: Mapping[str, tuple[float, int]] = codes.USAGE_PLANS,
        on_wait: Callable[[str, float], None] | None = None,
        headroom: int = 0,
        refill_margin: float = 0.05,
    ) -> None:
        if headroom < 0:
            raise ValueError("headroom must be 0 or more")
        self._backend: BucketBackend = backend if backend is not None else InMemoryBucketBackend()
        self._clock = clock
        self._sleep = sleep
        self._plans: dict[str, tuple[float, int]] = dict(plans)
        self._plans_lock = threading.Lock()
        self.on_wait = on_wait
        self.headroom = headroom
        self.refill_margin = refill_margin

    def plan(self, operation: str) -> tuple[float, int] | None:
        """The (rate per second, burst) in force for ``operation``, or None if unthrottled."""
        with self._plans_lock:
            return self._plans.get(operation)

    def acquire(self, operation: str) -> float:
        """Take a token for one call of ``operation``, sleeping if needed; return the wait."""
        plan = self.plan(operation)
        if plan is None:
            return 0.0
        rate, burst = plan
        usable_burst = max(1, burst - self.headroom)
        wait_seconds = self._backend.reserve(operation, rate, usable_burst, self._clock())
        if wait_seconds > 0.0:
            wait_seconds += self.refill_margin
            if self.on_wait is not None:
                self.on_wait(operation, wait_seconds)
            self._sleep(wait_seconds)
        return wait_seconds

    def ready(self, operation: str) -> bool:
        """Whether one call of ``operation`` may go now without waiting: no usage plan, or
        a token left in its bucket as last written (inside the burst). A look, not a take."""
        seconds = self.estimate_seconds(operation, 1)
        return seconds is None or seconds <= 0.0

    def estimate_seconds(self, operation: str, calls: int) -> float | None:
        """How long ``calls`` calls of ``operation`` will wait for tokens in all, from the
        bucket's state now (shared with other processes when the backend is the store's);
        None when the operation is not throttled."""
        plan = self.plan(operation)
        if plan is None:
            return None
        rate, burst = plan
        usable_burst = max(1, burst - self.headroom)
        peek = getattr(self._backend, "peek", None)
        state = peek(operation) if peek is not None else None
        return seconds_for_calls(state, self._clock(), rate, usable_burst, calls)

    def observe_rate(self, operation: str, rate: float) -> None:
        """Adopt the rate Amazon reports in ``x-amzn-RateLimit-Limit`` for ``operation``.

        The burst stays the usage plan's (Amazon does not report it). Operations
        without a plan stay unthrottled; nonsense rates (0, negative, inf) are ignored.
        """
        if not 0.0 < rate < float("inf"):
            return
        with self._plans_lock:
            plan = self._plans.get(operation)
            if plan is not None:
                self._plans[operation] = (rate, plan[1])
