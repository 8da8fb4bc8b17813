"""Read-path numbers for issue 10: burst use, burst after 50 processes, resumed backfill,
malformed responses, hostile text.

    .venv/bin/python benchmarks/read_path.py [--quick]

1. A first import of 2,000 orders at Amazon's real searchOrders plan (0.0056 req/s,
   burst 20; the simulator at time scale 1): refill waits, 429s, wall seconds.
2. 50 processes in a row, each building its limiter from the shared store and making a
   call: the burst the 50th sees, and how many calls a full bucket then serves at once.
3. A 10,000-order backfill interrupted after page 37 and run again: pages read in all,
   pages read twice (5,000 orders with --quick).
4. Each malformed-response fault on page 2: the exit code and whether the watermark moved.
5. The hostile-string corpus (tests/hostile_corpus.py): its size; tests/test_terminal_safety.py
   asserts that 0 foreign escapes reach the pty.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from amzorders.amazon.client import LwaCredentials, SpApiClient  # noqa: E402
from amzorders.amazon.ratelimit import RateLimiter  # noqa: E402
from amzorders.domain import codes  # noqa: E402
from amzorders.errors import AmazonError  # noqa: E402
from amzorders.services.importer import ImportSettings, sync_orders  # noqa: E402
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator  # noqa: E402
from amzorders.store import Store  # noqa: E402

CREDENTIALS = LwaCredentials(*(SIMULATOR_CREDENTIALS[k] for k in ("client_id", "client_secret", "refresh_token")))
SETTINGS = ImportSettings(account="main")


def first_import(work: Path) -> None:
    slept: list[float] = []
    with Simulator(work / "m1.json", seed=8, orders=2000, arrivals_per_hour=0, rate_limits=True, time_scale=1.0) as sim:
        client = SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, max_retries=0,
                             rate_limiter=RateLimiter(plans=codes.USAGE_PLANS, sleep=slept.append), sleep=slept.append)
        store = Store.open(work / "s1.db")
        began = time.perf_counter()
        result = sync_orders(store, client, SETTINGS, since=sim.now() - timedelta(days=60))
        wall = time.perf_counter() - began
        print(f"1. first import: {result.read} orders, {result.pages} pages, refill waits {len(slept)} "
              f"({sum(slept):.0f} s), 429s {sim.count_429s()}, wall {wall:.1f} s")
        store.close()


DRIVER = """
import sys
from amzorders.app import StoreBucketBackend
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.store import Store
store = Store.open(sys.argv[1]); backend = StoreBucketBackend(store, "main"); run = int(sys.argv[2])
limiter = RateLimiter(backend, clock=lambda: 1e6 + run * 86400.0, sleep=lambda s: None, plans=backend.known_plans())
print(limiter.plan("searchOrders")[1]); limiter.acquire("searchOrders"); store.close()
"""


def fifty_processes(work: Path) -> None:
    from amzorders.app import StoreBucketBackend

    db = work / "s2.db"
    Store.open(db).close()
    (work / "driver.py").write_text(DRIVER)
    bursts = [int(subprocess.run([sys.executable, str(work / "driver.py"), str(db), str(n)], capture_output=True,
                                 text=True, check=True).stdout) for n in range(50)]
    store = Store.open(db)
    backend = StoreBucketBackend(store, "main")
    limiter = RateLimiter(backend, clock=lambda: 1e6 + 60 * 86400.0, sleep=lambda s: None, plans=backend.known_plans())
    at_once = 0
    while limiter.acquire("searchOrders") == 0.0:
        at_once += 1
    store.close()
    print(f"2. 50 processes: burst seen by process 1 {bursts[0]}, by process 50 {bursts[-1]}; "
          f"a full bucket afterwards serves {at_once} calls at once")


class Interrupted(KeyboardInterrupt):
    pass


def resumed_backfill(work: Path, orders: int) -> None:
    with Simulator(work / "m3.json", seed=22, orders=orders, arrivals_per_hour=0, rate_limits=False,
                   frozen_clock=True) as sim:
        client = lambda: SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, rate_limiter=RateLimiter(plans={}))  # noqa: E731
        store = Store.open(work / "s3.db")

        def stop(event) -> None:
            if event.kind == "page" and event.page == 37:
                raise Interrupted()

        try:
            sync_orders(store, client(), SETTINGS, since=sim.now() - timedelta(days=60), progress=stop, now=sim.now)
        except Interrupted:
            pass
        first = sim.call_counts()["searchOrders"]
        result = sync_orders(store, client(), SETTINGS, now=sim.now)
        total = sim.call_counts()["searchOrders"]
        pages = -(-orders // 100)
        stored = store.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0]
        print(f"3. backfill of {orders}: interrupted after {first} pages, resumed at page {result.resumed_from_page}, "
              f"{total} pages read in all for {pages} pages (read twice: {total - pages}), {stored} orders stored")
        store.close()


def malformed(work: Path) -> None:
    rows = []
    for fault in ("errors_200", "proxy_html", "bad_json", "repeat_token", "repeat_page"):
        with Simulator(work / f"m4-{fault}.json", seed=4, orders=250, rate_limits=False, frozen_clock=True) as sim:
            store = Store.open(work / f"s4-{fault}.db")
            before = (sim.now() - timedelta(days=400)).replace(microsecond=0)
            store.set_watermark("main", before)
            client = SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, rate_limiter=RateLimiter(plans={}),
                                 max_retries=3, sleep=lambda s: None)
            code = 0
            try:
                sync_orders(store, client, SETTINGS, now=sim.now,
                            progress=lambda e, f=fault, s=sim: s.inject(f, count=1000, operation="searchOrders"))
            except AmazonError as error:
                code = int(error.exit_code)
            moved = store.get_watermark("main") != before
            rows.append(f"{fault} exit {code} watermark {'MOVED' if moved else 'kept'}")
            store.close()
    print("4. malformed responses: " + "; ".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from hostile_corpus import HOSTILE

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first_import(work)
        fifty_processes(work)
        resumed_backfill(work, 5000 if args.quick else 10_000)
        malformed(work)
    print(f"5. hostile corpus: {len(HOSTILE)} strings (tests/test_terminal_safety.py: 0 foreign escapes on the pty)")


if __name__ == "__main__":
    main()
