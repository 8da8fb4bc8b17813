"""Rate buckets that stay true: the whole burst, no drift across processes, bounded 429 waits.

Amazon's usage plans (Orders API v2026-01-01: searchOrders 0.0056 req/s, burst 20) are
the plans of the simulator here at time scale 1: the real ones. Nothing waits on the wall
clock: the client's sleep is recorded, never slept.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from amazon_testserver import FakeAmazon, Reply, make_client
from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.domain import codes
from amzorders.errors import AmazonUnavailableError
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

CREDENTIALS = LwaCredentials(
    SIMULATOR_CREDENTIALS["client_id"], SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["refresh_token"]
)
SEARCH_RATE, SEARCH_BURST = codes.USAGE_PLANS["searchOrders"]


@pytest.mark.slow
def test_a_first_import_of_2000_orders_fits_in_the_burst(tmp_path: Path) -> None:
    slept: list[float] = []
    # Both clocks stand still: no token comes back on either side during the import, so
    # the 20 pages must fit in the burst itself (the simulator answers 429 otherwise).
    with Simulator(tmp_path / "m.json", seed=8, orders=2000, arrivals_per_hour=0, rate_limits=True, time_scale=1.0,
                   frozen_clock=True) as sim:
        limiter = RateLimiter(plans=codes.USAGE_PLANS, sleep=slept.append, clock=lambda: 0.0)
        client = SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, rate_limiter=limiter, max_retries=0,
                             sleep=slept.append)
        store = Store.open(tmp_path / "s.db")
        result = sync_orders(store, client, ImportSettings(account="main"), since=sim.now() - timedelta(days=60),
                             now=sim.now)
        assert result.read == 2000 and result.pages == SEARCH_BURST == 20
        assert slept == []  # no refill wait: the 20 pages are the plan's burst
        assert sim.count_429s() == 0
        store.close()


DRIVER = textwrap.dedent(
    """
    import sys
    from amzorders.app import StoreBucketBackend
    from amzorders.amazon.ratelimit import RateLimiter
    from amzorders.store import Store

    store = Store.open(sys.argv[1])
    backend = StoreBucketBackend(store, "main")
    run = int(sys.argv[2])
    # Each run comes a day after the last (the bucket has long refilled) and makes a call.
    limiter = RateLimiter(backend, clock=lambda: 1_000_000.0 + run * 86_400.0, sleep=lambda s: None,
                          plans=backend.known_plans())
    rate, burst = limiter.plan("searchOrders")
    waited = limiter.acquire("searchOrders")
    print(rate, burst, waited)
    store.close()
    """
)


@pytest.mark.slow
def test_fifty_processes_in_a_row_keep_the_plans_burst(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store.open(db).close()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    seen = []
    for run in range(50):
        done = subprocess.run([sys.executable, str(driver), str(db), str(run)], capture_output=True, text=True, check=True)
        rate, burst, waited = done.stdout.split()
        seen.append((float(rate), int(burst), float(waited)))
    assert seen == [(SEARCH_RATE, SEARCH_BURST, 0.0)] * 50
    # After the 50 processes, a full bucket still serves the whole burst at once.
    store = Store.open(db)
    from amzorders.app import StoreBucketBackend

    backend = StoreBucketBackend(store, "main")
    slept: list[float] = []
    limiter = RateLimiter(backend, clock=lambda: 1_000_000.0 + 60 * 86_400.0, sleep=slept.append,
                          plans=backend.known_plans())
    waits = [limiter.acquire("searchOrders") for _ in range(SEARCH_BURST + 1)]
    assert waits[:SEARCH_BURST] == [0.0] * SEARCH_BURST and waits[SEARCH_BURST] > 1 / SEARCH_RATE
    store.close()


def test_after_a_429_the_wait_follows_amazons_rate_header() -> None:
    slept: list[float] = []
    with FakeAmazon() as fake:
        fake.route(
            "GET", "/orders/2026-01-01/orders/111-1",
            Reply(429, {"errors": [{"code": "QuotaExceeded", "message": "quota"}]}, headers={"x-amzn-RateLimit-Limit": "0.25"}),
            Reply(200, {"order": {"orderId": "111-1"}}),
        )
        client = make_client(fake, sleep=slept.append)
        client.get_order("111-1")
    assert slept and slept[0] >= 1 / 0.25


def test_a_header_less_429_storm_ends_within_the_runs_bound() -> None:
    slept: list[float] = []
    with FakeAmazon() as fake:
        fake.route("GET", "/orders/2026-01-01/orders", Reply(429, {"errors": [{"code": "QuotaExceeded", "message": "quota"}]}))
        # Amazon's usage plan paces the waits when no header says otherwise.
        limiter = RateLimiter(plans=codes.USAGE_PLANS, sleep=slept.append, clock=lambda: 0.0)
        client = make_client(fake, rate_limiter=limiter, sleep=slept.append, max_retries=50, max_throttle_wait=600.0)
        with pytest.raises(AmazonUnavailableError, match="kept throttling searchOrders") as caught:
            list(client.search_orders(created_after=codes_time()))
    assert caught.value.exit_code == 5
    assert all(wait >= 1 / SEARCH_RATE for wait in slept)
    assert sum(slept) <= 600.0 and len(slept) == int(600.0 // (1 / SEARCH_RATE))


def codes_time():
    from datetime import datetime, timezone

    return datetime(2026, 11, 1, tzinfo=timezone.utc)
