"""The importer against a real SQLite file: idempotent upserts and commerce orders."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from amzorders.domain.views import OrderQuery
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.store import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def make_order(order_id="111-0000001-0000001", status="UNSHIPPED", updated="2026-11-20T10:00:00Z",
               fulfilled_by="MERCHANT", shipped=0, items=None, cancel_request=False):
    items = items or [("10000000000001", "SKU-A", 2, "19.99"), ("10000000000002", "SKU-B", 1, "5.00")]
    order_items = []
    for item_id, sku, qty, price in items:
        line = Decimal(price) * qty
        item = {
            "orderItemId": item_id,
            "quantityOrdered": qty,
            "product": {"asin": "B0TEST" + sku[-1] * 4, "title": f"Widget {sku}", "sellerSku": sku,
                        "price": {"unitPrice": {"amount": price, "currencyCode": "USD"}}},
            "proceeds": {
                "proceedsTotal": {"amount": str(line + Decimal("1.50")), "currencyCode": "USD"},
                "breakdowns": [
                    {"type": "ITEM", "subtotal": {"amount": str(line), "currencyCode": "USD"}},
                    {"type": "SHIPPING", "subtotal": {"amount": "1.50", "currencyCode": "USD"}},
                ],
            },
            "fulfillment": {"quantityFulfilled": min(shipped, qty), "quantityUnfulfilled": qty - min(shipped, qty)},
        }
        if cancel_request:
            item["cancellation"] = {"cancellationRequest": {"requester": "BUYER", "cancelReason": "Ordered by mistake"}}
        order_items.append(item)
    total = sum(Decimal(p) * q + Decimal("1.50") for _, _, q, p in items)
    return {
        "orderId": order_id,
        "createdTime": "2026-11-20T09:00:00Z",
        "lastUpdatedTime": updated,
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER", "marketplaceName": "Amazon.com"},
        "buyer": {"buyerName": "Jane Buyer", "buyerEmail": "jane@marketplace.amazon.com"},
        "recipient": {"deliveryAddress": {"name": "Jane Buyer", "addressLine1": "1 Main St", "city": "Seattle",
                                          "stateOrRegion": "WA", "postalCode": "98101", "countryCode": "US"}},
        "proceeds": {"grandTotal": {"amount": str(total), "currencyCode": "USD"}},
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": fulfilled_by,
                        "shipByWindow": {"latestDateTime": "2026-11-22T23:59:59Z"}},
        "orderItems": order_items,
    }


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "orders.db")
    yield s
    s.close()


def run(store, pages, **settings):
    importer = OrderImporter(store, ImportSettings(account="main", **settings), now=lambda: NOW)
    result = ImportResult()
    for page in pages:
        importer.store_page(page, result)
    return result


def test_new_unshipped_order_gets_a_commerce_order_with_totals(store):
    result = run(store, [[make_order()]])
    assert (result.new, result.commerce_created) == (1, 1)
    view = store.order_view("111-0000001-0000001")
    c = view.commerce
    assert c.increment_id == "000000001"
    assert (c.state, c.status) == ("new", "pending")
    assert c.subtotal == Decimal("44.98")
    assert c.shipping_amount == Decimal("3.00")
    assert c.grand_total == Decimal("47.98")
    assert [i.qty_ordered for i in c.items] == [2, 1]
    assert any("Commerce order 000000001 created" in h.comment for h in view.history)


def test_same_order_twice_is_stored_once(store):
    run(store, [[make_order()], [make_order()]])
    run(store, [[make_order(), make_order()]])
    assert store.count_orders() == 1
    assert len(store.list_orders(OrderQuery())) == 1
    assert store.conn.execute("SELECT count(*) FROM commerce_orders").fetchone()[0] == 1
    assert store.conn.execute("SELECT count(*) FROM amazon_order_items").fetchone()[0] == 2


def test_older_copy_never_overwrites_newer(store):
    run(store, [[make_order(status="SHIPPED", shipped=5, updated="2026-11-20T11:00:00Z")]])
    result = run(store, [[make_order(status="UNSHIPPED", updated="2026-11-20T10:00:00Z")]])
    assert result.unchanged == 1
    assert store.list_orders(OrderQuery())[0].amazon_status == "SHIPPED"


def test_pending_order_waits_for_release_then_gets_commerce_order(store):
    run(store, [[make_order(status="PENDING", updated="2026-11-20T09:00:00Z")]])
    row = store.list_orders(OrderQuery())[0]
    assert row.increment_id is None and row.amazon_status == "PENDING"
    result = run(store, [[make_order(status="UNSHIPPED", updated="2026-11-20T09:30:00Z")]])
    assert result.commerce_created == 1
    view = store.order_view("111-0000001-0000001")
    assert view.commerce is not None
    assert any("from PENDING to UNSHIPPED" in h.comment for h in view.history)


def test_import_disabled_keeps_amazon_order_only(store):
    result = run(store, [[make_order()]], import_orders=False)
    assert result.new == 1 and result.commerce_created == 0
    assert store.order_view("111-0000001-0000001").commerce is None


def test_amazon_order_number_as_commerce_number(store):
    run(store, [[make_order()]], order_number_source="amazon")
    assert store.order_view("111-0000001-0000001").commerce.increment_id == "111-0000001-0000001"


def test_afn_shipped_order_comes_in_complete(store):
    run(store, [[make_order(status="SHIPPED", fulfilled_by="AMAZON", shipped=5)]])
    view = store.order_view("111-0000001-0000001")
    assert view.commerce.state == "complete"
    assert all(i.qty_invoiced == i.qty_ordered == i.qty_shipped for i in view.commerce.items)
    assert view.commerce.total_paid == view.commerce.grand_total
    assert len(view.invoices) == 1 and len(view.shipments) == 1


def test_afn_unshipped_order_gets_no_commerce_order_yet(store):
    run(store, [[make_order(status="UNSHIPPED", fulfilled_by="AMAZON")]])
    assert store.order_view("111-0000001-0000001").commerce is None


def test_seller_central_shipment_recorded_once(store):
    run(store, [[make_order()]])
    partial = make_order(status="PARTIALLY_SHIPPED", shipped=1, updated="2026-11-20T11:00:00Z")
    run(store, [[partial]])
    run(store, [[copy.deepcopy(partial)]])
    later = copy.deepcopy(partial)
    later["lastUpdatedTime"] = "2026-11-20T11:30:00Z"
    run(store, [[later]])  # newer copy, same quantities: nothing more is shipped
    view = store.order_view("111-0000001-0000001")
    assert [i.qty_shipped for i in view.commerce.items] == [1, 1]
    assert len(view.shipments) == 1
    assert view.commerce.state == "processing"


def test_amazon_cancellation_cancels_commerce_order(store):
    run(store, [[make_order()]])
    run(store, [[make_order(status="CANCELLED", updated="2026-11-20T11:00:00Z")]])
    c = store.order_view("111-0000001-0000001").commerce
    assert c.state == "canceled"
    assert [i.qty_canceled for i in c.items] == [2, 1]
    assert c.total_canceled == c.grand_total


def test_buyer_cancel_request_is_noted_once(store):
    run(store, [[make_order()]])
    run(store, [[make_order(cancel_request=True, updated="2026-11-20T11:00:00Z")]])
    run(store, [[make_order(cancel_request=True, updated="2026-11-20T11:05:00Z")]])
    view = store.order_view("111-0000001-0000001")
    notes = [h for h in view.history if "asked to cancel" in h.comment]
    assert len(notes) == 1 and "Ordered by mistake" in notes[0].comment
    assert view.summary.buyer_cancel_requested


def test_unparseable_order_is_reported_and_the_rest_stored(store):
    result = run(store, [[{"orderId": "bad"}, make_order()]])
    assert result.rejected and result.rejected[0][0] == "bad"
    assert store.count_orders() == 1


def test_search_finds_by_sku_buyer_email_and_commerce_number(store):
    run(store, [[make_order(), make_order(order_id="222-0000001-0000002", items=[("9", "OTHER-9", 1, "3.00")])]])
    assert [r.amazon_order_id for r in store.list_orders(OrderQuery(search="SKU-B"))] == ["111-0000001-0000001"]
    assert len(store.list_orders(OrderQuery(search="jane@marketplace"))) == 2
    assert [r.amazon_order_id for r in store.list_orders(OrderQuery(search="000000002"))] == ["222-0000001-0000002"]
    assert store.list_orders(OrderQuery(search="100%_x")) == []


def test_rereading_an_unchanged_pending_order_counts_as_unchanged(store):
    run(store, [[make_order(status="PENDING")]])
    result = run(store, [[make_order(status="PENDING")]])
    assert (result.updated, result.unchanged) == (0, 1)
    result = run(store, [[make_order(status="UNSHIPPED")]], import_orders=False)
    assert result.updated == 1
    result = run(store, [[make_order(status="UNSHIPPED")]], import_orders=False)
    assert (result.updated, result.unchanged) == (0, 1)


class _Page:
    def __init__(self, orders, next_token=None, last_updated_before=None):
        self.orders = orders
        self.next_token = next_token
        self.last_updated_before = last_updated_before


class _RecordedAmazon:
    """Replays pages as Amazon's client would yield them (a response missing its bound)."""

    def __init__(self, pages):
        self.pages = pages
        self.call_count = 0

    def search_orders(self, **kwargs):
        for page in self.pages:
            self.call_count += 1
            yield page


def test_watermark_falls_back_to_the_request_time_when_amazon_names_no_bound(store):
    from datetime import timedelta

    from amzorders.services.importer import sync_orders

    amazon = _RecordedAmazon([_Page([make_order()], last_updated_before=None)])
    result = sync_orders(store, amazon, ImportSettings(account="main"), now=lambda: NOW)
    assert result.watermark == NOW - timedelta(minutes=2)
    assert store.get_watermark("main") == NOW - timedelta(minutes=2)


def test_a_page_is_numbered_in_order_around_taken_numbers(store):
    # Amazon numbering first: order "000000002" keeps its own number, which the counter
    # reaches later; a page of new orders then skips it, in page order, without gaps.
    run(store, [[make_order(order_id="000000002")]], order_number_source="amazon")
    page = [make_order(order_id=f"111-0000001-000000{n}") for n in range(1, 4)]
    page.append(make_order(order_id="111-0000001-0000009", status="SHIPPED", fulfilled_by="AMAZON", shipped=5))
    result = run(store, [page])
    assert result.commerce_created == 4
    numbers = [store.order_view(o["orderId"]).commerce.increment_id for o in page]
    assert numbers == ["000000001", "000000003", "000000004", "000000005"]
    shipped = store.order_view("111-0000001-0000009")
    assert [i.increment_id for i in shipped.invoices] == ["000000001"]
    assert [s.increment_id for s in shipped.shipments] == ["000000001"]
    assert [h.comment for h in shipped.history if h.comment.startswith("Commerce order")] == [
        "Commerce order 000000005 created from Amazon order 111-0000001-0000009."
    ]


def test_a_page_mixes_new_orders_with_ones_whose_commerce_order_is_created_now(store):
    # PENDING first (no commerce order), then one page with it UNSHIPPED and a new order:
    # both commerce orders are created with the page; the search finds the new numbers.
    run(store, [[make_order(status="PENDING", updated="2026-11-20T09:30:00Z")]])
    run(store, [[make_order(), make_order(order_id="111-0000001-0000002")]])
    for order_id in ("111-0000001-0000001", "111-0000001-0000002"):
        view = store.order_view(order_id)
        assert view.commerce is not None and view.commerce.state == "new"
        found = store.list_orders(OrderQuery(search=view.commerce.increment_id))
        assert [o.amazon_order_id for o in found] == [order_id]
    assert len(store.order_view("111-0000001-0000001").amazon_items) == 2  # replaced, not doubled
