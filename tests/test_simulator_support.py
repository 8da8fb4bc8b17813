"""Shared helpers for the simulator tests: an HTTP client that talks to it like a seller
app would (with requests, no amzorders client), and validators built from Amazon's models."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator

MODELS = Path(__file__).parent / "fixtures" / "spapi-models"
ALL_INCLUDED = "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES,TAX,PAYMENT,FULFILLMENT_ORDERS"
EPOCH = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@cache
def _model(name: str) -> dict[str, Any]:
    return json.loads((MODELS / name).read_text())


@cache
def validator(model: str, definition: str) -> jsonschema.Draft4Validator:
    schema = {"definitions": _model(model)["definitions"], "$ref": f"#/definitions/{definition}"}
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid(model: str, definition: str, value: Any) -> None:
    errors = sorted(validator(model, definition).iter_errors(value), key=str)
    assert not errors, f"{definition} invalid: {errors[0].message} at {list(errors[0].absolute_path)}"


def assert_orders_valid(definition: str, value: Any) -> None:
    assert_valid("orders_2026-01-01.json", definition, value)


def assert_feeds_valid(definition: str, value: Any) -> None:
    assert_valid("feeds_2021-06-30.json", definition, value)


def assert_amazon_error(response: requests.Response, status: int, code: str, *, mentions: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("x-amzn-RequestId")
    body = response.json()
    assert_orders_valid("ErrorList", body)
    error = body["errors"][0]
    assert error["code"] == code
    if mentions is not None:
        assert mentions in error["message"] + error.get("details", ""), error
    return error


# Only a guard against a hung simulator, never a judge of speed: a loaded 2-core CI
# machine can take many seconds for a large page.
HTTP_TIMEOUT = 300


class Api:
    """A minimal seller app: gets a token, then calls the SP-API routes."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.http = requests.Session()
        self.access_token: str | None = None

    def login(self, **overrides: str) -> requests.Response:
        form = {"grant_type": "refresh_token", **SIMULATOR_CREDENTIALS, **overrides}
        response = self.http.post(self.sim.token_url, data=form, timeout=HTTP_TIMEOUT)
        if response.status_code == 200:
            self.access_token = response.json()["access_token"]
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.access_token is None:
            assert self.login().status_code == 200
        headers = {"x-amz-access-token": self.access_token or "", **kwargs.pop("headers", {})}
        return self.http.request(method, self.sim.base_url + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)

    def search(self, **params: Any) -> requests.Response:
        return self.call("GET", "/orders/2026-01-01/orders", params=params)

    def search_all(self, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every order of a window, following nextToken; also the raw pages."""
        orders: list[dict[str, Any]] = []
        pages: list[dict[str, Any]] = []
        token = None
        while True:
            page_params = dict(params)
            if token:
                page_params["paginationToken"] = token
            response = self.search(**page_params)
            assert response.status_code == 200, response.text
            body = response.json()
            pages.append(body)
            orders.extend(body["orders"])
            token = body.get("pagination", {}).get("nextToken")
            if not token:
                return orders, pages

    def get_order(self, order_id: str, included: str | None = None) -> requests.Response:
        params = {"includedData": included} if included else None
        return self.call("GET", f"/orders/2026-01-01/orders/{order_id}", params=params)

    def confirm(self, order_id: str, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation", json=body)

    def submit_feed(self, feed_type: str, xml: str, marketplace_id: str = "ATVPDKIKX0DER") -> str:
        document = self.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "text/xml; charset=UTF-8"})
        assert document.status_code == 201, document.text
        assert_feeds_valid("CreateFeedDocumentResponse", document.json())
        upload = self.http.put(document.json()["url"], data=xml.encode(), headers={"Content-Type": "text/xml; charset=UTF-8"}, timeout=HTTP_TIMEOUT)
        assert upload.status_code == 200
        feed = self.call("POST", "/feeds/2021-06-30/feeds", json={
            "feedType": feed_type, "marketplaceIds": [marketplace_id],
            "inputFeedDocumentId": document.json()["feedDocumentId"]})
        assert feed.status_code == 202, feed.text
        assert_feeds_valid("CreateFeedResponse", feed.json())
        return feed.json()["feedId"]

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}")
        assert response.status_code == 200, response.text
        assert_feeds_valid("Feed", response.json())
        return response.json()

    def feed_report(self, feed: dict[str, Any]) -> str:
        document = self.call("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}")
        assert document.status_code == 200
        assert_feeds_valid("FeedDocument", document.json())
        assert document.json()["compressionAlgorithm"] == "GZIP"
        raw = self.http.get(document.json()["url"], timeout=HTTP_TIMEOUT)
        assert raw.status_code == 200
        return gzip.decompress(raw.content).decode()


def make_sim(tmp_path: Path | None = None, **options: Any) -> Simulator:
    settings: dict[str, Any] = {"seed": 11, "orders": 300, "epoch": EPOCH, "rate_limits": False}
    settings.update(options)
    return Simulator(tmp_path, **settings)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with make_sim() as running:
        yield running


@pytest.fixture
def api(sim: Simulator) -> Api:
    return Api(sim)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def find_order(sim: Simulator, *, status: str, fulfilled_by: str = "MERCHANT", items_min: int = 1) -> dict[str, Any]:
    """A generated order in the given state (from the simulator's own view)."""
    for order_id in sim.order_ids():
        order = sim.order(order_id)
        if (order["fulfillment"]["fulfillmentStatus"] == status
                and order["fulfillment"]["fulfilledBy"] == fulfilled_by
                and len(order["orderItems"]) >= items_min):
            return order
    raise AssertionError(f"no {fulfilled_by} order in {status}")
