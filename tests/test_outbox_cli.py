"""'amzorders outbox' and sync's delivery, end to end through the CLI against the simulator."""

from __future__ import annotations

import json

from amzorders.domain.models import utcnow
from amzorders.errors import ExitCode
from amzorders.store import Store

US = "ATVPDKIKX0DER"


def new_order(cli, sim) -> dict:
    [order_id] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US, items=[1])
    sim.advance(minutes=5)
    assert cli("sync").exit_code == 0
    return sim.order(order_id)


def queue(db_path, kind: str, order: dict, payload: dict, key: str) -> int:
    store = Store.open(db_path)
    try:
        with store.transaction():
            return store.add_outbox_row(
                account="main", amazon_order_id=order["orderId"], kind=kind, idempotency_key=key,
                payload=payload, now=utcnow(),
            )
    finally:
        store.close()


def ship_payload(order: dict, carrier: str = "UPS") -> dict:
    return {
        "marketplaceId": US,
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": carrier,
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": order["createdTime"],
            "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]} for i in order["orderItems"]],
        },
    }


def test_sync_exits_4_while_a_rejected_action_is_undismissed(cli, simulated_account):
    sim = simulated_account.sim
    order = new_order(cli, sim)
    row_id = queue(simulated_account.db_path, "confirm_shipment", order, ship_payload(order, "PIGEON"), "ship:bad")

    for _ in range(2):
        result = cli("sync")
        assert result.exit_code == ExitCode.AMAZON_REJECTED, result.output
        assert f"1 action was rejected by Amazon: #{row_id} ship {order['orderId']} (InvalidInput: Invalid carrierCode: PIGEON" in result.stderr
        assert "'amzorders outbox retry ID', or 'amzorders outbox dismiss ID'" in result.stderr
    assert len([a for a in sim.received_actions("confirmShipment") if a["order_id"] == order["orderId"]]) == 1

    listing = cli("outbox", "list")
    assert listing.exit_code == 0 and "REJECTED" in listing.stdout and order["orderId"] in listing.stdout
    # The table ellipsises a long error to fit; the whole of it is in --json and 'outbox show'.
    assert "PIGEON" in listing.stdout and all(len(line) <= 200 for line in listing.stdout.splitlines())
    [row] = json.loads(cli("outbox", "list", "--json").stdout)
    assert "request id" in row["last_error"]
    assert row["id"] == row_id and row["state"] == "failed" and row["action"] == "ship" and not row["dismissed"]
    shown = cli("outbox", "show", str(row_id))
    assert shown.exit_code == 0 and "PIGEON" in shown.stdout and "InvalidInput" in shown.stdout

    dismissed = cli("outbox", "dismiss", str(row_id))
    assert dismissed.exit_code == 0, dismissed.output
    assert cli("sync").exit_code == 0
    assert order["orderId"] not in cli("outbox", "list").output
    assert "rejected (dismissed)" in cli("outbox", "list", "--all").stdout


def test_outbox_retry_sends_a_rejected_shipment_again_once_amazon_allows_it(cli, simulated_account):
    sim = simulated_account.sim
    order = new_order(cli, sim)
    sim.set_status(order["orderId"], "PENDING")  # Amazon holds the order: shipping is refused
    row_id = queue(simulated_account.db_path, "confirm_shipment", order, ship_payload(order), "ship:held")
    result = cli("sync")
    assert result.exit_code == ExitCode.AMAZON_REJECTED and "is PENDING" in result.stderr
    sim.set_status(order["orderId"], "UNSHIPPED")

    retried = cli("outbox", "retry", str(row_id))

    assert retried.exit_code == 0, retried.output
    assert "accepted by Amazon" in retried.stderr
    assert cli("sync").exit_code == 0
    received = [a for a in sim.received_actions("confirmShipment") if a["order_id"] == order["orderId"]]
    assert [a["accepted"] for a in received] == [False, True]
    assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    # a done row cannot be retried or dismissed
    assert cli("outbox", "retry", str(row_id)).exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED
    assert cli("outbox", "dismiss", str(row_id)).exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED
    missing = cli("outbox", "show", "999")
    assert missing.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED and "no outbox row 999" in missing.stderr


def test_sync_submits_a_queued_cancel_and_a_later_sync_completes_it(cli, simulated_account):
    sim = simulated_account.sim
    order = new_order(cli, sim)
    payload = {
        "amazon_order_id": order["orderId"],
        "marketplace_id": US,
        "merchant_order_id": "000000001",
        "items": [{"order_item_id": i["orderItemId"], "reason": "NoInventory"} for i in order["orderItems"]],
    }
    row_id = queue(simulated_account.db_path, "cancel", order, payload, "cancel:1")

    first = cli("sync", "--json")

    assert first.exit_code == 0, first.output
    outbox = json.loads(first.stdout)["outbox"]
    assert outbox["submitted"] == [row_id] and len(outbox["feeds"]) == 1
    waiting = json.loads(cli("outbox", "list", "--json").stdout)
    assert waiting[0]["state"] == "submitted" and waiting[0]["feed_id"] == outbox["feeds"][0]
    sim.advance(minutes=3)
    second = cli("sync", "--verbose")
    assert second.exit_code == 0, second.output
    assert "Outbox:" in second.stderr and "1 accepted" in second.stderr
    assert "Nothing waiting" in cli("outbox").stderr
    assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert len([a for a in sim.received_actions("cancel") if a["order_id"] == order["orderId"]]) == 1


def test_ship_command_pushes_once_and_a_queued_cancel_is_delivered_by_sync(cli, simulated_account):
    sim = simulated_account.sim
    shipped = new_order(cli, sim)
    canceled = new_order(cli, sim)

    ship = cli("ship", shipped["orderId"], "--carrier", "UPS", "--tracking", "1Z999AA10123456784")
    cancel = cli("cancel", canceled["orderId"], "--reason", "NoInventory", "--no-push")

    assert ship.exit_code == 0, ship.output
    assert cancel.exit_code == 0, cancel.output
    assert sim.order(shipped["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert sim.received_actions("cancel") == [] and sim.call_counts().get("createFeed", 0) == 0
    assert cli("sync").exit_code == 0  # submits the cancel feed
    sim.advance(minutes=3)
    assert cli("sync").exit_code == 0  # follows it to DONE
    assert cli("sync").exit_code == 0
    rows = json.loads(cli("outbox", "list", "--all", "--json").stdout)
    assert sorted((r["action"], r["state"]) for r in rows) == [("cancel", "done"), ("ship", "done")]
    assert len([a for a in sim.received_actions("confirmShipment") if a["order_id"] == shipped["orderId"]]) == 1
    assert len([a for a in sim.received_actions("cancel") if a["order_id"] == canceled["orderId"]]) == 1
    assert sim.order(canceled["orderId"])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
