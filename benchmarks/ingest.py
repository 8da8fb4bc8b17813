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
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, PYTHON, SimulatorProcess, machine, table  # noqa: E402

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
                # Order ids look like 113-7463255-6283687: vary the first group per copy.
                for order in page:
                    head, mid, tail = order["orderId"].split("-")
                    order["orderId"] = f"{(int(head) + 100 * copy) % 1000:03d}-{mid}-{tail}"
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
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"read": result.read, "stored": stored, "created": result.commerce_created,
                      "elapsed": elapsed, "rss_mib": rss_mib}))


def measure(mode: str, n: int) -> dict:
    proc = subprocess.run([PYTHON, __file__, "--child", mode, str(n)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {n} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and 10,000 only")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "prefetch":
            fetch_base_pages()
        else:
            child(args.child[0], int(args.child[1]))
        return
    # Fetch in a child too: Linux keeps the peak RSS across fork+exec, so the parent
    # must stay small for the children's numbers to be their own.
    subprocess.run([PYTHON, __file__, "--child", "prefetch", "0"], check=True)
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    rows = []
    rss: dict[tuple[str, int], float] = {}
    for mode in ("store_page", "end-to-end"):
        for n in sizes:
            r = measure(mode, n)
            rss[(mode, n)] = r["rss_mib"]
            rows.append([mode, f"{n:,}", f"{r['stored']:,}", f"{r['created']:,}", f"{r['elapsed']:.2f} s",
                         f"{r['read'] / r['elapsed']:,.0f}", f"{r['rss_mib']:.0f} MiB"])
    print("# Ingest speed (rate limits off)")
    print(f"# {machine()}")
    print(table(["path", "orders", "stored", "commerce created", "time", "orders/s", "peak RSS"], rows))
    small, large = sizes
    for mode in ("store_page", "end-to-end"):
        ratio = rss[(mode, large)] / rss[(mode, small)]
        print(f"{mode}: peak RSS at {large:,} = {ratio:.2f}x RSS at {small:,} (goal <= 1.2x)")


if __name__ == "__main__":
    main()
