"""searchOrders / getOrder of the simulator, over HTTP, checked against Amazon's model."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amzorders.domain.codes import MARKETPLACES
from amzorders.simulator import Simulator
from amzorders.simulator.market import Market
from test_simulator_support import (  # noqa: F401 - fixtures
    ALL_INCLUDED,
    Api,
    api,
    assert_amazon_error,
    assert_orders_valid,
    iso,
    make_sim,
    parse,
    sim,
)

OLD = "2020-01-01T00:00:00Z"


def test_search_validates_and_pages_without_loss_or_duplicates(sim: Simulator, api: Api) -> None:
    orders, pages = api.search_all(createdAfter=OLD, maxResultsPerPage=37, includedData=ALL_INCLUDED)
    assert len(pages) > 1
    for page in pages:
        assert_orders_valid("SearchOrdersResponse", page)
        assert len(page["orders"]) <= 37
        assert "lastUpdatedBefore" not in page
    ids = [o["orderId"] for o in orders]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(sim.order_ids())  # every order created so far (none in the last 2 min)
    created = [o["createdTime"] for o in orders]
    assert created == sorted(created)
    # the upper bound is fixed by the first page and reported on every page
    assert len({p["createdBefore"] for p in pages}) == 1
    assert parse(pages[0]["createdBefore"]) <= sim.now() - timedelta(minutes=2)


def test_generated_orders_are_realistic(sim: Simulator, api: Api) -> None:
    orders, _ = api.search_all(createdAfter=OLD, includedData=ALL_INCLUDED)
    fulfilled = Counter(o["fulfillment"]["fulfilledBy"] for o in orders)
    assert 0.55 < fulfilled["MERCHANT"] / len(orders) < 0.85
    marketplaces = {o["salesChannel"]["marketplaceId"] for o in orders}
    assert len(marketplaces) >= 6 and marketplaces <= set(MARKETPLACES)
    assert any("PRIME" in o["programs"] for o in orders)
    business = [o for o in orders if "AMAZON_BUSINESS" in o["programs"]]
    assert business and all(o["buyer"]["buyerCompanyName"] and o["buyer"]["buyerPurchaseOrderNumber"] for o in business)
    assert any(i["fulfillment"].get("packing", {}).get("giftOption") for o in orders for i in o["orderItems"])
    statuses = Counter(o["fulfillment"]["fulfillmentStatus"] for o in orders)
    assert statuses["SHIPPED"] > statuses["UNSHIPPED"] > 0
    for order in orders:
        assert order["orderId"][3] == "-" and len(order["orderId"]) == 19
        currency = MARKETPLACES[order["salesChannel"]["marketplaceId"]].currency
        total = Decimal(0)
        for item in order["orderItems"]:
            assert len(item["orderItemId"]) == 14 and item["orderItemId"].isdigit()
            assert item["product"]["asin"].startswith("B0") and len(item["product"]["asin"]) == 10
            assert 1 <= item["quantityOrdered"] <= 3
            parts = {b["type"]: Decimal(b["subtotal"]["amount"]) for b in item["proceeds"]["breakdowns"]}
            assert {"ITEM", "SHIPPING", "TAX"} <= set(parts)
            assert sum(parts.values()) == Decimal(item["proceeds"]["proceedsTotal"]["amount"])
            assert parts["ITEM"] == Decimal(item["product"]["price"]["unitPrice"]["amount"]) * item["quantityOrdered"]
            total += Decimal(item["proceeds"]["proceedsTotal"]["amount"])
        grand = order["proceeds"]["grandTotal"]
        assert grand["currencyCode"] == currency and Decimal(grand["amount"]) == total
        digits = 0 if currency == "JPY" else 2
        # the currency's digits, one more where Amazon reports a sub-unit tax amount
        assert -Decimal(grand["amount"]).as_tuple().exponent in (digits, digits + 1)
        assert order["buyer"]["buyerEmail"].split("@")[1].startswith("marketplace.amazon.")
        assert order["recipient"]["deliveryAddress"]["phone"]
        if order["fulfillment"]["fulfillmentStatus"] == "SHIPPED":
            assert order["packages"] and order["packages"][0]["trackingNumber"]
            assert all(i["fulfillment"]["quantityUnfulfilled"] == 0 for i in order["orderItems"])
        assert 1 <= len(order["orderItems"]) <= 5


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({}, "Exactly one of createdAfter and lastUpdatedAfter"),
        ({"createdAfter": OLD, "lastUpdatedAfter": OLD}, "Exactly one"),
        ({"createdAfter": OLD, "lastUpdatedBefore": OLD}, "lastUpdatedBefore cannot be combined"),
        ({"lastUpdatedAfter": OLD, "createdBefore": OLD}, "createdBefore cannot be combined"),
        ({"createdAfter": "yesterday"}, "createdAfter"),
        ({"lastUpdatedAfter": "2026-13-01T00:00:00Z"}, "lastUpdatedAfter"),
        ({"createdAfter": OLD, "createdBefore": "not-a-date"}, "createdBefore"),
        ({"createdAfter": "2026-02-01T00:00:00Z", "createdBefore": "2026-01-01T00:00:00Z"}, "equal to or after"),
        ({"createdAfter": OLD, "maxResultsPerPage": "0"}, "maxResultsPerPage"),
        ({"createdAfter": OLD, "maxResultsPerPage": "101"}, "maxResultsPerPage"),
        ({"createdAfter": OLD, "maxResultsPerPage": "ten"}, "maxResultsPerPage"),
        ({"createdAfter": OLD, "fulfillmentStatuses": "SHIPPED,DELIVERED"}, "DELIVERED"),
        ({"createdAfter": OLD, "fulfilledBy": "SELLER"}, "SELLER"),
        ({"createdAfter": OLD, "includedData": "BUYER,EVERYTHING"}, "EVERYTHING"),
        ({"createdAfter": OLD, "marketplaceIds": "ATVPDKIKX0DER,XXXX"}, "XXXX"),
        ({"createdAfter": OLD, "marketplaceIds": ",".join(["ATVPDKIKX0DER"] * 51)}, "at most 50"),
        ({"createdAfter": OLD, "paginationToken": "garbage"}, "paginationToken"),
        ({"createdAfter": OLD, "sortOrder": "ASC"}, "sortOrder"),
    ],
)
def test_search_rejects_invalid_requests(api: Api, params: dict[str, str], mentions: str) -> None:
    assert_amazon_error(api.search(**params), 400, "InvalidInput", mentions=mentions)


def test_before_must_be_two_minutes_in_the_past(sim: Simulator, api: Api) -> None:
    now = sim.now()
    too_late = iso(now - timedelta(seconds=60))
    assert_amazon_error(api.search(createdAfter=OLD, createdBefore=too_late), 400, "InvalidInput", mentions="2 minutes")
    assert_amazon_error(api.search(lastUpdatedAfter=OLD, lastUpdatedBefore=too_late), 400, "InvalidInput", mentions="2 minutes")
    fine = iso(now - timedelta(minutes=3))
    response = api.search(lastUpdatedAfter=OLD, lastUpdatedBefore=fine, maxResultsPerPage=1)
    assert response.status_code == 200
    assert response.json()["lastUpdatedBefore"] == fine


def test_a_token_must_come_with_the_same_parameters(api: Api) -> None:
    first = api.search(createdAfter=OLD, maxResultsPerPage=5).json()
    token = first["pagination"]["nextToken"]
    assert_amazon_error(api.search(createdAfter="2026-02-01T00:00:00Z", paginationToken=token), 400, "InvalidInput",
                        mentions="same parameters")
    assert api.search(createdAfter=OLD, maxResultsPerPage=5, paginationToken=token).status_code == 200


def test_array_parameters_accept_csv_and_repeats(api: Api) -> None:
    csv = api.search(createdAfter=OLD, fulfillmentStatuses="SHIPPED,CANCELLED", includedData="FULFILLMENT").json()
    repeated = api.call("GET", "/orders/2026-01-01/orders", params=[
        ("createdAfter", OLD), ("fulfillmentStatuses", "SHIPPED"), ("fulfillmentStatuses", "CANCELLED"),
        ("includedData", "FULFILLMENT")]).json()
    assert [o["orderId"] for o in csv["orders"]] == [o["orderId"] for o in repeated["orders"]]
    assert {o["fulfillment"]["fulfillmentStatus"] for o in csv["orders"]} <= {"SHIPPED", "CANCELLED"}


def test_filters_by_marketplace_and_channel(api: Api) -> None:
    orders, _ = api.search_all(createdAfter=OLD, marketplaceIds="A1PA6795UKMFR9,A1VC38T7YXB528",
                               fulfilledBy="AMAZON", includedData="FULFILLMENT,PROCEEDS")
    assert orders
    assert {o["salesChannel"]["marketplaceId"] for o in orders} <= {"A1PA6795UKMFR9", "A1VC38T7YXB528"}
    assert {o["fulfillment"]["fulfilledBy"] for o in orders} == {"AMAZON"}
    jpy = [o for o in orders if o["proceeds"]["grandTotal"]["currencyCode"] == "JPY"]
    assert all("." not in o["proceeds"]["grandTotal"]["amount"] for o in jpy)


def test_included_data_selects_sections(api: Api) -> None:
    bare = api.search(createdAfter=OLD, maxResultsPerPage=20).json()
    assert_orders_valid("SearchOrdersResponse", bare)
    for order in bare["orders"]:
        assert set(order) <= {"orderId", "createdTime", "lastUpdatedTime", "programs", "salesChannel", "orderItems"}
        for item in order["orderItems"]:
            assert {"orderItemId", "quantityOrdered", "product"} <= set(item)
            assert not {"proceeds", "fulfillment", "cancellation", "promotion"} & set(item)
    some = api.search(createdAfter=OLD, maxResultsPerPage=20, includedData="BUYER,FULFILLMENT").json()
    for order in some["orders"]:
        assert "buyer" in order and "fulfillment" in order
        assert "recipient" not in order and "proceeds" not in order and "packages" not in order
        assert all("fulfillment" in item and "proceeds" not in item for item in order["orderItems"])


def test_get_order_matches_search_and_404(sim: Simulator, api: Api) -> None:
    orders, _ = api.search_all(createdAfter=OLD, includedData=ALL_INCLUDED)
    for order in orders[:: max(1, len(orders) // 15)]:
        response = api.get_order(order["orderId"], ALL_INCLUDED)
        assert response.status_code == 200
        assert_orders_valid("GetOrderResponse", response.json())
        assert response.json()["order"] == order == sim.order(order["orderId"])
    assert_amazon_error(api.get_order("111-0000000-0000000"), 404, "NotFound")
    assert_amazon_error(api.get_order("not-an-order"), 404, "NotFound")
    assert_amazon_error(api.get_order(orders[0]["orderId"], "NOPE"), 400, "InvalidInput")
    with pytest.raises(KeyError):
        sim.order("111-0000000-0000000")


def test_pending_orders_are_released_as_time_passes(sim: Simulator, api: Api) -> None:
    new_ids = sim.add_orders(3, fulfilled_by="MERCHANT")
    assert all(sim.order(i)["fulfillment"]["fulfillmentStatus"] in ("PENDING", "PENDING_AVAILABILITY") for i in new_ids)
    sim.advance(minutes=50)
    statuses = {sim.order(i)["fulfillment"]["fulfillmentStatus"] for i in new_ids}
    assert statuses <= {"UNSHIPPED", "PENDING_AVAILABILITY"} and "UNSHIPPED" in statuses
    released = [i for i in new_ids if sim.order(i)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"]
    order = api.get_order(released[0], "FULFILLMENT").json()["order"]
    assert order["lastUpdatedTime"] > order["createdTime"]


def test_afn_orders_are_shipped_by_amazon_later(sim: Simulator) -> None:
    (order_id,) = sim.add_orders(1, fulfilled_by="AMAZON")
    sim.advance(minutes=60 * 12)
    order = sim.order(order_id)
    if order["fulfillment"]["fulfillmentStatus"] != "CANCELLED":
        assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
        assert order["packages"][0]["carrier"]
        assert sum(p["quantity"] for p in order["packages"][0]["packageItems"]) == sum(
            i["quantityOrdered"] for i in order["orderItems"])


def test_new_orders_keep_arriving() -> None:
    with make_sim(arrivals_per_hour=6.0) as sim:
        before = len(sim.order_ids())
        sim.advance(minutes=600)
        assert 40 <= len(sim.order_ids()) - before <= 80


def test_last_updated_windows_are_incremental(sim: Simulator, api: Api) -> None:
    first, pages = api.search_all(lastUpdatedAfter=OLD, includedData="FULFILLMENT")
    watermark = pages[-1]["lastUpdatedBefore"]
    assert len({p["lastUpdatedBefore"] for p in pages}) == 1
    stamps = [o["lastUpdatedTime"] for o in first]
    assert stamps == sorted(stamps) and all(s <= watermark for s in stamps)
    # nothing changes: the next window is empty
    sim.advance(minutes=1)
    again, _ = api.search_all(lastUpdatedAfter=watermark)
    assert [o for o in again if o["lastUpdatedTime"] > watermark] == []
    # a buyer cancel request is an update: it shows in the next window, not before 2 minutes pass
    order_id = first[-1]["orderId"]
    sim.buyer_cancel(order_id)
    immediately, _ = api.search_all(lastUpdatedAfter=watermark)
    assert order_id not in {o["orderId"] for o in immediately}
    sim.advance(minutes=3)
    later, pages = api.search_all(lastUpdatedAfter=watermark, includedData="CANCELLATION")
    changed = [o for o in later if o["orderId"] == order_id]
    assert changed and changed[0]["lastUpdatedTime"] > watermark
    assert changed[0]["orderItems"][0]["cancellation"]["cancellationRequest"]["requester"] == "BUYER"


def test_set_status_hook(sim: Simulator, api: Api) -> None:
    order_id = sim.order_ids()[-1]
    sim.set_status(order_id, "UNFULFILLABLE")
    order = api.get_order(order_id, "FULFILLMENT").json()["order"]
    assert order["fulfillment"]["fulfillmentStatus"] == "UNFULFILLABLE"
    assert parse(order["lastUpdatedTime"]) > sim.now() - timedelta(seconds=5)


def test_same_seed_same_marketplace_other_seed_other() -> None:
    with make_sim(seed=5) as one, make_sim(seed=5) as two, make_sim(seed=6) as other:
        assert one.order_ids() == two.order_ids()
        sample = one.order_ids()[::40]
        assert [one.order(i) for i in sample] == [two.order(i) for i in sample]
        assert set(other.order_ids()).isdisjoint(one.order_ids())


def test_epoch_defaults_to_now() -> None:
    with Simulator(orders=10, rate_limits=False) as sim:
        assert abs((sim.now() - datetime.now(UTC)).total_seconds()) < 5
        created = sorted(parse(sim.order(i)["createdTime"]) for i in sim.order_ids())
        assert len(created) == 10
        assert sim.now() - timedelta(days=31) < created[0] <= created[-1] <= sim.now()


@given(rate=st.floats(0.5, 5000), offset=st.floats(0, 7 * 86400), seed=st.integers(0, 1000))
@settings(max_examples=200, deadline=None)
def test_arrivals_counted_exactly(rate: float, offset: float, seed: int) -> None:
    """Exactly the arrivals created at or before now exist (creation times are whole seconds)."""
    market = Market(seed=seed, orders=5, history_days=1, arrivals_per_hour=rate, epoch=1_700_000_000)
    now = 1_700_000_000 + offset
    count = market.arrived_count(now)
    assert count == 0 or market.arrival_created(count - 1) <= now
    assert market.arrival_created(count) > now
