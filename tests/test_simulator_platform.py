"""The simulator as a server: LWA, access tokens, usage plans, faults, persistence, admin
routes and the `simulator serve` command."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest
import requests
import typer
from typer.testing import CliRunner

from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from serve_support import endpoint, start_serve
from test_simulator_support import (  # noqa: F401 - fixtures
    Api,
    api,
    assert_amazon_error,
    assert_orders_valid,
    find_order,
    make_sim,
    sim,
)

OLD = "2020-01-01T00:00:00Z"


# ----- Login with Amazon and access tokens -----

def test_token_flow(sim: Simulator, api: Api) -> None:
    response = api.login()
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"].startswith("Atza|") and body["token_type"] == "bearer"
    assert body["expires_in"] == 3600 and body["refresh_token"] == SIMULATOR_CREDENTIALS["refresh_token"]
    assert api.login().json()["access_token"] != body["access_token"]
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200
    assert sim.call_counts()["token"] == 2


@pytest.mark.parametrize(
    ("field", "status", "error"),
    [("client_id", 401, "invalid_client"), ("client_secret", 401, "invalid_client"),
     ("refresh_token", 400, "invalid_grant"), ("grant_type", 400, "unsupported_grant_type")],
)
def test_token_rejections(api: Api, field: str, status: int, error: str) -> None:
    response = api.login(**{field: "wrong"})
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]
    assert api.access_token is None


def test_access_token_required_valid_and_expiring(sim: Simulator, api: Api) -> None:
    path = "/orders/2026-01-01/orders"
    missing = requests.get(sim.base_url + path, params={"createdAfter": OLD}, timeout=60)
    error = assert_amazon_error(missing, 403, "Unauthorized")
    assert error["message"] == "Access to requested resource is denied."
    assert "revoked, malformed or invalid" in error["details"]
    forged = requests.get(sim.base_url + path, params={"createdAfter": OLD}, timeout=60,
                          headers={"x-amz-access-token": "Atza|eyJlIjo5OTk5OTk5OTk5fQ.0000"})
    assert_amazon_error(forged, 403, "Unauthorized")
    api.login()
    sim.advance(minutes=61)
    assert_amazon_error(api.search(createdAfter=OLD), 403, "Unauthorized", mentions="expired")
    api.login()
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200


def test_every_response_carries_a_request_id_and_rate(api: Api) -> None:
    response = api.search(createdAfter=OLD, maxResultsPerPage=1)
    assert len(response.headers["x-amzn-RequestId"]) == 36
    assert response.headers["x-amzn-RateLimit-Limit"] == "0.0056"
    assert response.headers["Content-Type"] == "application/json"
    assert_amazon_error(api.call("GET", "/orders/2026-01-01/nothing"), 404, "NotFound")


# ----- usage plans -----

def test_rate_limit_burst_then_recovery_with_time_scale() -> None:
    # A frozen marketplace clock: no token comes back while the calls run, however slow
    # the machine; only advance() refills (at the scaled rate).
    with make_sim(rate_limits=True, time_scale=4.0, frozen_clock=True) as sim:
        api = Api(sim)
        order_id = sim.order_ids()[0]
        statuses = [api.get_order(order_id).status_code for _ in range(35)]
        assert statuses == [200] * 30 + [429] * 5  # getOrder burst 30
        throttled = api.get_order(order_id)
        assert_amazon_error(throttled, 429, "QuotaExceeded")
        assert throttled.json()["errors"][0]["message"] == "You exceeded your quota for the requested resource."
        assert throttled.headers["x-amzn-RateLimit-Limit"] == "2"  # 0.5/s x 4
        assert sim.count_429s() == 6
        sim.advance(seconds=0.25)  # 0.5/s x 4 = 2/s: half a token, not yet one
        assert api.get_order(order_id).status_code == 429
        sim.advance(seconds=0.25)  # now a whole token is back
        assert api.get_order(order_id).status_code == 200
        assert api.get_order(order_id).status_code == 429


def test_rate_limits_off_never_throttle() -> None:
    with make_sim(rate_limits=False) as sim:
        api = Api(sim)
        assert all(api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200 for _ in range(25))
        assert sim.count_429s() == 0


# ----- faults -----

@pytest.mark.parametrize(("kind", "status", "code"), [("429", 429, "QuotaExceeded"), ("500", 500, "InternalFailure"),
                                                      ("503", 503, "ServiceUnavailable")])
def test_status_faults_hit_the_named_operation_only(sim: Simulator, api: Api, kind: str, status: int, code: str) -> None:
    order_id = sim.order_ids()[0]
    sim.inject(kind, count=2, operation="getOrder")
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200
    assert_amazon_error(api.get_order(order_id), status, code)
    assert_amazon_error(api.get_order(order_id), status, code)
    assert api.get_order(order_id).status_code == 200


def test_reset_slow_and_bad_json(sim: Simulator, api: Api) -> None:
    api.login()
    sim.inject("reset")
    with pytest.raises(requests.ConnectionError):
        api.search(createdAfter=OLD, maxResultsPerPage=1)
    sim.slow_seconds = 0.3
    sim.inject("slow", operation="searchOrders")
    started = time.monotonic()
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200
    assert time.monotonic() - started >= 0.3  # a lower bound: the stall itself
    with pytest.raises(requests.ReadTimeout):
        sim.inject("slow")
        # The simulator holds the answer until this client gives up: a timeout for sure.
        sim.slow_seconds = 60.0
        api.http.get(sim.base_url + "/orders/2026-01-01/orders", params={"createdAfter": OLD},
                     headers={"x-amz-access-token": api.access_token or ""}, timeout=0.3)
    sim.inject("bad_json")
    response = api.search(createdAfter=OLD, maxResultsPerPage=3)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert api.search(createdAfter=OLD, maxResultsPerPage=3).json()["orders"]


def test_expire_token_and_lwa_refuse(sim: Simulator, api: Api) -> None:
    api.login()
    sim.inject("expire_token")
    assert_amazon_error(api.search(createdAfter=OLD), 403, "Unauthorized", mentions="expired")
    assert_amazon_error(api.search(createdAfter=OLD), 403, "Unauthorized", mentions="expired")
    sim.inject("lwa_refuse")
    refused = api.login()
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert api.login().status_code == 200
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200


def test_update_during_paging_loses_nothing_with_the_watermark(sim: Simulator, api: Api) -> None:
    sim.inject("update_during_paging")
    orders, pages = api.search_all(lastUpdatedAfter=OLD, maxResultsPerPage=50)
    watermark = pages[0]["lastUpdatedBefore"]
    seen = {o["orderId"]: o["lastUpdatedTime"] for o in orders}
    assert len(seen) == len(orders)
    sim.advance(minutes=3)
    later, _ = api.search_all(lastUpdatedAfter=watermark)
    for order in later:
        seen[order["orderId"]] = order["lastUpdatedTime"]
    assert len(later) >= 2  # the orders bumped while paging
    assert set(seen) == {i for i in sim.order_ids()}
    for order_id, stamp in seen.items():
        assert stamp == sim.order(order_id)["lastUpdatedTime"]


def test_duplicate_across_pages(sim: Simulator, api: Api) -> None:
    sim.inject("duplicate_across_pages")
    orders, pages = api.search_all(createdAfter=OLD, maxResultsPerPage=10)
    ids = [o["orderId"] for o in orders]
    assert len(ids) == len(set(ids)) + 1
    assert pages[0]["orders"][-1]["orderId"] == pages[1]["orders"][0]["orderId"]


def test_feed_faults(sim: Simulator, api: Api) -> None:
    from test_simulator_writes import CANCEL, cancel_xml, envelope, run_feed

    order = find_order(sim, status="UNSHIPPED")
    sim.inject("feed_fatal")
    feed, report = run_feed(sim, api, CANCEL, envelope("OrderAcknowledgement", [cancel_xml(order)]))
    assert feed["processingStatus"] == "FATAL" and "feed_fatal" in report
    assert sim.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    sim.inject("feed_message_error")
    other = find_order(sim, status="UNSHIPPED", items_min=1)
    feed, report = run_feed(sim, api, CANCEL, envelope("OrderAcknowledgement", [cancel_xml(order)]))
    assert feed["processingStatus"] == "DONE" and "<ResultMessageCode>99001</ResultMessageCode>" in report
    assert sim.order(other["orderId"])["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    feed, report = run_feed(sim, api, CANCEL, envelope("OrderAcknowledgement", [cancel_xml(order)]))
    assert "<MessagesSuccessful>1</MessagesSuccessful>" in report


def test_random_faults_are_seeded_and_switch_off(sim: Simulator, api: Api) -> None:
    api.login()
    sim.random_faults(0.5, ["500", "503"], seed=3)
    first = [api.search(createdAfter=OLD, maxResultsPerPage=1).status_code for _ in range(20)]
    assert set(first) == {200, 500, 503}
    sim.random_faults(0.5, ["500", "503"], seed=3)
    assert [api.search(createdAfter=OLD, maxResultsPerPage=1).status_code for _ in range(20)] == first
    sim.random_faults(0, [], seed=0)
    assert {api.search(createdAfter=OLD, maxResultsPerPage=1).status_code for _ in range(5)} == {200}
    sim.inject("500")
    sim.clear_faults()
    assert api.search(createdAfter=OLD, maxResultsPerPage=1).status_code == 200
    with pytest.raises(ValueError):
        sim.inject("meteor")


# ----- persistence -----

def test_state_file_shared_by_two_simulators(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    with make_sim(state) as first:
        order = find_order(first, status="UNSHIPPED")
        api = Api(first)
        from test_simulator_writes import shipment

        assert api.confirm(order["orderId"], shipment(order)).status_code == 204
        first.advance(minutes=90)
        added = first.add_orders(2, status="UNSHIPPED")
        first.buyer_cancel(added[0])
        clock = first.now()
    # another process-like instance, other arguments: the file's marketplace wins
    with make_sim(state, seed=99, orders=5) as second:
        assert abs((second.now() - clock).total_seconds()) < 5
        assert second.order(order["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
        assert set(added) <= set(second.order_ids())
        assert second.order(added[0])["orderItems"][0]["cancellation"]["cancellationRequest"]["requester"] == "BUYER"
        assert len(second.received_actions("confirmShipment")) == 1
        # both open at once: a change by one is seen by the other
        with make_sim(state) as third:
            third.set_status(added[1], "CANCELLED")
            assert second.order(added[1])["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
            second.advance(minutes=10)
            assert abs((third.now() - second.now()).total_seconds()) < 5
    assert not list(tmp_path.glob("*.tmp"))
    assert json.loads(state.read_text())["format"] == 1


def test_admin_routes_drive_the_simulator(sim: Simulator) -> None:
    base = sim.base_url + "/_sim"
    assert requests.get(base + "/health", timeout=60).json()["ok"] is True
    before = sim.now()
    assert requests.post(base + "/advance", json={"minutes": 5}, timeout=60).status_code == 200
    assert (sim.now() - before).total_seconds() >= 300
    assert requests.post(base + "/faults", json={"kind": "503", "operation": "getOrder"}, timeout=60).status_code == 200
    api = Api(sim)
    order_id = sim.order_ids()[0]
    assert api.get_order(order_id).status_code == 503
    added = requests.post(base + "/orders", json={"count": 1, "status": "UNSHIPPED"}, timeout=60).json()["orderIds"]
    assert requests.post(f"{base}/orders/{added[0]}/buyer_cancel", timeout=60).status_code == 200
    shown = requests.get(f"{base}/orders/{added[0]}", timeout=60).json()["order"]
    assert shown["orderItems"][0]["cancellation"]["cancellationRequest"]["requester"] == "BUYER"
    assert requests.get(base + "/actions", timeout=60).json() == {"actions": []}
    assert requests.get(base + "/calls", timeout=60).json()["calls"]["getOrder"] == 1
    assert requests.post(base + "/faults", json={"kind": "nope"}, timeout=60).status_code == 400
    assert requests.get(base + "/orders/111-0000000-0000000", timeout=60).status_code == 404


# ----- the CLI command -----

def test_serve_command_registers_and_prints_how_to_connect(tmp_path: Path) -> None:
    from amzorders.cli.simulator_cmd import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["simulator", "serve", "--help"])
    assert result.exit_code == 0 and "--no-rate-limits" in result.output

    code = ("import typer, sys; from amzorders.cli.simulator_cmd import register; app = typer.Typer(); "
            "app.callback()(lambda: None); register(app); app()")
    process, lines = start_serve(
        [sys.executable, "-c", code, "simulator", "serve", "--port", "0", "--orders", "20",
         "--state", str(tmp_path / "s.json")])
    try:
        text = "".join(lines)
        assert SIMULATOR_CREDENTIALS["client_id"] in text
        base_url = endpoint(lines)
        token = requests.post(base_url + "/auth/o2/token", timeout=60,
                              data={"grant_type": "refresh_token", **SIMULATOR_CREDENTIALS}).json()["access_token"]
        page = requests.get(base_url + "/orders/2026-01-01/orders", params={"createdAfter": OLD}, timeout=60,
                            headers={"x-amz-access-token": token}).json()
        assert_orders_valid("SearchOrdersResponse", page)
        assert len(page["orders"]) == 20
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert (tmp_path / "s.json").exists()


@pytest.mark.slow
def test_a_100000_order_marketplace_serves_full_pages() -> None:
    """A large marketplace works: full pages by created and by updated time, tokens chain.
    How fast it is belongs to benchmarks/simulator_scale.py, not to a test."""
    with make_sim(orders=100_000) as sim:
        api = Api(sim)
        api.login()
        included = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES"
        first = api.search(createdAfter=OLD, includedData=included)
        token = first.json()["pagination"]["nextToken"]
        seen = {order["orderId"] for order in first.json()["orders"]}
        for _ in range(5):
            page = api.search(createdAfter=OLD, includedData=included, paginationToken=token).json()
            assert len(page["orders"]) == 100
            seen.update(order["orderId"] for order in page["orders"])
            token = page["pagination"]["nextToken"]
        assert len(seen) == 600  # six full pages, no order twice
        updated = api.search(lastUpdatedAfter=OLD, maxResultsPerPage=100)
        assert len(updated.json()["orders"]) == 100


def test_unreadable_state_file_is_a_config_error(tmp_path: Path) -> None:
    from amzorders.errors import ConfigError

    state = tmp_path / "sim.json"
    state.write_text("{half a file")
    with pytest.raises(ConfigError, match="delete it"):
        Simulator(state)
    state.write_text('{"format": 99}')
    with pytest.raises(ConfigError, match="format"):
        Simulator(state)
