"""Store size: bytes per order of a store filled by the importer with real-shaped orders.

    .venv/bin/python benchmarks/store_size.py [--quick] [--sizes 10000,100000]

The orders are the simulator's (ingest.py's page cache, cloned with fresh ids for N above
10,000), stored by `OrderImporter.store_page` exactly as `sync` stores them: Amazon order,
items, commerce order and items, Amazon-side invoice and shipment, history, search row.
The file is measured as the importer leaves it (no VACUUM); the breakdown by table and
index comes from SQLite's dbstat. The stores are shared with audit_scale.py (cached in
benchmarks/out/ per code fingerprint).
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Goal, PYTHON, print_report, table  # noqa: E402

GOAL_BYTES = 2_500


def breakdown(db: Path, orders: int, top: int = 12) -> list[list[str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    total = sum(r[1] for r in rows)
    return [[name, f"{size / orders:,.0f}", f"{size / total * 100:.1f} %", f"{unused / max(size, 1) * 100:.0f} %"]
            for name, size, unused in rows[:top]]


def measure(sizes: list[int]) -> tuple[list[Goal], str]:
    bench = Path(__file__).resolve().parent
    subprocess.run([PYTHON, str(bench / "ingest.py"), "--child", "prefetch", "0"], check=True)
    from audit_scale import store_path

    out, goals = [], []
    for n in sizes:
        subprocess.run([PYTHON, str(bench / "audit_scale.py"), "--child", "build", str(n)], check=True)
        db = store_path(n)
        size = db.stat().st_size
        per_order = size / n
        out.append(f"Store of {n:,} imported orders: {size / 2**20:,.1f} MiB, {per_order:,.0f} bytes per order")
        out.append(table(["table or index", "bytes per order", "share", "unused in its pages"], breakdown(db, n)))
        goals.append(Goal(f"store size per real-shaped order, {n:,} orders", f"{per_order / 1000:.2f} KB",
                          f"<= {GOAL_BYTES / 1000:.1f} KB", per_order <= GOAL_BYTES))
    return goals, "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 orders only")
    parser.add_argument("--sizes", help="comma-separated order counts (default 10000,100000)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([10_000] if args.quick else [10_000, 100_000])
    goals, report = measure(sizes)
    print_report(goals, report)


if __name__ == "__main__":
    main()
