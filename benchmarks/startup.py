"""Start-up: what `amzorders --help`, `list` and `show` import, and what it costs.

    .venv/bin/python benchmarks/startup.py [--quick]

Runs each command under `python -X importtime` in a fresh process (temp AMZORDERS_HOME,
a small store), checks that requests, urllib3, the simulator and the SP-API client are
not imported, prints the biggest import costs and the median wall time of each command
next to a bare Typer hello-world.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HELLO, PYTHON, clean_env, machine, median_time, table  # noqa: E402

FORBIDDEN = ("requests", "urllib3", "amzorders.simulator", "amzorders.amazon.client")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def small_store(path: Path) -> str:
    """A store with one page of simulated orders; returns an order id to show."""

    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
    from amzorders.simulator import Simulator
    from amzorders.store import Store

    sim = Simulator(path.parent / "market.json", seed=4, orders=60, rate_limits=False)
    orders = [sim.order(order_id) for order_id in sim.order_ids()[:50]]
    store = Store.open(path)
    OrderImporter(store, ImportSettings(account="bench")).store_page(orders, ImportResult())
    store.close()
    return orders[0]["orderId"]


def importtime(args: list[str], env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    code = f"import sys\nfrom amzorders.cli.main import main\nsys.exit(main({args!r}))"
    proc = subprocess.run([PYTHON, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing runs")
    args = parser.parse_args()
    runs = 3 if args.quick else 9
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "store.db"
        order_id = small_store(db)
        env = clean_env(tmp_path / "home")
        hello = tmp_path / "hello.py"
        hello.write_text(HELLO)
        commands = {
            "--help": ["--help"],
            "list": ["--db", str(db), "list"],
            "show": ["--db", str(db), "show", order_id],
        }
        results = []
        problems = []
        tops: dict[str, list[tuple[int, int, int, str]]] = {}
        hello_time = median_time([PYTHON, str(hello)], env, runs)
        for name, argv in commands.items():
            rows = importtime(argv, env)
            modules = {r[3] for r in rows}
            loaded = [m for m in FORBIDDEN if m in modules]
            if loaded:
                problems.append(f"{name} imports {', '.join(loaded)}")
            wall = median_time([PYTHON, "-m", "amzorders", *argv], env, runs)
            total_ms = sum(r[0] for r in rows) / 1000
            results.append([name, len(rows), f"{total_ms:.0f} ms", ", ".join(loaded) or "none",
                            f"{wall * 1000:.0f} ms", f"{wall / hello_time:.2f}x"])
            tops[name] = rows
    print("# Start-up (python -X importtime; wall = median of fresh processes)")
    print(f"# {machine()}")
    print(f"bare Typer hello-world: {hello_time * 1000:.0f} ms")
    print(table(["command", "modules imported", "import time (sum of self)", "forbidden imported",
                 "wall", "vs hello-world"], results))
    for name, rows in tops.items():
        top_level = sorted((r for r in rows if r[2] == 1), key=lambda r: -r[1])[:8]
        print(f"\nTop imports of `{name}` (cumulative, top-level packages):")
        print(table(["module", "cumulative ms", "self ms"], [[r[3], f"{r[1] / 1000:.1f}", f"{r[0] / 1000:.1f}"] for r in top_level]))
    print()
    print("FAIL: " + "; ".join(problems) if problems else "OK: no command imports " + ", ".join(FORBIDDEN))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
