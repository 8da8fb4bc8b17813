"""Undo what Amazon refused: a refused refund voids its credit memo, a refused cancel
reopens the order, a refused shipment is marked not confirmed; each with a history entry,
and the order's totals and states follow. Against the simulator over HTTP."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.config import AccountConfig
from amzorders.services import processing, refusals
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.outbox import deliver_outbox, follow_feeds
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

US = "ATVPDKIKX0DER"
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=(US,), merchant_id="A1SIMULATEDSELLER")


@pytest.fixture
def world(tmp_path: Path):
    with Simulator(tmp_path / "m.json", orders=0, rate_limits=False, feed_processing_seconds=60) as sim:
        client = SpApiClient(sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url,
                             backoff_base=0.01, max_retries=1)
        store = Store.open(tmp_path / "store.db")
        ctx = processing.ProcessingContext(store=store, account=ACCOUNT, client_factory=lambda: client, now=sim.now)
        yield sim, client, store, ctx
        store.close()
        client.close()


def new_order(sim, client, store, items=(2, 1)) -> str:
    [order_id] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US, items=list(items))
    sim.advance(minutes=5)
    sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=[US])
    return order_id


def settle(sim, client, store) -> None:
    deliver_outbox(store, client, ACCOUNT, now=sim.now())
    sim.advance(seconds=90)
    follow_feeds(store, client, ACCOUNT, now=sim.now())


def history(store, order_id) -> list[str]:
    return [h.comment for h in store.history(order_id)]


def test_a_refund_amazon_rejects_voids_its_credit_memo_and_retry_restores_it(world):
    sim, client, store, ctx = world
    order_id = new_order(sim, client, store)
    processing.invoice(ctx, order_id)
    processing.ship(ctx, order_id, carrier="UPS", tracking="1Z999AA10123456784")
    before = store.load_commerce_order(amazon_order_id=order_id)
    assert before.state == "complete"
    sim.inject("feed_message_error")  # Amazon's processing report: an Error for the message
    memo = processing.refund(ctx, order_id, reason="CustomerReturn")
    assert store.load_commerce_order(amazon_order_id=order_id).state == "closed"
    settle(sim, client, store)
    row = store.outbox_row(memo.outbox_ids[0])
    assert row.state == "failed" and row.result["voided_at"]
    after = store.load_commerce_order(amazon_order_id=order_id)
    assert (after.state, after.total_refunded) == ("complete", Decimal(0))
    assert [i.qty_refunded for i in after.items] == [0, 0]
    assert store.refunded_components(order_id) == {}  # the refund ledger skips the voided memo
    assert any(f"Credit memo {memo.document_number} voided" in c and "Amazon refused it" in c for c in history(store, order_id))
    assert sim.refunds(order_id) == []
    # The store shows no money Amazon does not have; a retry restores the memo and sends it.
    refusals.retry(store, row.id, sim.now())
    restored = store.load_commerce_order(amazon_order_id=order_id)
    assert (restored.state, restored.total_refunded) == ("closed", memo.amount)
    settle(sim, client, store)
    assert store.outbox_row(row.id).state == "done"
    assert sum((r["amount"] for r in sim.refunds(order_id)), Decimal(0)) == memo.amount
    # Handled once: later runs do not take it back again.
    follow_feeds(store, client, ACCOUNT, now=sim.now())
    assert store.load_commerce_order(amazon_order_id=order_id).total_refunded == memo.amount


def test_a_cancel_amazon_rejects_reopens_the_order(world):
    sim, client, store, ctx = world
    order_id = new_order(sim, client, store)
    sim.inject("feed_message_error")
    result = processing.cancel(ctx, order_id, reason="NoInventory")
    assert store.load_commerce_order(amazon_order_id=order_id).state == "canceled"
    settle(sim, client, store)
    assert store.outbox_row(result.outbox_ids[0]).state == "failed"
    order = store.load_commerce_order(amazon_order_id=order_id)
    assert (order.state, order.total_canceled) == ("new", Decimal(0))
    assert [i.qty_canceled for i in order.items] == [0, 0]
    assert any("Order reopened" in c for c in history(store, order_id))
    assert sim.order(order_id)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    # It can be shipped now, as Amazon says it is still to ship.
    processing.ship(ctx, order_id, carrier="UPS", tracking="1Z999AA10123456784")
    assert store.load_commerce_order(amazon_order_id=order_id).state in ("processing", "complete")


def test_a_shipment_amazon_rejects_is_marked_not_confirmed_and_its_units_are_to_ship_again(world):
    sim, client, store, ctx = world
    order_id = new_order(sim, client, store)
    sim.set_status(order_id, "CANCELLED")  # canceled at Amazon; the store has not synced it yet
    result = processing.ship(ctx, order_id, carrier="UPS", tracking="1Z999AA10123456784")
    assert result.deliveries[0].state == "failed"
    row = store.outbox_row(result.outbox_ids[0])
    assert row.result["reversed_at"]
    order = store.load_commerce_order(amazon_order_id=order_id)
    assert [i.qty_shipped for i in order.items] == [0, 0] and [i.qty_to_ship for i in order.items] == [2, 1]
    assert order.state != "complete"
    assert any(f"Shipment {result.document_number}" in c and "not confirmed" in c for c in history(store, order_id))
    assert store.shipped_items_by_tracking(order.id) == {}  # a carrier file naming it is not skipped
    from amzorders.render import _outbox_state_label

    assert _outbox_state_label(row) == "REFUSED by Amazon: not confirmed"


def test_an_uncertain_rejection_is_marked_and_taken_back_only_when_dismissed(world):
    sim, client, store, ctx = world
    order_id = new_order(sim, client, store)
    processing.invoice(ctx, order_id)
    processing.ship(ctx, order_id, carrier="UPS", tracking="1Z999AA10123456784")
    ctx.push = False
    memo = processing.refund(ctx, order_id, reason="CustomerReturn")
    row_id = memo.outbox_ids[0]
    # An earlier submission's answer was lost: a rejection now may only be a second refusal.
    with store.transaction():
        store.conn.execute("UPDATE outbox SET result_json = ? WHERE id = ?", ('{"maybe_sent": true}', row_id))
        store.finish_outbox_row(row_id, now=sim.now(), state="failed", last_error="Amazon rejected it: test")
    refusals.reverse_refused(store, "main", sim.now())
    assert store.load_commerce_order(amazon_order_id=order_id).total_refunded == memo.amount  # kept
    assert any("may have been applied" in c for c in history(store, order_id))
    refusals.reverse_refused(store, "main", sim.now() + timedelta(hours=1))
    assert sum("may have been applied" in c for c in history(store, order_id)) == 1  # marked once
    refusals.dismiss(store, row_id, sim.now())
    order = store.load_commerce_order(amazon_order_id=order_id)
    assert (order.total_refunded, order.state) == (Decimal(0), "complete")
    assert any("voided (dismissed by the operator)" in c for c in history(store, order_id))


def test_a_confirmed_shipment_missing_on_amazons_order_is_flagged_after_the_grace_period(world):
    from amzorders.render import _outbox_state_label
    from amzorders.services.shipment_check import SHIPMENT_GRACE, verify_shipments

    sim, client, store, ctx = world
    kept, dropped = new_order(sim, client, store), new_order(sim, client, store)
    processing.ship(ctx, kept, carrier="UPS", tracking="1Z999AA10123456784")
    sim.inject("package_dropped")  # 204, but the package never reaches the order
    lost = processing.ship(ctx, dropped, carrier="UPS", tracking="1Z999AA10123456785", force=True)
    assert lost.deliveries[0].state == "done"
    assert verify_shipments(store, client, "main", sim.now()) == []  # within the grace period: not judged
    sim.advance(seconds=SHIPMENT_GRACE.total_seconds() + 60)
    missing = verify_shipments(store, client, "main", sim.now())
    assert [(m.amazon_order_id, m.tracking_number) for m in missing] == [(dropped, "1Z999AA10123456785")]
    row = store.outbox_row(lost.outbox_ids[0])
    assert _outbox_state_label(row) == "accepted, but NOT on Amazon's order"
    assert sum("does not show package" in c for c in history(store, dropped)) == 1
    assert not any("does not show package" in c for c in history(store, kept))
    # Asked again on later runs (still missing, said once); the one found is never asked again.
    calls = sim.call_counts().get("getOrder", 0)
    assert [m.amazon_order_id for m in verify_shipments(store, client, "main", sim.now())] == [dropped]
    assert sim.call_counts().get("getOrder", 0) == calls + 1
    assert sum("does not show package" in c for c in history(store, dropped)) == 1
