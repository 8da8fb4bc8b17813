"""Storage per order: Amazon's JSON kept compressed, read back unchanged, purged in place."""

from __future__ import annotations

import json
import zlib

import pytest

from amzorders.domain.models import utcnow
from amzorders.domain.timefmt import parse_iso
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.simulator import Simulator
from amzorders.store import Store
from amzorders.store import rawjson
from amzorders.store.migrations import MIGRATION_4
from processing_support import store_at_schema


@pytest.fixture
def stored(tmp_path):
    sim = Simulator(tmp_path / "market.json", seed=11, orders=40, rate_limits=False)
    raws = {o["orderId"]: o for o in (sim.order(i) for i in sim.order_ids()[:40])}
    store = Store.open(tmp_path / "store.db")
    OrderImporter(store, ImportSettings(account="main")).store_page(list(raws.values()), ImportResult())
    yield store, raws
    store.close()


def test_new_rows_keep_the_json_compressed_and_read_it_back_unchanged(stored):
    store, raws = stored
    text_bytes = packed_bytes = 0
    for order_id, raw in raws.items():
        text, packed = store.conn.execute(
            "SELECT raw_json, raw_zlib FROM amazon_orders WHERE amazon_order_id = ?", (order_id,)).fetchone()
        assert text == "" and isinstance(packed, bytes)
        items = {r[0]: tuple(r[1:]) for r in store.conn.execute(
            "SELECT order_item_id, sku, title, asin FROM amazon_order_items WHERE amazon_order_id = ?", (order_id,))}
        assert rawjson.unpack(packed, items) == raw == store.raw_order(order_id)
        text_bytes += len(json.dumps(raw, separators=(",", ":")).encode())
        packed_bytes += len(packed)
    assert packed_bytes < 0.3 * text_bytes
    assert store.raw_order("000-0000000-0000000") is None


@pytest.mark.sqlite_only  # replays SQLite's migration step on the file
def test_rows_from_before_migration_4_are_read_and_purged(tmp_path, monkeypatch):
    with store_at_schema(tmp_path / "old.db", monkeypatch, 12) as store:  # (its time columns are text)
        sim = Simulator(tmp_path / "market.json", seed=11, orders=40, rate_limits=False)
        raws = {o["orderId"]: o for o in (sim.order(i) for i in sim.order_ids()[:40])}
        OrderImporter(store, ImportSettings(account="main")).store_page(list(raws.values()), ImportResult())
        _rows_from_before_migration_4(store, raws)
    with Store.open(tmp_path / "old.db") as store:  # and on to the current schema
        assert store.order_view(next(iter(raws))) is not None


def _rows_from_before_migration_4(store, raws):
    shipped = {oid: t for oid, t in store.conn.execute(
        "SELECT amazon_order_id, last_ship_time FROM amazon_orders WHERE last_ship_time IS NOT NULL")}
    assert shipped, "the simulated orders include shipped ones"
    # Turn every row back into what schema 1 stored: the JSON as text, no ship-time column value.
    with store.transaction():
        for order_id, raw in raws.items():
            store.conn.execute(
                "UPDATE amazon_orders SET raw_json = ?, raw_zlib = NULL, last_ship_time = NULL WHERE amazon_order_id = ?",
                (json.dumps(raw, ensure_ascii=False), order_id))
        store.conn.execute(MIGRATION_4[MIGRATION_4.index("UPDATE"):MIGRATION_4.index("-- end sqlite only")])
    backfilled = {oid: t for oid, t in store.conn.execute(
        "SELECT amazon_order_id, last_ship_time FROM amazon_orders WHERE last_ship_time IS NOT NULL")}
    assert backfilled.keys() == shipped.keys()
    for order_id, when in backfilled.items():  # Amazon's text then, the store's ISO form now
        assert parse_iso(when) == parse_iso(shipped[order_id])
    some = next(iter(raws))
    assert store.raw_order(some) == raws[some]
    assert store.order_view(some) is not None
    [purged] = store.purge_order_pii([some], now=utcnow())
    text, packed = store.conn.execute(
        "SELECT raw_json, raw_zlib FROM amazon_orders WHERE amazon_order_id = ?", (purged,)).fetchone()
    assert text == "" and packed is not None
    after = json.dumps(store.raw_order(purged), ensure_ascii=False)
    buyer = raws[some].get("buyer") or {}
    for value in (buyer.get("buyerName"), buyer.get("buyerEmail")):
        if value:
            assert value not in after



def test_the_codec_reads_plain_zlib_and_refuses_an_unknown_dictionary():
    raw = {"orderId": "111-1", "buyer": {"buyerName": "Ann"}}
    plain = zlib.compress(json.dumps(raw).encode())
    assert rawjson.unpack(plain) == raw
    other = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS, zdict=b"another dictionary")
    foreign = other.compress(json.dumps(raw).encode()) + other.flush()
    with pytest.raises(ValueError, match="unknown dictionary"):
        rawjson.unpack(foreign)
    with pytest.raises(ValueError, match="damaged"):
        rawjson.unpack(rawjson.pack(raw)[:-3])


@pytest.mark.sqlite_only  # passes the file as --db
def test_show_json_raw_gives_amazons_json_back(stored, cli, tmp_path):
    store, raws = stored
    order_id = next(iter(raws))
    db = store.path
    store.close()
    result = cli("--db", db, "show", order_id, "--json", "--raw")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["amazon_raw"] == raws[order_id]
    plain = json.loads(cli("--db", db, "show", order_id, "--json").stdout)
    assert "amazon_raw" not in plain
    misuse = cli("--db", db, "show", order_id, "--raw")
    assert misuse.exit_code == 2 and "--json --raw" in misuse.stderr


def test_migration_4_has_a_postgresql_form():
    from amzorders.store.dialect import POSTGRES, SQLITE, render_ddl

    pg = render_ddl(MIGRATION_4, POSTGRES)
    assert "fts5" not in pg and "json_each" not in pg and "julianday" not in pg
    assert "raw_zlib BYTEA" in pg and "UPDATE amazon_orders SET last_ship_time" in pg and "-- postgres" not in pg
    lite = render_ddl(MIGRATION_4, SQLITE)
    assert "detail = none" in lite
    assert all(line.startswith("-- postgres:") for line in lite.splitlines() if "jsonb" in line)


def test_search_rows_folded_only_by_lower_are_folded_again_by_migration_7(tmp_path, cli):
    """PostgreSQL's migration 5 could only lower-case old search rows ('lópez'); migration
    7 folds them with fold_text, so 'lopez' finds López there too (and on SQLite)."""
    from processing_support import UNSHIPPED, make_order, seed

    path = tmp_path / "old-search.db"
    order = make_order(UNSHIPPED)
    order["buyer"] = {"buyerName": "Ana López Ørsted", "buyerEmail": "ana@marketplace.amazon.com"}
    with Store.open(path) as store:
        seed(store, [order])
        with store.transaction():
            (text,) = store.conn.execute("SELECT text FROM order_search").fetchone()
            assert "ana lopez orsted" in text
            # what a row written before folding looked like after migration 5 on PostgreSQL
            store.conn.execute("UPDATE order_search SET text = ?", (text.replace("ana lopez orsted", "ana lópez ørsted"),))
            store.conn.execute("DELETE FROM schema_migrations WHERE version = 7")
    with Store.open(path) as store:  # opening migrates
        assert store.schema_version() >= 7
        (text,) = store.conn.execute("SELECT text FROM order_search").fetchone()
        assert "ana lopez orsted" in text and "ó" not in text
    for term in ("lopez", "LÓPEZ", "orsted"):
        found = cli("--db", path, "list", "--search", term, "--json")
        assert found.exit_code == 0 and [r["amazon_order_id"] for r in json.loads(found.stdout)] == [UNSHIPPED], term
