"""Times in the store as integer Unix seconds (migration 13, store/times.py): old stores
upgraded in place read exactly as before, and a time written any other way is refused."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from processing_support import AFN, NOW, PENDING, SECOND, UNSHIPPED, context, default_orders, seed, store_at_schema

from amzorders.domain.timefmt import parse_iso
from amzorders.services import holds, processing
from amzorders.store import Store
from amzorders.store.checkpoints import ReadCheckpoint
from amzorders.store.migrations import MIGRATIONS, TIME_COLUMNS_13
from amzorders.store.times import read_time, stored_time

ORDERS = (UNSHIPPED, AFN, PENDING, SECOND)


def _fill(store: Store) -> None:
    """Rows in every table with a time column, written through the store's own API."""
    seed(store, default_orders())
    ctx = context(store)
    processing.invoice(ctx, UNSHIPPED)
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking="1Z999AA10123456784", method="Ground")
    processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["SKU-B=1"])
    processing.comment(ctx, SECOND, "Called the buyer.")
    holds.hold(store, [SECOND], "address check", NOW + timedelta(minutes=5))
    with store.transaction():
        store.set_watermark("main", NOW - timedelta(hours=1))
        store.record_sync_run("main", NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), "ok")
        store.save_read_checkpoint(ReadCheckpoint(
            account="main", kind="import", params={"created_after": "2026-01-01T00:00:00Z"}, next_token="tok",
            pages=2, orders=200, started_at=NOW - timedelta(hours=2), saved_at=NOW - timedelta(hours=1, minutes=59)))
        store.record_alert("main", "late", "abc", NOW)
        # Amazon's EventTime has milliseconds: the store keeps the second.
        store.record_notification("n-1", account="main", notification_type="ORDER_CHANGE", subject=UNSHIPPED,
                                  event_time="2026-11-20T11:59:58.750Z", outcome="imported", now=NOW)
        store.set_aside_message(account="main", message_id="m-1", notification_id=None, body="{}", reason="not JSON",
                                receive_count=3, now=NOW)
    store.save_access_token("key", "token", (NOW + timedelta(hours=1, microseconds=999_999)).timestamp())


def _outputs(cli, db) -> dict:
    out = {}
    for order_id in ORDERS:
        for args in (("history", order_id, "--json"), ("show", order_id, "--json"),
                     ("show", order_id, "--json", "--raw")):
            result = cli("--db", db, *args)
            assert result.exit_code == 0, result.stderr
            out[args] = result.stdout  # the text itself: byte-identical
    for args in (("list", "--json"), ("list", "--csv"), ("list", "--items", "--json"), ("list", "--late", "--json"),
                 ("list", "--since", "2026-11-19", "--json"), ("list", "--sort", "ship_by", "--json"),
                 ("list", "--ship-by", "2026-11-19..2026-12-31", "--json"), ("outbox", "list", "--all", "--json")):
        result = cli("--db", db, *args)
        assert result.exit_code == 0, (args, result.stderr)
        out[args] = result.stdout
    return out


def _reads(db) -> dict:
    with Store.open(db) as store:
        return {
            "watermark": store.get_watermark("main"),
            "sync": store.sync_states(),
            "checkpoint": store.read_checkpoint("main", "import"),
            "token": store.load_access_token("key"),
            "due": store.alert_due_orders("main", NOW + timedelta(days=30)),
            "purge": store.orders_due_for_pii_purge(NOW + timedelta(days=400)),
            "outbox": store.outbox_rows_for_display(include_all=True),
            "poison": store.poison_messages("main", include_dismissed=True),
        }


_KEYS = {"amazon_orders": "id", "commerce_orders": "id", "outbox": "id", "invoices": "id", "shipments": "id",
         "credit_memos": "id", "status_history": "id", "sync_state": "account", "token_cache": "cache_key",
         "read_checkpoints": "account, kind", "alert_state": "account, condition",
         "notifications_seen": "notification_id", "notifications_poison": "id"}


def _time_values(store: Store) -> dict:
    return {(t, c): [r[0] for r in store.conn.execute(f"SELECT {c} FROM {t} ORDER BY {_KEYS[t]}")]
            for t, columns in TIME_COLUMNS_13.items() for c in columns}


def _stored_values(db) -> dict:
    with Store.open(db) as store:
        return _time_values(store)


def test_a_schema_12_store_migrates_in_place_and_reads_the_same(tmp_path, cli, monkeypatch):
    old, reference = tmp_path / "old.db", tmp_path / "reference.db"
    with store_at_schema(old, monkeypatch, 12) as store:
        _fill(store)
        texts = _time_values(store)
    assert all(isinstance(v, str) for values in texts.values() for v in values if v is not None)
    assert all(texts.values()), [k for k, v in texts.items() if not v]  # every table has rows to convert
    with Store.open(reference) as store:
        _fill(store)
    before, reads_before = _outputs(cli, reference), _reads(reference)
    assert json.loads(before[("show", UNSHIPPED, "--json")])  # sanity: real output
    with Store.open(old) as store:  # opening migrates
        assert store.schema_version() == MIGRATIONS[-1][0] >= 13
    assert _outputs(cli, old) == before
    assert _reads(old) == reads_before
    numbers = _stored_values(old)
    for key, values in texts.items():  # each the same instant, to the second
        expected = [None if v is None else stored_time(parse_iso(v).replace(microsecond=0)) for v in values]
        assert numbers[key] == expected, key
        assert all(type(v) is int for v in numbers[key] if v is not None), key
    assert numbers == _stored_values(reference)  # migrated rows are stored as new ones are
    assert numbers[("notifications_seen", "event_time")] == [stored_time(NOW) - 2]
    assert numbers[("token_cache", "expires_at")] == [stored_time(NOW) + 3600]  # the fraction cut, not rounded up


@pytest.mark.sqlite_only
def test_the_migration_refuses_a_time_it_cannot_read_and_changes_nothing(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    with store_at_schema(db, monkeypatch, 12) as store:
        seed(store, default_orders())
        with store.transaction():
            store.conn.execute("UPDATE amazon_orders SET deliver_by = 'soon' WHERE amazon_order_id = ?", (SECOND,))
    with pytest.raises(Exception, match="CHECK constraint failed"):
        Store.open(db)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 12
        assert conn.execute("SELECT count(*) FROM commerce_orders").fetchone()[0] == 3  # nothing cascaded away
        assert conn.execute("SELECT typeof(purchase_date) FROM amazon_orders LIMIT 1").fetchone()[0] == "text"
    finally:
        conn.close()


def test_a_time_written_as_text_is_refused(tmp_path):
    """The guard: a write path that missed stored_time fails loudly on both engines
    (SQLite's CHECK, PostgreSQL's BIGINT) instead of mixing text and integers in a column."""
    with Store.open(tmp_path / "s.db") as store:
        seed(store, default_orders())
        with pytest.raises(Exception) as caught:
            with store.transaction():
                store.conn.execute("UPDATE amazon_orders SET ship_by = ? WHERE amazon_order_id = ?",
                                   ("2026-11-21T00:00:00Z", UNSHIPPED))
        assert "check constraint" in str(caught.value).lower() or "bigint" in str(caught.value).lower()
        if not store.dialect.is_postgres:  # (PostgreSQL rounds a float into a BIGINT)
            with pytest.raises(sqlite3.IntegrityError):
                with store.transaction():
                    store.conn.execute("UPDATE status_history SET created_at = ? WHERE amazon_order_id = ?",
                                       (1.5, UNSHIPPED))
        value = store.conn.execute("SELECT purchase_date FROM amazon_orders WHERE amazon_order_id = ?",
                                   (UNSHIPPED,)).fetchone()[0]
        assert type(value) is int and read_time(value) == store.order_view(UNSHIPPED).summary.purchase_date


def test_stored_times_round_trip_to_the_second():
    moment = datetime(2026, 11, 20, 12, 0, 59, 999_999, tzinfo=timezone.utc)
    assert stored_time(moment) == 1_795_176_059  # truncated as to_iso truncates, never rounded up
    assert read_time(stored_time(moment)) == moment.replace(microsecond=0)
    assert read_time(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert stored_time(datetime(2026, 11, 20, 13, 0, 59, tzinfo=timezone(timedelta(hours=1)))) == 1_795_176_059
    with pytest.raises(ValueError):
        stored_time(datetime(2026, 11, 20))  # naive
    with pytest.raises(TypeError):
        read_time("2026-11-20T12:00:00Z")  # a text here is a missed conversion, not a guess
