"""Audit at scale: time and peak RSS of `audit` over N real-shaped orders, and how long
Amazon's searchOrders quota makes the same audit take for real.

    .venv/bin/python benchmarks/audit_scale.py [--quick] [--sizes 10000,100000,1000000]

Each N: a store of N orders imported by the importer from the simulator's pages (ingest.py's
page cache, cloned with fresh ids; built once per N in a child and cached in
benchmarks/out/audit-store-N.db), then `services.audit.audit` in a fresh child whose
"Amazon" replays the same pages in memory-flat fashion (one page at a time, rate limits
off), so the time is the audit's own work: parse each page, look it up in the store, keep
the seen ids in the temp table, and read the store's side by keyset pages. Peak RSS is
the child's own peak (VmHWM). The quota line uses the real usage plan (0.0056 calls/s, burst 20).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, PYTHON, Goal, machine, peak_rss_mib, print_goals, table  # noqa: E402

RSS_GOAL_MIB = 100
ACCOUNT = "bench"


def code_fingerprint() -> str:
    """A hash of the code that decides what a stored order looks like: a cached store is
    rebuilt when it changes."""
    import hashlib

    src = Path(__file__).resolve().parent.parent / "src" / "amzorders"
    digest = hashlib.sha256()
    # What a stored row looks like: the schema, the SQL that writes orders and documents,
    # the compression. (Importer or mapping changes alter speed, rarely the rows.)
    for path in sorted(src / "store" / f"{name}.py" for name in ("orders", "documents", "migrations", "rawjson")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def store_path(n: int) -> Path:
    """The imported store of ``n`` orders (built by ``build``, kept in benchmarks/out)."""
    return OUT_DIR / f"imported-{n}-{code_fingerprint()}.db"


def build(n: int) -> None:
    from ingest import cloned_pages

    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
    from amzorders.store import Store

    target = store_path(n)
    if target.exists():
        return
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = Store.open(partial)
    importer = OrderImporter(store, ImportSettings(account=ACCOUNT))
    result = ImportResult()
    for page in cloned_pages(n):
        importer.store_page(page, result)
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    partial.replace(target)


class ReplayedAmazon:
    """searchOrders answered from the cached pages, one page in memory at a time."""

    rate_limiter = None

    def __init__(self, n: int) -> None:
        self.n = n
        self.pages = 0

    def search_orders(self, **_params):
        from ingest import cloned_pages

        from amzorders.amazon.client import OrdersPage

        for page in cloned_pages(self.n):
            self.pages += 1
            yield OrdersPage(orders=page, next_token=None, last_updated_before=None, created_before=None, request_id=None)


def child_audit(n: int) -> None:
    from amzorders.config import AccountConfig
    from amzorders.services.audit import audit
    from amzorders.store import Store

    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        db = Path(tmp) / "store.db"
        shutil.copyfile(store_path(n), db)  # the audit must not touch the cached file
        store = Store.open(db)
        # The whole window: every cloned order was purchased within the base pages' span.
        since = datetime(2000, 1, 1, tzinfo=UTC)
        until = datetime.now(UTC) - timedelta(minutes=5)
        amazon = ReplayedAmazon(n)
        started = time.perf_counter()
        report = audit(store, amazon, AccountConfig(name=ACCOUNT, region="na", marketplace_ids=()),
                       since, until)
        elapsed = time.perf_counter() - started
        store.close()
    print(json.dumps({"elapsed": elapsed, "amazon": report.amazon_orders, "local": report.local_orders,
                      "differences": report.differences, "pages": amazon.pages,
                      "rss_mib": peak_rss_mib()}))


def _child(*args: str) -> dict | None:
    proc = subprocess.run([PYTHON, __file__, "--child", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def quota_seconds(orders: int) -> float:
    from amzorders.domain.codes import USAGE_PLANS
    from amzorders.domain.ratebucket import seconds_for_calls

    rate, burst = USAGE_PLANS["searchOrders"]
    return seconds_for_calls(None, 0.0, rate, burst - 1, -(-orders // 100))


def measure(sizes: list[int]) -> tuple[list[Goal], str]:
    subprocess.run([PYTHON, str(Path(__file__).parent / "ingest.py"), "--child", "prefetch", "0"], check=True)
    rows, results = [], {}
    for n in sizes:
        _child("build", str(n))
        r = _child("audit", str(n))
        results[n] = r
        quota = quota_seconds(n)
        rows.append([f"{n:,}", f"{r['amazon']:,}", f"{r['local']:,}", r["differences"], f"{r['elapsed']:.2f} s",
                     f"{r['elapsed'] / n * 1e6:.0f} us", f"{r['rss_mib']:.0f} MiB", f"{quota / 86400:.1f} days"])
    out = ["Audit (store = the pages Amazon replays; rate limits off; one child per N)",
           table(["orders", "at Amazon", "in store", "differences", "audit time", "per order", "peak RSS",
                  "real quota time"], rows)]
    small, large = sizes[0], sizes[-1]
    growth = (results[large]["elapsed"] / large) / (results[small]["elapsed"] / small)
    rss = results[large]["rss_mib"]
    goals = [
        Goal(f"`audit` time per order, {large:,} vs {small:,} orders (linear: ~1.0x)",
             f"{growth:.2f}x ({results[small]['elapsed']:.2f} s -> {results[large]['elapsed']:.2f} s)", "<= 1.5x", growth <= 1.5),
        Goal(f"`audit` peak RSS at {large:,} orders", f"{rss:.0f} MiB", f"<= {RSS_GOAL_MIB} MiB at 1,000,000",
             rss <= RSS_GOAL_MIB and large >= 1_000_000),
    ]
    out.append("\nReal plan: searchOrders 0.0056 calls/s, burst 20: "
               f"{quota_seconds(1_000_000) / 86400:.1f} days for 1,000,000 orders (10,000 pages), "
               f"{quota_seconds(10_000) / 3600:.1f} h for 10,000; the audit says so before it starts.")
    return goals, "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 and 30,000 orders")
    parser.add_argument("--sizes", help="comma-separated order counts (default 10000,100000)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        (build if args.child[0] == "build" else child_audit)(int(args.child[1]))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([10_000, 30_000] if args.quick else [10_000, 100_000])
    goals, report = measure(sizes)
    print(f"# {machine()}")
    print(report)
    print()
    print_goals(goals)


if __name__ == "__main__":
    main()
