"""Sync no-op: a second `amzorders sync` with nothing new. Counts the calls the simulator
receives (goal: exactly one searchOrders, no token call while the cached token is valid)
and compares its wall time with start-up (`amzorders --help`) and a Typer hello-world.

    .venv/bin/python benchmarks/sync_noop.py [--quick]

The simulator runs in its own process with the real usage plans; account 'main' in a temp
AMZORDERS_HOME points at it by explicit endpoint and token_url URLs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HELLO, PYTHON, SimulatorProcess, clean_env, machine, median_time, run_timed, table, write_account_config  # noqa: E402



def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 no-op runs instead of 9")
    args = parser.parse_args()
    runs = 3 if args.quick else 9
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        with SimulatorProcess(tmp_path / "market.json", 300, rate_limits=True, time_scale=1.0) as sim:
            write_account_config(home, sim.base_url, sim.token_url)
            env = clean_env(home)
            sync = [PYTHON, "-m", "amzorders", "sync", "--quiet"]
            calls0, _ = sim.counts()
            first_time, _ = run_timed(sync, env)
            calls1, _ = sim.counts()
            rows = [["first sync (backfill 30 days)", f"{first_time * 1000:.0f} ms", delta(calls0, calls1)]]
            noop_times = []
            noop_calls = []
            for _ in range(runs):
                before, _ = sim.counts()
                elapsed, proc = run_timed(sync, env)
                after, n429 = sim.counts()
                noop_times.append(elapsed)
                noop_calls.append(delta(before, after))
            wall = statistics.median(noop_times)
            distinct = {tuple(sorted(c.items())) for c in noop_calls}
            rows.append([f"no-op sync (median of {runs})", f"{wall * 1000:.0f} ms",
                         " / ".join(str(dict(d)) for d in distinct)])
            _, final_429 = sim.counts()
        hello = tmp_path / "hello.py"
        hello.write_text(HELLO)
        help_time = median_time([PYTHON, "-m", "amzorders", "--help"], env, runs)
        hello_time = median_time([PYTHON, str(hello)], env, runs)
    rows.append(["amzorders --help (start-up)", f"{help_time * 1000:.0f} ms", ""])
    rows.append(["Typer hello-world", f"{hello_time * 1000:.0f} ms", ""])
    ok_calls = all(c == {"searchOrders": 1} for c in noop_calls)
    print("# Sync no-op (simulator in its own process, real usage plans)")
    print(f"# {machine()}")
    print(table(["run", "wall", "calls received by the simulator"], rows))
    print(f"429s received: {final_429}")
    print(f"calls per no-op sync: {'exactly one searchOrders, no token call: met' if ok_calls else 'MISSED'}")
    print(f"no-op sync / start-up (--help) = {wall / help_time:.2f}x, / hello-world = {wall / hello_time:.2f}x "
          f"(goal < 1.5x start-up: {'met' if wall < 1.5 * help_time else 'MISSED'})")


if __name__ == "__main__":
    main()
