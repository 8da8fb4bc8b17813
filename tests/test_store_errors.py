"""The store error taxonomy: every way a store file can be unusable gets its own message
and documented exit code (README "Exit codes"), never "unexpected failure", and the file
is left as it was. Races between writers give the loser "changed by someone else"."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import pytest

from amzorders.errors import ConcurrentChangeError, ExitCode, NotAllowedError
from amzorders.services.processing import cancel
from amzorders.store import Store
from processing_support import UNSHIPPED, context, seeded_store_file


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _seeded_store(path):
    return seeded_store_file(path)  # closed: the last close checkpoints the WAL into the file


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    assert "unexpected failure" not in result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.sqlite_only
def test_dev_null_is_not_a_store(cli):
    result = cli("--db", "/dev/null", "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE == 7
    assert "not a regular file" in _one_error_line(result)


@pytest.mark.sqlite_only
def test_random_bytes_are_not_a_store(cli, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(range(256)) * 40)
    before = _digest(junk)
    result = cli("--db", junk, "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE
    assert "not an SQLite database" in _one_error_line(result)
    assert _digest(junk) == before


@pytest.mark.sqlite_only
def test_another_programs_database_is_refused_and_not_changed(cli, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    result = cli("--db", other, "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE
    assert "another program" in _one_error_line(result)
    conn = sqlite3.connect(other)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["photos"]
    conn.close()


@pytest.mark.sqlite_only
def test_a_store_from_a_newer_amzorders_says_upgrade(cli, tmp_path):
    path = _seeded_store(tmp_path / "s.db")
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01T00:00:00Z')")
    conn.commit()
    conn.close()
    result = cli("--db", path, "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE
    line = _one_error_line(result)
    assert "newer amzorders" in line and "Upgrade" in line


@pytest.mark.sqlite_only
def test_a_store_missing_a_table_is_not_a_store(cli, tmp_path):
    path = _seeded_store(tmp_path / "s.db")
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE outbox")
    conn.commit()
    conn.close()
    result = cli("--db", path, "outbox", "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE
    assert "no such table: outbox" in _one_error_line(result)


@pytest.mark.sqlite_only
def test_a_corrupt_store_says_restore_from_backup(cli, tmp_path):
    path = _seeded_store(tmp_path / "s.db")
    with path.open("r+b") as handle:  # keep page 1 (the header), wreck the b-tree pages
        handle.seek(4096)
        handle.write(b"\xff" * (path.stat().st_size - 4096))
    before = _digest(path)
    result = cli("--db", path, "list")
    assert result.exit_code == ExitCode.STORE_UNUSABLE
    line = _one_error_line(result)
    assert "damaged" in line and "backup" in line
    assert _digest(path) == before


@pytest.mark.sqlite_only
def test_a_store_busy_beyond_the_timeout_is_exit_6(cli, tmp_path, monkeypatch):
    from amzorders.store import base

    path = _seeded_store(tmp_path / "s.db")
    monkeypatch.setattr(base, "BUSY_TIMEOUT_MS", 0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        result = cli("--db", path, "comment", "000000001", "hello")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == ExitCode.LOCKED
    assert "locked by another amzorders process" in _one_error_line(result)


@pytest.mark.parametrize("attempt", range(3))
def test_two_cancels_of_one_order_the_loser_is_told_someone_else_changed_it(tmp_path, attempt):
    path = _seeded_store(tmp_path / "s.db")
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def run(index: int) -> None:
        store = Store.open(path)
        try:
            barrier.wait()
            outcomes[index] = cancel(context(store), UNSHIPPED, reason="NoInventory")
        except Exception as error:  # noqa: BLE001 - the type is what is checked
            outcomes[index] = error
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1, outcomes
    # The race's loser (its read came before the winner's commit), or, when it read after
    # the commit, the rules' refusal: the order is canceled already, or (the cancel still
    # waiting in the outbox) has nothing left to cancel. Never an IntegrityError.
    loser = errors[0]
    assert isinstance(loser, ConcurrentChangeError) or (
        isinstance(loser, NotAllowedError)
        and ("canceled already" in loser.message or "nothing left to cancel" in loser.message)), errors
    store = Store.open(path)
    try:
        assert [o.kind for o in store.outbox_for_order(UNSHIPPED)] == ["cancel"]
    finally:
        store.close()


def test_a_unique_violation_inside_a_transaction_is_a_concurrent_change(tmp_path):
    """The race above is timing-dependent; this is its deterministic core: the loser's
    insert of the same idempotency key (its read came before the winner's commit)."""
    from processing_support import NOW

    path = _seeded_store(tmp_path / "s.db")
    store = Store.open(path)
    try:
        def queue() -> None:
            with store.transaction():
                store.add_outbox_row(account="main", amazon_order_id=UNSHIPPED, kind="cancel",
                                     idempotency_key=f"cancel:{UNSHIPPED}", payload={}, now=NOW)

        queue()
        with pytest.raises(ConcurrentChangeError, match="Someone else changed"):
            queue()
        assert len(store.outbox_for_order(UNSHIPPED)) == 1
    finally:
        store.close()


def _read_with_a_cancel_between(tmp_path, read, marker: str):
    """``read(store)`` three times: before a cancel, while another process commits the
    cancel exactly when ``read`` starts the statement naming ``marker`` (SQLite's trace
    callback), and after it."""
    path = _seeded_store(tmp_path / "s.db")
    reader, writer = Store.open(path), Store.open(path)
    try:
        before = read(reader)
        raced = []

        def commit_between(statement: str) -> None:
            if marker in statement and not raced:
                raced.append(statement)
                cancel(context(writer), UNSHIPPED, reason="NoInventory")

        reader.conn.set_trace_callback(commit_between)
        seen = read(reader)
        reader.conn.set_trace_callback(None)
        assert raced, f"the writer did not run at the read of {marker}"
        return before, seen, read(reader)
    finally:
        reader.close()
        writer.close()


@pytest.mark.sqlite_only
def test_a_commerce_order_is_read_from_one_moment(tmp_path):
    """The order row and its items come from one snapshot: another process's commit
    between the two reads (forced at the items' read) is not half seen. Without the
    snapshot this read an order row from before a cancel and its items from after, and
    the loser of two cancels was told the order "has nothing left to cancel"."""
    before, seen, after = _read_with_a_cancel_between(
        tmp_path, lambda store: store.load_commerce_order(amazon_order_id=UNSHIPPED), "FROM commerce_order_items")
    # One moment: the order and its items from before the cancel, as loaded first.
    assert seen.version == before.version
    assert [i.qty_canceled for i in seen.items] == [i.qty_canceled for i in before.items]
    assert after.version > before.version and all(i.qty_canceled == i.qty_ordered for i in after.items)


@pytest.mark.sqlite_only
def test_the_order_view_is_read_from_one_moment(tmp_path):
    """``show``'s reads share one snapshot too: a cancel committed by another process
    while the view is being read (forced at its history read) is seen in none of it,
    rather than in the history but not in the commerce order read just before."""
    before, seen, after = _read_with_a_cancel_between(
        tmp_path, lambda store: store.order_view(UNSHIPPED), "FROM status_history")
    assert seen.commerce.version == before.commerce.version
    assert len(seen.history) == len(before.history)
    assert after.commerce.version > before.commerce.version and len(after.history) > len(before.history)
