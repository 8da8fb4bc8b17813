"""Only a documented response is data; pagination ends; the watermark never moves on a fault.

The real client pages through the real simulator; faults are switched on once the first
page has come (from the client's call hook, before the next page is requested, even read
ahead), so each run has stored data and unread data when the fault comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from amzorders.amazon.client import CallRecord, LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.errors import AmazonBadResponseError, ExitCode
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

CREDENTIALS = LwaCredentials(
    SIMULATOR_CREDENTIALS["client_id"], SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["refresh_token"]
)
SETTINGS = ImportSettings(account="main")
MALFORMED = ("errors_200", "proxy_html", "bad_json")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "m.json", seed=4, orders=250, rate_limits=False) as simulator:
        yield simulator


def client_for(sim: Simulator, sleeps: list[float] | None = None, **overrides: Any) -> SpApiClient:
    options: dict[str, Any] = {
        "rate_limiter": RateLimiter(plans={}),
        "max_retries": 3,
        "account_name": "simulator",
        "sleep": (sleeps.append if sleeps is not None else (lambda seconds: None)),
    }
    options.update(overrides)
    return SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, **options)


def _sync(store: Store, client: SpApiClient, sim: Simulator, on_first_page=None):
    pages_seen = []

    def progress(read: int) -> None:
        pages_seen.append(read)
        if len(pages_seen) == 1 and on_first_page is not None:
            on_first_page()

    return sync_orders(
        store, client, SETTINGS, since=sim.now() - timedelta(days=400), progress=progress, now=sim.now
    ), pages_seen


@pytest.mark.parametrize("fault", MALFORMED)
def test_a_malformed_2xx_is_retried_and_then_fails_without_moving_the_watermark(tmp_path, sim, fault) -> None:
    store = Store.open(tmp_path / "s.db")
    first = (sim.now() - timedelta(days=400)).replace(microsecond=0)
    store.set_watermark("main", first)
    sleeps: list[float] = []
    answered: list[CallRecord] = []

    def after_first_page(record: CallRecord) -> None:
        if record.operation == "searchOrders" and not answered:
            answered.append(record)
            sim.inject(fault, count=10, operation="searchOrders")

    client = client_for(sim, sleeps, on_call=after_first_page)
    with pytest.raises(AmazonBadResponseError) as caught:
        sync_orders(store, client, SETTINGS, now=sim.now)
    assert caught.value.exit_code == ExitCode.AMAZON_BAD_RESPONSE == 9
    assert "not the documented response" in caught.value.message
    assert len(sleeps) == 3  # retried like a 5xx, within the same bound
    assert store.get_watermark("main") == first  # the watermark did not move
    assert store.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0] == 100  # page 1 kept
    # A clean rerun reads the rest and only then moves the watermark.
    sim.clear_faults()
    result = sync_orders(store, client_for(sim), SETTINGS, now=sim.now)
    assert result.watermark is not None and store.get_watermark("main") == result.watermark > first
    assert store.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0] == 250
    store.close()


@pytest.mark.parametrize("fault", MALFORMED)
def test_one_malformed_reply_is_retried_and_the_sync_completes(tmp_path, sim, fault) -> None:
    store = Store.open(tmp_path / "s.db")
    sim.inject(fault, count=1, operation="searchOrders")
    result, _ = _sync(store, client_for(sim), sim)
    assert result.read == 250 and result.watermark is not None
    store.close()


def test_a_2xx_error_body_on_get_order_is_not_an_order(tmp_path, sim) -> None:
    client = client_for(sim)
    sim.inject("errors_200", count=10, operation="getOrder")
    with pytest.raises(AmazonBadResponseError, match="error list"):
        client.get_order(sim.order_ids()[0])


@pytest.mark.parametrize("fault", ("repeat_token", "repeat_page"))
def test_a_pagination_loop_stops_with_a_clear_error_and_keeps_what_was_read(tmp_path, sim, fault) -> None:
    store = Store.open(tmp_path / "s.db")
    first = (sim.now() - timedelta(days=400)).replace(microsecond=0)
    store.set_watermark("main", first)
    client = client_for(sim)
    sim.inject(fault, count=1000, operation="searchOrders")
    with pytest.raises(AmazonBadResponseError, match="pagination does not end") as caught:
        sync_orders(store, client, SETTINGS, now=sim.now)
    assert caught.value.exit_code == 9
    assert store.get_watermark("main") == first
    stored = store.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0]
    assert 100 <= stored < 250
    # Ends after at most one extra page: the loop is noticed, not followed.
    assert client.call_count <= 3
    store.close()


def test_more_pages_than_the_bound_stop_the_search(sim) -> None:
    client = client_for(sim)
    pages = client.search_orders(
        last_updated_after=sim.now() - timedelta(days=400), max_results_per_page=50, max_pages=3
    )
    read = []
    with pytest.raises(AmazonBadResponseError, match="more than 3 pages"):
        for page in pages:
            read.append(page)
    assert len(read) == 3 and all(page.next_token for page in read)
