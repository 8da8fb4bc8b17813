"""PostgreSQL store vs SQLite on the same machine: read latency at scale, ingest speed,
operators racing a sync, and two cron hosts on one account.

    .venv/bin/python benchmarks/postgres.py [--orders 100000] [--ingest 5000] [--race 2000]
        [--url postgresql://postgres@127.0.0.1/postgres]

Makes databases named i14_bench_* on the server (dropped at the end). Parts:

1. latency: the store of benchmarks/store_scale.py (N orders, cached SQLite file) copied
   into PostgreSQL with 'amzorders db copy'; whole-process wall time of list / list
   --search / show on each engine (median of fresh processes). Goal: PostgreSQL within
   1.5x of SQLite.
2. ingest: OrderImporter.store_page of the same pages into each engine, orders/s.
3. race: a sync importing --race orders from a simulator process while 4 operator
   processes invoice and ship: two of them the same orders, two different ones. Counts
   every outcome; the only error allowed is "changed by someone else" / already done.
4. cron: two 'amzorders sync' started together on one account (one syncs, one exits 6),
   then kill -9 of a holder and the other taking over at once.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, clean_env, machine, run_timed, table  # noqa: E402


def _db_url(base: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


class Databases:
    def __init__(self, base: str) -> None:
        self.base = base
        self.names: list[str] = []

    def new(self, label: str) -> str:
        import psycopg

        name = f"i14_bench_{label}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.base, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return _db_url(self.base, name)

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as admin:
            for name in self.names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def latency(base_url: str, orders: int, runs: int, tmp: Path) -> tuple[list[list[str]], list[tuple[str, float]]]:
    """Each command on SQLite, then on PostgreSQL, round after round (alternating, so a
    loaded machine slows both alike); medians and the median of per-round ratios.
    Returns the table rows and (command, ratio) pairs."""
    from pg_fixture import cached_pg_store
    from store_scale import cached_store, pick

    sqlite_path = cached_store(orders)
    facts = pick(sqlite_path)
    url = cached_pg_store(base_url, orders)
    env = clean_env(tmp / "home")
    commands = [
        ("list", ["list"]),
        ("list --json", ["list", "--json"]),
        ("list --status UNSHIPPED --late", ["list", "--status", "UNSHIPPED", "--late"]),
        (f"list --search {facts['sku']} (SKU)", ["list", "--search", facts["sku"]]),
        (f"list --search '{facts['buyer']}' (buyer)", ["list", "--search", facts["buyer"]]),
        ("show ORDER", ["show", facts["recent"]]),
    ]
    times: dict[tuple[str, str], list[float]] = {}
    for round_no in range(runs + 1):  # round 0 warms caches and .pyc files
        for label, argv in commands:
            for engine, db in (("sqlite", str(sqlite_path)), ("pg", url)):
                elapsed, _ = run_timed([PYTHON, "-m", "amzorders", "--db", db, *argv], env)
                if round_no:
                    times.setdefault((label, engine), []).append(elapsed)
    rows, ratios = [], []
    for label, _ in commands:
        lite, pg = times[(label, "sqlite")], times[(label, "pg")]
        ratio = statistics.median(p / s for p, s in zip(pg, lite))
        ratios.append((label, ratio))
        rows.append([label, f"{statistics.median(lite) * 1000:.0f} ms", f"{statistics.median(pg) * 1000:.0f} ms",
                     f"{ratio:.2f}x {'met' if ratio <= LATENCY_GOAL else 'MISSED'}"])
    return rows, ratios


LATENCY_GOAL = 1.5  # PostgreSQL within 1.5x of SQLite (issue 14)


def _ingest_child(location: str, n: int, out) -> None:
    from ingest import cloned_pages, fetch_base_pages

    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
    from amzorders.store import Store

    fetch_base_pages()
    store = Store.open(location)
    importer = OrderImporter(store, ImportSettings(account="bench"))
    result = ImportResult()
    elapsed = 0.0
    for page in cloned_pages(n):
        started = time.perf_counter()
        importer.store_page(page, result)
        elapsed += time.perf_counter() - started
    out.put((store.count_orders(), elapsed))
    store.close()


def ingest(dbs: Databases, n: int, tmp: Path) -> list[list[str]]:
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for label, location in (("SQLite", str(tmp / "ingest.db")), ("PostgreSQL", dbs.new("ingest"))):
        out = ctx.Queue()
        process = ctx.Process(target=_ingest_child, args=(location, n, out))
        process.start()
        stored, elapsed = out.get()
        process.join()
        rows.append([label, f"{stored:,}", f"{elapsed:.1f} s", f"{stored / elapsed:,.0f} orders/s"])
    return rows


def _operator(url: str, numbers: list[str], worker: int, out) -> None:
    from amzorders.errors import AmzOrdersError
    from amzorders.services.processing import ProcessingContext, invoice, ship
    from amzorders.config import AccountConfig
    from amzorders.store import Store

    account = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1MERCHANT")
    store = Store.open(url)
    counts: dict[str, int] = {}
    for number in numbers:
        for action in ("invoice", "ship"):
            try:
                ctx = ProcessingContext(store=store, account=account, push=False)
                if action == "invoice":
                    invoice(ctx, number)
                else:
                    ship(ctx, number, carrier="UPS", tracking=f"1Z999AA1{worker:02d}{abs(hash(number)) % 10**8:08d}", force=True)
                key = f"{action} ok"
            except AmzOrdersError as error:
                key = f"{action}: {type(error).__name__}"
            except Exception as error:  # noqa: BLE001 - the failure looked for
                key = f"{action}: UNEXPECTED {type(error).__name__}: {error}"[:160]
            counts[key] = counts.get(key, 0) + 1
    store.close()
    out.put(counts)


def race(dbs: Databases, orders: int, tmp: Path) -> tuple[list[list[str]], dict]:
    """Operators on existing orders while a sync imports ``orders`` new ones."""
    from _common import SimulatorProcess

    url = dbs.new("race")
    home = tmp / "race-home"
    env = clean_env(home)
    results: dict = {}
    with SimulatorProcess(tmp / "race-market.json", orders, rate_limits=False) as sim:
        from amzorders.simulator import account_config_toml

        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(account_config_toml(sim.base_url, sim.token_url) + "\n")
        (home / "config.toml").chmod(0o600)
        # A first store of open orders for the operators: a short first sync (1 day).
        first = subprocess.run([PYTHON, "-m", "amzorders", "--db", url, "sync", "--quiet", "--initial-days", "1"],
                               env=env, capture_output=True, text=True)
        if first.returncode:
            raise RuntimeError(first.stderr)
        from amzorders.store import Store

        with Store.open(url) as store:
            open_numbers = [r[0] for r in store.conn.execute(
                """SELECT c.increment_id FROM commerce_orders c JOIN amazon_orders a ON a.amazon_order_id = c.amazon_order_id
                   WHERE a.status = 'UNSHIPPED' AND a.channel = 'MFN' ORDER BY c.id""")]
            before = store.count_orders()
        shared, rest = open_numbers[: len(open_numbers) // 3], open_numbers[len(open_numbers) // 3 :]
        plans = [shared, shared, rest[0::2], rest[1::2]]  # two on the same orders, two on different ones
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        started = time.perf_counter()
        syncer = subprocess.Popen([PYTHON, "-m", "amzorders", "--db", url, "sync", "--quiet", "--since", "31d"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        workers = [ctx.Process(target=_operator, args=(url, plan, i, out)) for i, plan in enumerate(plans)]
        for worker in workers:
            worker.start()
        totals: dict[str, int] = {}
        for _ in workers:
            for key, value in out.get().items():
                totals[key] = totals.get(key, 0) + value
        for worker in workers:
            worker.join()
        sync_out, sync_err = syncer.communicate()
        elapsed = time.perf_counter() - started
        with Store.open(url) as store:
            invoices = store.conn.execute("SELECT count(*) FROM invoices WHERE source = 'operator'").fetchone()[0]
            shipments = store.conn.execute("SELECT count(*) FROM shipments WHERE source = 'operator'").fetchone()[0]
            doubled = store.conn.execute(
                """SELECT count(*) FROM commerce_order_items WHERE qty_invoiced > qty_ordered OR qty_shipped > qty_ordered"""
            ).fetchone()[0]
            after = store.count_orders()
    results.update(open_orders=len(open_numbers), stored_before=before, stored_after=after, simulator_orders=orders,
                   sync_exit=syncer.returncode, sync_error=sync_err.strip()[-300:], outcomes=totals,
                   operator_invoices=invoices, operator_shipments=shipments, over_invoiced_or_shipped=doubled,
                   seconds=round(elapsed, 1))
    rows = [[k, str(v)] for k, v in sorted(totals.items())]
    return rows, results


_HOLD = r"""
import sys, time
from amzorders.store import Store
store = Store.open(sys.argv[1])
with store.sync_lock("main"):
    print("locked", flush=True)
    time.sleep(3600)
"""


def cron(dbs: Databases, tmp: Path) -> list[list[str]]:
    from _common import SimulatorProcess

    url = dbs.new("cron")
    home = tmp / "cron-home"
    env = clean_env(home)
    rows = []
    with SimulatorProcess(tmp / "cron-market.json", 3000, rate_limits=False) as sim:
        from amzorders.simulator import account_config_toml

        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(account_config_toml(sim.base_url, sim.token_url) + "\n")
        (home / "config.toml").chmod(0o600)
        subprocess.run([PYTHON, "-m", "amzorders", "--db", url, "db", "migrate"], env=env, check=True, capture_output=True)
        argv = [PYTHON, "-m", "amzorders", "--db", url, "sync", "--quiet"]
        both = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        codes = sorted(p.wait() for p in both)
        rows.append(["two syncs started together: exit codes", str(codes)])
        holder = subprocess.Popen([PYTHON, "-c", _HOLD, url], env=env, stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()
        blocked = subprocess.run(argv, env=env, capture_output=True, text=True)
        rows.append(["sync while another host holds the lock", f"exit {blocked.returncode}"])
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed_at = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            took = subprocess.run(argv, env=env, capture_output=True, text=True)
            if took.returncode != 6 or attempts > 50:
                break
        rows.append(["after kill -9 of the holder: next sync", f"exit {took.returncode} at attempt {attempts} (its run took "
                     f"{time.perf_counter() - killed_at:.1f} s)"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("AMZORDERS_BENCH_PG", "postgresql://postgres@127.0.0.1/postgres"))
    parser.add_argument("--orders", type=int, default=100_000, help="store size for the latency part")
    parser.add_argument("--ingest", type=int, default=5_000)
    parser.add_argument("--race", type=int, default=2_000, help="orders the sync imports during the race")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: latency,ingest,race,cron")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    dbs = Databases(args.url)
    # A timeout's SIGTERM still drops the databases (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"# PostgreSQL vs SQLite -- {machine()}")
    try:
        with tempfile.TemporaryDirectory(prefix="amzorders-bench-") as tmp_name:
            tmp = Path(tmp_name)
            if "cron" not in skip:
                print("\n## Two cron hosts on one account")
                print(table(["what", "result"], cron(dbs, tmp)))
            if "race" not in skip:
                rows, facts = race(dbs, args.race, tmp)
                print(f"\n## 4 operators (invoice + ship) while sync imports (simulator of {args.race:,} orders)")
                print(table(["outcome", "count"], rows))
                print(json.dumps(facts, indent=2))
            if "ingest" not in skip:
                print(f"\n## Ingest (OrderImporter.store_page, {args.ingest:,} orders)")
                print(table(["engine", "orders", "time", "rate"], ingest(dbs, args.ingest, tmp)))
            if "latency" not in skip:
                print(f"\n## Latency at {args.orders:,} orders (median of {args.runs} fresh processes)")
                print(table(["command", "SQLite", "PostgreSQL", "PG / SQLite (goal <= 1.5x)"],
                            latency(dbs, args.orders, args.runs, tmp)))
    finally:
        dbs.drop_all()


if __name__ == "__main__":
    main()
