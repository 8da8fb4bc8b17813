"""A simulator in its own process, for benchmarks (not a benchmark itself).

    python benchmarks/_simserver.py STATE_PATH ORDERS RATE_LIMITS(0/1) TIME_SCALE

Prints one JSON line {"base_url", "token_url"} once serving. Reads commands on stdin:
"counts" prints {"calls": {...}, "429s": n}; end of input stops it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from amzorders.simulator import Simulator


def main() -> None:
    state, orders, limits, scale = sys.argv[1:5]
    sim = Simulator(Path(state), seed=9, orders=int(orders), history_days=30, arrivals_per_hour=0,
                    rate_limits=limits == "1", time_scale=float(scale))
    sim.start()
    print(json.dumps({"base_url": sim.base_url, "token_url": sim.token_url}), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "counts":
                print(json.dumps({"calls": sim.call_counts(), "429s": sim.count_429s()}), flush=True)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
