"""kill -9 at chosen points of a sync: the store stays consistent, and later runs finish
the import and apply every queued action at Amazon exactly once.

Where a kill lands is decided by the code's own progress, never by a timer: the driver
subprocess watches its own work (each SQL statement through sqlite3's trace hook, each
HTTP request through requests) and SIGKILLs itself when it reaches the asked point for
the asked time. So every run puts its kill exactly where it was asked, on a fast machine
or a slow one; a run that ends without reaching its point fails the test with a message
that says the harness could not place the kill.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from amzorders.config import AccountConfig
from amzorders.errors import NotAllowedError, NotFoundError
from amzorders.services import processing
from amzorders.services.processing import ProcessingContext
from amzorders.simulator import Simulator
from amzorders.store import Store
from amzorders.store.times import read_time
from test_reliability import check_actions_exactly_once, check_commerce_totals, check_money, check_orders_match

pytestmark = pytest.mark.slow

NA_MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=NA_MARKETPLACES, merchant_id="A1SIMULATEDSELLER")
SEED = 4242
ORDERS = 1500
KILLS_PER_POINT = 3

# The driver: one cron-style run (import, deliver the outbox, follow feeds) that kills
# itself with SIGKILL at the n-th time it reaches the named checkpoint.
DRIVER = r"""
import os, signal, sys
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit
import requests
from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.config import AccountConfig
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.outbox import deliver_outbox, follow_feeds
from amzorders.simulator import SIMULATOR_CREDENTIALS
from amzorders.store import Store

db, base_url, token_url, point, nth, now_text, since_days = sys.argv[1:8]
nth = int(nth)
now = datetime.fromisoformat(now_text)
markets = %r
reached = Counter()

def checkpoint(name, in_transaction=None):
    reached[name] += 1
    if name == point and reached[name] == nth:
        sys.stdout.write(f"KILLED-AT {name} #{nth} in_transaction={in_transaction}\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

def operation(method, url):
    path = urlsplit(url).path
    if path.startswith("/orders/2026-01-01/orders/"):
        return "getOrder"
    if path.startswith("/orders/2026-01-01/orders"):
        return "searchOrders"
    if path.endswith("/shipmentConfirmation"):
        return "confirmShipment"
    if path == "/feeds/2021-06-30/documents":
        return "createFeedDocument"
    if path.startswith("/feeds/2021-06-30/documents/"):
        return "getFeedDocument"
    if path == "/feeds/2021-06-30/feeds":
        return "createFeed"
    if path.startswith("/feeds/2021-06-30/feeds/"):
        return "getFeed"
    if path.startswith("/auth/"):
        return "token"
    return method + " " + path

original_send = requests.Session.send
def send(self, request, **kwargs):
    name = operation(request.method, request.url)
    checkpoint("http-before:" + name)
    response = original_send(self, request, **kwargs)
    checkpoint("http-after:" + name)
    return response
requests.Session.send = send

store = Store.open(db)
def trace(sql):
    text = " ".join(sql.split()).lower()
    if text.startswith(("insert", "update")) and " amazon_orders" in text:
        checkpoint("sql:order-write", store.conn.in_transaction)
    elif text.startswith(("insert", "update")) and "sync_state" in text and "watermark" in text:
        checkpoint("sql:watermark", store.conn.in_transaction)
store.conn.set_trace_callback(trace)

account = AccountConfig(name="main", region="na", marketplace_ids=markets, merchant_id="A1SIMULATEDSELLER")
client = SpApiClient(base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), token_url, timeout=(5.0, 30.0),
                     rate_limiter=RateLimiter(plans={}), backoff_base=0.001, backoff_cap=0.01)
since = now - timedelta(days=float(since_days)) if since_days else None
if since is None and not store.get_watermark("main"):
    since = now - timedelta(days=40)
sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=markets, since=since, now=lambda: now)
deliver_outbox(store, client, account, now=now)
follow_feeds(store, client, account, now=now)
store.close()
print("completed " + " ".join(f"{k}={v}" for k, v in sorted(reached.items())))
""" % (NA_MARKETPLACES,)


@dataclass(frozen=True)
class KillPoint:
    label: str
    checkpoint: str
    nths: tuple[int, ...]
    setup: str  # what the marketplace and store need before the run: rewind / ship / feed / follow


def kill_points(pages: int) -> list[KillPoint]:
    """The points the issue names, each with the occurrence to kill at in each run."""
    page_nths = tuple(range(2, min(pages, KILLS_PER_POINT + 1) + 1))
    return [
        # Each run of the first import re-reads from the start (no watermark yet) and
        # writes only what is not stored yet: the 37th, 150th, 263rd write fall in pages 1-4.
        KillPoint("mid-page store (inside a page's transaction)", "sql:order-write", (37, 150, 263), "none"),
        KillPoint("between pages (page committed, next not asked)", "http-before:searchOrders", page_nths, "rewind"),
        KillPoint("last page stored, before its watermark", "sql:watermark", (1,) * KILLS_PER_POINT, "rewind"),
        KillPoint("confirmShipment before Amazon applied it", "http-before:confirmShipment", (1, 2, 1), "ship"),
        KillPoint("confirmShipment after Amazon applied it", "http-after:confirmShipment", (1, 2, 1), "ship"),
        KillPoint("createFeed: document uploaded, feed not created", "http-before:createFeed", (1,) * KILLS_PER_POINT, "feed"),
        KillPoint("createFeed answered, answer not recorded", "http-after:createFeed", (1,) * KILLS_PER_POINT, "feed"),
        KillPoint("feed follow-up: report read, not applied", "http-after:getFeedDocument", (1,) * KILLS_PER_POINT, "follow"),
    ]


class Harness:
    def __init__(self, tmp_path: Path, sim: Simulator) -> None:
        self.db = tmp_path / "store.db"
        self.driver = tmp_path / "driver.py"
        self.driver.write_text(DRIVER)
        self.sim = sim
        self.rng = random.Random(SEED)
        self.used: set[str] = set()

    def run(self, point: str = "none", nth: int = 1, *, rewind_days: float | None = None) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, str(self.driver), str(self.db), self.sim.base_url, self.sim.token_url,
                point, str(nth), self.sim.now().isoformat(), "" if rewind_days is None else str(rewind_days)]
        # The timeout only guards against a hung run; it never decides where a kill lands.
        return subprocess.run(args, capture_output=True, text=True, timeout=300, env=dict(os.environ))

    def context(self, store: Store) -> ProcessingContext:
        return ProcessingContext(store=store, account=ACCOUNT, push=False, now=self.sim.now)

    def queue(self, action: str, count: int) -> int:
        """Queue ``count`` operator actions of one kind (not pushed: the driver delivers)."""
        store = Store.open(self.db)
        try:
            ctx = self.context(store)
            candidates = [row[0] for row in store.conn.execute(
                "SELECT a.amazon_order_id FROM amazon_orders a JOIN commerce_orders c USING (amazon_order_id) "
                "WHERE a.channel = 'MFN' AND a.status = ? ORDER BY a.amazon_order_id",
                ("SHIPPED" if action == "refund" else "UNSHIPPED",),
            )]
            self.rng.shuffle(candidates)
            done = 0
            for order_id in candidates:
                if done == count:
                    break
                if order_id in self.used:
                    continue
                try:
                    if action == "ship":
                        processing.ship(ctx, order_id, carrier="UPS", tracking=f"1Z{self.rng.randrange(10**16):016d}")
                    elif action == "cancel":
                        processing.cancel(ctx, order_id, reason="NoInventory")
                    else:
                        processing.refund(ctx, order_id, reason="CustomerReturn")
                except (NotAllowedError, NotFoundError):
                    continue
                self.used.add(order_id)
                done += 1
            return done
        finally:
            store.close()

    def prepare(self, setup: str) -> float | None:
        """Make sure the run has the work its kill point needs; returns the rewind, if any."""
        if setup == "none":
            return None
        if setup == "rewind":
            return 40.0  # re-read everything: many pages
        if setup == "ship":
            assert self.queue("ship", 2) == 2, "harness: no two unshipped orders left to ship"
        elif setup == "feed":
            assert self.queue("cancel", 2) + self.queue("refund", 2) >= 2, "harness: nothing left to cancel or refund"
        elif setup == "follow":
            assert self.queue("cancel", 1) == 1, "harness: no unshipped order left to cancel"
            finished = self.run()
            assert finished.returncode == 0, finished.stderr[-2000:]
            # The feed is at Amazon; let it finish processing before the killed follow-up.
            self.sim.advance(seconds=self.sim.feed_processing_seconds + 60)
        return None


def check_consistent(db: Path, sim: Simulator, truth: dict[str, dict]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute(
            "SELECT amazon_order_id FROM amazon_orders GROUP BY amazon_order_id HAVING COUNT(*) > 1"
        ).fetchall() == []
        assert conn.execute(
            "SELECT idempotency_key FROM outbox GROUP BY idempotency_key HAVING COUNT(*) > 1"
        ).fetchall() == []
        row = conn.execute("SELECT watermark FROM sync_state WHERE account = 'main'").fetchone()
        stored = {r[0] for r in conn.execute("SELECT amazon_order_id FROM amazon_orders")}
    finally:
        conn.close()
    if row is None or row[0] is None:
        return
    watermark = read_time(row[0])
    # The watermark is never ahead of the data: every order updated before it is stored.
    missing = [oid for oid, order in truth.items() if _updated(order) < watermark and oid not in stored]
    assert not missing, f"watermark {watermark} ahead of stored data: {missing[:5]}"


def _updated(order: dict) -> datetime:
    return datetime.fromisoformat(order["lastUpdatedTime"].replace("Z", "+00:00"))


@pytest.mark.sqlite_only
def test_sigkill_at_every_kill_point_leaves_a_consistent_store_and_exactly_once_actions(tmp_path: Path) -> None:
    with Simulator(tmp_path / "m.json", seed=SEED, orders=ORDERS, rate_limits=False,
                   feed_processing_seconds=120, frozen_clock=True) as sim:
        harness = Harness(tmp_path, sim)
        truth = {oid: sim.order(oid) for oid in sim.order_ids()}
        truth = {oid: o for oid, o in truth.items() if o["salesChannel"]["marketplaceId"] in NA_MARKETPLACES}
        pages = -(-len(truth) // 100)
        assert pages >= 4, f"harness: {len(truth)} orders make only {pages} pages"

        landed: Counter[str] = Counter()
        for number, point in enumerate(kill_points(pages)):
            if number == 1:
                # The mid-page kills struck the first import (every order is a write
                # there); it now completes, so there are orders to act on.
                first = harness.run()
                assert first.returncode == 0, first.stderr[-2000:]
            for nth in point.nths:
                rewind = harness.prepare(point.setup)
                result = harness.run(point.checkpoint, nth, rewind_days=rewind)
                if result.returncode != -signal.SIGKILL:
                    pytest.fail(
                        f"harness could not place the kill '{point.label}' ({point.checkpoint} #{nth}): the run "
                        f"ended with exit {result.returncode} before reaching it; stdout: {result.stdout[-500:]!r} "
                        f"stderr: {result.stderr[-1500:]!r}"
                    )
                marker = f"KILLED-AT {point.checkpoint} #{nth}"
                assert marker in result.stdout, result.stdout
                if point.checkpoint.startswith("sql:"):
                    assert "in_transaction=True" in result.stdout, f"{point.label}: not inside a transaction"
                landed[point.label] += 1
                check_consistent(harness.db, sim, truth)
                sim.advance(minutes=1)

        # Later cron runs, clean: the import completes and every queued action settles.
        for _ in range(6):
            sim.advance(minutes=90)  # beyond claim leases, outbox backoff and feed processing
            final = harness.run()
            assert final.returncode == 0, final.stderr[-2000:]
        for _ in range(5):
            # A refund killed after its createFeed waits for Amazon's financial events (up
            # to 48 h) before anything is sent again: two days of cron runs settle it.
            sim.advance(minutes=12 * 60)
            final = harness.run()
            assert final.returncode == 0, final.stderr[-2000:]
        store = Store.open(harness.db)
        try:
            watermark = store.get_watermark("main")
            assert watermark is not None
            orders_checked = check_orders_match(store, sim, watermark)
            actions = check_actions_exactly_once(store, sim)
            balanced = check_commerce_totals(store)
            money_checked = check_money(store, sim)
        finally:
            store.close()
    expected = {point.label: len(point.nths) for point in kill_points(pages)}
    print(f"\ncrash: kills landed per point: {dict(landed)}; total {sum(landed.values())}; "
          f"orders checked {orders_checked}; actions checked {dict(actions)}; commerce orders balanced {balanced}; "
          f"money {money_checked}")
    assert landed == expected
    assert orders_checked >= len(truth) // 2
    assert sum(actions.values()) >= 10
