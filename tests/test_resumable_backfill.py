"""An interrupted backfill resumes at its next page: nothing lost, no page stored twice,
and no page read twice but the one the client may have read ahead when the run stopped
(searchOrders fetches the next page while a page is stored; that reply is dropped).

The interruption comes from the importer's own progress callback (after a stored page),
as Ctrl-C or a SIGTERM would; Amazon is the simulator, its clock frozen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.services.importer import ImportSettings, ReadProgress, import_orders, sync_orders
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

CREDENTIALS = LwaCredentials(
    SIMULATOR_CREDENTIALS["client_id"], SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["refresh_token"]
)
SETTINGS = ImportSettings(account="main")


class Interrupted(KeyboardInterrupt):
    pass


def client_for(sim: Simulator) -> SpApiClient:
    return SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, rate_limiter=RateLimiter(plans={}),
                       max_retries=2, sleep=lambda seconds: None)


def interrupt_after(page: int, events: list[ReadProgress]):
    def progress(event: ReadProgress) -> None:
        events.append(event)
        if event.kind == "page" and event.page == page:
            raise Interrupted()

    return progress


def stored_orders(store: Store) -> int:
    return store.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "m.json", seed=21, orders=600, arrivals_per_hour=0, rate_limits=False,
                   frozen_clock=True) as simulator:
        yield simulator


def test_an_interrupted_sync_resumes_at_the_next_page_and_says_so(tmp_path: Path, sim: Simulator) -> None:
    store = Store.open(tmp_path / "s.db")
    since = sim.now() - timedelta(days=60)
    events: list[ReadProgress] = []
    with pytest.raises(Interrupted):
        sync_orders(store, client_for(sim), SETTINGS, since=since, progress=interrupt_after(3, events), now=sim.now)
    assert stored_orders(store) == 300 and store.get_watermark("main") is None
    checkpoint = store.read_checkpoint("main", "sync")
    assert checkpoint is not None and checkpoint.pages == 3 and checkpoint.orders == 300

    events = []
    result = sync_orders(store, client_for(sim), SETTINGS, progress=events.append, now=sim.now)
    assert result.resumed_from_page == 4 and "resumed an interrupted search at page 4" in result.summary()
    assert events[0].kind == "resume" and events[0].page == 4
    assert [e.page for e in events if e.kind == "page"] == [4, 5, 6]
    assert result.pages == 3 and stored_orders(store) == 600
    # 6 pages, none read twice but page 4 if it was read ahead when the run stopped.
    assert sim.call_counts()["searchOrders"] in (6, 7)
    assert store.get_watermark("main") == result.watermark is not None
    assert store.read_checkpoint("main", "sync") is None


def test_a_sync_with_another_start_does_not_take_the_saved_position(tmp_path: Path, sim: Simulator) -> None:
    store = Store.open(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        sync_orders(store, client_for(sim), SETTINGS, since=sim.now() - timedelta(days=60),
                    progress=interrupt_after(2, []), now=sim.now)
    result = sync_orders(store, client_for(sim), SETTINGS, since=sim.now() - timedelta(days=59), now=sim.now)
    assert result.resumed_from_page is None and store.read_checkpoint("main", "sync") is None


def test_a_token_older_than_amazon_keeps_is_not_used(tmp_path: Path, sim: Simulator) -> None:
    store = Store.open(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        sync_orders(store, client_for(sim), SETTINGS, since=sim.now() - timedelta(days=60),
                    progress=interrupt_after(2, []), now=sim.now)
    later = lambda: sim.now() + timedelta(hours=24)  # noqa: E731
    result = sync_orders(store, client_for(sim), SETTINGS, now=later)
    assert result.resumed_from_page is None and any("older than Amazon keeps tokens" in n for n in result.notes)
    assert stored_orders(store) == 600


def test_a_token_amazon_refuses_restarts_the_window(tmp_path: Path, sim: Simulator) -> None:
    store = Store.open(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        sync_orders(store, client_for(sim), SETTINGS, since=sim.now() - timedelta(days=60),
                    progress=interrupt_after(2, []), now=sim.now)
    saved = store.read_checkpoint("main", "sync")
    with store.transaction():
        store.save_read_checkpoint(replace(saved, next_token="not-a-token-Amazon-issued"))
    result = sync_orders(store, client_for(sim), SETTINGS, now=sim.now)
    assert result.resumed_from_page is None and any("no longer accepted" in n for n in result.notes)
    assert stored_orders(store) == 600 and result.watermark is not None


def test_an_interrupted_window_import_resumes_when_asked_again(tmp_path: Path, sim: Simulator) -> None:
    store = Store.open(tmp_path / "s.db")
    since = sim.now() - timedelta(days=60)
    with pytest.raises(Interrupted):
        import_orders(store, client_for(sim), SETTINGS, since=since, progress=interrupt_after(2, []), now=sim.now)
    result = import_orders(store, client_for(sim), SETTINGS, since=since + timedelta(minutes=16), now=sim.now)
    assert result.resumed_from_page == 3 and stored_orders(store) == 600
    # 2 pages (and page 3 if it was read ahead), then the rest of the saved search and a
    # (here empty) search for newer orders.
    assert sim.call_counts()["searchOrders"] in (2 + 4 + 1, 3 + 4 + 1)


@pytest.mark.slow
def test_an_interrupted_10000_order_backfill_resumes_with_no_page_read_twice(tmp_path: Path) -> None:
    with Simulator(tmp_path / "m.json", seed=22, orders=10_000, arrivals_per_hour=0, rate_limits=False,
                   frozen_clock=True) as sim:
        store = Store.open(tmp_path / "s.db")
        since = sim.now() - timedelta(days=60)
        with pytest.raises(Interrupted):
            sync_orders(store, client_for(sim), SETTINGS, since=since, progress=interrupt_after(37, []), now=sim.now)
        assert stored_orders(store) == 3700
        result = sync_orders(store, client_for(sim), SETTINGS, now=sim.now)
        assert result.resumed_from_page == 38 and result.pages == 63
        assert stored_orders(store) == 10_000
        assert sim.call_counts()["searchOrders"] in (100, 101)  # 101: page 38 was read ahead
        store.close()
