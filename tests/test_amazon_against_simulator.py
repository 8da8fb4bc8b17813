"""The real SP-API client against the real simulator: import, ship, cancel, refund, faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from amzorders.amazon.client import CallRecord, LwaCredentials, SpApiClient
from amzorders.amazon.feeds_xml import (
    AdjustedItem,
    AdjustmentMessage,
    CancelMessage,
    PriceComponent,
    build_order_acknowledgement,
    build_payment_adjustment,
    parse_processing_report,
)
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.domain import codes
from amzorders.errors import AmazonUnavailableError, AuthError
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator

CREDENTIALS = LwaCredentials(
    SIMULATOR_CREDENTIALS["client_id"],
    SIMULATOR_CREDENTIALS["client_secret"],
    SIMULATOR_CREDENTIALS["refresh_token"],
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    state = tmp_path_factory.mktemp("simulator") / "m.json"
    with Simulator(state, orders=300, rate_limits=False, feed_processing_seconds=60) as simulator:
        yield simulator


def client_for(sim: Simulator, **overrides: Any) -> SpApiClient:
    options: dict[str, Any] = {
        "rate_limiter": RateLimiter(plans={}),
        "max_retries": 4,
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "account_name": "simulator",
    }
    options.update(overrides)
    return SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, **options)


def import_all(client: SpApiClient, sim: Simulator) -> tuple[list[dict[str, Any]], Any]:
    orders: list[dict[str, Any]] = []
    pages = list(client.search_orders(
        last_updated_after=sim.now() - timedelta(days=3650),
        last_updated_before=sim.now() - timedelta(minutes=3),
    ))
    for page in pages:
        orders.extend(page.orders)
    return orders, pages


def unshipped_merchant_orders(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o for o in orders
        if o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED" and o["fulfillment"]["fulfilledBy"] == "MERCHANT"
    ]


def test_imports_every_order(sim: Simulator) -> None:
    client = client_for(sim)
    orders, pages = import_all(client, sim)
    ids = [o["orderId"] for o in orders]
    assert len(ids) == len(set(ids))
    created_by_now = set(sim.order_ids())
    assert set(ids) <= created_by_now and len(created_by_now - set(ids)) <= 5  # the last 3 minutes excluded
    assert len(pages) >= 3 and all(len(page.orders) <= 100 for page in pages)
    assert pages[-1].next_token is None
    watermark = pages[-1].last_updated_before
    assert watermark is not None and watermark.utcoffset() == timedelta(0)
    assert all(isinstance(o["orderItems"], list) and o["orderItems"] for o in orders)
    assert client.call_count == len(pages)
    assert client.token_call_count == 1


def test_confirms_a_shipment(sim: Simulator) -> None:
    client = client_for(sim)
    orders, _ = import_all(client, sim)
    target = unshipped_merchant_orders(orders)[0]
    body = {
        "marketplaceId": target["salesChannel"]["marketplaceId"],
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": (sim.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]}
                           for i in target["orderItems"]],
        },
    }
    client.confirm_shipment(target["orderId"], body)
    actions = [a for a in sim.received_actions("confirmShipment") if a["order_id"] == target["orderId"]]
    assert [a["accepted"] for a in actions] == [True]
    assert actions[0]["payload"] == body
    assert client.get_order(target["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


def run_feed(client: SpApiClient, sim: Simulator, feed_type: str, marketplace: str, document: bytes) -> Any:
    submitted = client.submit_feed(feed_type, [marketplace], document)
    sim.advance(minutes=5)  # let the marketplace process it
    feed = client.get_feed(submitted.feed_id)
    assert feed["processingStatus"] == "DONE", feed
    return parse_processing_report(client.get_feed_result(feed))


def test_cancel_feed_round_trip(sim: Simulator) -> None:
    client = client_for(sim)
    orders, _ = import_all(client, sim)
    target = unshipped_merchant_orders(orders)[-1]
    document = build_order_acknowledgement("SIMULATED_MERCHANT", [
        CancelMessage(1, target["orderId"], "100000001",
                      [(item["orderItemId"], "NoInventory") for item in target["orderItems"]]),
    ])
    report = run_feed(client, sim, "POST_ORDER_ACKNOWLEDGEMENT_DATA", target["salesChannel"]["marketplaceId"],
                      document)
    assert (report.status_code, report.processed, report.successful, report.with_error) == ("Complete", 1, 1, 0)
    assert client.get_order(target["orderId"])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"


def test_refund_feed_round_trip_and_error_report(sim: Simulator) -> None:
    client = client_for(sim)
    orders, _ = import_all(client, sim)
    shipped = [o for o in orders if o["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
               and o["fulfillment"]["fulfilledBy"] == "MERCHANT"
               and o["orderItems"][0]["product"]["price"]["unitPrice"]["currencyCode"] == "USD"]
    target = shipped[0]
    item = target["orderItems"][0]
    currency = item["product"]["price"]["unitPrice"]["currencyCode"]
    good = AdjustmentMessage(1, target["orderId"], "cm-test-1", [
        AdjustedItem(item["orderItemId"], "CustomerReturn", [PriceComponent("Principal", Decimal("1.00"), currency)]),
    ])
    bad = AdjustmentMessage(2, "999-0000000-0000000", "cm-test-2", [
        AdjustedItem("1", "CustomerReturn", [PriceComponent("Principal", Decimal("1.00"), currency)]),
    ])
    report = run_feed(client, sim, "POST_PAYMENT_ADJUSTMENT_DATA", target["salesChannel"]["marketplaceId"],
                      build_payment_adjustment("SIMULATED_MERCHANT", [good, bad]))
    assert (report.processed, report.successful, report.with_error) == (2, 1, 1), report.results
    [error] = report.results
    assert (error.message_id, error.result_code, error.amazon_order_id) == (2, "Error", "999-0000000-0000000")
    assert sim.refunds(target["orderId"])[-1]["amount"] == Decimal("1.00")


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "bad_json"])
def test_client_rides_out_injected_faults(sim: Simulator, fault: str) -> None:
    records: list[CallRecord] = []
    waits: list[float] = []
    client = client_for(sim, on_call=records.append, sleep=waits.append)
    order_id = sim.order_ids()[0]
    sim.inject(fault, count=2, operation="getOrder")
    assert client.get_order(order_id)["orderId"] == order_id
    attempts = [r for r in records if r.operation == "getOrder"]
    assert [r.attempt for r in attempts] == [1, 2, 3]
    assert attempts[-1].status == 200
    assert len(waits) == 2
    if fault == "429":
        # The simulator reports getOrder's 0.5 requests per second: wait at least 2 s.
        assert min(waits) >= 2.0


def test_expired_token_is_refreshed_once(sim: Simulator) -> None:
    client = client_for(sim)
    order_id = sim.order_ids()[0]
    client.get_order(order_id)
    sim.inject("expire_token", count=1, operation="getOrder")
    assert client.get_order(order_id)["orderId"] == order_id
    assert client.token_call_count == 2


def test_lwa_refusal_is_auth_error(sim: Simulator) -> None:
    sim.inject("lwa_refuse")
    client = client_for(sim, account_name="sim-shop")
    with pytest.raises(AuthError) as caught:
        client.get_order(sim.order_ids()[0])
    assert "sim-shop" in str(caught.value) and "invalid_grant" in str(caught.value)
    assert CREDENTIALS.client_secret not in str(caught.value)


@pytest.mark.slow
def test_client_buckets_avoid_429s_against_a_rate_limited_marketplace(tmp_path: Path) -> None:
    scale = 4.0  # the simulator's usage plans run 4 times faster; so do ours
    plans = {op: (rate * scale, burst) for op, (rate, burst) in codes.USAGE_PLANS.items()}
    # The marketplace clock stands still except when the client waits: its waits move it.
    # So whether a call finds a token depends on the client's arithmetic, not on timing.
    with Simulator(tmp_path / "m.json", orders=50, rate_limits=True, time_scale=scale, frozen_clock=True) as limited:
        order_ids = (limited.order_ids() * 2)[:38]
        waited: list[tuple[str, float]] = []
        limiter = RateLimiter(plans=plans, on_wait=lambda op, seconds: waited.append((op, seconds)),
                              clock=lambda: limited.now().timestamp(), sleep=lambda s: limited.advance(seconds=s))
        client = client_for(limited, rate_limiter=limiter, max_retries=0)
        for order_id in order_ids:  # getOrder: burst 30, then 2 per second here
            client.get_order(order_id)
        assert limited.count_429s() == 0
        assert len(waited) >= 4 and all(op == "getOrder" for op, _ in waited)

        # The same calls without client-side buckets do collect 429s.
        careless = client_for(limited, max_retries=0)
        with pytest.raises(AmazonUnavailableError, match="HTTP 429"):
            for order_id in order_ids:
                careless.get_order(order_id)
        assert limited.count_429s() >= 1


def test_access_token_refused_twice_in_a_row_says_so(sim: Simulator) -> None:
    """A refreshed token refused again is not a missing role: the message says which."""
    client = client_for(sim, account_name="sim-shop")
    order_id = sim.order_ids()[0]
    sim.inject("expire_token", count=2, operation="getOrder")
    with pytest.raises(AuthError) as caught:
        client.get_order(order_id)
    message = str(caught.value)
    assert "twice in a row" in message and "freshly issued" in message and "clock" in message
    assert "lacks a role" not in message
    assert caught.value.exit_code == 3
    assert client.token_call_count == 2  # one refresh, not a loop


def test_refused_refresh_token_names_the_refresh_token(sim: Simulator) -> None:
    sim.inject("lwa_refuse")
    client = client_for(sim, account_name="sim-shop")
    with pytest.raises(AuthError) as caught:
        client.get_order(sim.order_ids()[0])
    message = str(caught.value)
    assert "The refresh token was refused" in message and "authorize the app again" in message
    assert CREDENTIALS.refresh_token not in message
