"""kill -9 during sync: the store stays consistent and a later run completes the import."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from amzorders.simulator import Simulator

pytestmark = pytest.mark.slow

NA_MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
KILLS = 25
SEED = 4242

DRIVER = """
import sys, time
from datetime import timedelta
from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.config import AccountConfig
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.outbox import deliver_outbox
from amzorders.simulator import SIMULATOR_CREDENTIALS
from amzorders.store import Store
from amzorders.domain.models import utcnow

db, base_url, token_url = sys.argv[1:4]
markets = %r
account = AccountConfig(name="main", region="na", marketplace_ids=markets, merchant_id="A1SIMULATEDSELLER")
store = Store.open(db)
client = SpApiClient(base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), token_url, timeout=(5.0, 10.0),
                     rate_limiter=RateLimiter(plans={}), backoff_base=0.001, backoff_cap=0.01)
since = None if store.get_watermark("main") else utcnow() - timedelta(days=40)
sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=markets, since=since)
deliver_outbox(store, client, account)
store.close()
print("done")
""" % (NA_MARKETPLACES,)


def check_consistent(db: Path, sim: Simulator, truth: dict[str, dict]) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        dupes = conn.execute(
            "SELECT amazon_order_id FROM amazon_orders GROUP BY amazon_order_id HAVING COUNT(*) > 1"
        ).fetchall()
        assert dupes == []
        assert conn.execute(
            "SELECT idempotency_key FROM outbox GROUP BY idempotency_key HAVING COUNT(*) > 1"
        ).fetchall() == []
        row = conn.execute("SELECT watermark FROM sync_state WHERE account = 'main'").fetchone()
        stored = {r[0] for r in conn.execute("SELECT amazon_order_id FROM amazon_orders")}
    finally:
        conn.close()
    if row is None or row[0] is None:
        return 0
    watermark = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
    # Watermark never ahead of the data: every order updated before it is stored.
    missing = [oid for oid, order in truth.items() if _updated(order) < watermark and oid not in stored]
    assert not missing, f"watermark {watermark} ahead of stored data: {missing[:5]}"
    return sum(1 for order in truth.values() if _updated(order) < watermark)


def _updated(order: dict) -> datetime:
    return datetime.fromisoformat(order["lastUpdatedTime"].replace("Z", "+00:00"))


def test_sigkill_during_sync_leaves_a_consistent_store(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "store.db"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ)
    with Simulator(tmp_path / "m.json", seed=SEED, orders=800, rate_limits=False) as sim:
        # Every call a little slow, so a sync lasts seconds and kills land mid-run.
        sim.slow_seconds = 0.08
        sim.random_faults(1.0, ["slow"], seed=SEED)
        truth = {oid: sim.order(oid) for oid in sim.order_ids()}
        truth = {oid: o for oid, o in truth.items() if o["salesChannel"]["marketplaceId"] in NA_MARKETPLACES}
        survived = 0
        completed_early = 0
        for _ in range(KILLS):
            process = subprocess.Popen(
                [sys.executable, str(driver), str(db), sim.base_url, sim.token_url],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            time.sleep(rng.uniform(0.05, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                survived += 1
            else:
                completed_early += 1
            process.wait(timeout=30)
            check_consistent(db, sim, truth) if db.exists() else None
        sim.clear_faults()
        final = subprocess.run([sys.executable, str(driver), str(db), sim.base_url, sim.token_url],
                               env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr[-2000:]
        covered = check_consistent(db, sim, truth)
        conn = sqlite3.connect(db)
        try:
            stored = dict(conn.execute("SELECT amazon_order_id, status FROM amazon_orders"))
        finally:
            conn.close()
        for oid, order in truth.items():
            assert stored.get(oid) == order["fulfillment"]["fulfillmentStatus"], oid
    print(f"\ncrash: {survived} SIGKILLs mid-sync survived ({completed_early} runs finished first); "
          f"{len(truth)} orders checked after the final run (watermark covered {covered})")
    assert survived >= KILLS // 2
