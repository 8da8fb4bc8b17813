"""Amazon's own sandbox examples (copied from the published models) parse into correct orders."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from amzorders.domain.codes import FULFILLMENT_STATUSES
from amzorders.domain.mapping import OrderPayloadError, parse_money, parse_order

MODEL = json.loads((Path(__file__).parent / "fixtures/spapi-models/orders_2026-01-01.json").read_text())


def _examples(path: str) -> list[dict]:
    responses = MODEL["paths"][path]["get"]["responses"]["200"]["x-amzn-api-sandbox"]["static"]
    return [example["response"] for example in responses]


SEARCH_EXAMPLES = _examples("/orders/2026-01-01/orders")
GET_EXAMPLES = _examples("/orders/2026-01-01/orders/{orderId}")
ALL_ORDERS = [o for r in SEARCH_EXAMPLES for o in r["orders"]] + [r["order"] for r in GET_EXAMPLES]


def test_there_are_sandbox_examples_to_check():
    assert len(SEARCH_EXAMPLES) >= 3
    assert len(GET_EXAMPLES) >= 1
    assert len(ALL_ORDERS) >= 4


@pytest.mark.parametrize("raw", ALL_ORDERS, ids=lambda o: o["orderId"])
def test_every_sandbox_order_parses_with_exact_money(raw):
    order = parse_order(raw)
    assert order.order_id == raw["orderId"]
    assert order.created_time.tzinfo is not None and order.last_updated_time.tzinfo is not None
    assert order.status == raw["fulfillment"]["fulfillmentStatus"]
    assert order.status in FULFILLMENT_STATUSES
    assert len(order.items) == len(raw["orderItems"])
    for item, raw_item in zip(order.items, raw["orderItems"]):
        assert item.order_item_id == raw_item["orderItemId"]
        assert item.quantity_ordered == raw_item["quantityOrdered"]
        assert item.sku == raw_item["product"].get("sellerSku")
        unit = raw_item["product"].get("price", {}).get("unitPrice")
        if unit:
            assert item.unit_price.amount == Decimal(unit["amount"])
            assert isinstance(item.unit_price.amount, Decimal)
            assert item.unit_price.currency == unit["currencyCode"]
    total = raw.get("proceeds", {}).get("grandTotal")
    if total:
        assert order.grand_total.amount == Decimal(total["amount"])
        assert order.currency == total["currencyCode"]
    assert order.warnings == ()


def test_japanese_afn_example_in_detail():
    raw = next(o for o in ALL_ORDERS if o["orderId"] == "250-1234567-8901234")
    order = parse_order(raw)
    assert order.channel == "AFN"
    assert order.is_prime
    assert order.grand_total.to_str() == "19940"  # JPY has no minor unit
    assert order.item_count == 3
    assert order.items[1].item_price.amount == Decimal("13960")
    assert order.items[1].quantity_shipped == 2
    assert order.shipping_address.city == "Tokyo"
    assert order.seller_order_id == "JP-ORDER-2024-001"


def test_missing_optional_sections_are_tolerated_and_reported():
    order = parse_order(
        {
            "orderId": "111-0000000-0000001",
            "createdTime": "2026-11-01T10:00:00Z",
            "salesChannel": {"channelName": "AMAZON"},
            "orderItems": [{"orderItemId": "1", "quantityOrdered": 2, "product": {}}],
        }
    )
    assert order.status == "PENDING"  # unknown status is read as the safe one
    assert order.grand_total is None
    assert any("lastUpdatedTime" in w for w in order.warnings)
    assert any("fulfillment status" in w for w in order.warnings)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"orderId": "x"},
        {"orderId": "x", "createdTime": "yesterday", "orderItems": []},
        {"orderId": "x", "createdTime": "2026-11-01T10:00:00Z"},
        [],
    ],
)
def test_orders_without_essentials_are_refused(payload):
    with pytest.raises(OrderPayloadError):
        parse_order(payload)


def test_money_is_never_a_float():
    assert parse_money({"amount": "0.10", "currencyCode": "usd"}).amount == Decimal("0.10")
    assert parse_money({"amount": "1e400", "currencyCode": "USD"}).amount == Decimal("1e400")
    warnings: list[str] = []
    assert parse_money({"amount": "NaN", "currencyCode": "USD"}, warnings, "x") is None
    assert warnings
    assert parse_money({"amount": "abc", "currencyCode": "USD"}) is None
    assert parse_money({"currencyCode": "USD"}) is None
