"""App, the composition root: which store and which Amazon it wires up."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from amzorders.app import App
from amzorders.domain import codes

ACCOUNT = """
[accounts.main]
region = "eu"
marketplace_ids = ["A1PA6795UKMFR9"]
client_id = "cid"
client_secret = "app-secret"
refresh_token = "app-refresh"
"""


def write_config(home: Path, text: str) -> None:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    (home / "config.toml").chmod(0o600)


def test_fresh_machine_app_uses_the_simulator_and_its_own_store(amzorders_home):
    with App.from_options() as app:
        assert app.using_simulator
        assert app.account.name == "simulator"
        assert app.db_path == amzorders_home / "simulator.db"


@pytest.mark.sqlite_only
def test_store_is_opened_lazily_once_at_the_chosen_path(amzorders_home, tmp_path):
    app = App.from_options(db_path=tmp_path / "data" / "orders.db")
    assert not (tmp_path / "data" / "orders.db").exists()  # nothing opened yet
    try:
        store = app.store()
        assert app.store() is store
        assert stat.S_IMODE((tmp_path / "data" / "orders.db").stat().st_mode) == 0o600
    finally:
        app.close()
    app.close()  # twice is harmless


def test_amazon_client_for_a_real_account_points_at_its_region(amzorders_home):
    write_config(amzorders_home, ACCOUNT)
    app = App.from_options()
    try:
        assert not app.using_simulator
        assert app.db_path == amzorders_home / "amzorders.db"
        client = app.amazon()
        assert app.amazon() is client
        assert client.base_url == codes.PRODUCTION_HOSTS["eu"]
        assert client.token_url == codes.LWA_TOKEN_URL
        assert client.account_name == "main"
        assert "app-secret" not in repr(client) and "app-refresh" not in repr(client)
    finally:
        app.close()


def test_amazon_client_for_the_simulator_talks_to_a_running_simulator(amzorders_home):
    simulator_module = pytest.importorskip("amzorders.simulator")
    if not hasattr(simulator_module, "Simulator"):
        pytest.skip("the simulator is not written yet")
    app = App.from_options()
    try:
        client = app.amazon()
        assert client.base_url.startswith("http://127.0.0.1:")
        assert (amzorders_home / "simulator").is_dir()
    finally:
        app.close()


def test_a_new_process_starts_from_the_rate_amazon_last_reported(tmp_path):
    """Rates learned from x-amzn-RateLimit-Limit are kept in the store's buckets, so the
    next process paces with them from its first call instead of the default plan."""
    import time

    from amzorders.app import StoreBucketBackend
    from amzorders.domain.codes import USAGE_PLANS
    from amzorders.store import Store

    store = Store.open(tmp_path / "s.db")
    try:
        backend = StoreBucketBackend(store, "main")
        assert backend.known_plans()["searchOrders"] == USAGE_PLANS["searchOrders"]
        backend.reserve("searchOrders", 0.5, 20, time.time())  # a process that learned 0.5/s
        backend.reserve("getOrder", 2.0, 30, time.time())
        StoreBucketBackend(store, "other").reserve("searchOrders", 9.0, 20, time.time())
        plans = StoreBucketBackend(store, "main").known_plans()
        assert plans["searchOrders"] == (0.5, 20)
        assert plans["getOrder"] == (2.0, 30)
        assert plans["confirmShipment"] == USAGE_PLANS["confirmShipment"]
    finally:
        store.close()
