"""Amazon's own static sandbox examples (orders_2026-01-01.json) served over HTTP and
read back through the client: the client understands what Amazon really sends."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from amazon_testserver import FakeAmazon, Reply, Request, make_client

from amzorders.errors import AmazonRejectedError

MODEL = Path(__file__).parent / "fixtures" / "spapi-models" / "orders_2026-01-01.json"
ORDERS = "/orders/2026-01-01/orders"


def examples(path: str, status: str) -> list[dict[str, Any]]:
    model = json.loads(MODEL.read_text())
    return model["paths"][path]["get"]["responses"][status]["x-amzn-api-sandbox"]["static"]


SEARCH_OK = examples(ORDERS, "200")
SEARCH_400 = examples(ORDERS, "400")
GET_OK = examples(ORDERS + "/{orderId}", "200")
GET_400 = examples(ORDERS + "/{orderId}", "400")


def wire_query(parameters: dict[str, Any]) -> dict[str, str]:
    """The query string a Swagger 2.0 client sends for an example's parameters (csv arrays)."""
    return {
        name: ",".join(spec["value"]) if isinstance(spec["value"], list) else str(spec["value"])
        for name, spec in parameters.items()
    }


def serve_examples(fake: FakeAmazon, path: str, cases: list[dict[str, Any]], ignore: tuple[str, ...] = ()) -> None:
    """Answer a request with the example whose parameters it matches exactly."""

    def respond(request: Request) -> Reply:
        query = {k: v for k, v in request.query.items() if k not in ignore}
        for case in cases:
            wanted = wire_query(case["request"]["parameters"])
            wanted.pop("orderId", None)
            if query == wanted:
                return Reply(200, case["response"], headers={"x-amzn-RequestId": "req-example"})
        return Reply(400, {"errors": [{"code": "NoExample", "message": f"no example for {request.query}"}]})

    fake.route("GET", path, respond)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture
def fake() -> Any:
    with FakeAmazon() as server:
        yield server


def test_examples_are_present() -> None:
    assert (len(SEARCH_OK), len(SEARCH_400), len(GET_OK), len(GET_400)) == (3, 1, 3, 1)


@pytest.mark.parametrize("case", SEARCH_OK, ids=lambda case: case["response"]["orders"][0]["orderId"])
def test_search_orders_example_pages(fake: FakeAmazon, case: dict[str, Any]) -> None:
    parameters = case["request"]["parameters"]
    serve_examples(fake, ORDERS, [case], ignore=("maxResultsPerPage",))
    client = make_client(fake)
    pages = client.search_orders(
        created_after=parse_time(parameters["createdAfter"]["value"]),
        marketplace_ids=parameters["marketplaceIds"]["value"],
        included_data=parameters["includedData"]["value"],
        pagination_token=parameters.get("paginationToken", {}).get("value"),
    )
    page = next(pages)
    response = case["response"]
    assert page.orders == response["orders"]
    assert page.next_token == response.get("pagination", {}).get("nextToken")
    assert page.created_before == parse_time(response["createdBefore"])
    assert page.created_before is not None and page.created_before.tzinfo == timezone.utc
    assert page.last_updated_before is None
    assert page.request_id == "req-example"
    # Money stays text: the client hands Amazon's decimal strings through untouched.
    assert isinstance(page.orders[0]["proceeds"]["grandTotal"]["amount"], str)
    if page.next_token:
        # The next page resends every parameter plus the token.
        serve_examples(fake, ORDERS, [], ignore=())
        with pytest.raises(AmazonRejectedError):
            next(pages)
        first, second = fake.calls(ORDERS)
        assert second.query == {**first.query, "paginationToken": page.next_token}
    else:
        assert list(pages) == []


def test_search_example_chain_first_page_then_second(fake: FakeAmazon) -> None:
    """Pagination across two of Amazon's pages: the token of one leads to the other."""
    first, second = SEARCH_OK[0], SEARCH_OK[1]
    token = first["response"]["pagination"]["nextToken"]

    def respond(request: Request) -> Reply:
        body = second["response"] if request.query.get("paginationToken") == token else first["response"]
        return Reply(200, body, headers={"x-amzn-RequestId": f"req-{len(fake.requests)}"})

    fake.route("GET", ORDERS, respond)
    client = make_client(fake)
    pages = list(client.search_orders(created_after=datetime(2024, 12, 25, tzinfo=timezone.utc)))
    assert [page.orders for page in pages] == [first["response"]["orders"], second["response"]["orders"]]
    assert [page.next_token for page in pages] == [token, None]
    assert [page.created_before for page in pages] == [
        datetime(2024, 12, 25, 3, 0, tzinfo=timezone.utc),
        datetime(2024, 12, 24, 15, 0, tzinfo=timezone.utc),
    ]


def test_search_orders_error_example_is_rejected(fake: FakeAmazon) -> None:
    [case] = SEARCH_400
    fake.route("GET", ORDERS, Reply(400, case["response"], headers={"x-amzn-RequestId": "req-400-search"}))
    client = make_client(fake)
    with pytest.raises(AmazonRejectedError) as caught:
        next(client.search_orders(created_after=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    error = caught.value
    expected = case["response"]["errors"][0]
    assert (error.status, error.code, error.amazon_message, error.request_id) == (
        400, expected["code"], expected["message"], "req-400-search"
    )
    assert error.operation == "searchOrders"
    assert len(fake.api_calls()) == 1


@pytest.mark.parametrize("case", GET_OK, ids=lambda case: case["request"]["parameters"]["orderId"]["value"])
def test_get_order_examples(fake: FakeAmazon, case: dict[str, Any]) -> None:
    parameters = case["request"]["parameters"]
    order_id = parameters["orderId"]["value"]
    serve_examples(fake, f"{ORDERS}/{order_id}", [case])
    client = make_client(fake)
    order = client.get_order(order_id, included_data=parameters["includedData"]["value"])
    assert order == case["response"]["order"]
    assert order["orderId"] == order_id


def test_get_order_error_example_is_rejected(fake: FakeAmazon) -> None:
    [case] = GET_400
    order_id = case["request"]["parameters"]["orderId"]["value"]
    fake.route("GET", f"{ORDERS}/{order_id}", Reply(400, case["response"], headers={"x-amzn-RequestId": "req-400-get"}))
    client = make_client(fake)
    with pytest.raises(AmazonRejectedError) as caught:
        client.get_order(order_id)
    assert (caught.value.code, caught.value.amazon_message, caught.value.request_id) == (
        "InvalidInput", "Invalid Input", "req-400-get"
    )
    assert "InvalidInput" in str(caught.value) and "req-400-get" in str(caught.value)
