"""PostgreSQL store: what only a shared server has (several processes, as several hosts
would: advisory sync lock, SKIP LOCKED claims, sequences, db copy, secrets in URLs).

Each test gets a fresh database i14_<uuid> on the AMZORDERS_TEST_PG server, dropped at the
end. Skipped without AMZORDERS_TEST_PG (marker ``postgres``). The rest of the suite also
runs on PostgreSQL in that mode (conftest.py redirects every store).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

from amzorders.errors import AmzOrdersError, ConcurrentChangeError, ExitCode, LockedError
from amzorders.store import Store
from conftest import TEST_PG_URL, _pg_url_with_db
from processing_support import UNSHIPPED, context, seed

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(monkeypatch):
    import psycopg

    # These tests name their stores themselves: no redirection of SQLite paths.
    monkeypatch.delenv("AMZORDERS_TEST_PG_REDIRECT", raising=False)
    name = f"i14_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url_with_db(TEST_PG_URL, name)
    finally:
        with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _invoice_worker(url, barrier, results):
    os.environ.pop("AMZORDERS_TEST_PG_REDIRECT", None)
    from amzorders.services.processing import invoice

    store = Store.open(url)
    try:
        barrier.wait(60)
        invoice(context(store), UNSHIPPED)
        results.put("ok")
    except AmzOrdersError as error:
        results.put(f"{type(error).__name__}: {error.message}")
    except Exception as error:  # noqa: BLE001 - any other type is the failure looked for
        results.put(f"UNEXPECTED {type(error).__name__}: {error}")
    finally:
        store.close()


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_invoices_of_one_order_from_several_processes_leave_exactly_one(pg_url, workers):
    with Store.open(pg_url) as store:
        seed(store)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    processes = [ctx.Process(target=_invoice_worker, args=(pg_url, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
    assert outcomes.count("ok") == 1, outcomes
    losers = [o for o in outcomes if o != "ok"]
    # The loser either lost the race at the write (changed by someone else) or came after
    # the winner's commit (nothing left to invoice): never a database error or a second invoice.
    assert all(o.startswith(("ConcurrentChangeError", "NotAllowedError")) for o in losers), outcomes
    with Store.open(pg_url) as store:
        assert store.conn.execute("SELECT count(*) FROM invoices WHERE source = 'operator'").fetchone()[0] == 1
        order = store.load_commerce_order(amazon_order_id=UNSHIPPED)
        assert all(item.qty_invoiced == item.qty_ordered for item in order.items)


_HOLDER = r"""
import sys
from amzorders.store import Store
store = Store.open(sys.argv[1])
with store.sync_lock("main"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _backend_gone(url: str, pid_label: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s", (f"%{pid_label}%",)
        ).fetchone()
    return row[0] == 0


def test_sync_lock_is_one_per_account_across_processes_and_freed_when_the_holder_is_killed(pg_url):
    with Store.open(pg_url):
        pass
    env = {k: v for k, v in os.environ.items() if k != "AMZORDERS_TEST_PG_REDIRECT"}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Store.open(pg_url) as other:
            with pytest.raises(LockedError) as caught:
                with other.sync_lock("main"):
                    pass
            assert caught.value.exit_code == ExitCode.LOCKED
            assert f"pid {holder.pid} on " in caught.value.message and "--wait" in caught.value.message
            with other.sync_lock("second-account"):  # another account is not held up
                pass
            holder.send_signal(signal.SIGKILL)
            holder.wait(60)
            # The server ends the dead client's session (and its lock) once it reads EOF:
            # wait for that to have happened, by looking, not by time.
            for _ in range(10_000):
                if _backend_gone(pg_url, f"sync {holder.pid}@"):
                    break
            with other.sync_lock("main"):  # taken over at once
                pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(60)


def test_outbox_claims_skip_rows_another_host_is_claiming(pg_url):
    from datetime import timedelta

    from processing_support import NOW

    with Store.open(pg_url) as store:
        seed(store)
        with store.transaction():
            for n in range(4):
                store.add_outbox_row(account="main", amazon_order_id=UNSHIPPED, kind="cancel",
                                     idempotency_key=f"k{n}", payload={"n": n}, now=NOW)
    first = Store.open(pg_url)
    second = Store.open(pg_url)
    try:
        with first.transaction():
            # Host one is in the middle of claiming rows 1 and 2 (they are locked).
            locked = [r[0] for r in first.conn.execute("SELECT id FROM outbox ORDER BY id LIMIT 2 FOR UPDATE")]
            token, claimed = second.claim_outbox_rows("main", NOW, NOW + timedelta(minutes=5))
            assert sorted(r.id for r in claimed) == sorted(
                r[0] for r in second.conn.execute("SELECT id FROM outbox WHERE id <> ALL(?)", (locked,))
            )
        # Once host one let go, the rows it held are claimable; the claimed ones are leased.
        token2, claimed2 = first.claim_outbox_rows("main", NOW, NOW + timedelta(minutes=5))
        assert sorted(r.id for r in claimed2) == sorted(locked)
    finally:
        first.close()
        second.close()


def _number_worker(url, count, results):
    os.environ.pop("AMZORDERS_TEST_PG_REDIRECT", None)
    store = Store.open(url)
    try:
        numbers = []
        for _ in range(count):
            with store.transaction():
                numbers.append(store.next_sequence_value("invoice"))
        results.put(numbers)
    finally:
        store.close()


def test_increment_numbers_never_repeat_across_processes(pg_url):
    with Store.open(pg_url):
        pass
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=_number_worker, args=(pg_url, 50, results)) for _ in range(3)]
    for process in processes:
        process.start()
    numbers = [n for _ in processes for n in results.get(timeout=120)]
    for process in processes:
        process.join(60)
    assert len(numbers) == 150 and len(set(numbers)) == 150
    with Store.open(pg_url) as store:
        assert store.peek_sequence_value("invoice") == max(numbers) + 1


def test_db_copy_moves_every_table_verified_and_refuses_a_filled_target(cli, simulated_account, pg_url, monkeypatch):
    assert cli("sync").exit_code == 0
    with Store.open(simulated_account.db_path, sqlite_only=True) as source:
        counts = {t: source.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("amazon_orders", "commerce_orders", "status_history", "order_search")}
        next_order = source.peek_sequence_value("order")
    result = cli("db", "copy", "--from", simulated_account.db_path, "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "counts and checksums match" in result.stderr
    with Store.open(pg_url) as target:
        for table, count in counts.items():
            assert target.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count
        assert target.peek_sequence_value("order") == next_order
    again = cli("db", "copy", "--from", simulated_account.db_path, "--to", pg_url)
    assert again.exit_code == ExitCode.USAGE and "not empty" in again.stderr and "--force" in again.stderr
    forced = cli("db", "copy", "--from", simulated_account.db_path, "--to", pg_url, "--force")
    assert forced.exit_code == 0, forced.output
    listed = cli("--db", pg_url, "list", "--json")
    assert listed.exit_code == 0, listed.output


def test_sync_then_list_on_a_fresh_database(cli, pg_url):
    """The issue's 'done when': sync then list with --db postgresql://... (built-in simulator)."""
    synced = cli("--db", pg_url, "sync")
    assert synced.exit_code == 0, synced.output
    listed = cli("--db", pg_url, "list", "--limit", "5")
    assert listed.exit_code == 0, listed.output
    assert re.search(r"\d+ of \d+ orders", listed.stdout), listed.stdout  # the title counts what matched
    found = cli("--db", pg_url, "list", "--search", "-", "--json")
    assert found.exit_code == 0, found.output


def test_a_password_in_the_url_is_never_shown(cli, pg_url):
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg_url)
    with_password = urlunsplit((parts.scheme, f"{parts.username or 'postgres'}:Sup3rSecretPw@{parts.hostname}:{parts.port or 5432}",
                                parts.path, "", ""))
    for args in (("config", "show"), ("config", "path"), ("db", "migrate")):
        result = cli("--db", with_password, *args)
        assert "Sup3rSecretPw" not in result.output, args
    wrong = urlunsplit((parts.scheme, f"nosuchuser:Sup3rSecretPw@{parts.hostname}:{parts.port or 5432}", parts.path, "", ""))
    result = cli("--db", wrong, "list")
    assert result.exit_code != 0 and "Sup3rSecretPw" not in result.output
    assert result.exit_code == ExitCode.STORE_UNUSABLE and "Error: Cannot connect to the PostgreSQL store" in result.stderr
    assert "Traceback" not in result.output


def test_purge_leaves_no_buyer_data_in_live_rows(pg_url):
    from datetime import timedelta

    from processing_support import NOW, make_order

    with Store.open(pg_url) as store:
        seed(store, [make_order(UNSHIPPED, status="SHIPPED", shipped=2)])
        store.purge_order_pii([UNSHIPPED], NOW + timedelta(days=60))
        dump = "\n".join(
            str(tuple(row))
            for table in ("amazon_orders", "amazon_order_items", "order_search", "status_history", "commerce_orders")
            for row in store.conn.execute(f"SELECT * FROM {table}")
        )
    assert "Jane Buyer" not in dump and "jane@marketplace.amazon.com" not in dump and "1 Main St" not in dump


# -- operators racing an import, as separate hosts would -------------------------------

_OPEN = [f"333-{n:07d}-{n:07d}" for n in range(1, 13)]  # open MFN orders the operators work


def _racing_operator(url, numbers, worker, started, done, results):
    """Invoice then ship each order; report every outcome by kind."""
    os.environ.pop("AMZORDERS_TEST_PG_REDIRECT", None)
    from amzorders.services.processing import invoice, ship

    store = Store.open(url)
    outcomes: dict[str, int] = {}
    try:
        assert started.wait(120), "the import never started"
        for n, number in enumerate(numbers):
            for action in ("invoice", "ship"):
                try:
                    if action == "invoice":
                        invoice(context(store), number)
                    else:
                        ship(context(store), number, carrier="UPS", tracking=f"1Z999AA1{worker:02d}{n:08d}", force=True)
                    key = f"{action} ok"
                except AmzOrdersError as error:
                    key = f"{action} {type(error).__name__}"
                except Exception as error:  # noqa: BLE001 - any other type is the failure looked for
                    key = f"{action} UNEXPECTED {type(error).__name__}: {error}"
                outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        store.close()
        results.put(outcomes)
        done.wait(120)


def _racing_importer(url, pages, started, done, results):
    """Store ``pages`` one transaction each; the operators work between the first page and
    the last (the last waits for them), so they always overlap the import."""
    os.environ.pop("AMZORDERS_TEST_PG_REDIRECT", None)
    from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
    from processing_support import NOW

    store = Store.open(url)
    try:
        importer = OrderImporter(store, ImportSettings(account="main"), now=lambda: NOW)
        for index, page in enumerate(pages):
            if index == len(pages) - 1:
                done.wait(120)
            importer.store_page(page, ImportResult())
            started.set()
        results.put("import ok")
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.put(f"import UNEXPECTED {type(error).__name__}: {error}")
    finally:
        store.close()


def test_four_operator_processes_and_an_import_leave_every_order_invoiced_and_shipped_once(pg_url):
    """Benchmark 1 of the issue at test scale (benchmarks/postgres.py runs it with a real
    sync of 10,000 orders): two operators on the same orders, two on different ones, while
    another process imports. The only errors allowed are the clean ones (changed by someone
    else, already done); nothing is doubled; every imported order is there once."""
    from processing_support import make_order

    with Store.open(pg_url) as store:
        seed(store, [make_order(number) for number in _OPEN])
    pages = [[make_order(f"444-{page:07d}-{i:07d}") for i in range(25)] for page in range(4)]
    shared, rest = _OPEN[:4], _OPEN[4:]
    plans = [shared, shared, rest[0::2], rest[1::2]]
    ctx = multiprocessing.get_context("spawn")
    started, results = ctx.Event(), ctx.Queue()
    done = ctx.Barrier(len(plans) + 1)
    processes = [ctx.Process(target=_racing_importer, args=(pg_url, pages, started, done, results))]
    processes += [ctx.Process(target=_racing_operator, args=(pg_url, plan, i, started, done, results))
                  for i, plan in enumerate(plans)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(60)
    assert "import ok" in outcomes, outcomes
    totals: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, dict):
            for key, value in outcome.items():
                totals[key] = totals.get(key, 0) + value
    allowed = {"invoice ok", "ship ok", "invoice ConcurrentChangeError", "ship ConcurrentChangeError",
               "invoice NotAllowedError", "ship NotAllowedError"}
    assert set(totals) <= allowed, totals
    # Each of the 12 orders is invoiced once and shipped once, whoever got there first.
    assert totals.get("invoice ok") == len(_OPEN) and totals.get("ship ok") == len(_OPEN), totals
    with Store.open(pg_url) as store:
        q = store.conn.execute
        assert q("SELECT count(*) FROM amazon_orders").fetchone()[0] == len(_OPEN) + 100
        assert q("SELECT count(*) FROM commerce_orders").fetchone()[0] == len(_OPEN) + 100
        assert q("SELECT count(*) FROM invoices WHERE source = 'operator'").fetchone()[0] == len(_OPEN)
        assert q("SELECT count(*) FROM shipments WHERE source = 'operator'").fetchone()[0] == len(_OPEN)
        worked = q("""SELECT count(*) FROM commerce_order_items i JOIN commerce_orders c ON c.id = i.order_id
                      WHERE c.amazon_order_id LIKE '333-%' AND i.qty_invoiced = i.qty_ordered
                        AND i.qty_shipped = i.qty_ordered""").fetchone()[0]
        assert worked == 2 * len(_OPEN)  # every item of every worked order: invoiced and shipped in full
        assert q("""SELECT count(*) FROM commerce_order_items i JOIN commerce_orders c ON c.id = i.order_id
                    WHERE c.amazon_order_id LIKE '444-%' AND (i.qty_invoiced > 0 OR i.qty_shipped > 0)""").fetchone()[0] == 0
        assert q("SELECT count(*) FROM (SELECT increment_id FROM invoices GROUP BY increment_id"
                 " HAVING count(*) > 1) d").fetchone()[0] == 0


def test_cron_sync_exits_6_while_another_host_syncs_and_takes_over_at_once_after_kill_9(cli, simulated_account, pg_url):
    """Benchmark 2 of the issue as a test: 'amzorders sync' against a held account exits 6
    (LOCKED) with the holder named; after kill -9 of the holder the next sync runs."""
    assert cli("--db", pg_url, "db", "migrate").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "AMZORDERS_TEST_PG_REDIRECT"}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, pg_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        blocked = cli("--db", pg_url, "sync")
        assert blocked.exit_code == ExitCode.LOCKED == 6, blocked.output
        assert f"pid {holder.pid} on " in blocked.stderr and "Traceback" not in blocked.output
        holder.send_signal(signal.SIGKILL)
        holder.wait(60)
        for _ in range(10_000):  # the server ends the dead session once it reads EOF: look, not wait
            if _backend_gone(pg_url, f"sync {holder.pid}@"):
                break
        took_over = cli("--db", pg_url, "sync")
        assert took_over.exit_code == 0, took_over.output
        with Store.open(pg_url) as store:
            assert store.count_orders() > 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(60)


def test_the_locked_message_names_the_holder_in_this_database_not_another_stores(pg_url):
    """Advisory locks are per database: other stores on the same server holding the same
    key (same schema and account name) are not the holder to name. (Which lock row the
    server lists first depends on its lock table; with three other holders an unfiltered
    lookup names a wrong one three times in four.)"""
    import psycopg

    others = [f"i14_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
        for name in others:
            admin.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if k != "AMZORDERS_TEST_PG_REDIRECT"}
    holders = []
    try:
        for url in [_pg_url_with_db(TEST_PG_URL, name) for name in others] + [pg_url]:
            with Store.open(url):
                pass
            holder = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
            holders.append(holder)
            assert holder.stdout.readline().strip() == "locked"
        with Store.open(pg_url) as store:
            with pytest.raises(LockedError) as caught:
                with store.sync_lock("main"):
                    pass
        assert f"pid {holders[-1].pid} on " in caught.value.message, caught.value.message
        assert not any(f"pid {h.pid} on " in caught.value.message for h in holders[:-1])
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(60)
        with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
            for name in others:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
