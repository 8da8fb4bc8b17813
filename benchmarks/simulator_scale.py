"""How fast the simulator starts and pages at 100,000 orders (moved here from a timed
test: speed is measured, never asserted in the suite).

    python benchmarks/simulator_scale.py [--orders 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator  # noqa: E402

OLD = "2020-01-01T00:00:00Z"
INCLUDED = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    with Simulator(None, seed=11, orders=args.orders, rate_limits=False) as sim:
        startup = time.perf_counter() - started
        http = requests.Session()
        token = http.post(sim.token_url, data={"grant_type": "refresh_token", **SIMULATOR_CREDENTIALS},
                          timeout=30).json()["access_token"]
        headers = {"x-amz-access-token": token}
        url = sim.base_url + "/orders/2026-01-01/orders"
        page = http.get(url, params={"createdAfter": OLD, "includedData": INCLUDED}, headers=headers, timeout=60).json()
        next_token = page["pagination"]["nextToken"]
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            page = http.get(url, params={"createdAfter": OLD, "includedData": INCLUDED, "paginationToken": next_token},
                            headers=headers, timeout=60).json()
            timings.append(time.perf_counter() - began)
            next_token = page["pagination"]["nextToken"]
        began = time.perf_counter()
        http.get(url, params={"lastUpdatedAfter": OLD, "maxResultsPerPage": 100}, headers=headers, timeout=300)
        first_updated = time.perf_counter() - began
    print(f"simulator with {args.orders:,} orders: start {startup * 1000:.0f} ms; "
          f"created-time page (median of 5) {statistics.median(timings) * 1000:.0f} ms; "
          f"first updated-time page {first_updated * 1000:.0f} ms")


if __name__ == "__main__":
    main()
