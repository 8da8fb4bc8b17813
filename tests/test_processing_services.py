"""Order processing use cases against a real SQLite store (no pushing to Amazon here)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from amzorders.domain import rules
from amzorders.errors import NotAllowedError, NotFoundError, UsageError
from amzorders.services import processing
from amzorders.store import ConcurrentChangeError, Store
from processing_support import AFN, NOW, PENDING, SECOND, UNSHIPPED, context, dump, seed

UPS = "1Z999AA10123456784"


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "orders.db")
    seed(s)
    yield s
    s.close()


@pytest.fixture
def ctx(store):
    return context(store)


def commerce(store, amazon_order_id=UNSHIPPED):
    return store.load_commerce_order(amazon_order_id=amazon_order_id)


def test_full_invoice_is_captured_offline_and_moves_order_to_processing(store, ctx):
    result = processing.invoice(ctx, "000000001", comment="Thanks")
    order = commerce(store)
    assert result.document_number == "000000002"  # the AFN order's import invoice was 000000001
    assert (order.state, order.status) == ("processing", "processing")
    assert [i.qty_invoiced for i in order.items] == [2, 1]
    assert order.total_invoiced == order.total_paid == Decimal("47.98")
    view = store.order_view(UNSHIPPED)
    assert view.invoices[0].grand_total == Decimal("47.98") and view.invoices[0].comment == "Thanks"
    assert "captured offline" in view.history[-1].comment and view.history[-1].is_customer_notified is False
    assert store.outbox_for_order(UNSHIPPED) == []  # invoices do not go to Amazon


def test_partial_invoice_splits_shipping_by_quantity(store, ctx):
    processing.invoice(ctx, UNSHIPPED, items=["SKU-A=1"])
    order = commerce(store)
    assert [i.qty_invoiced for i in order.items] == [1, 0]
    assert order.total_invoiced == Decimal("19.99") + Decimal("0.75")
    processing.invoice(ctx, UNSHIPPED)
    order = commerce(store)
    assert order.total_invoiced == order.grand_total == Decimal("47.98")
    with pytest.raises(NotAllowedError, match="already fully invoiced"):
        processing.invoice(ctx, UNSHIPPED)


def test_full_and_partial_flow_ends_closed(store, ctx):
    processing.invoice(ctx, UNSHIPPED)
    first = processing.ship(ctx, UNSHIPPED, carrier="ups", tracking=UPS, items=["SKU-A=2"], method="Ground")
    second = processing.ship(ctx, UNSHIPPED, carrier="USPS", tracking="9400111899223100000000")
    assert commerce(store).state == "complete"
    rows = store.outbox_for_order(UNSHIPPED)
    assert [r.kind for r in rows] == ["confirm_shipment", "confirm_shipment"]
    body = rows[0].payload
    assert body == {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": first.document_number,
            "carrierCode": "UPS",
            "shippingMethod": "Ground",
            "trackingNumber": UPS,
            "shipDate": "2026-11-20T12:00:00Z",
            "orderItems": [{"orderItemId": "10000000000001", "quantity": 2}],
        },
    }
    assert rows[0].idempotency_key == f"ship:{UNSHIPPED}:{first.document_number}"
    assert rows[1].payload["packageDetail"]["orderItems"] == [{"orderItemId": "10000000000002", "quantity": 1}]
    assert second.document_number != first.document_number

    partial = processing.refund(ctx, UNSHIPPED, reason="customerreturn", items=["SKU-A=1"], shipping=Decimal("0.50"))
    order = commerce(store)
    assert partial.amount == Decimal("20.49") and order.total_refunded == Decimal("20.49")
    assert order.state == "complete"
    refund_row = store.outbox_row(partial.outbox_ids[0])
    assert refund_row.kind == "refund"
    assert refund_row.idempotency_key == f"refund:{UNSHIPPED}:{partial.document_number}"
    assert refund_row.payload == {
        "amazon_order_id": UNSHIPPED,
        "marketplace_id": "ATVPDKIKX0DER",
        "merchant_adjustment_id": partial.document_number,
        "currency": "USD",
        "total": "20.49",
        "items": [{"order_item_id": "10000000000001", "reason": "CustomerReturn",
                   "components": [{"type": "Principal", "amount": "19.99"}, {"type": "Shipping", "amount": "0.50"}],
                   "parts": {"ITEM": "19.99", "SHIPPING": "0.50"}}],
    }

    full = processing.refund(ctx, UNSHIPPED, reason="CustomerReturn")
    order = commerce(store)
    assert order.state == "closed"
    assert order.total_refunded == order.total_paid == Decimal("47.98")
    assert full.amount == Decimal("27.49")  # 19.99 + 5.00 + the 2.50 shipping left
    items = {i["order_item_id"]: i["components"] for i in store.outbox_row(full.outbox_ids[0]).payload["items"]}
    # Shipping never goes above what each item was charged (1.50 each, 0.50 refunded before).
    assert {"type": "Shipping", "amount": "1.00"} in items["10000000000001"]
    assert {"type": "Shipping", "amount": "1.50"} in items["10000000000002"]
    view = store.order_view(UNSHIPPED)
    assert [m.grand_total for m in view.credit_memos] == [Decimal("20.49"), Decimal("27.49")]
    with pytest.raises(NotAllowedError, match="closed"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn")


def test_refund_limits(store, ctx):
    with pytest.raises(NotAllowedError, match="no invoice yet"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn")
    processing.invoice(ctx, UNSHIPPED, items=["SKU-A=1"])
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, items=["SKU-A=1"])  # charged by Amazon now
    before = dump(store)
    with pytest.raises(NotAllowedError, match="at most 1"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["SKU-A=2"])
    with pytest.raises(NotAllowedError, match="shipping"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", shipping=Decimal("0.76"))
    with pytest.raises(NotAllowedError, match="more than can still be refunded"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", adjustment_refund=Decimal("100"))
    with pytest.raises(UsageError, match="negative"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", adjustment_fee=Decimal("-1"))
    with pytest.raises(UsageError, match="not one of Amazon's values"):
        processing.refund(ctx, UNSHIPPED, reason="BecauseISaidSo")
    with pytest.raises(NotFoundError, match="no item with SKU 'NOPE'"):
        processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["NOPE=1"])
    assert dump(store) == before


def test_refund_with_fee_and_goodwill_components(store, ctx):
    processing.invoice(ctx, UNSHIPPED)
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, items=["SKU-B=1"])
    result = processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["SKU-B=1"],
                               adjustment_refund=Decimal("2.00"), adjustment_fee=Decimal("1.00"))
    assert result.amount == Decimal("6.00")
    components = result.payload["items"][0]["components"]
    assert components == [{"type": "Principal", "amount": "5.00"}, {"type": "Goodwill", "amount": "2.00"},
                          {"type": "RestockingFee", "amount": "-1.00"}]  # kept from the buyer: negative
    memo = store.order_view(UNSHIPPED).credit_memos[0]
    assert (memo.adjustment_refund, memo.adjustment_fee, memo.grand_total) == (Decimal("2.00"), Decimal("1.00"), Decimal("6.00"))


def test_cancel_while_unshipped(store, ctx):
    result = processing.cancel(ctx, "000000001", reason="noinventory", comment="Out of stock")
    order = commerce(store)
    assert order.state == "canceled"
    assert [i.qty_canceled for i in order.items] == [2, 1]
    assert order.total_canceled == Decimal("47.98")
    row = store.outbox_row(result.outbox_ids[0])
    assert row.kind == "cancel" and row.idempotency_key == f"cancel:{UNSHIPPED}"
    assert row.payload == {
        "amazon_order_id": UNSHIPPED, "marketplace_id": "ATVPDKIKX0DER", "merchant_order_id": "000000001",
        "items": [{"order_item_id": "10000000000001", "reason": "NoInventory"},
                  {"order_item_id": "10000000000002", "reason": "NoInventory"}],
        "canceled_units": {"10000000000001": 2, "10000000000002": 1}, "canceled_amount": "47.98",
    }
    with pytest.raises(NotAllowedError, match="canceled"):
        processing.invoice(ctx, UNSHIPPED)
    with pytest.raises(NotAllowedError, match="canceled already"):
        processing.cancel(ctx, UNSHIPPED, reason="NoInventory")


def test_cancel_refused_after_ship_and_for_pending(store, ctx):
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, items=["SKU-B=1"])
    before = dump(store)
    with pytest.raises(NotAllowedError) as err:
        processing.cancel(ctx, "000000001", reason="NoInventory")
    assert str(err.value) == (
        "Order 000000001 has shipped items, so it can no longer be canceled; refund it instead: "
        "amzorders refund 000000001 --reason CustomerReturn"
    )
    with pytest.raises(NotAllowedError, match="Seller Central"):
        processing.cancel(ctx, PENDING, reason="NoInventory")
    with pytest.raises(NotAllowedError, match="refund"):
        processing.cancel(ctx, AFN, reason="NoInventory")
    assert dump(store) == before


def test_ship_refusals_change_nothing(store, ctx):
    before = dump(store)
    cases = [
        (NotAllowedError, "fulfilled by Amazon", dict(key=AFN)),
        (NotFoundError, "No order", dict(key="999-nope")),
        (NotAllowedError, "PENDING", dict(key=PENDING)),
        (UsageError, "Unknown carrier code", dict(carrier="Pigeon")),
        (UsageError, "--carrier-name", dict(carrier="Other", tracking="ABC")),
        (UsageError, "does not look like a UPS", dict(tracking="12345")),
        (UsageError, "in the future", dict(ship_date="2026-12-01")),
        (UsageError, "not a date", dict(ship_date="yesterday-ish")),
        (UsageError, "before the order was placed", dict(ship_date="2026-11-01")),
        (NotAllowedError, "at most 2", dict(items=["SKU-A=3"])),
        (UsageError, "at least 1", dict(items=["SKU-A=0"])),
        (UsageError, "at least 1", dict(items=["SKU-A=-1"])),
        (UsageError, "not a whole number", dict(items=["SKU-A=x"])),
        (NotFoundError, "no item with SKU", dict(items=["SKU-Z=1"])),
        (UsageError, "--tracking is required", dict(tracking="  ")),
    ]
    for error, message, overrides in cases:
        args = dict(key=UNSHIPPED, carrier="UPS", tracking=UPS)
        args.update(overrides)
        key = args.pop("key")
        with pytest.raises(error, match=message):
            processing.ship(ctx, key, **args)
    assert dump(store) == before


def test_ship_checks_what_is_left_and_force_accepts_odd_tracking(store, ctx):
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking="NOT-A-UPS-NUMBER", items=["SKU-A=1"], force=True)
    with pytest.raises(NotAllowedError, match="at most 1 can still be shipped"):
        processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, items=["SKU-A=2"])
    result = processing.ship(ctx, UNSHIPPED, carrier="Other", carrier_name="Local Courier", tracking="LC-1")
    assert result.payload["packageDetail"]["carrierName"] == "Local Courier"
    # Shipped in full but not invoiced: processing until the invoice (Magento's rule).
    assert commerce(store).state == "processing"
    processing.invoice(ctx, UNSHIPPED)
    assert commerce(store).state == "complete"


def test_dry_run_writes_nothing(store, ctx):
    before = dump(store)
    result = processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, dry_run=True)
    assert result.dry_run and result.payload["packageDetail"]["packageReferenceId"] == result.document_number
    assert dump(store) == before
    result = processing.cancel(ctx, UNSHIPPED, reason="NoInventory", dry_run=True)
    assert result.payload["items"][0]["reason"] == "NoInventory"
    processing.invoice(ctx, UNSHIPPED)
    before = dump(store)
    result = processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", dry_run=True)
    assert result.amount == Decimal("47.98")
    assert dump(store) == before


def test_comment_on_any_order(store, ctx):
    processing.comment(ctx, PENDING, "Buyer called about the delivery date.")
    assert store.order_view(PENDING).history[-1].comment == "Buyer called about the delivery date."
    with pytest.raises(UsageError, match="empty"):
        processing.comment(ctx, UNSHIPPED, "   ")


def test_notify_never_emails_a_buyer_and_says_what_amazon_does(store, ctx):
    shipment = processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, notify=True)
    assert "Amazon tells the buyer about the shipment itself" in shipment.notification.note
    processing.invoice(ctx, SECOND)
    memo = processing.refund(ctx, SECOND, reason="CustomerReturn", notify=True)
    assert "Amazon tells the buyer about the refund itself" in memo.notification.note
    note = processing.comment(ctx, UNSHIPPED, "hi", notify=True)
    assert "amzorders message ORDER KIND" in note.notification.note
    # invoice --notify needs Amazon (sendInvoice): without a client the invoice stands, the message is reported
    invoice = processing.invoice(ctx, UNSHIPPED, notify=True)
    assert invoice.document_number and invoice.notification.sent is False
    assert "not available" in invoice.notification.error
    assert [r.kind for r in store.outbox_for_order(UNSHIPPED)].count("send_message") == 0


def test_concurrent_change_is_detected_and_nothing_doubles(store, ctx):
    first = store.load_commerce_order(amazon_order_id=UNSHIPPED)
    second = store.load_commerce_order(amazon_order_id=UNSHIPPED)
    plan_a = rules.plan_invoice(first, None, NOW)
    plan_b = rules.plan_invoice(second, None, NOW)
    with store.transaction():
        store.save_commerce_order(plan_a.order)
    with pytest.raises(ConcurrentChangeError, match="changed by someone else"):
        with store.transaction():
            store.insert_invoice(order_id=second.id, increment_id="X-2", items=[], subtotal=Decimal(0),
                                 shipping_amount=Decimal(0), tax_amount=Decimal(0), discount_amount=Decimal(0),
                                 grand_total=plan_b.grand_total, source="operator", comment=None, now=NOW)
            store.save_commerce_order(plan_b.order)
    order = commerce(store)
    assert order.total_invoiced == Decimal("47.98")  # once, not twice
    assert store.conn.execute("SELECT count(*) FROM invoices WHERE increment_id = 'X-2'").fetchone()[0] == 0


def test_service_detects_a_change_between_load_and_save(store, ctx, monkeypatch):
    # Another operator invoices between this command's read and its write.
    real_load = store.load_commerce_order
    sneaked = []

    def load_then_someone_else_writes(**kwargs):
        order = real_load(**kwargs)
        if not sneaked:
            sneaked.append(True)
            processing.invoice(context(store), UNSHIPPED)
        return order

    monkeypatch.setattr(store, "load_commerce_order", load_then_someone_else_writes)
    with pytest.raises(ConcurrentChangeError):
        processing.invoice(ctx, UNSHIPPED)
    assert store.conn.execute("SELECT count(*) FROM invoices WHERE source = 'operator'").fetchone()[0] == 1
    assert commerce(store).total_invoiced == Decimal("47.98")


def test_rules_money_split_adds_up():
    parts = [rules.part(Decimal("10.00"), before, 1, 3, "USD") for before in range(3)]
    assert parts == [Decimal("3.33"), Decimal("3.34"), Decimal("3.33")] and sum(parts) == Decimal("10.00")


@pytest.mark.parametrize(
    ("carrier", "tracking", "ok"),
    [
        ("UPS", "1Z999AA10123456784", True),
        ("UPS", "1z999aa10123456784", True),
        ("UPS", "1Z999AA1012345678", False),
        ("USPS", "9400111899223100000000", True),
        ("USPS", "EA123456789US", True),
        ("USPS", "EA123456789DE", False),
        ("FedEx", "123456789012", True),
        ("FedEx", "12345678901", False),
        ("DHL", "1234567890", True),
        ("DHL Express", "JJD0099999999", True),
        ("DHL", "ABC", False),
        ("Royal Mail", "anything", True),
    ],
)
def test_tracking_sanity_checks(carrier, tracking, ok):
    assert (rules.tracking_problem(carrier, tracking) is None) is ok


def test_second_order_is_independent(store, ctx):
    processing.cancel(ctx, UNSHIPPED, reason="NoInventory")
    processing.invoice(ctx, SECOND)
    assert commerce(store, SECOND).state == "processing"


