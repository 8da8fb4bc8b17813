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
