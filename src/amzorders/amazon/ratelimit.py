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
from amzorders.domain.ratebucket import BucketState, reserve


class BucketBackend(Protocol):
    """Where bucket states live. ``reserve`` must be one atomic step."""

    def reserve(self, operation: str, rate: float, burst: int, now: float) -> float:
        """Take one token of ``operation``'s bucket; return the seconds to wait first."""
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


class RateLimiter:
    """Waits before each SP-API call as long as the operation's usage plan requires.

    ``clock`` must be wall-clock time when the backend is shared between processes.
    Operations without a usage plan are not throttled. ``on_wait(operation, seconds)``
    is told before every wait, so a caller can say why nothing seems to happen.

    ``headroom`` tokens of each burst are never used: Amazon's bucket refills by the
    arrival times of requests, which network latency shifts against ours, so a bucket
    drained exactly to zero would still collect the odd 429. One spare token absorbs
    that jitter at the cost of one call of the first burst.
    """

    def __init__(
        self,
        backend: BucketBackend | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        *,
        plans: Mapping[str, tuple[float, int]] = codes.USAGE_PLANS,
        on_wait: Callable[[str, float], None] | None = None,
        headroom: int = 1,
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
            if self.on_wait is not None:
                self.on_wait(operation, wait_seconds)
            self._sleep(wait_seconds)
        return wait_seconds

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
