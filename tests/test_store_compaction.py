"""Migration 10 (issue 15, storage per order): history entries compressed, the delivery
address read from Amazon's stored JSON, Amazon's items keyed by order and item id, the raw
JSON packed with dictionary 2, lookup indexes. A store written at schema 9 reads the same
after it migrates in place, on both engines."""

from __future__ import annotations

import json
import re

import pytest
from processing_support import AFN, NOW, PENDING, SECOND, UNSHIPPED, make_order, seed, store_at_schema

from amzorders.store import Store
from amzorders.store import rawjson
from amzorders.store.migrations import MIGRATIONS

ORDERS = (UNSHIPPED, AFN, PENDING, SECOND)


def _orders() -> list[dict]:
    # The default orders, one with its items in an order their ids do not sort in, and a
    # seller order id to look up.
    orders = [
        make_order(UNSHIPPED, items=[("10000000000009", "SKU-Z", 1, "3.00"), ("10000000000001", "SKU-A", 2, "19.99")]),
        make_order(AFN, status="SHIPPED", fulfilled_by="AMAZON", shipped=2),
        make_order(PENDING, status="PENDING"),
        make_order(SECOND, tax="1.00"),
    ]
    orders[3]["orderAliases"] = [{"aliasId": "SELLER-REF-77", "aliasType": "SELLER_ORDER_ID"}]
    return orders


def _outputs(cli, db) -> dict:
    out = {}
    for order_id in ORDERS:
        for args in (("history", order_id, "--json"), ("show", order_id, "--json"), ("show", order_id, "--json", "--raw")):
            result = cli("--db", db, *args)
            assert result.exit_code == 0, result.stderr
            out[args] = json.loads(result.stdout)
    for args in (("list", "--json"), ("list", "--items", "--json"), ("show", "SELLER-REF-77", "--json"),
                 *(("list", "--search", term, "--json") for term in ("jane", "sku-z", "000000001", "111-0000004"))):
        result = cli("--db", db, *args)
        assert result.exit_code == 0, result.stderr
        out[args] = json.loads(result.stdout)
    return out


def _money(db) -> dict:
    """Every commerce item's money as the processing code reads it (components in their order)."""
    with Store.open(db) as store:
        return {
            order_id: [(i.order_item_id, list(i.components.items()), i.promotion_ids, list(i.money.items()))
                       for i in view.commerce.items]
            for order_id in ORDERS if (view := store.order_view(order_id)).commerce is not None
        }


def _schema_9_store(path, monkeypatch) -> None:
    with store_at_schema(path, monkeypatch, 9) as store:
        seed(store, _orders())
        assert store.conn.execute("SELECT count(*) FROM status_history WHERE more_json IS NOT NULL").fetchone()[0]
        assert store.conn.execute(
            "SELECT count(*) FROM amazon_orders WHERE shipping_address_json IS NOT NULL").fetchone()[0] == 4
        assert store.conn.execute("SELECT count(*) FROM commerce_order_items WHERE money_json = ''").fetchone()[0] == 0


def test_a_schema_9_store_migrates_in_place_and_reads_the_same(tmp_path, cli, monkeypatch):
    old, reference = tmp_path / "old.db", tmp_path / "reference.db"
    _schema_9_store(old, monkeypatch)
    with Store.open(reference) as store:
        seed(store, _orders())
    before = _outputs(cli, reference)
    money_before = _money(reference)
    assert before[("show", UNSHIPPED, "--json")] != before[("show", SECOND, "--json")]
    with Store.open(old) as store:  # opening migrates
        assert store.schema_version() == MIGRATIONS[-1][0]
        conn = store.conn
        assert conn.execute("SELECT count(*) FROM status_history WHERE more_json IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM status_history WHERE more_zlib IS NOT NULL").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM amazon_orders WHERE shipping_address_json IS NOT NULL").fetchone()[0] == 0
        assert all(rawjson.is_current(bytes(r[0])) for r in conn.execute("SELECT raw_zlib FROM amazon_orders"))
        items = [r[0] for r in conn.execute(
            "SELECT order_item_id FROM amazon_order_items WHERE amazon_order_id = ? ORDER BY line", (UNSHIPPED,))]
        assert items == ["10000000000009", "10000000000001"]  # Amazon's order, not the ids'
        assert conn.execute("SELECT count(*) FROM commerce_order_items WHERE money_json = ''").fetchone()[0] > 0
    assert _outputs(cli, old) == before
    assert _money(old) == money_before


def test_a_migrated_store_is_purged_and_written_like_a_new_one(tmp_path, monkeypatch):
    from amzorders.store.retention import PURGED_MARK

    old = tmp_path / "old.db"
    _schema_9_store(old, monkeypatch)
    with Store.open(old) as store:
        stamp = NOW
        with store.transaction():
            store.add_history_rows([
                (UNSHIPPED, "Checked the address.", None, "system", None, stamp),
                (UNSHIPPED, "Jane Buyer of 1 Main St called.", None, "system", None, stamp),
            ])
        seed(store, _orders())  # the same orders again: replaced in place
        assert store.purge_order_pii([UNSHIPPED], NOW) == [UNSHIPPED]
        comments = [h.comment for h in store.history(UNSHIPPED)]
        assert f"{PURGED_MARK} of {PURGED_MARK} called." in comments
        view = store.order_view(UNSHIPPED)
        assert view.shipping_address is None  # the scrubbed JSON keeps country and region only
        assert [i.order_item_id for i in view.amazon_items] == ["10000000000009", "10000000000001"]
        assert store.order_view(SECOND).shipping_address.city == "Seattle"
        assert [line.ship_to_city for line in store.pick_lines([UNSHIPPED, SECOND])] == [None, None, "Seattle", "Seattle"]


@pytest.mark.sqlite_only  # SQLite's query plans
def test_seller_order_ids_and_document_lines_are_looked_up_by_index(tmp_path):
    with Store.open(tmp_path / "store.db") as store:
        seed(store, _orders())
        plans = {
            sql: " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql, (1,)))
            for sql in (
                "SELECT amazon_order_id FROM amazon_orders WHERE seller_order_id = ? LIMIT 1",
                "SELECT * FROM invoice_items WHERE invoice_id IN (?)",
                "SELECT * FROM shipment_items WHERE shipment_id IN (?)",
                "SELECT * FROM credit_memo_items WHERE credit_memo_id IN (?)",
                "SELECT * FROM credit_memos WHERE order_id = ?",
            )
        }
        assert all("USING INDEX" in plan for plan in plans.values()), plans
        assert store.resolve_order_key("SELLER-REF-77") == SECOND


def test_history_entries_codec_round_trips_and_refuses_what_it_does_not_know():
    entries = [["Commerce order 000000001 created from Amazon order 111-0000001-0000001.", "pending", "system", "order"],
               ["Ünïcode \u2028 comment", None, "operator", None]]
    packed = rawjson.pack_entries(entries)
    assert rawjson.unpack_entries(packed) == entries
    assert len(packed) < len(json.dumps(entries)) / 2
    for bad in (b"", b"\x09" + packed[1:], packed[:-3]):
        with pytest.raises(ValueError):
            rawjson.unpack_entries(bad)


def test_raw_json_of_dictionary_1_still_reads():
    order = make_order(UNSHIPPED)
    old = rawjson.zlib.compressobj(6, rawjson.zlib.DEFLATED, 15, zdict=rawjson._DICTIONARY_1)
    packed = old.compress(json.dumps(order).encode()) + old.flush()
    assert not rawjson.is_current(packed) and rawjson.is_current(rawjson.pack(order))
    assert rawjson.unpack(packed) == order == rawjson.unpack(rawjson.pack(order))


@pytest.mark.parametrize("components, promotions, derived", [
    ({"ITEM": "39.98", "SHIPPING": "1.50"}, (), True),
    ({"ITEM": "39.98", "ITEM_TAX": "3.200", "SHIPPING": "1.50"}, (), True),  # the scale is kept
    ({"ITEM": "39.98", "ITEM_TAX": "3.20", "ITEM_PROMOTION": "2.00"}, (), False),  # reads back in another order
    ({"ITEM": "39.98", "SHIPPING": "0.00"}, (), False),  # a zero part the columns cannot show
    ({"ITEM": "39.98", "GIFT_WRAP": "1.50"}, (), False),  # gift wrap counts as shipping in the columns
    ({"ITEM": "39.98"}, ("PROMO-1",), False),
])
def test_money_json_is_left_empty_only_when_the_columns_give_the_same_components(components, promotions, derived):
    from decimal import Decimal

    from amzorders.domain import money
    from amzorders.domain.commerce import CommerceItem
    from amzorders.store import orders as store_orders

    parts = {k: Decimal(v) for k, v in components.items()}
    totals = money.aggregates(parts)
    item = CommerceItem(order_item_id="1", sku="SKU-A", name="Widget", asin=None, price=Decimal("19.99"),
                        row_total=totals["row_total"], tax_amount=totals["tax"], discount_amount=totals["discount"],
                        shipping_amount=totals["shipping"], qty_ordered=2, components=parts, promotion_ids=promotions)
    text = store_orders._money_json(item)
    assert (text == store_orders.DERIVED_COMPONENTS) is derived
    row = {"money_json": text, **{c: store_orders.money_text(getattr(item, c))
                                  for c in ("row_total", "tax_amount", "discount_amount", "shipping_amount")}}
    read = store_orders._money_fields(row)
    expected = json.loads(json.dumps(dict(sorted(components.items()))))  # what the JSON gave back (sorted keys)
    assert {k: format(v, "f") for k, v in read["components"].items()} == expected
    assert list(read["components"]) == list(expected) and read["promotion_ids"] == promotions


def test_the_upgrade_of_an_existing_store_is_announced_and_logged(cli, tmp_path, monkeypatch, amzorders_home):
    """Migration 10 rewrites every order (minutes at 1,000,000): the command says why it
    is slow, on stderr, once; a new store or one already current says nothing."""
    db = tmp_path / "old.db"
    _schema_9_store(db, monkeypatch)
    newest = max(v for v, _, _ in MIGRATIONS)

    first = cli("--db", db, "list", "--json")
    assert first.exit_code == 0, first.stderr
    assert f"from schema 9 to {newest}. This runs once after an amzorders upgrade" in first.stderr
    assert len(json.loads(first.stdout)) == len(ORDERS)  # stdout stays the data alone
    log = (amzorders_home / "amzorders.log").read_text()
    assert f"from schema 9 to {newest} started" in log and re.search(r"store upgrade of .* done in \d+\.\d s", log)

    again = cli("--db", db, "list", "--json")
    fresh = cli("--db", tmp_path / "new.db", "db", "migrate")
    assert again.exit_code == fresh.exit_code == 0
    assert "Upgrading" not in again.stderr + fresh.stderr


def test_db_migrate_announces_the_upgrade_it_runs(cli, tmp_path, monkeypatch, amzorders_home):
    db = tmp_path / "old.db"
    _schema_9_store(db, monkeypatch)
    result = cli("--db", db, "db", "migrate")
    assert result.exit_code == 0, result.stderr
    newest = max(v for v, _, _ in MIGRATIONS)
    assert f"from schema 9 to {newest}" in result.stderr and f"at schema version {newest}" in result.stderr
