"""The money model: every proceeds component, signed refund components in the currency's
minor units, and credit memos whose total is exactly the feed's."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amzorders.amazon.feeds_xml import parse_payment_adjustment
from amzorders.config import AccountConfig
from amzorders.domain import money, rules
from amzorders.domain.commerce import CommerceItem, CommerceOrder
from amzorders.domain.mapping import parse_order
from amzorders.services.outbox import preview_feed_document
from amzorders.services.processing import refund_payload

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1MERCHANT")


def D(text: str) -> Decimal:
    return Decimal(text)


def order_with(components_by_item: list[tuple[int, dict[str, Decimal]]], currency: str = "USD",
               invoiced: bool = True, promotion_ids: tuple[str, ...] = ()) -> CommerceOrder:
    items = []
    for n, (qty, components) in enumerate(components_by_item):
        totals = money.aggregates(components)
        items.append(CommerceItem(
            order_item_id=f"1000000000000{n}", sku=f"SKU-{n}", name=f"Item {n}", asin=None,
            price=totals["row_total"] / qty, qty_ordered=qty, row_total=totals["row_total"], tax_amount=totals["tax"],
            discount_amount=totals["discount"], shipping_amount=totals["shipping"],
            qty_invoiced=qty if invoiced else 0, qty_shipped=qty if invoiced else 0,
            components=dict(components), promotion_ids=promotion_ids,
        ))
    paid = sum((money.paid(i.components) for i in items), Decimal(0))
    return CommerceOrder(
        increment_id="000000001", amazon_order_id="111-0000001-0000001", account="main", state="processing",
        status="processing", currency=currency, items=items, created_at=NOW, updated_at=NOW,
        grand_total=paid, total_invoiced=paid if invoiced else Decimal(0), total_paid=paid if invoiced else Decimal(0),
    )


def feed_total(plan: rules.RefundPlan, currency: str) -> tuple[Decimal, list]:
    """The signed sum of the amounts in the XML document that would go to Amazon."""
    if not plan.components:  # amounts below one minor unit: nothing goes to Amazon
        return Decimal(0), []
    payload = refund_payload(_Facts(), "CM-1", currency, plan)  # type: ignore[arg-type]
    _, document = preview_feed_document("refund", payload, "111-0000001-0000001", ACCOUNT)
    _, messages = parse_payment_adjustment(document)
    components = [c for item in messages[0].items for c in [*item.components, *item.promotions]]
    return sum((c.amount for c in components), Decimal(0)), messages[0].items


class _Facts:
    """The two order facts a refund payload names."""

    amazon_order_id = "111-0000001-0000001"
    marketplace_id = "ATVPDKIKX0DER"


def refund(order: CommerceOrder, **kwargs) -> rules.RefundPlan:
    prior = kwargs.pop("prior", {})
    return rules.plan_refund(order, rules.RefundRequest(reason="CustomerReturn", **kwargs), now=NOW, prior_components=prior)


def ledger(plans: list[rules.RefundPlan]) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = {}
    for plan in plans:
        for order_item_id, parts in plan.parts:
            for kind, amount in parts:
                totals[(order_item_id, kind)] = totals.get((order_item_id, kind), Decimal(0)) + amount
    return totals


# --- mapping: every proceeds component --------------------------------------------------


def test_detailed_breakdowns_become_components_and_parts_add_up():
    def m(amount: str) -> dict:
        return {"amount": amount, "currencyCode": "EUR"}

    order = parse_order({
        "orderId": "302-0000001-0000001", "createdTime": "2026-11-01T10:00:00Z", "lastUpdatedTime": "2026-11-01T10:00:00Z",
        "fulfillment": {"fulfillmentStatus": "UNSHIPPED"},
        "proceeds": {"grandTotal": m("46.38")},
        "orderItems": [{
            "orderItemId": "11", "quantityOrdered": 2,
            "proceeds": {"proceedsTotal": m("46.38"), "breakdowns": [
                {"type": "ITEM", "subtotal": m("40.00")},
                {"type": "SHIPPING", "subtotal": m("4.99")},
                {"type": "GIFT_WRAP", "subtotal": m("3.00")},
                {"type": "TAX", "subtotal": m("3.39"), "detailedBreakdowns": [
                    {"subtype": "ITEM", "value": m("2.40")}, {"subtype": "GIFT_WRAP", "value": m("0.99")}]},
                {"type": "DISCOUNT", "subtotal": m("-5.00"), "detailedBreakdowns": [
                    {"subtype": "SHIPPING", "value": m("-4.99")}, {"subtype": "ITEM", "value": m("-0.01")}]},
            ]},
            "expense": {"pointsCost": {"pointsGranted": {"pointsNumber": 40, "pointsMonetaryValue": m("0.40")}}},
        }],
    })
    components = order.items[0].component_map()
    assert components == {"ITEM": D("40.00"), "SHIPPING": D("4.99"), "GIFT_WRAP": D("3.00"), "ITEM_TAX": D("2.40"),
                          "GIFT_WRAP_TAX": D("0.99"), "SHIPPING_PROMOTION": D("4.99"), "ITEM_PROMOTION": D("0.01"),
                          "POINTS": D("0.40")}
    assert money.paid(components) == D("46.38") and order.warnings == ()


def test_parts_that_do_not_add_up_are_a_warning_on_the_order():
    order = parse_order({
        "orderId": "111-0000001-0000009", "createdTime": "2026-11-01T10:00:00Z",
        "fulfillment": {"fulfillmentStatus": "UNSHIPPED"},
        "proceeds": {"grandTotal": {"amount": "12.00", "currencyCode": "USD"}},
        "orderItems": [{"orderItemId": "11", "quantityOrdered": 1, "proceeds": {
            "proceedsTotal": {"amount": "10.00", "currencyCode": "USD"},
            "breakdowns": [{"type": "ITEM", "subtotal": {"amount": "10.00", "currencyCode": "USD"}}]}}],
    })
    assert any("grand total is 12.00" in w for w in order.warnings)
    from amzorders.domain.commerce import build_commerce_order

    commerce = build_commerce_order(order, increment_id="1", account="main", initial_status="pending", now=NOW)
    assert commerce.money_warning and "12.00" in commerce.money_warning


# --- refunds as Amazon reads them -------------------------------------------------------


def test_adjustment_fee_is_a_negative_restocking_fee():
    order = order_with([(1, {"ITEM": D("20.00")})])
    plan = refund(order, adjustment_fee=D("2.00"))
    assert dict((c.type, c.amount) for c in plan.components[0][1]) == {"Principal": D("20.00"), "RestockingFee": D("-2.00")}
    assert plan.grand_total == D("18.00") == feed_total(plan, "USD")[0]


def test_free_shipping_promotion_item_refund_returns_the_item_price_and_full_refund_no_shipping():
    components = {"ITEM": D("30.00"), "ITEM_TAX": D("2.00"), "SHIPPING": D("4.99"), "SHIPPING_PROMOTION": D("4.99")}
    order = order_with([(2, components)], promotion_ids=("FREESHIP-1",))
    first = refund(order, items={"10000000000000": 1})
    assert first.grand_total == D("16.00")  # 15.00 item + 1.00 tax: the shipping promotion is not taken off
    second = refund(first.order, prior=ledger([first]))
    sent, items = feed_total(second, "USD")
    prices = {c.type: c.amount for c in items[0].components}
    promotions = {c.type: c.amount for c in items[0].promotions}
    assert prices == {"Principal": D("15.00"), "Tax": D("1.00"), "Shipping": D("4.99")}
    assert promotions == {"Shipping": D("-4.99")} and items[0].promotion_id == "FREESHIP-1"
    assert second.grand_total == sent == D("16.00")
    assert first.grand_total + second.grand_total == money.paid(components) == D("32.00")


def test_gift_wrap_cod_shipping_tax_each_go_back_as_their_own_component():
    components = {"ITEM": D("1000"), "ITEM_TAX": D("100"), "SHIPPING": D("500"), "SHIPPING_TAX": D("50"),
                  "GIFT_WRAP": D("300"), "GIFT_WRAP_TAX": D("30"), "COD_FEE": D("330"), "COD_FEE_TAX": D("33"),
                  "ITEM_PROMOTION": D("100"), "POINTS": D("10")}
    order = order_with([(1, components)], currency="JPY")
    plan = refund(order)
    sent, items = feed_total(plan, "JPY")
    assert {c.type: c.amount for c in items[0].components} == {
        "Principal": D("1000"), "Tax": D("100"), "GiftWrap": D("300"), "GiftWrapTax": D("30"), "COD": D("330"),
        "CODTax": D("33"), "Shipping": D("500"), "ShippingTax": D("50")}
    assert {c.type: c.amount for c in items[0].promotions} == {"Principal": D("-100")}
    assert plan.grand_total == sent == money.paid(components) == D("2243")  # points are not the buyer's money


def test_three_decimal_currency_and_sub_unit_amounts_round_toward_zero():
    order = order_with([(3, {"ITEM": D("10.000"), "ITEM_TAX": D("0.5005")})], currency="KWD")
    plans = []
    current = order
    for _ in range(3):
        plan = refund(current, items={"10000000000000": 1}, prior=ledger(plans))
        plans.append(plan)
        current = plan.order
        sent, items = feed_total(plan, "KWD")
        assert sent == plan.grand_total
        assert all(-c.amount.as_tuple().exponent <= 3 for c in items[0].components)
    assert [p.grand_total for p in plans] == [D("3.499"), D("3.500"), D("3.501")]
    assert sum(p.grand_total for p in plans) == D("10.500") <= money.paid(order.items[0].components)


# --- properties --------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD", "BHD", "GBP"])


@st.composite
def orders(draw):
    currency = draw(CURRENCIES)
    digits = money.currency_digits(currency)
    sub_unit = draw(st.booleans())

    def amount(max_units: int) -> Decimal:
        extra = 1 if sub_unit else 0
        raw = draw(st.integers(min_value=0, max_value=max_units * 10 ** (digits + extra)))
        return Decimal(raw).scaleb(-(digits + extra))

    items = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        qty = draw(st.integers(min_value=1, max_value=4))
        components = {"ITEM": amount(500) + Decimal(qty)}
        for kind in draw(st.sets(st.sampled_from(["ITEM_TAX", "SHIPPING", "SHIPPING_TAX", "GIFT_WRAP", "GIFT_WRAP_TAX",
                                                  "COD_FEE", "COD_FEE_TAX", "OTHER", "OTHER_TAX"]))):
            components[kind] = amount(50)
        if draw(st.booleans()):
            components["ITEM_PROMOTION"] = min(components["ITEM"], amount(50))
        if "SHIPPING" in components and draw(st.booleans()):
            components["SHIPPING_PROMOTION"] = components["SHIPPING"]
        items.append((qty, components))
    return order_with(items, currency=currency), sub_unit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), generated=orders())
def test_any_sequence_of_partial_refunds_stays_within_what_was_paid_and_memo_equals_feed(data, generated):
    order, sub_unit = generated
    currency = order.currency
    plans: list[rules.RefundPlan] = []
    current = order
    while current.state != "closed" and len(plans) < 6:
        refundable = {i.order_item_id: i.qty_to_refund for i in current.items if i.qty_to_refund}
        if not refundable:
            break
        if data.draw(st.booleans(), label="refund the rest"):
            request: dict = {}
        else:
            picked = data.draw(st.sampled_from(sorted(refundable)), label="item")
            request = {"items": {picked: data.draw(st.integers(1, refundable[picked]), label="qty")}}
        try:
            plan = refund(current, prior=ledger(plans), **request)
        except Exception as exc:  # noqa: BLE001 - only "nothing to refund" is an acceptable refusal
            assert "would refund nothing" in str(exc)
            break
        sent, _ = feed_total(plan, currency)
        assert sent == plan.grand_total  # the credit memo is exactly what goes to Amazon
        plans.append(plan)
        current = plan.order
        # never more than charged, per component and item
        for (order_item_id, kind), total in ledger(plans).items():
            item = order.item(order_item_id)
            assert item is not None
            assert total <= money.minor_floor(item.components.get(kind, Decimal(0)), currency), (kind, total)
    totals = ledger(plans)
    for item in order.items:  # an item's refunds never add up to more than the buyer paid for it
        refunded = sum((v if k not in money.PROMOTION_KINDS else -v for (oid, k), v in totals.items()
                        if oid == item.order_item_id), Decimal(0))
        assert refunded <= money.paid(item.components)
    if (current.state == "closed" or all(i.qty_to_refund == 0 for i in current.items)) and not sub_unit:
        # everything refunded: exactly what was paid, per component
        for item in order.items:
            for kind, amount in item.components.items():
                assert totals.get((item.order_item_id, kind), Decimal(0)) == amount, kind
        assert sum(p.grand_total for p in plans) == order.total_paid


@pytest.mark.parametrize("currency, digits", [("JPY", 0), ("KWD", 3), ("BHD", 3), ("USD", 2), ("EUR", 2)])
def test_minor_units(currency, digits):
    assert money.currency_digits(currency) == digits
    assert money.minor_floor(D("1.23456"), currency) == D("1.23456").quantize(Decimal(1).scaleb(-digits), rounding="ROUND_DOWN")


# --- against the stricter simulator ----------------------------------------------------


@pytest.fixture
def marketplace(tmp_path):
    from amzorders.amazon.client import LwaCredentials, SpApiClient
    from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
    from amzorders.store import Store

    with Simulator(tmp_path / "m.json", orders=0, rate_limits=False, feed_processing_seconds=60) as sim:
        client = SpApiClient(sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url,
                             backoff_base=0.01, max_retries=1)
        store = Store.open(tmp_path / "store.db")
        yield sim, client, store
        store.close()
        client.close()


def _import(sim, client, store, **opts):
    from amzorders.services.importer import ImportSettings, sync_orders

    [order_id] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", **opts)
    sim.advance(minutes=5)
    sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=[sim.order(order_id)["salesChannel"]["marketplaceId"]])
    return order_id


@pytest.mark.parametrize("opts", [
    {"marketplace_id": "ATVPDKIKX0DER", "items": [2, 1], "shapes": ["promotion", "shipping", "shipping_promotion", "gift_wrap"]},
    {"marketplace_id": "A1VC38T7YXB528", "items": [1, 3], "shapes": ["cod", "points", "gift_wrap", "shipping", "other"]},
    {"marketplace_id": "ATVPDKIKX0DER", "items": [3], "currency": "KWD", "shapes": ["sub_unit", "shipping"]},
])
def test_partial_then_full_refund_is_applied_by_the_simulator_exactly_as_paid(marketplace, opts):
    from amzorders.services import processing
    from amzorders.services.outbox import deliver_outbox, follow_feeds

    sim, client, store = marketplace
    account = AccountConfig(name="main", region="na", marketplace_ids=(opts["marketplace_id"],), merchant_id="A1SIM")
    order_id = _import(sim, client, store, **opts)
    amazon = sim.order(order_id)
    ctx = processing.ProcessingContext(store=store, account=account, client_factory=lambda: client, now=sim.now)
    processing.invoice(ctx, order_id)
    processing.ship(ctx, order_id, carrier="Other", carrier_name="Local", tracking="T-1", force=True)
    first_sku = store.load_commerce_order(amazon_order_id=order_id).items[0].sku
    partial = processing.refund(ctx, order_id, reason="CustomerReturn", items=[f"{first_sku}=1"])
    full = processing.refund(ctx, order_id, reason="CustomerReturn", adjustment_fee=None)
    for _ in range(2):  # the second refund waits for the first (actions of an order go in order)
        deliver_outbox(store, client, account, now=sim.now())
        sim.advance(seconds=90)
        follow_feeds(store, client, account, now=sim.now())
    for result in (partial, full):
        row = store.outbox_row(result.outbox_ids[0])
        assert row.state == "done", row.last_error
    applied = sum((r["amount"] for r in sim.refunds(order_id)), Decimal(0))
    currency = amazon["proceeds"]["grandTotal"]["currencyCode"]
    paid = Decimal(amazon["proceeds"]["grandTotal"]["amount"])
    assert applied == partial.amount + full.amount  # the credit memos are what Amazon applied
    assert paid - money.minor_unit(currency) * len(amazon["orderItems"]) * 2 < applied <= paid
    if "sub_unit" not in opts["shapes"]:
        assert applied == paid  # a full refund returns exactly what the buyer paid
    assert store.load_commerce_order(amazon_order_id=order_id).state == "closed"


def _settle(sim, client, store, account):
    from amzorders.services.outbox import deliver_outbox, follow_feeds

    deliver_outbox(store, client, account, now=sim.now())
    sim.advance(seconds=90)
    follow_feeds(store, client, account, now=sim.now())


def test_a_credit_memo_on_an_order_amazon_has_not_charged_becomes_a_cancellation(marketplace):
    """Nothing shipped: Amazon charged nothing, so the credit memo is sent as the
    cancellation of its items (never a refund feed, which Amazon would refuse)."""
    from amzorders.errors import NotAllowedError
    from amzorders.services import processing

    sim, client, store = marketplace
    account = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1SIM")
    order_id = _import(sim, client, store, marketplace_id="ATVPDKIKX0DER", items=[2, 1], shapes=["shipping"])
    ctx = processing.ProcessingContext(store=store, account=account, push=False, now=sim.now)
    processing.invoice(ctx, order_id)
    order = store.load_commerce_order(amazon_order_id=order_id)
    first, second = order.items
    with pytest.raises(NotAllowedError, match="all 2 unit"):  # an item is cancelled with all its units
        processing.refund(ctx, order_id, reason="NoInventory", items=[f"{first.sku}=1"])
    with pytest.raises(NotAllowedError, match="no payment to adjust"):
        processing.refund(ctx, order_id, reason="NoInventory", items=[f"{first.sku}=2"], adjustment_refund=Decimal("1"))
    memo = processing.refund(ctx, order_id, reason="NoInventory", items=[f"{first.sku}=2"])
    [row] = [store.outbox_row(i) for i in memo.outbox_ids if store.outbox_row(i).kind != "vat_invoice"]
    assert row.kind == "cancel"
    assert [(i["order_item_id"], i["reason"]) for i in row.payload["items"]] == [(first.order_item_id, "NoInventory")]
    # The memo carries the item with its shipping, as the invoice captured it.
    assert memo.amount == money.paid(first.money)
    _settle(sim, client, store, account)
    assert store.outbox_row(row.id).state == "done"
    assert sim.refunds(order_id) == [] and [a["kind"] for a in sim.received_actions()] == ["cancel"]
    item = next(i for i in sim.order(order_id)["orderItems"] if i["orderItemId"] == first.order_item_id)
    assert item["cancellation"]["cancellationExecution"]["cancelReason"] == "NoInventory"
    assert sim.order(order_id)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"  # the other item still ships
    after = store.load_commerce_order(amazon_order_id=order_id)
    assert after.total_refunded == memo.amount and after.item(first.order_item_id).qty_to_ship == 0
    assert after.item(second.order_item_id).qty_to_ship == 1
    # The rest ships (now Amazon charges it) and is refunded: the cancelled item's money,
    # shipping included, is never given back a second time.
    processing.ship(ctx, order_id, carrier="Other", carrier_name="Local", tracking="T-2", force=True)
    _settle(sim, client, store, account)
    rest = processing.refund(ctx, order_id, reason="CustomerReturn")
    assert rest.amount == money.paid(second.money)
    _settle(sim, client, store, account)
    final = store.load_commerce_order(amazon_order_id=order_id)
    assert final.total_refunded == final.total_paid and final.state == "closed"
    assert sum((r["amount"] for r in sim.refunds(order_id)), Decimal(0)) == rest.amount


def test_a_partly_shipped_order_refunds_and_cancels_the_unshipped_units_in_one_adjustment(marketplace):
    """Once one unit shipped Amazon charged the whole order; units that will not ship are
    refunded with QuantityCancelled (Seller Central's partial cancellation)."""
    from amzorders.services import processing

    sim, client, store = marketplace
    account = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1SIM")
    order_id = _import(sim, client, store, marketplace_id="ATVPDKIKX0DER", items=[3], shapes=["shipping", "promotion"])
    ctx = processing.ProcessingContext(store=store, account=account, push=False, now=sim.now)
    processing.invoice(ctx, order_id)
    order = store.load_commerce_order(amazon_order_id=order_id)
    [item] = order.items
    processing.ship(ctx, order_id, carrier="Other", carrier_name="Local", tracking="T-1", items=[f"{item.sku}=1"], force=True)
    _settle(sim, client, store, account)
    memo = processing.refund(ctx, order_id, reason="CustomerCancel", items=[f"{item.sku}=3"])
    [row] = [store.outbox_row(i) for i in memo.outbox_ids]
    assert row.kind == "refund" and row.payload["items"][0]["quantity_cancelled"] == 2
    _settle(sim, client, store, account)
    assert store.outbox_row(row.id).state == "done", store.outbox_row(row.id).last_error
    applied = sum((r["amount"] for r in sim.refunds(order_id)), Decimal(0))
    assert applied == memo.amount == money.paid(item.money)  # a full refund: exactly what was paid
    amazon = sim.order(order_id)
    assert amazon["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert amazon["orderItems"][0]["fulfillment"]["quantityUnfulfilled"] == 0
    assert store.load_commerce_order(amazon_order_id=order_id).state == "closed"


def test_simulator_orders_and_financial_events_validate_against_amazons_models(marketplace):
    from amzorders.services import processing
    from amzorders.services.outbox import deliver_outbox, follow_feeds
    from test_simulator_support import assert_orders_valid, assert_valid

    sim, client, store = marketplace
    account = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1SIM")
    order_id = _import(sim, client, store, marketplace_id="ATVPDKIKX0DER", items=[2],
                       shapes=["promotion", "shipping", "shipping_promotion", "gift_wrap", "points", "sub_unit"])
    assert_orders_valid("GetOrderResponse", {"order": sim.order(order_id)})
    ctx = processing.ProcessingContext(store=store, account=account, client_factory=lambda: client, now=sim.now)
    processing.invoice(ctx, order_id)
    processing.ship(ctx, order_id, carrier="Other", carrier_name="Local", tracking="T-1", force=True)
    processing.refund(ctx, order_id, reason="CustomerReturn", adjustment_fee=Decimal("1.00"))
    deliver_outbox(store, client, account, now=sim.now())
    sim.advance(seconds=90)
    follow_feeds(store, client, account, now=sim.now())
    assert sim.api_list_financial_events_by_order_id(order_id, {})["payload"]["FinancialEvents"]["RefundEventList"] == []
    sim.advance(minutes=121)  # refunds are posted to the financial events after a lag
    response = sim.api_list_financial_events_by_order_id(order_id, {})
    assert_valid("financesV0.json", "ListFinancialEventsResponse", response)
    [event] = client.list_refund_events(order_id)
    charges = {c["ChargeType"]: c["ChargeAmount"]["CurrencyAmount"]
               for i in event["ShipmentItemAdjustmentList"] for c in i["ItemChargeAdjustmentList"]}
    assert charges["RestockingFee"] == Decimal("1.00") and charges["Principal"] < 0  # the seller's side
    assert all(isinstance(v, Decimal) for v in charges.values())
