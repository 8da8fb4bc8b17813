"""Correctness of the performance changes in the store and importer (issue 5):

- list --search uses plain LIKE (answered by the trigram index) for ordinary terms and
  keeps the escaped LIKE for terms with %, _ or \\: both must find the same orders as a
  literal, case-insensitive substring search.
- a new order's search row is written once, with its commerce number in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from amzorders.domain.views import OrderQuery
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.simulator import Simulator
from amzorders.store import Store


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Store, list[dict]]:
    sim = Simulator(tmp_path / "market.json", seed=21, orders=40, rate_limits=False)
    orders = [sim.order(order_id) for order_id in sim.order_ids()[:30]]
    store = Store.open(tmp_path / "store.db")
    OrderImporter(store, ImportSettings(account="main")).store_page(orders, ImportResult())
    yield store, orders
    store.close()


def _search(store: Store, term: str) -> set[str]:
    query = OrderQuery(search=term, limit=1000)
    return {row.amazon_order_id for row in store.list_orders(query)}


def _expected(store: Store, term: str) -> set[str]:
    """Literal, case-insensitive substring match over the search rows, done in Python."""
    rows = store.conn.execute(
        "SELECT a.amazon_order_id, s.text FROM amazon_orders a JOIN order_search s ON s.rowid = a.id"
    ).fetchall()
    return {order_id for order_id, text in rows if term.lower() in text.lower()}


def test_search_finds_the_same_orders_as_a_literal_substring_match(imported) -> None:
    store, orders = imported
    first = orders[0]
    item = first["orderItems"][0]["product"]
    terms = [
        first["orderId"],
        first["orderId"][4:11],  # part of an order number
        item["sellerSku"],
        item["sellerSku"].lower(),  # case-insensitive
        item["title"].split(",")[0].upper(),
        first["buyer"]["buyerName"] if first.get("buyer") else "Miller",
        "zz-no-such-text",
    ]
    for term in terms:
        found = _search(store, term)
        assert found == _expected(store, term), term
    assert first["orderId"] in _search(store, item["sellerSku"])


def test_wildcard_characters_are_still_literal(imported) -> None:
    store, _ = imported
    for term in ("%", "_", "a%b", "1_2", "\\"):
        assert _search(store, term) == _expected(store, term), term
    assert _search(store, "%") == set()  # no search row holds a literal %


def test_new_orders_get_one_search_row_with_their_commerce_number(imported) -> None:
    store, orders = imported
    counts = store.conn.execute(
        "SELECT (SELECT count(*) FROM amazon_orders), (SELECT count(*) FROM order_search)"
    ).fetchone()
    assert counts[0] == counts[1] == len(orders)
    rows = store.conn.execute(
        """SELECT c.increment_id, a.amazon_order_id FROM commerce_orders c
           JOIN amazon_orders a ON a.amazon_order_id = c.amazon_order_id"""
    ).fetchall()
    assert rows, "the simulator's orders should create commerce orders"
    for increment_id, amazon_order_id in rows:
        assert _search(store, increment_id) == {amazon_order_id}


def test_reimport_of_a_changed_order_keeps_its_commerce_number_searchable(imported) -> None:
    store, orders = imported
    increment_id, amazon_order_id = store.conn.execute(
        "SELECT increment_id, amazon_order_id FROM commerce_orders ORDER BY id LIMIT 1"
    ).fetchone()
    raw = dict(next(o for o in orders if o["orderId"] == amazon_order_id))
    raw["lastUpdatedTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = ImportResult()
    OrderImporter(store, ImportSettings(account="main")).store_page([raw], result)
    assert result.updated == 1
    assert _search(store, increment_id) == {amazon_order_id}
    assert store.conn.execute("SELECT count(*) FROM order_search").fetchone()[0] == len(orders)


def _python_sorted(store: Store, key: str, descending: bool) -> list[str]:
    rows = store.conn.execute(
        f"SELECT amazon_order_id, {key}, id FROM amazon_orders"
    ).fetchall()
    return [r[0] for r in sorted(rows, key=lambda r: (r[1], r[2]), reverse=descending)]


@pytest.mark.parametrize("sort", ["-purchase_date", "purchase_date", "-last_updated", "amazon_order_id"])
def test_sorts_on_never_null_columns_order_every_row_with_id_breaking_ties(imported, sort) -> None:
    # These sorts have no 'IS NULL' key (so the purchase-date index serves the default
    # listing): the order must still be the full order by value, then id.
    store, orders = imported
    column = {"purchase_date": "purchase_date", "last_updated": "last_updated", "amazon_order_id": "amazon_order_id"}
    expected = _python_sorted(store, column[sort.lstrip("-")], sort.startswith("-"))
    assert [r.amazon_order_id for r in store.list_orders(OrderQuery(sort=sort, limit=1000))] == expected
    page = store.list_orders(OrderQuery(sort=sort, limit=7, offset=5))
    assert [r.amazon_order_id for r in page] == expected[5:12]


def test_ship_by_sort_still_puts_orders_without_one_last(imported) -> None:
    store, _ = imported
    store.conn.execute("UPDATE amazon_orders SET ship_by = NULL WHERE id IN (SELECT min(id) FROM amazon_orders)")
    for sort in ("ship_by", "-ship_by"):
        rows = store.list_orders(OrderQuery(sort=sort, limit=1000))
        assert rows[-1].ship_by is None and all(r.ship_by is not None for r in rows[:-1]), sort


def test_counts_match_the_listing_with_and_without_commerce_filters(imported) -> None:
    # The count leaves the commerce join out unless a filter reads the commerce order.
    store, orders = imported
    store.conn.execute(
        "UPDATE commerce_orders SET state = 'holded' WHERE id = (SELECT min(id) FROM commerce_orders)"
    )
    statuses = [r[0] for r in store.conn.execute("SELECT DISTINCT status FROM commerce_orders")]
    queries = [
        OrderQuery(limit=1000),
        OrderQuery(held=True, limit=1000),
        OrderQuery(held=False, limit=1000),
        OrderQuery(commerce_statuses=(statuses[0],), limit=1000),
        OrderQuery(statuses=("UNSHIPPED",), limit=1000),
        OrderQuery(search=orders[0]["orderId"][:7], limit=1000),
    ]
    for query in queries:
        assert store.count_matching_orders(query) == len(store.list_orders(query)), query
    assert store.count_matching_orders(OrderQuery()) == len(orders)
    assert store.count_matching_orders(OrderQuery(held=True)) == 1
    assert store.count_matching_orders(OrderQuery(held=False)) == len(orders) - 1
