"""Ingest speed with rate limits off: orders/s for parse + map + upsert + commerce order
creation, and peak RSS, each N in its own subprocess.

    .venv/bin/python benchmarks/ingest.py [--quick]

Two paths:
- store_page: OrderImporter.store_page on pre-fetched pages (the importer alone). The
  pages are fetched once from the simulator and cached in benchmarks/out/; larger N
  clone them with fresh order ids (so every order is new).
- end-to-end: sync_orders from an in-process simulator over HTTP (SpApiClient, loopback),
  so it includes the simulator rendering the pages and the client parsing the JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Goal, OUT_DIR, PYTHON, SimulatorProcess, peak_rss_mib, print_report, table  # noqa: E402

BASE_ORDERS = 10_000
PAGES_CACHE = OUT_DIR / f"pages-{BASE_ORDERS}.jsonl"  # one page per line


def _simulator(workdir: Path, orders: int):
    from amzorders.simulator import Simulator

    return Simulator(workdir / "market.json", seed=9, orders=orders, history_days=30,  # as _simserver.py
                     arrivals_per_hour=0, rate_limits=False)


def _client(sim):
    from amzorders.amazon.client import LwaCredentials, SpApiClient
    from amzorders.amazon.ratelimit import RateLimiter
    from amzorders.simulator import SIMULATOR_CREDENTIALS

    creds = SIMULATOR_CREDENTIALS
    # Rate limits off on both sides: no usage plans in the client either.
    return SpApiClient(sim.base_url, LwaCredentials(creds["client_id"], creds["client_secret"], creds["refresh_token"]),
                       sim.token_url, rate_limiter=RateLimiter(plans={}))


def fetch_base_pages() -> None:
    """Fetch 10,000 orders from the simulator into the page cache (once)."""
    if PAGES_CACHE.exists():
        return
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        sim = _simulator(Path(tmp), BASE_ORDERS)
        sim.start()
        try:
            client = _client(sim)
            pages = [p.orders for p in client.search_orders(last_updated_after=datetime.now(UTC) - timedelta(days=31))]
            client.close()
        finally:
            sim.stop()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    partial = PAGES_CACHE.with_suffix(".partial")
    partial.write_text("".join(json.dumps(page) + "\n" for page in pages))
    partial.replace(PAGES_CACHE)


def base_pages():
    """The cached pages, read one at a time (memory stays flat)."""
    with PAGES_CACHE.open() as lines:
        for line in lines:
            yield json.loads(line)


def clone_order_id(order_id: str, copy: int) -> str:
    """The id of ``order_id`` in copy ``copy`` of the base pages (0: itself). Order ids look
    like 113-7463255-6283687: the first group varies per copy, the middle one every 10
    copies, and the last one per copy too (shifting only the first two let 2 in 10,000
    clones hit another base order's id). Distinctness is not assumed: the stores built
    from these pages have amazon_order_id UNIQUE and audit_scale checks the count."""
    if not copy:
        return order_id
    head, mid, tail = order_id.split("-")
    mid = f"{(int(mid) + 7919 * (copy // 10)) % 10_000_000:07d}"
    tail = f"{(int(tail) + 104_729 * copy) % 10_000_000:07d}"
    return f"{(int(head) + 100 * copy) % 1000:03d}-{mid}-{tail}"


def base_count() -> int:
    """How many orders the cached pages hold (one copy of cloned_pages)."""
    return sum(len(page) for page in base_pages())


def cloned_pages(n: int):
    """Pages totalling ``n`` orders: the base set, then copies with fresh order ids."""
    produced = 0
    copy = 0
    while produced < n:
        for page in base_pages():
            if produced >= n:
                return
            page = page[: n - produced]
            if copy:
                for order in page:
                    order["orderId"] = clone_order_id(order["orderId"], copy)
            produced += len(page)
            yield page
        copy += 1


def child(mode: str, n: int) -> None:
    """Run one measurement and print one JSON line (called in a fresh subprocess)."""
    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter, sync_orders
    from amzorders.store import Store

    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        workdir = Path(tmp)
        store = Store.open(workdir / "store.db")
        settings = ImportSettings(account="bench")
        if mode == "store_page":
            importer = OrderImporter(store, settings)
            result = ImportResult()
            elapsed = 0.0
            for page in cloned_pages(n):  # building the pages is not timed
                started = time.perf_counter()
                importer.store_page(page, result)
                elapsed += time.perf_counter() - started
        else:
            # The simulator runs in its own process, so this RSS is amzorders' alone.
            with SimulatorProcess(workdir / "market.json", n, rate_limits=False) as sim:
                client = _client(sim)
                started = time.perf_counter()
                result = sync_orders(store, client, settings, since=datetime.now(UTC) - timedelta(days=31))
                elapsed = time.perf_counter() - started
                client.close()
        stored = store.count_orders()
        store.close()
    rss_mib = peak_rss_mib()
    print(json.dumps({"read": result.read, "stored": stored, "created": result.commerce_created,
                      "elapsed": elapsed, "rss_mib": rss_mib}))


def child_floor(n: int) -> None:
    """The floor: json.loads of the same page text plus executemany of exactly the rows the
    importer stored for those orders (read back from its store), page by page, one
    transaction per page, into an empty store with the same schema and indexes."""
    import sqlite3

    from audit_scale import store_path

    from amzorders.store import Store

    source = sqlite3.connect(f"file:{store_path(n)}?mode=ro", uri=True)
    tables = [r[0] for r in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'order_search_%' AND name != 'schema_migrations'")]
    rows = {t: source.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
    rows["order_search"] = source.execute("SELECT rowid, text FROM order_search").fetchall()
    source.close()
    lines = []
    produced = 0
    for page in cloned_pages(n):
        lines.append(json.dumps(page))
        produced += len(page)
    pages = len(lines)
    with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp:
        store = Store.open(Path(tmp) / "floor.db")
        conn = store.conn
        statements = {}
        for t, data in rows.items():
            if data:
                cols = len(data[0])
                statements[t] = (f"INSERT INTO {t} (rowid, text) VALUES (?, ?)" if t == "order_search"
                                 else f"INSERT INTO {t} VALUES ({','.join('?' * cols)})")
        conn.execute("PRAGMA foreign_keys = OFF")  # rows go in table by table, not in dependency order
        started = time.perf_counter()
        for i, line in enumerate(lines):
            json.loads(line)
            with store.transaction():
                for t, sql in statements.items():
                    data = rows[t]
                    share = len(data) * i // pages, len(data) * (i + 1) // pages
                    conn.executemany(sql, data[share[0]:share[1]])
        elapsed = time.perf_counter() - started
        store.close()
    print(json.dumps({"read": produced, "stored": produced, "created": 0, "elapsed": elapsed, "rss_mib": 0}))


def measure(mode: str, n: int) -> dict:
    proc = subprocess.run([PYTHON, __file__, "--child", mode, str(n)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {n} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


GOAL_RATE = 5_000
FLOOR_RATIO_GOAL = 1.5


def measure_all(sizes: list[int]) -> tuple[list[Goal], str]:
    subprocess.run([PYTHON, __file__, "--child", "prefetch", "0"], check=True)
    rows, results = [], {}
    for n in sizes:
        subprocess.run([PYTHON, str(Path(__file__).parent / "audit_scale.py"), "--child", "build", str(n)], check=True)
        for mode in ("end-to-end", "store_page", "floor"):
            r = measure(mode, n)
            results[(mode, n)] = r
            rows.append([mode, f"{n:,}", f"{r['stored']:,}", f"{r['elapsed']:.2f} s", f"{r['read'] / r['elapsed']:,.0f}",
                         f"{r['rss_mib']:.0f} MiB" if r["rss_mib"] else "-"])
    report = ("Ingest, rate limits off (end-to-end: sync_orders over HTTP from a simulator process; store_page: the "
              "importer on pre-fetched pages; floor: json.loads of the pages + executemany of the same rows)\n"
              + table(["path", "orders", "stored", "time", "orders/s", "peak RSS"], rows))
    goals = []
    for n in sizes:
        e2e = results[("end-to-end", n)]
        floor = results[("floor", n)]
        rate = e2e["read"] / e2e["elapsed"]
        ratio = e2e["elapsed"] / floor["elapsed"]
        goals.append(Goal(f"ingest end to end, rate limits off, {n:,} orders", f"{rate:,.0f} orders/s",
                          f">= {GOAL_RATE:,} orders/s", rate >= GOAL_RATE))
        goals.append(Goal(f"ingest end to end vs the floor, {n:,} orders", f"{ratio:.2f}x the floor's time",
                          f"<= {FLOOR_RATIO_GOAL}x", ratio <= FLOOR_RATIO_GOAL))
    small, large = sizes[0], sizes[-1]
    if large != small:
        growth = results[("end-to-end", large)]["rss_mib"] / results[("end-to-end", small)]["rss_mib"]
        goals.append(Goal(f"ingest peak RSS at {large:,} vs {small:,} orders", f"{growth:.2f}x", "<= 1.2x", growth <= 1.2))
    return goals, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and 10,000 only")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "prefetch":
            fetch_base_pages()
        elif args.child[0] == "floor":
            child_floor(int(args.child[1]))
        else:
            child(args.child[0], int(args.child[1]))
        return
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    goals, report = measure_all(sizes)
    print_report(goals, report)


if __name__ == "__main__":
    main()
