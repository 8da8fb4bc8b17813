"""confirmShipment and the cancel / refund feeds of the simulator, over HTTP."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from amzorders.simulator import Simulator
from test_simulator_support import (  # noqa: F401 - fixtures
    ALL_INCLUDED,
    Api,
    api,
    assert_amazon_error,
    assert_orders_valid,
    find_order,
    sim,
)

CANCEL = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
REFUND = "POST_PAYMENT_ADJUSTMENT_DATA"


def shipment(order: dict[str, Any], *, reference: str = "1", quantities: dict[str, int] | None = None,
             carrier: str = "UPS", **detail: Any) -> dict[str, Any]:
    items = quantities or {i["orderItemId"]: i["quantityOrdered"] for i in order["orderItems"]}
    body = {
        "marketplaceId": order["salesChannel"]["marketplaceId"],
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": carrier,
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-03-02T10:00:00Z",
            "orderItems": [{"orderItemId": k, "quantity": v} for k, v in items.items()],
        },
    }
    body["packageDetail"].update(detail)
    return body


def test_confirm_shipment_ships_the_order(sim: Simulator, api: Api) -> None:
    order = find_order(sim, status="UNSHIPPED")
    before = order["lastUpdatedTime"]
    response = api.confirm(order["orderId"], shipment(order, shippingMethod="Ground"))
    assert response.status_code == 204 and response.content == b""
    assert response.headers["x-amzn-RateLimit-Limit"] == "2"
    after = api.get_order(order["orderId"], ALL_INCLUDED).json()
    assert_orders_valid("GetOrderResponse", after)
    shipped = after["order"]
    assert shipped["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert shipped["lastUpdatedTime"] > before
    (package,) = shipped["packages"]
    assert package["carrier"] == "UPS" and package["trackingNumber"] == "1Z999AA10123456784"
    assert package["shipTime"] == "2026-03-02T10:00:00Z" and package["shippingService"] == "Ground"
    assert all(i["fulfillment"]["quantityUnfulfilled"] == 0 for i in shipped["orderItems"])
    (action,) = sim.received_actions("confirmShipment")
    assert action["accepted"] and action["order_id"] == order["orderId"] and not action["duplicate"]
    assert action["payload"]["packageDetail"]["trackingNumber"] == "1Z999AA10123456784"


def test_partial_shipments_then_idempotent_repeat(sim: Simulator, api: Api) -> None:
    (order_id,) = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", items=[2, 1])
    order = sim.order(order_id)
    first, second = (i["orderItemId"] for i in order["orderItems"])
    part = shipment(order, reference="P1", quantities={first: 1})
    assert api.confirm(order_id, part).status_code == 204
    state = sim.order(order_id)
    assert state["fulfillment"]["fulfillmentStatus"] == "PARTIALLY_SHIPPED"
    assert state["orderItems"][0]["fulfillment"] == {"quantityFulfilled": 1, "quantityUnfulfilled": 1}
    # the same package again: accepted, not applied twice, recorded as a duplicate
    assert api.confirm(order_id, part).status_code == 204
    assert sim.order(order_id)["orderItems"][0]["fulfillment"]["quantityFulfilled"] == 1
    assert [a["duplicate"] for a in sim.received_actions("confirmShipment")] == [False, True]
    # the same reference with other content is refused
    assert_amazon_error(api.confirm(order_id, shipment(order, reference="P1", quantities={second: 1})), 400,
                        "InvalidInput", mentions="already used")
    assert api.confirm(order_id, shipment(order, reference="P2", quantities={first: 1, second: 1})).status_code == 204
    final = sim.order(order_id)
    assert final["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert [p["packageReferenceId"] for p in final["packages"]] == ["P1", "P2"]
    # nothing is left to ship
    assert_amazon_error(api.confirm(order_id, shipment(order, reference="P3", quantities={first: 1})), 400,
                        "InvalidInput", mentions="SHIPPED")


def _broken(order: dict[str, Any], change: str) -> dict[str, Any]:
    body = shipment(order)
    detail = body["packageDetail"]
    item = detail["orderItems"][0]
    if change == "marketplace":
        body["marketplaceId"] = "A1F83G8C2ARO7P" if body["marketplaceId"] != "A1F83G8C2ARO7P" else "ATVPDKIKX0DER"
    elif change == "no_marketplace":
        del body["marketplaceId"]
    elif change in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems"):
        del detail[change]
    elif change == "carrier":
        detail["carrierCode"] = "Pony Express"
    elif change == "other_without_name":
        detail["carrierCode"] = "Other"
    elif change == "ship_date":
        detail["shipDate"] = "02/21/2022"
    elif change == "foreign_item":
        item["orderItemId"] = "99999999999999"
    elif change == "zero":
        item["quantity"] = 0
    elif change == "too_many":
        item["quantity"] += 1
    elif change == "no_package":
        del body["packageDetail"]
    return body


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ("marketplace", "marketplace"),
        ("no_marketplace", "marketplaceId"),
        ("no_package", "packageDetail"),
        ("packageReferenceId", "packageReferenceId"),
        ("carrierCode", "carrierCode"),
        ("trackingNumber", "trackingNumber"),
        ("shipDate", "shipDate"),
        ("orderItems", "orderItems"),
        ("carrier", "carrierCode"),
        ("other_without_name", "carrierName"),
        ("ship_date", "shipDate"),
        ("foreign_item", "does not belong"),
        ("zero", "quantity"),
        ("too_many", "exceeds"),
    ],
)
def test_confirm_shipment_validation(sim: Simulator, api: Api, change: str, mentions: str) -> None:
    order = find_order(sim, status="UNSHIPPED")
    assert_amazon_error(api.confirm(order["orderId"], _broken(order, change)), 400, "InvalidInput", mentions=mentions)
    assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    (action,) = sim.received_actions("confirmShipment")
    assert action["accepted"] is False and mentions.lower() in action["error"].lower()


def test_confirm_shipment_state_rules(sim: Simulator, api: Api) -> None:
    afn = find_order(sim, status="SHIPPED", fulfilled_by="AMAZON")
    assert_amazon_error(api.confirm(afn["orderId"], shipment(afn)), 400, "InvalidInput", mentions="fulfilled by Amazon")
    (pending,) = sim.add_orders(1, status="PENDING", fulfilled_by="MERCHANT")
    assert_amazon_error(api.confirm(pending, shipment(sim.order(pending))), 400, "InvalidInput", mentions="PENDING")
    assert_amazon_error(api.confirm("111-0000000-0000000", shipment(afn)), 404, "NotFound")
    other = find_order(sim, status="UNSHIPPED")
    response = api.confirm(other["orderId"], shipment(other, carrier="Other", carrierName="Local Courier"))
    assert response.status_code == 204
    assert sim.order(other["orderId"])["packages"][0]["carrier"] == "Local Courier"
    raw = api.call("POST", f"/orders/v0/orders/{other['orderId']}/shipmentConfirmation", data=b"{not json")
    assert_amazon_error(raw, 400, "InvalidInput")


def cancel_xml(order: dict[str, Any], reason: str = "NoInventory", items: list[str] | None = None) -> str:
    item_ids = items if items is not None else [i["orderItemId"] for i in order["orderItems"]]
    lines = "".join(f"<Item><AmazonOrderItemCode>{i}</AmazonOrderItemCode><CancelReason>{reason}</CancelReason></Item>"
                    for i in item_ids)
    return (f"<OrderAcknowledgement><AmazonOrderID>{order['orderId']}</AmazonOrderID>"
            f"<MerchantOrderID>100000123</MerchantOrderID><StatusCode>Failure</StatusCode>{lines}</OrderAcknowledgement>")


def envelope(message_type: str, bodies: list[str]) -> str:
    messages = "".join(f"<Message><MessageID>{n}</MessageID>{body}</Message>" for n, body in enumerate(bodies, start=1))
    return ('<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope><Header><DocumentVersion>1.01</DocumentVersion>'
            f"<MerchantIdentifier>M_SIM</MerchantIdentifier></Header><MessageType>{message_type}</MessageType>"
            f"{messages}</AmazonEnvelope>")


def run_feed(sim: Simulator, api: Api, feed_type: str, xml: str) -> tuple[dict[str, Any], str]:
    feed_id = api.submit_feed(feed_type, xml)
    assert api.get_feed(feed_id)["processingStatus"] == "IN_QUEUE"
    sim.advance(seconds=30)
    in_progress = api.get_feed(feed_id)
    assert in_progress["processingStatus"] == "IN_PROGRESS" and "processingStartTime" in in_progress
    sim.advance(seconds=61)
    feed = api.get_feed(feed_id)
    return feed, api.feed_report(feed) if "resultFeedDocumentId" in feed else ""


def test_cancel_feed_cancels_unshipped_and_refuses_shipped(sim: Simulator, api: Api) -> None:
    unshipped = find_order(sim, status="UNSHIPPED")
    shipped = find_order(sim, status="SHIPPED")
    xml = envelope("OrderAcknowledgement", [cancel_xml(unshipped), cancel_xml(shipped),
                                            cancel_xml(unshipped, reason="ChangedMyMind")])
    feed, report = run_feed(sim, api, CANCEL, xml)
    assert feed["processingStatus"] == "DONE" and feed["processingEndTime"]
    assert "<MessagesProcessed>3</MessagesProcessed>" in report
    assert "<MessagesSuccessful>1</MessagesSuccessful>" in report
    assert "<MessagesWithError>2</MessagesWithError>" in report
    assert f"<AmazonOrderID>{shipped['orderId']}</AmazonOrderID>" in report and "only UNSHIPPED" in report
    cancelled = sim.order(unshipped["orderId"])
    assert cancelled["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    execution = cancelled["orderItems"][0]["cancellation"]["cancellationExecution"]
    assert execution == {"cancelledBy": "MERCHANT", "cancelReason": "NoInventory"}
    assert cancelled["lastUpdatedTime"] > unshipped["lastUpdatedTime"]
    assert sim.order(shipped["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    actions = sim.received_actions("cancel")
    assert [a["accepted"] for a in actions] == [True, False, False]
    assert all(a["feed_id"] == feed["feedId"] for a in actions)
    # effects are applied once, however often the feed is read
    api.get_feed(feed["feedId"])
    assert len(sim.received_actions("cancel")) == 3


def refund_xml(order: dict[str, Any], adjustment_id: str, components: dict[str, str], *,
               reason: str = "CustomerReturn", currency: str | None = None, item: int = 0) -> str:
    currency = currency or order["proceeds"]["grandTotal"]["currencyCode"]
    parts = "".join(f'<Component><Type>{kind}</Type><Amount currency="{currency}">{amount}</Amount></Component>'
                    for kind, amount in components.items())
    return (f"<OrderAdjustment><AmazonOrderID>{order['orderId']}</AmazonOrderID>"
            f"<MerchantAdjustmentID>{adjustment_id}</MerchantAdjustmentID><AdjustedItem>"
            f"<AmazonOrderItemCode>{order['orderItems'][item]['orderItemId']}</AmazonOrderItemCode>"
            f"<AdjustmentReason>{reason}</AdjustmentReason><ItemPriceAdjustments>{parts}</ItemPriceAdjustments>"
            "</AdjustedItem></OrderAdjustment>")


def test_refund_feed_applies_up_to_what_was_charged(sim: Simulator, api: Api) -> None:
    order = find_order(sim, status="SHIPPED")
    item = order["orderItems"][0]
    breakdown = {b["type"]: Decimal(b["subtotal"]["amount"]) for b in item["proceeds"]["breakdowns"]}
    principal = breakdown["ITEM"]  # Principal is held to the item price; promotions go back separately
    half = (principal / 2).quantize(Decimal("0.01"))
    rest = principal - half
    messages = [
        refund_xml(order, "R1", {"Principal": str(half), "Tax": "0.01"}),
        refund_xml(order, "R1", {"Principal": "0.01"}),  # the same id again: Amazon applies it again
        refund_xml(order, "R2", {"Principal": str(rest)}),  # over the rest (0.01 went with the repeat)
        refund_xml(order, "R3", {"Principal": "1.00"}, reason="BecauseISaidSo"),
        refund_xml(order, "R4", {"Principal": "1.00"}, currency="XXX"),
        refund_xml(order, "R5", {"Bribe": "1.00"}),
        refund_xml(order, "R6", {"Principal": str(rest - Decimal("0.01"))}),
    ]
    feed, report = run_feed(sim, api, REFUND, envelope("OrderAdjustment", messages))
    assert feed["processingStatus"] == "DONE"
    assert "<MessagesSuccessful>3</MessagesSuccessful>" in report and "<MessagesWithError>4</MessagesWithError>" in report
    assert "more than" in report
    refunds = sim.refunds(order["orderId"])
    assert [(r["merchant_adjustment_id"], r["component"], r["amount"]) for r in refunds] == [
        ("R1", "Principal", half), ("R1", "Tax", Decimal("0.01")), ("R1", "Principal", Decimal("0.01")),
        ("R6", "Principal", rest - Decimal("0.01"))]
    assert all(isinstance(r["amount"], Decimal) for r in refunds)
    actions = sim.received_actions("refund")
    assert [a["accepted"] for a in actions] == [True, True, False, False, False, False, True]
    assert actions[1]["duplicate"] is True  # applied a second time


def test_refund_signs_minor_units_and_charged_units_are_enforced(sim: Simulator, api: Api) -> None:
    order = find_order(sim, status="SHIPPED")
    messages = [
        refund_xml(order, "S1", {"Principal": "-1.00"}),  # a refund to the buyer is positive
        refund_xml(order, "S2", {"Principal": "1.00", "RestockingFee": "0.50"}),  # kept from the buyer: negative
        refund_xml(order, "S3", {"Principal": "1.005"}),  # more decimals than the currency has
        refund_xml(order, "S4", {"Principal": "1.00", "RestockingFee": "-0.50"}),
    ]
    _, report = run_feed(sim, api, REFUND, envelope("OrderAdjustment", messages))
    assert "<MessagesSuccessful>1</MessagesSuccessful>" in report
    assert "must be positive" in report and "must be negative" in report and "decimals" in report
    assert [(r["merchant_adjustment_id"], r["component"], r["amount"]) for r in sim.refunds(order["orderId"])] == [
        ("S4", "Principal", Decimal("1.00")), ("S4", "RestockingFee", Decimal("-0.50"))]
    unshipped = find_order(sim, status="UNSHIPPED")
    _, report = run_feed(sim, api, REFUND, envelope("OrderAdjustment", [refund_xml(unshipped, "U1", {"Principal": "1.00"})]))
    assert "was not charged" in report and sim.refunds(unshipped["orderId"]) == []


def test_feed_fatal_for_unparseable_documents_and_bad_requests(sim: Simulator, api: Api) -> None:
    feed, report = run_feed(sim, api, CANCEL, "<AmazonEnvelope><Header>")
    assert feed["processingStatus"] == "FATAL" and "not well-formed" in report
    feed, report = run_feed(sim, api, REFUND, envelope("OrderAcknowledgement", []))
    assert feed["processingStatus"] == "FATAL" and "MessageType must be OrderAdjustment" in report
    bad_type = api.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": "POST_PRODUCT_DATA", "marketplaceIds": ["ATVPDKIKX0DER"], "inputFeedDocumentId": "x"})
    assert_amazon_error(bad_type, 400, "InvalidInput", mentions="feedType")
    bad_doc = api.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": CANCEL, "marketplaceIds": ["ATVPDKIKX0DER"], "inputFeedDocumentId": "amzn1.tortuga.nope"})
    assert_amazon_error(bad_doc, 400, "InvalidInput", mentions="inputFeedDocumentId")
    assert_amazon_error(api.call("POST", "/feeds/2021-06-30/documents", json={}), 400, "InvalidInput")
    assert_amazon_error(api.call("GET", "/feeds/2021-06-30/feeds/123"), 404, "NotFound")


def test_cancel_then_refund_in_one_marketplace_day(sim: Simulator, api: Api) -> None:
    """A realistic sequence: partial shipment, cancel of the rest refused, refund accepted."""
    (order_id,) = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", items=[1, 1],
                                 marketplace_id="A1VC38T7YXB528")
    order = sim.order(order_id)
    assert "." not in order["proceeds"]["grandTotal"]["amount"]  # yen
    first = order["orderItems"][0]["orderItemId"]
    assert api.confirm(order_id, shipment(order, quantities={first: 1}, carrier="Japan Post")).status_code == 204
    feed, report = run_feed(sim, api, CANCEL, envelope("OrderAcknowledgement", [cancel_xml(order)]))
    assert "PARTIALLY_SHIPPED" in report
    snapshot = copy.deepcopy(sim.order(order_id))
    yen = order["orderItems"][0]["product"]["price"]["unitPrice"]["amount"]
    feed, report = run_feed(sim, api, REFUND, envelope("OrderAdjustment", [
        refund_xml(order, "JP-1", {"Principal": yen + ".5"}), refund_xml(order, "JP-2", {"Principal": yen})]))
    assert "<MessagesSuccessful>1</MessagesSuccessful>" in report
    assert [r["amount"] for r in sim.refunds(order_id)] == [Decimal(yen)]
    assert sim.order(order_id) == snapshot  # a refund does not change the order's fulfillment
