"""API efficiency: import N orders from the simulator running Amazon's real usage plans,
time-scaled, and compare calls / 429s / wall time with the plan's theoretical minimum.

    .venv/bin/python benchmarks/api_efficiency.py [--quick] [--time-scale 1000]

Beside each row: what the same import costs through the Orders API v0 (getOrders pages plus
one getOrderItems call per order), computed from the usage plans alone.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.domain.codes import USAGE_PLANS
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

PAGE_SIZE = 100
# Orders API v0 usage plans (Amazon's published defaults): getOrders and getOrderItems.
V0_GET_ORDERS = (0.0167, 20)
V0_GET_ORDER_ITEMS = (0.5, 30)


def plan_seconds(calls: int, rate: float, burst: int) -> float:
    """Earliest time the last of ``calls`` calls may be sent from a full bucket."""
    return max(0, calls - burst) / rate


def v0_seconds(orders: int) -> tuple[int, float]:
    pages = math.ceil(orders / PAGE_SIZE)
    calls = pages + orders
    # The two buckets refill independently: the slower one sets the pace.
    seconds = max(plan_seconds(pages, *V0_GET_ORDERS), plan_seconds(orders, *V0_GET_ORDER_ITEMS))
    return calls, seconds


def human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_one(orders: int, time_scale: float, workdir: Path) -> dict:
    sim = Simulator(workdir / f"market-{orders}.json", seed=5, orders=orders, history_days=30,
                    arrivals_per_hour=0, rate_limits=True, time_scale=time_scale)
    sim.start()
    store = Store.open(workdir / f"store-{orders}.db")
    try:
        client = SpApiClient(
            sim.base_url,
            LwaCredentials(SIMULATOR_CREDENTIALS["client_id"], SIMULATOR_CREDENTIALS["client_secret"],
                           SIMULATOR_CREDENTIALS["refresh_token"]),
            sim.token_url,
        )
        started = time.perf_counter()
        result = sync_orders(store, client, ImportSettings(account="bench"),
                             since=datetime.now(UTC) - timedelta(days=31))
        elapsed = time.perf_counter() - started
        client.close()
        calls = sim.call_counts()
        return {"read": result.read, "search": calls.get("searchOrders", 0),
                "other": sum(v for k, v in calls.items() if k not in ("searchOrders", "token")),
                "token": calls.get("token", 0), "429": sim.count_429s(), "elapsed": elapsed}
    finally:
        store.close()
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only N = 100 and 2,000")
    parser.add_argument("--time-scale", type=float, default=1000.0,
                        help="simulator and plan speed-up (default 1000: searchOrders 5.6 calls/s)")
    args = parser.parse_args()
    sizes = [100, 2_000] if args.quick else [100, 2_000, 10_000]
    rate, burst = USAGE_PLANS["searchOrders"]
    scaled_rate = rate * args.time_scale
    rows = []
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        for n in sizes:
            r = run_one(n, args.time_scale, Path(tmp))
            pages = math.ceil(r["read"] / PAGE_SIZE)
            minimum = plan_seconds(r["search"], scaled_rate, burst)
            v0_calls, v0_time = v0_seconds(r["read"])
            over = r["elapsed"] - minimum
            rows.append([
                f"{r['read']:,}", r["search"], pages, r["other"], r["token"], r["429"],
                f"{r['elapsed']:.2f} s", f"{minimum:.2f} s",
                f"{over:+.2f} s" + (f" ({r['elapsed'] / minimum - 1:+.1%})" if minimum else " (burst only)"),
                human(plan_seconds(r["search"], rate, burst)),
                f"{v0_calls:,}", human(v0_time),
            ])
    print(f"# API efficiency (time scale {args.time_scale:g}: searchOrders {scaled_rate:g}/s, burst {burst})")
    print(f"# {machine()}")
    print(table(["orders", "searchOrders calls", "ceil(N/100)", "other calls", "token calls", "429s",
                 "wall (scaled)", "plan minimum (scaled)", "over minimum", "real-plan time v2026",
                 "v0 calls", "real-plan time v0"], rows))


if __name__ == "__main__":
    main()
