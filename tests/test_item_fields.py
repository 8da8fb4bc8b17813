"""Migration 11 (issue 15, storage per order): a commerce item's sku, name and asin are
stored NULL where they are its Amazon item's, and every read fills them back
(store/items.py). A store written at schema 10 reads the same after it migrates in place,
on both engines; an item of its own keeps its own; a re-import that changes Amazon's
product fields does not change the commerce item's."""

from __future__ import annotations

import itertools
import json

import pytest

from processing_support import AFN, NOW, PENDING, SECOND, UNSHIPPED, make_order, seed, store_at_schema

from amzorders.store import Store
from amzorders.store import base as store_base
from amzorders.store import items as product_fields
from amzorders.store import rawjson
from amzorders.store.migrations import MIGRATIONS

THIRD = "111-0000005-0000005"
FOURTH = "111-0000006-0000006"
ORDERS = (UNSHIPPED, AFN, PENDING, SECOND, THIRD, FOURTH)


def _orders() -> list[dict]:
    second = make_order(SECOND, items=[("20000000000001", "SKU-C", 1, "4.00"), ("20000000000002", "SKU-D", 1, "6.00"),
                                       ("20000000000003", "SKU-E", 1, "7.00")])
    del second["orderItems"][0]["product"]["title"]  # Amazon sent no title: the name is the SKU
    second["orderItems"][1]["product"] = {"title": None, "asin": None, "sellerSku": None}  # nulls from Amazon
    del second["orderItems"][2]["product"]  # no product at all
    return [
        make_order(UNSHIPPED),
        make_order(AFN, status="SHIPPED", fulfilled_by="AMAZON", shipped=2),  # invoiced and shipped by Amazon
        make_order(PENDING, status="PENDING"),  # no commerce order
        second,
        make_order(THIRD, items=[("30000000000001", "SKU-F", 1, "3.00"), ("30000000000002", "SKU-G", 2, "2.00")]),
        make_order(FOURTH, status="SHIPPED", fulfilled_by="AMAZON", shipped=2,
                   items=[("40000000000001", "SKU-H", 1, "8.00")]),
    ]


def _diverge(store: Store, none: str | None) -> None:
    """Commerce items that are not their Amazon item's copy: another name, no ASIN though
    Amazon's item has one; an Amazon invoice without the usual comment (as no importer
    writes, but a store may hold; ``none``: how the schema stores that, NULL until 10, ''
    since 11)."""
    commerce = "(SELECT id FROM commerce_orders WHERE amazon_order_id = ?)"
    with store.transaction():
        store.conn.execute(f"UPDATE invoices SET comment = ? WHERE order_id = {commerce}", (none, FOURTH))
        store.conn.execute(f"UPDATE commerce_order_items SET name = ? WHERE order_id = {commerce} AND order_item_id = ?",
                           ("Gift box (own name)", THIRD, "30000000000001"))
        store.conn.execute(f"UPDATE commerce_order_items SET asin = ? WHERE order_id = {commerce} AND order_item_id = ?",
                           (none, THIRD, "30000000000002"))


def _outputs(cli, db) -> dict:
    out = {}
    for order_id in ORDERS:
        for args in (("history", order_id, "--json"), ("show", order_id, "--json"), ("show", order_id, "--json", "--raw")):
            result = cli("--db", db, *args)
            assert result.exit_code == 0, result.stderr
            out[args] = result.stdout  # the text itself: byte-identical
    for args in (("list", "--json"), ("list", "--items", "--json"), ("list", "--items"),
                 *(("list", "--search", term, "--json") for term in ("widget", "sku-c", "000000001"))):
        result = cli("--db", db, *args)
        assert result.exit_code == 0, result.stderr
        out[args] = result.stdout
    return out


def _reads(db) -> dict:
    """What the processing code and the audit read of every commerce item."""
    with Store.open(db) as store:
        items = {
            order_id: [(i.id, i.order_item_id, i.sku, i.name, i.asin, i.qty_shipped) for i in order.items]
            for order_id in ORDERS if (order := store.load_commerce_order(amazon_order_id=order_id)) is not None
        }
        since = NOW.replace(year=2020)
        orders, _ = store.audit_page_facts(list(ORDERS), "main", ["ATVPDKIKX0DER"], since, None)
        return {"items": items, "audit": {k: v.shipped for k, v in sorted(orders.items())}}


def _schema_10_store(path, monkeypatch) -> None:
    with store_at_schema(path, monkeypatch, 10) as store:
        seed(store, _orders())
        _diverge(store, None)
        nulls = store.conn.execute(
            "SELECT count(*) FROM commerce_order_items WHERE sku IS NULL OR name IS NULL").fetchone()[0]
        assert nulls == 0


def _stored(db) -> dict:
    with Store.open(db) as store:
        return {(r[0], r[1]): tuple(r[2:]) for r in store.conn.execute(
            """SELECT c.amazon_order_id, i.order_item_id, i.sku, i.name, i.asin
                 FROM commerce_order_items i JOIN commerce_orders c ON c.id = i.order_id""")}


def test_a_schema_10_store_migrates_in_place_and_reads_the_same(tmp_path, cli, monkeypatch):
    old, reference = tmp_path / "old.db", tmp_path / "reference.db"
    _schema_10_store(old, monkeypatch)
    with Store.open(reference) as store:
        seed(store, _orders())
        _diverge(store, "")
    before, reads_before = _outputs(cli, reference), _reads(reference)
    third = json.loads(before[("show", THIRD, "--json")])["commerce"]["items"]
    assert [(i["name"], i["asin"]) for i in third] == [("Gift box (own name)", "B0TESTFFFF"), ("Widget SKU-G", None)]
    assert json.loads(before[("show", SECOND, "--json")])  # sanity: real output
    with Store.open(old) as store:  # opening migrates
        assert store.schema_version() == MIGRATIONS[-1][0] >= 11
        formats = {r[0]: bytes(r[1])[0] for r in store.conn.execute("SELECT amazon_order_id, raw_zlib FROM amazon_orders")}
        assert all(f == 1 for f in formats.values()), formats  # every order had product fields to leave out
        assert all(rawjson.is_current(bytes(r[0])) for r in store.conn.execute("SELECT raw_zlib FROM amazon_orders"))
    assert _outputs(cli, old) == before
    assert _reads(old) == reads_before
    stored = _stored(old)
    assert stored == _stored(reference)  # migrated rows are stored as new ones are
    assert stored[(UNSHIPPED, "10000000000001")] == (None, None, None)  # Amazon's copy: nothing of its own
    assert stored[(SECOND, "20000000000001")] == (None, "SKU-C", None)  # no Amazon title: the name is its own
    assert stored[(SECOND, "20000000000002")] == ("20000000000002", "(untitled item)", None)
    assert stored[(SECOND, "20000000000003")] == ("20000000000003", "(untitled item)", None)
    assert stored[(THIRD, "30000000000001")] == (None, "Gift box (own name)", None)
    assert stored[(THIRD, "30000000000002")] == (None, None, "")  # no ASIN, though Amazon's item has one
    invoices = {o: [i["comment"] for i in json.loads(before[("show", o, "--json")])["invoices"]] for o in (AFN, FOURTH)}
    assert invoices == {AFN: ["Captured by Amazon (offline)."], FOURTH: [None]}
    with Store.open(old) as store:
        comments = {o: c for o, c in store.conn.execute(
            "SELECT c.amazon_order_id, i.comment FROM invoices i JOIN commerce_orders c ON c.id = i.order_id")}
    assert comments[AFN] is None and comments[FOURTH] == ""  # the usual comment is not stored
    with Store.open(reference) as store:  # nor by the importer
        assert [r[0] for r in store.conn.execute("SELECT comment FROM invoices ORDER BY id")] == [None, ""]

    # Purged alike, written alike afterwards.
    for db in (old, reference):
        with Store.open(db) as store:
            assert store.purge_order_pii([UNSHIPPED, THIRD], NOW) == [UNSHIPPED, THIRD]
            seed(store, _orders())  # the same orders again: replaced in place
    after = _outputs(cli, old)
    assert after == _outputs(cli, reference)
    assert _reads(old) == _reads(reference) == reads_before
    purged_raw = json.loads(after[("show", UNSHIPPED, "--json", "--raw")])["amazon_raw"]
    assert "buyer" not in purged_raw and [i["product"]["title"] for i in purged_raw["orderItems"]] == [
        "Widget SKU-A", "Widget SKU-B"]  # scrubbed of the buyer, not of the products


def test_a_reimport_that_changes_amazons_product_fields_keeps_the_commerce_items_own(tmp_path):
    db = tmp_path / "store.db"
    first = make_order(UNSHIPPED, items=[("10000000000001", "SKU-A", 1, "19.99"), ("10000000000002", "SKU-B", 1, "5.00"),
                                          ("10000000000003", "SKU-C", 1, "2.00"), ("10000000000004", "SKU-D", 1, "1.00")])
    del first["orderItems"][3]["product"]["asin"]
    with Store.open(db) as store:
        seed(store, [first])
        before = [(i.sku, i.name, i.asin) for i in store.load_commerce_order(amazon_order_id=UNSHIPPED).items]
        assert before[3] == ("SKU-D", "Widget SKU-D", None)
        changed = json.loads(json.dumps(first))
        changed["lastUpdatedTime"] = "2026-11-20T11:00:00Z"
        changed["orderItems"][0]["product"].update(title="Widget A, new and improved", sellerSku="SKU-A2")
        changed["orderItems"][1]["product"]["asin"] = None
        changed["orderItems"][3]["product"]["asin"] = "B0LATE0001"  # an ASIN the commerce item did not have
        del changed["orderItems"][2]  # an item Amazon no longer lists
        seed(store, [changed])
        view = store.order_view(UNSHIPPED)
        assert [i.title for i in view.amazon_items] == ["Widget A, new and improved", "Widget SKU-B", "Widget SKU-D"]
        assert [(i.sku, i.name, i.asin) for i in view.commerce.items] == before
        assert [(i.sku, i.name, i.asin) for i in store.load_commerce_order(amazon_order_id=UNSHIPPED).items] == before
        seed(store, [first])  # and back: still the same
        assert [(i.sku, i.name, i.asin) for i in store.load_commerce_order(amazon_order_id=UNSHIPPED).items] == before
    assert _stored(db)[(UNSHIPPED, "10000000000003")] == ("SKU-C", "Widget SKU-C", "B0TESTCCCC")  # kept while Amazon's item was gone


_VALUES = (None, "", "X", "Y")


def test_stored_product_fields_read_back_as_they_were():
    """Whatever the Amazon item holds (or without one), the stored fields give back the
    commerce item's: a sku and name of its own, an ASIN or none ('' is never one)."""
    for amazon in (None, *itertools.product(_VALUES, repeat=3)):
        for values in itertools.product(("X", "Y"), ("X", "Y"), (None, "X", "Y")):
            assert product_fields.filled(product_fields.stored(values, amazon), amazon) == values, (values, amazon)


def _item_rows(raw: dict) -> dict[str, tuple]:
    """The rows the importer writes for ``raw``'s items: (sku, title, asin) by order item id."""
    from amzorders.domain.mapping import parse_order

    return {i.order_item_id: (i.sku, i.title, i.asin) for i in parse_order(raw).items}


def _odd_order() -> dict:
    order = make_order(UNSHIPPED, items=[(f"4000000000000{n}", f"SKU-{n}", 1, "1.00") for n in range(7)])
    items = order["orderItems"]
    items[0]["product"] = {"title": "Widget", "condition": {"conditionType": "NEW"}, "sellerSku": "SKU-0",
                           "asin": "B0ORDER000"}  # another key order
    del items[1]["product"]  # no product at all
    items[2]["product"].update(title=None, asin=None)  # nulls from Amazon
    items[3]["product"].update(title="", sellerSku=7)  # '' and a number: the rows hold None and "7"
    del items[4]["product"]["asin"]  # a key absent
    items[5]["product"]["title"] = "T" * 5000  # longer than the row keeps (MAX_TEXT)
    items[6]["product"]["title"] = "Widget \u00e9 \u2028 \U0001f600"
    items.append({"quantityOrdered": 1, "product": {"title": "no id", "sellerSku": "SKU-X"}})  # skipped by the mapping
    return order


def test_raw_json_leaves_out_only_what_the_item_rows_give_back_exactly():
    order = _odd_order()
    rows = _item_rows(order)
    text = json.dumps(order, ensure_ascii=False, separators=(",", ":"))
    packed = rawjson.pack(order, rows)
    assert json.dumps(order, ensure_ascii=False, separators=(",", ":")) == text  # the order itself is not changed
    assert packed[0] == 1 and rawjson.is_current(packed)
    back = rawjson.unpack(packed, rows)
    assert json.dumps(back, ensure_ascii=False, separators=(",", ":")) == text  # values and key order
    assert len(packed) < len(rawjson.pack(order))
    partial = rawjson.unpack(packed)  # no rows: a reader of other parts
    assert partial["orderItems"][0]["product"] == {"title": "", "condition": {"conditionType": "NEW"},
                                                   "sellerSku": "", "asin": ""}
    assert partial["orderItems"][2]["product"]["title"] is None and partial["orderItems"][3]["product"]["sellerSku"] == 7
    assert partial["orderItems"][5]["product"]["title"] == "T" * 5000
    assert partial["orderItems"][7]["product"]["title"] == "no id"
    assert partial["recipient"] == order["recipient"]


def test_raw_json_with_nothing_to_leave_out_is_packed_plain_and_old_blobs_read():
    order = make_order(UNSHIPPED)
    for item in order["orderItems"]:
        del item["product"]
    assert rawjson.pack(order, _item_rows(order)) == rawjson.pack(order)  # plain dictionary 2
    assert rawjson.pack(make_order(UNSHIPPED), {}) == rawjson.pack(make_order(UNSHIPPED))
    plain = make_order(SECOND)
    for dictionary in (rawjson._DICTIONARY_1, rawjson._DICTIONARY_2):
        old = rawjson.zlib.compressobj(6, rawjson.zlib.DEFLATED, 15, zdict=dictionary)
        blob = old.compress(json.dumps(plain).encode()) + old.flush()
        assert rawjson.unpack(blob, _item_rows(plain)) == rawjson.unpack(blob) == plain


def test_raw_json_refuses_masks_it_cannot_put_back():
    order = make_order(UNSHIPPED)
    rows = _item_rows(order)
    packed = rawjson.pack(order, rows)
    end = packed.index(0xFF)
    for bad in (packed[:end], b"\x01\x07\x07\x07\xff" + packed[end + 1:]):  # no end of masks; more masks than items
        with pytest.raises(ValueError):
            rawjson.unpack(bad, rows)
    with pytest.raises(ValueError):  # an item row missing
        rawjson.unpack(packed, {"10000000000001": rows["10000000000001"]})
    assert store_base.unpack_raw(packed, "", {}) == {}  # the store's reads: unreadable as {}
