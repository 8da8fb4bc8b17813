"""Shared rate budget: back-to-back amzorders processes against one long-running simulator
with the usage plans on (time-scaled) get no 429s, because the token buckets live in the
store; beside it, the same runs with per-process in-memory buckets (what a client that
assumes a fresh burst each start would do).

    .venv/bin/python benchmarks/shared_budget.py [--quick] [--time-scale 500]

Each run is a separate process importing the same 2,500 orders (about 1,600 in the account's 3 marketplaces: 16 searchOrders
pages, so from the second run on the 20-call burst is already spent.

Why not the `amzorders import` command itself: a fresh process seeds its buckets with the
real plan (0.0056/s) until the first response's x-amzn-RateLimit-Limit tells it the
simulator's scaled rate, so a debt reserved before that first answer is paid at the real
rate (a 178 s wait). Each process here is therefore `amzorders.app`'s wiring
(RateLimiter over StoreBucketBackend, StoreTokenCache, on the account's store) with the
plan scaled like the simulator's, then import_orders: exactly what the command does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, SimulatorProcess, clean_env, machine, run_timed, table  # noqa: E402

ORDERS = 2_500
MARKETPLACES = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"]  # the account's (write_account_config)


def child(db: str, base_url: str, token_url: str, time_scale: float) -> None:
    """One 'amzorders import' process with store-backed buckets and a time-scaled plan."""
    from amzorders.amazon.client import LwaCredentials, SpApiClient
    from amzorders.amazon.ratelimit import RateLimiter
    from amzorders.app import StoreBucketBackend, StoreTokenCache
    from amzorders.domain.codes import USAGE_PLANS
    from amzorders.services.importer import ImportSettings, import_orders
    from amzorders.simulator import SIMULATOR_CREDENTIALS
    from amzorders.store import Store

    creds = SIMULATOR_CREDENTIALS
    store = Store.open(db)
    plans = {op: (rate * time_scale, burst) for op, (rate, burst) in USAGE_PLANS.items()}
    client = SpApiClient(base_url, LwaCredentials(creds["client_id"], creds["client_secret"], creds["refresh_token"]),
                         token_url, account_name="main",
                         rate_limiter=RateLimiter(StoreBucketBackend(store, "main"), plans=plans),
                         token_store=StoreTokenCache(store))
    import_orders(store, client, ImportSettings(account="main"), since=datetime.now(UTC) - timedelta(days=31),
                  marketplace_ids=MARKETPLACES)
    client.close()
    store.close()


def in_memory_runs(sim: SimulatorProcess, runs: int) -> list[tuple[int, int, float]]:
    """The counterfactual: each 'process' a fresh client with its own in-memory buckets."""
    from amzorders.amazon.client import LwaCredentials, SpApiClient
    from amzorders.simulator import SIMULATOR_CREDENTIALS

    creds = SIMULATOR_CREDENTIALS
    results = []
    for _ in range(runs):
        before, before_429 = sim.counts()
        client = SpApiClient(sim.base_url, LwaCredentials(creds["client_id"], creds["client_secret"], creds["refresh_token"]),
                             sim.token_url, max_retries=10)
        started = time.perf_counter()
        # The same marketplaces as the account in write_account_config.
        for _page in client.search_orders(created_after=datetime.now(UTC) - timedelta(days=31),
                                          marketplace_ids=MARKETPLACES):
            pass
        elapsed = time.perf_counter() - started
        client.close()
        after, after_429 = sim.counts()
        results.append((after.get("searchOrders", 0) - before.get("searchOrders", 0), after_429 - before_429, elapsed))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 4")
    parser.add_argument("--time-scale", type=float, default=500.0,
                        help="plan speed-up (default 500: searchOrders 2.8 calls/s, burst 20)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.time_scale)
        return
    runs = 3 if args.quick else 4
    rows = []
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        with SimulatorProcess(tmp_path / "market.json", ORDERS, rate_limits=True, time_scale=args.time_scale) as sim:
            env = clean_env(home)
            argv = [PYTHON, __file__, "--time-scale", str(args.time_scale), "--child", str(tmp_path / "store.db"),
                    sim.base_url, sim.token_url]
            for n in range(1, runs + 1):
                before, before_429 = sim.counts()
                elapsed, _ = run_timed(argv, env)
                after, after_429 = sim.counts()
                rows.append([f"import process {n} (buckets in the store)",
                             after.get("searchOrders", 0) - before.get("searchOrders", 0),
                             after_429 - before_429, f"{elapsed:.2f} s"])
        # A fresh simulator (full buckets) for the counterfactual.
        with SimulatorProcess(tmp_path / "market2.json", ORDERS, rate_limits=True, time_scale=args.time_scale) as sim:
            for n, (calls, n429, elapsed) in enumerate(in_memory_runs(sim, runs), 1):
                rows.append([f"client {n} with in-memory buckets", calls, n429, f"{elapsed:.2f} s"])
    store_429 = sum(r[2] for r in rows if "store" in r[0])
    print(f"# Shared rate budget: {runs} back-to-back processes, {ORDERS:,} orders each "
          f"(time scale {args.time_scale:g}: searchOrders {0.0056 * args.time_scale:g}/s, burst 20)")
    print(f"# {machine()}")
    print(table(["run", "searchOrders calls (incl. retries)", "429s", "wall"], rows))
    print(f"429s with buckets in the store: {store_429} ({'goal met' if store_429 == 0 else 'MISSED'})")


if __name__ == "__main__":
    main()
