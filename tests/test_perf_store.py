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
