"""Outbox delivery against the simulator over HTTP: each action reaches Amazon exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.config import AccountConfig
from amzorders.domain.models import utcnow
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.outbox import MAX_FATAL_FEEDS, deliver_outbox, follow_feeds, push_rows
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

US = "ATVPDKIKX0DER"
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=(US,), merchant_id="A1SIMULATEDSELLER")
LATER = timedelta(hours=3)  # beyond the longest backoff


def make_client(sim: Simulator) -> SpApiClient:
    return SpApiClient(
        sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url, backoff_base=0.01, max_retries=2
    )


@pytest.fixture
def sim(tmp_path: Path):
    with Simulator(tmp_path / "m.json", orders=40, rate_limits=False, feed_processing_seconds=60) as simulator:
        yield simulator


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(tmp_path / "store.db")
    yield opened
    opened.close()


@pytest.fixture
def client(sim: Simulator):
    with make_client(sim) as made:
        yield made


def new_orders(sim: Simulator, store: Store, client: SpApiClient, count: int, status: str = "UNSHIPPED") -> list[dict]:
    """Fresh seller-fulfilled orders, imported into the store (outbox rows need them)."""
    ids = sim.add_orders(count, status=status, fulfilled_by="MERCHANT", marketplace_id=US, items=[2, 1])
    sim.advance(minutes=5)
    sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=[US])
    for order_id in ids:
        assert store.conn.execute("SELECT 1 FROM amazon_orders WHERE amazon_order_id = ?", (order_id,)).fetchone()
    return [sim.order(order_id) for order_id in ids]


def ship_payload(order: dict, reference: str = "1", carrier: str = "UPS") -> dict:
    return {
        "marketplaceId": order["salesChannel"]["marketplaceId"],
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": carrier,
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": order["createdTime"],
            "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]} for i in order["orderItems"]],
        },
    }


def cancel_payload(order: dict) -> dict:
    return {
        "amazon_order_id": order["orderId"],
        "marketplace_id": order["salesChannel"]["marketplaceId"],
        "merchant_order_id": "000000042",
        "items": [{"order_item_id": i["orderItemId"], "reason": "NoInventory"} for i in order["orderItems"]],
    }


def refund_payload(order: dict, adjustment_id: str, amount: str = "1.50") -> dict:
    item = order["orderItems"][0]
    return {
        "amazon_order_id": order["orderId"],
        "marketplace_id": order["salesChannel"]["marketplaceId"],
        "merchant_adjustment_id": adjustment_id,
        "currency": "USD",
        "items": [{"order_item_id": item["orderItemId"], "reason": "CustomerReturn",
                   "components": [{"type": "Principal", "amount": amount}]}],
    }


def queue(store: Store, kind: str, order: dict, payload: dict, key: str) -> int:
    with store.transaction():
        return store.add_outbox_row(
            account="main", amazon_order_id=order["orderId"], kind=kind, idempotency_key=key, payload=payload, now=utcnow()
        )


def actions(sim: Simulator, kind: str, order_id: str) -> list[dict]:
    return [a for a in sim.received_actions(kind) if a["order_id"] == order_id]


def finish_feeds(sim: Simulator, store: Store, client: SpApiClient):
    sim.advance(seconds=90)
    return follow_feeds(store, client, ACCOUNT)


# --- shipments -----------------------------------------------------------------------


def test_shipment_is_delivered_once_even_when_pushed_and_synced_again(sim, store, client):
    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "confirm_shipment", order, ship_payload(order), f"ship:{order['orderId']}:1")

    [record] = push_rows(store, client, ACCOUNT, [row_id])

    assert record.state == "done" and record.completed_at is not None and record.attempts == 1
    assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    calls = sim.call_counts()["confirmShipment"]
    push_rows(store, client, ACCOUNT, [row_id])
    again = deliver_outbox(store, client, ACCOUNT, now=utcnow() + LATER)
    assert again.sent == [] and sim.call_counts()["confirmShipment"] == calls
    sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=[US])
    deliver_outbox(store, client, ACCOUNT, now=utcnow() + 2 * LATER)
    [received] = actions(sim, "confirmShipment", order["orderId"])
    assert received["accepted"] and not received["duplicate"]
    assert store.outbox_row(row_id).state == "done"


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_amazon_failing_leaves_the_shipment_pending_with_backoff_then_delivers_it_once(sim, store, client, fault):
    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "confirm_shipment", order, ship_payload(order), "ship:x:1")
    sim.inject(fault, count=3, operation="confirmShipment")  # the client's 1 try + 2 retries
    now = utcnow()

    [record] = push_rows(store, client, ACCOUNT, [row_id], now=now)

    assert record.state == "pending" and record.attempts == 1
    assert record.next_attempt_at > now + timedelta(seconds=20)
    assert "confirmShipment" in record.last_error
    assert record.result["maybe_sent"] is True  # Amazon may have processed it before failing
    calls = sim.call_counts()["confirmShipment"]
    not_yet = deliver_outbox(store, client, ACCOUNT, now=now)
    assert not_yet.sent == [] and sim.call_counts()["confirmShipment"] == calls  # backoff respected
    report = deliver_outbox(store, client, ACCOUNT, now=now + LATER)
    assert report.done == [row_id]
    assert store.outbox_row(row_id).state == "done" and store.outbox_row(row_id).last_error is None
    assert len(actions(sim, "confirmShipment", order["orderId"])) == 1


def test_simulator_down_then_back_delivers_exactly_once(sim, store, client):
    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "confirm_shipment", order, ship_payload(order), "ship:down:1")
    sim.stop()
    # A fresh client: stop() leaves already-open keep-alive connections served.
    client = make_client(sim)
    now = utcnow()
    try:
        report = deliver_outbox(store, client, ACCOUNT, now=now)
    finally:
        sim.start()  # same port: the client's URL stays valid
    assert report.pending == [row_id] and report.errors
    record = store.outbox_row(row_id)
    assert record.state == "pending" and record.attempts == 1 and record.next_attempt_at > now
    assert "maybe_sent" not in record.result  # the connection was refused: nothing reached Amazon
    assert deliver_outbox(store, client, ACCOUNT, now=now + LATER).done == [row_id]
    assert len(actions(sim, "confirmShipment", order["orderId"])) == 1


def test_rejected_shipment_is_failed_with_amazons_message_and_never_resent(sim, store, client):
    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "confirm_shipment", order, ship_payload(order, carrier="PIGEON"), "ship:bad:1")

    report = deliver_outbox(store, client, ACCOUNT)

    [(failed_id, why)] = report.failed
    record = store.outbox_row(row_id)
    assert failed_id == row_id and record.state == "failed"
    assert "InvalidInput" in why and "Invalid carrierCode: PIGEON" in why and record.request_id in why
    assert record.result["report"]["code"] == "InvalidInput"
    calls = sim.call_counts()["confirmShipment"]
    for hours in (1, 5, 50):
        assert deliver_outbox(store, client, ACCOUNT, now=utcnow() + timedelta(hours=hours)).sent == []
    assert sim.call_counts()["confirmShipment"] == calls
    assert [f.id for f in store.failed_outbox_rows("main")] == [row_id]
    # retry: pending again, sent again, rejected again (the payload is still wrong)
    assert store.retry_outbox_row(row_id, utcnow())
    [again] = push_rows(store, client, ACCOUNT, [row_id])
    assert again.state == "failed" and sim.call_counts()["confirmShipment"] == calls + 1


def test_two_concurrent_pushers_send_each_shipment_once(sim, store, client, tmp_path):
    orders = new_orders(sim, store, client, 6)
    for order in orders:
        queue(store, "confirm_shipment", order, ship_payload(order), f"ship:{order['orderId']}:1")
    reports = []

    def pusher() -> None:
        other = Store.open(tmp_path / "store.db")  # its own connection, as another process would
        try:
            with make_client(sim) as own_client:
                reports.append(deliver_outbox(other, own_client, ACCOUNT))
        finally:
            other.close()

    threads = [threading.Thread(target=pusher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [r.id for r in store.outbox_rows_for_display(include_all=True) if r.state == "done"]
    assert sorted(r for report in reports for r in report.done) == sorted(done)
    assert len(done) == 6
    for order in orders:
        assert len(actions(sim, "confirmShipment", order["orderId"])) == 1


# --- feeds ---------------------------------------------------------------------------


def test_cancels_and_refunds_are_batched_into_one_feed_each_and_followed_to_done(sim, store, client):
    cancels = new_orders(sim, store, client, 3)
    refunded = new_orders(sim, store, client, 2, status="SHIPPED")  # refunds are for charged (shipped) units
    cancel_ids = [queue(store, "cancel", o, cancel_payload(o), f"cancel:{o['orderId']}") for o in cancels]
    refund_ids = [queue(store, "refund", o, refund_payload(o, f"CM-{n}"), f"refund:{n}") for n, o in enumerate(refunded)]

    report = deliver_outbox(store, client, ACCOUNT)

    assert len(report.feeds) == 2 and sim.call_counts()["createFeed"] == 2
    assert sorted(report.submitted) == sorted(cancel_ids + refund_ids)
    rows = [store.outbox_row(i) for i in cancel_ids]
    assert {r.feed_id for r in rows} == {report.feeds[0]}
    assert [r.result["feed"]["message_id"] for r in rows] == [1, 2, 3]
    statuses = []
    for seconds in (0, 20):
        sim.advance(seconds=seconds)
        statuses.append(client.get_feed(report.feeds[0])["processingStatus"])
        followed = follow_feeds(store, client, ACCOUNT)
        assert followed.done == [] and all(store.outbox_row(i).state == "submitted" for i in cancel_ids)
    assert statuses == ["IN_QUEUE", "IN_PROGRESS"]
    # a sync while the feeds are processed sends nothing again
    assert deliver_outbox(store, client, ACCOUNT, now=utcnow() + LATER).sent == []

    finished = finish_feeds(sim, store, client)

    assert sorted(finished.done) == sorted(cancel_ids + refund_ids)
    for order in cancels:
        assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
        assert len(actions(sim, "cancel", order["orderId"])) == 1
    for n, order in enumerate(refunded):
        [refund] = sim.refunds(order["orderId"])
        assert refund["merchant_adjustment_id"] == f"CM-{n}" and str(refund["amount"]) == "1.50"
        assert len(actions(sim, "refund", order["orderId"])) == 1
    assert follow_feeds(store, client, ACCOUNT).done == []  # nothing left to follow
    assert sim.call_counts()["createFeed"] == 2


def test_per_message_errors_fail_only_their_rows(sim, store, client):
    [unshipped] = new_orders(sim, store, client, 1)
    [shipped] = new_orders(sim, store, client, 1, status="SHIPPED")
    good = queue(store, "cancel", unshipped, cancel_payload(unshipped), "cancel:good")
    bad = queue(store, "cancel", shipped, cancel_payload(shipped), "cancel:shipped")
    refund_orders = new_orders(sim, store, client, 2, status="SHIPPED")
    first_refund = queue(store, "refund", refund_orders[0], refund_payload(refund_orders[0], "CM-A"), "refund:a")
    second_refund = queue(store, "refund", refund_orders[1], refund_payload(refund_orders[1], "CM-B"), "refund:b")
    deliver_outbox(store, client, ACCOUNT)
    sim.inject("feed_message_error", operation="feedProcessing")  # hits the first feed processed: cancels

    report = finish_feeds(sim, store, client)

    failed = dict(report.failed)
    assert set(failed) == {good, bad}
    assert "Simulated processing error" in failed[good]
    assert f"Order {shipped['orderId']} is SHIPPED; only UNSHIPPED orders can be canceled" in failed[bad]
    assert store.outbox_row(bad).result["report"]["results"][0]["code"] == "18028"
    assert sorted(report.done) == [first_refund, second_refund]
    # failed rows are never sent again by later runs
    creates = sim.call_counts()["createFeed"]
    deliver_outbox(store, client, ACCOUNT, now=utcnow() + LATER)
    assert sim.call_counts()["createFeed"] == creates


def test_fatal_feed_goes_back_to_pending_and_is_resubmitted_once_applied(sim, store, client):
    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "cancel", order, cancel_payload(order), "cancel:fatal")
    deliver_outbox(store, client, ACCOUNT)
    sim.inject("feed_fatal", operation="feedProcessing")

    report = finish_feeds(sim, store, client)

    record = store.outbox_row(row_id)
    assert report.pending == [row_id] and record.state == "pending"
    assert "FATAL" in record.last_error and record.result["fatal_count"] == 1
    assert actions(sim, "cancel", order["orderId"]) == []  # nothing applied
    again = deliver_outbox(store, client, ACCOUNT, now=utcnow() + LATER)
    assert again.submitted == [row_id] and store.outbox_row(row_id).feed_id != record.feed_id
    assert finish_feeds(sim, store, client).done == [row_id]
    assert len(actions(sim, "cancel", order["orderId"])) == 1


def test_a_feed_that_keeps_ending_fatal_is_failed_after_the_limit(sim, store, client):
    [order] = new_orders(sim, store, client, 1, status="SHIPPED")
    row_id = queue(store, "refund", order, refund_payload(order, "CM-F"), "refund:fatal")
    now = utcnow()
    for attempt in range(MAX_FATAL_FEEDS):
        now += LATER
        assert deliver_outbox(store, client, ACCOUNT, now=now).submitted == [row_id]
        sim.inject("feed_fatal", operation="feedProcessing")
        finish_feeds(sim, store, client)
    record = store.outbox_row(row_id)
    assert record.state == "failed" and "FATAL" in record.last_error
    assert "Simulated fatal processing error" in record.last_error
    assert sim.refunds(order["orderId"]) == []


def test_a_resubmitted_adjustment_is_a_second_refund_at_amazon(sim, store, client):
    # Amazon does not deduplicate MerchantAdjustmentID: two feeds carrying the same refund
    # are two refunds (the simulator is as strict as that; the outbox must never resend).
    [order] = new_orders(sim, store, client, 1, status="SHIPPED")
    first = queue(store, "refund", order, refund_payload(order, "CM-SAME"), "refund:first")
    deliver_outbox(store, client, ACCOUNT)
    finish_feeds(sim, store, client)
    second = queue(store, "refund", order, refund_payload(order, "CM-SAME"), "refund:again")
    deliver_outbox(store, client, ACCOUNT)
    report = finish_feeds(sim, store, client)
    assert report.done == [second] and store.outbox_row(first).state == "done"
    assert len(sim.refunds(order["orderId"])) == 2
    assert [a["duplicate"] for a in actions(sim, "refund", order["orderId"])] == [False, True]


def wait_for(condition, what: str) -> None:
    """Wait for the simulator's own progress (a request it is still finishing), not a time."""
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"the simulator never got to: {what}")


def test_a_refund_whose_create_feed_answer_was_lost_is_settled_by_amazon_financial_events(sim, store):
    [order] = new_orders(sim, store, make_client(sim), 1, status="SHIPPED")
    row_id = queue(store, "refund", order, refund_payload(order, "CM-LOST"), "refund:lost")
    impatient = SpApiClient(sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url,
                            backoff_base=0.01, max_retries=0, timeout=(5.0, 0.2))
    sim.inject("slow", operation="createFeed")  # Amazon creates the feed; its answer never arrives
    now = utcnow()
    report = deliver_outbox(store, impatient, ACCOUNT, now=now)
    assert report.pending == [row_id] and store.outbox_row(row_id).result["maybe_sent"] is True
    wait_for(lambda: len(sim._store.data["feeds"]) == 1, "creating the feed whose answer was lost")
    sim.advance(seconds=90)  # Amazon processes that feed: the refund is applied
    assert len(sim.refunds(order["orderId"])) == 1
    client = make_client(sim)

    # Amazon's financial events do not show it yet: the row waits, visibly, and is not resent.
    waiting = deliver_outbox(store, client, ACCOUNT, now=now + LATER)
    record = store.outbox_row(row_id)
    assert waiting.checking == [row_id] and waiting.sent == [] and record.state == "pending"
    assert "Checking with Amazon" in record.last_error and record.result["checking"]
    assert sim.call_counts()["createFeed"] == 1

    sim.advance(minutes=125)  # the refund event is posted
    settled = deliver_outbox(store, client, ACCOUNT, now=now + 2 * LATER)
    assert settled.done == [row_id] and settled.sent == []
    assert store.outbox_row(row_id).state == "done"
    assert sim.call_counts()["createFeed"] == 1 and len(sim.refunds(order["orderId"])) == 1


def test_a_refund_that_never_reached_amazon_is_sent_once_after_the_finances_window(sim, store, client):
    from amzorders.services.outbox import FINANCES_SETTLE

    [order] = new_orders(sim, store, client, 1, status="SHIPPED")
    row_id = queue(store, "refund", order, refund_payload(order, "CM-503"), "refund:503")
    sim.inject("503", operation="createFeed")  # may have been processed, as far as the client knows
    now = utcnow()
    assert deliver_outbox(store, client, ACCOUNT, now=now).pending == [row_id]
    assert store.outbox_row(row_id).result["maybe_sent"] is True
    assert deliver_outbox(store, client, ACCOUNT, now=now + LATER).checking == [row_id]
    assert sim.call_counts().get("createFeed", 0) == 1
    sim.advance(minutes=48 * 60 + 5)
    late = deliver_outbox(store, client, ACCOUNT, now=now + FINANCES_SETTLE + LATER)
    assert late.submitted == [row_id]
    assert finish_feeds(sim, store, client).done == [row_id]
    assert len(sim.refunds(order["orderId"])) == 1


def test_a_feed_not_done_after_eight_hours_is_reported_and_never_resent(sim, store, client):
    from amzorders.services.sync import SyncReport

    [order] = new_orders(sim, store, client, 1)
    row_id = queue(store, "cancel", order, cancel_payload(order), "cancel:stuck")
    sim.inject("feed_stuck", operation="createFeed")
    now = utcnow()
    assert deliver_outbox(store, client, ACCOUNT, now=now).submitted == [row_id]
    sim.advance(minutes=60)
    assert follow_feeds(store, client, ACCOUNT, now=now + timedelta(hours=1)).stuck == []
    sim.advance(minutes=8 * 60)
    report = follow_feeds(store, client, ACCOUNT, now=now + timedelta(hours=9))
    assert [row for row, _ in report.stuck] == [row_id]
    record = store.outbox_row(row_id)
    assert record.state == "submitted" and "8 hours" in record.last_error
    with pytest.raises(Exception) as raised:
        SyncReport(pull=None, delivery=report, purge=None, pull_error=None, rejected_message=None).raise_for_problems()
    assert raised.value.exit_code == 5 and "8 hours" in raised.value.message
    assert deliver_outbox(store, client, ACCOUNT, now=now + timedelta(hours=10)).sent == []
    sim.advance(minutes=64 * 60)
    assert follow_feeds(store, client, ACCOUNT, now=now + timedelta(hours=80)).done == [row_id]
    assert len(actions(sim, "cancel", order["orderId"])) == 1


def test_actions_of_one_order_go_to_amazon_in_the_order_they_were_made(sim, store, client):
    # A refund queued before a cancel of the same order is applied first; the cancel waits
    # for the refund's feed instead of overtaking it (cancels used to go first).
    [order] = new_orders(sim, store, client, 1, status="SHIPPED")
    [other] = new_orders(sim, store, client, 1)
    refund_id = queue(store, "refund", order, refund_payload(order, "CM-FIRST"), "refund:first")
    ship_id = queue(store, "confirm_shipment", order, ship_payload(order, reference="P-AFTER"), "ship:after")
    independent = queue(store, "cancel", other, cancel_payload(other), "cancel:other")
    first = deliver_outbox(store, client, ACCOUNT)
    assert first.submitted == [independent, refund_id] or sorted(first.submitted) == sorted([independent, refund_id])
    assert ship_id not in first.sent and store.outbox_row(ship_id).state == "pending"
    finish_feeds(sim, store, client)
    assert store.outbox_row(refund_id).state == "done"
    second = deliver_outbox(store, client, ACCOUNT, now=utcnow() + LATER)
    assert ship_id in second.sent
