"""SpApiClient over real HTTP against a programmable loopback server."""

from __future__ import annotations

import hashlib
import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from amazon_testserver import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TOKEN_PATH,
    FakeAmazon,
    Reply,
    Request,
    amazon_error,
    gzipped,
    make_client,
)

from amzorders import __version__
from amzorders.amazon.auth import MemoryTokenStore, token_cache_key
from amzorders.amazon.client import CallRecord, LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.errors import (
    AmazonRejectedError,
    AmazonUnavailableError,
    AuthError,
    ExitCode,
    NotAllowedError,
    UsageError,
)

ORDERS = "/orders/2026-01-01/orders"
ORDER_ID = "113-1234567-1234567"
ORDER_PATH = f"{ORDERS}/{ORDER_ID}"
SHIPMENT_PATH = f"/orders/v0/orders/{ORDER_ID}/shipmentConfirmation"


def order(order_id: str = ORDER_ID) -> dict[str, Any]:
    return {"orderId": order_id, "createdTime": "2025-01-01T00:00:00Z", "lastUpdatedTime": "2025-01-01T01:00:00Z"}


def ok_order(request_id: str = "req-ok") -> Reply:
    return Reply(200, {"order": order()}, headers={"x-amzn-RequestId": request_id})


@pytest.fixture
def fake() -> Any:
    with FakeAmazon() as server:
        yield server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- LWA tokens ---


def test_token_is_fetched_once_and_sent_on_every_call(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, ok_order())
    client = make_client(fake)
    for _ in range(3):
        assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    token_calls = fake.calls(TOKEN_PATH)
    assert len(token_calls) == 1
    assert token_calls[0].form() == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert token_calls[0].headers["content-type"].startswith("application/x-www-form-urlencoded")
    api_calls = fake.api_calls()
    assert [call.headers["x-amz-access-token"] for call in api_calls] == ["Atza|token-1"] * 3
    assert api_calls[0].headers["user-agent"].startswith(f"amzorders/{__version__} (Language=Python/3.")
    assert (client.call_count, client.token_call_count) == (3, 1)


def test_token_is_refreshed_a_minute_before_it_expires(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, ok_order())
    now = [1_000_000.0]
    client = make_client(fake, clock=lambda: now[0])
    client.get_order(ORDER_ID)
    now[0] += 3600 - 61  # still valid for 61 s: reused
    client.get_order(ORDER_ID)
    now[0] += 2  # within the last minute: refreshed
    client.get_order(ORDER_ID)
    assert [c.headers["x-amz-access-token"] for c in fake.api_calls()] == [
        "Atza|token-1",
        "Atza|token-1",
        "Atza|token-2",
    ]


def test_token_store_shares_tokens_between_clients(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, ok_order())
    store = MemoryTokenStore()
    now = [5_000.0]
    make_client(fake, token_store=store, clock=lambda: now[0]).get_order(ORDER_ID)
    second = make_client(fake, token_store=store, clock=lambda: now[0])
    second.get_order(ORDER_ID)
    assert second.token_call_count == 0
    assert len(fake.calls(TOKEN_PATH)) == 1
    key = token_cache_key(LwaCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN))
    assert key == hashlib.sha256(f"{CLIENT_ID}\n{REFRESH_TOKEN}".encode()).hexdigest()
    assert store.tokens == {key: ("Atza|token-1", 5_000.0 + 3600)}
    # An expired stored token is not used.
    now[0] += 3600
    third = make_client(fake, token_store=store, clock=lambda: now[0])
    third.get_order(ORDER_ID)
    assert third.token_call_count == 1
    assert store.tokens[key][0] == "Atza|token-2"


def test_expired_token_answer_refreshes_once_and_retries(fake: FakeAmazon) -> None:
    expired = Reply(
        403,
        {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                     "details": "The access token you provided has expired."}]},
        headers={"x-amzn-RequestId": "req-403"},
    )
    fake.route("GET", ORDER_PATH, expired, ok_order())
    client = make_client(fake)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    assert [c.headers["x-amz-access-token"] for c in fake.api_calls()] == ["Atza|token-1", "Atza|token-2"]
    assert client.token_call_count == 2


def test_invalid_token_twice_is_rejected_after_one_refresh(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, amazon_error(401, "InvalidToken", "The access token is invalid", "req-401"))
    client = make_client(fake)
    with pytest.raises(AuthError) as caught:
        client.get_order(ORDER_ID)
    assert caught.value.status == 401
    assert caught.value.code == "InvalidToken"
    assert caught.value.request_id == "req-401"
    assert len(fake.api_calls()) == 2
    assert client.token_call_count == 2


def test_forbidden_without_token_problem_is_not_refreshed(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, amazon_error(403, "AccessDenied", "Role missing", "req-role"))
    client = make_client(fake)
    with pytest.raises(AuthError) as caught:
        client.get_order(ORDER_ID)
    assert "lacks a role for getOrder" in str(caught.value)
    # A credentials/roles problem for a person (exit 3), not a verdict on the request.
    assert caught.value.exit_code == 3 and caught.value.status == 403
    assert (len(fake.api_calls()), client.token_call_count) == (1, 1)


@pytest.mark.parametrize(
    "credentials, lwa_code, which",
    [
        (LwaCredentials(CLIENT_ID, CLIENT_SECRET, "Atzr|wrong-refresh"), "invalid_grant", "The refresh token was refused"),
        (LwaCredentials(CLIENT_ID, "wrong-secret-value", REFRESH_TOKEN), "invalid_client", "client id or client secret was refused"),
    ],
)
def test_lwa_refusal_is_an_auth_error_naming_account_and_fix(
    fake: FakeAmazon, credentials: LwaCredentials, lwa_code: str, which: str
) -> None:
    """The message says which credential was refused (LWA's token error codes)."""
    client = make_client(fake, credentials=credentials, account_name="shop-eu")
    with pytest.raises(AuthError) as caught:
        client.get_order(ORDER_ID)
    error = caught.value
    assert error.exit_code == ExitCode.CONFIG == 3
    assert error.code == lwa_code
    message = str(error)
    assert "shop-eu" in message and lwa_code in message
    assert "AMZORDERS_" in message and which in message
    assert credentials.client_secret not in message and credentials.refresh_token not in message
    assert fake.api_calls() == []  # LWA refusal is not retried and no SP-API call was made
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert error.maybe_delivered is False


def test_lwa_unreachable_is_unavailable(fake: FakeAmazon) -> None:
    client = SpApiClient(
        fake.base_url,
        LwaCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN),
        closed_port_url() + TOKEN_PATH,
        max_retries=1,
        backoff_base=0.001,
        backoff_cap=0.001,
    )
    with pytest.raises(AmazonUnavailableError) as caught:
        client.confirm_shipment(ORDER_ID, {"marketplaceId": "ATVPDKIKX0DER"})
    assert caught.value.exit_code == ExitCode.AMAZON_UNAVAILABLE
    assert "Login with Amazon did not answer" in str(caught.value)
    assert "after 2 attempts" in str(caught.value)
    assert caught.value.maybe_delivered is False
    assert fake.api_calls() == []


def test_lwa_server_error_is_retried(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, ok_order())
    issued = iter([Reply(500, {"error": "server_error"}), None])

    def token(request: Request) -> Reply:
        reply = next(issued)
        return reply if reply is not None else fake._issue_token(request)

    fake.route("POST", TOKEN_PATH, token)
    client = make_client(fake)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    assert client.token_call_count == 2


# --- searchOrders: parameters, pagination, watermarks ---


def test_pages_follow_next_token_and_resend_the_same_parameters(fake: FakeAmazon) -> None:
    pages = {
        None: {"orders": [order("A"), order("B")], "pagination": {"nextToken": "tok/2+=="},
               "lastUpdatedBefore": "2025-03-01T10:00:00Z"},
        "tok/2+==": {"orders": [order("C")], "pagination": {"nextToken": "tok3"},
                     "lastUpdatedBefore": "2025-03-01T10:00:00.250Z"},
        "tok3": {"orders": [], "lastUpdatedBefore": "2025-03-01T12:00:00+02:00"},
    }
    fake.route("GET", ORDERS, lambda request: Reply(
        200, pages[request.query.get("paginationToken")], headers={"x-amzn-RequestId": "r-" + str(len(fake.requests))}
    ))
    client = make_client(fake)
    after = datetime(2025, 2, 28, 23, 59, 1, tzinfo=timezone.utc)
    result = list(client.search_orders(
        last_updated_after=after,
        fulfillment_statuses=["UNSHIPPED", "PARTIALLY_SHIPPED"],
        marketplace_ids=["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"],
        fulfilled_by=["MERCHANT"],
        max_results_per_page=2,
    ))
    assert [[o["orderId"] for o in page.orders] for page in result] == [["A", "B"], ["C"], []]
    assert [page.next_token for page in result] == ["tok/2+==", "tok3", None]
    assert [page.last_updated_before for page in result] == [
        datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc),
        datetime(2025, 3, 1, 10, 0, 0, 250000, tzinfo=timezone.utc),
        datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc),
    ]
    assert all(page.created_before is None for page in result)
    assert all(page.last_updated_before.tzinfo == timezone.utc for page in result)  # type: ignore[union-attr]
    assert result[0].request_id is not None
    queries = [call.query for call in fake.calls(ORDERS)]
    expected = {
        "lastUpdatedAfter": "2025-02-28T23:59:01Z",
        "fulfillmentStatuses": "UNSHIPPED,PARTIALLY_SHIPPED",
        "marketplaceIds": "ATVPDKIKX0DER,A2EUQ1WTGCTBG2",
        "fulfilledBy": "MERCHANT",
        "includedData": "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES,TAX",
        "maxResultsPerPage": "2",
    }
    assert queries == [expected, {**expected, "paginationToken": "tok/2+=="}, {**expected, "paginationToken": "tok3"}]


def test_search_is_lazy_and_times_are_sent_in_utc(fake: FakeAmazon) -> None:
    fake.route("GET", ORDERS, Reply(200, {"orders": [], "createdBefore": "2025-01-01T00:00:00Z"}))
    client = make_client(fake)
    plus_two = timezone(timedelta(hours=2))
    pages = client.search_orders(
        created_after=datetime(2025, 1, 1, 2, 0, tzinfo=plus_two),
        created_before=datetime(2025, 1, 1, 3, 0, 0, 123456, tzinfo=plus_two),
        included_data=None,
    )
    assert fake.api_calls() == []
    page = next(pages)
    assert page.created_before == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert fake.calls(ORDERS)[0].query == {
        "createdAfter": "2025-01-01T00:00:00Z",
        "createdBefore": "2025-01-01T01:00:00.123Z",
        "maxResultsPerPage": "100",
    }


def _three_pages(fake: FakeAmazon, arrived: dict[str, threading.Event] | None = None) -> None:
    pages = {
        None: {"orders": [order("A")], "pagination": {"nextToken": "t2"}},
        "t2": {"orders": [order("B")], "pagination": {"nextToken": "t3"}},
        "t3": {"orders": [order("C")]},
    }

    def answer(request: Request) -> Reply:
        token = request.query.get("paginationToken")
        if arrived is not None and token in arrived:
            arrived[token].set()
        return Reply(200, pages[token])

    fake.route("GET", ORDERS, answer)


def test_the_next_page_is_requested_while_the_caller_holds_this_one(fake: FakeAmazon) -> None:
    arrived = {"t2": threading.Event(), "t3": threading.Event()}
    _three_pages(fake, arrived)
    pages = make_client(fake).search_orders(last_updated_after=datetime(2025, 1, 1, tzinfo=timezone.utc))
    first = next(pages)
    assert [o["orderId"] for o in first.orders] == ["A"]
    # Page 2 comes while page 1 is still the caller's (the request is sent before page 1
    # is handed over; the wait is for the loopback server only).
    assert arrived["t2"].wait(30)
    assert [[o["orderId"] for o in p.orders] for p in pages] == [["B"], ["C"]]
    assert [c.query.get("paginationToken") for c in fake.calls(ORDERS)] == [None, "t2", "t3"]  # each once


def test_no_page_is_read_ahead_outside_the_burst_or_when_asked_not_to(fake: FakeAmazon) -> None:
    _three_pages(fake)
    now = [1_000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    # A burst of 1: page 1 takes the only token, so page 2 waits for the refill and is
    # requested only when asked for (on this thread: nothing is in flight meanwhile).
    limiter = RateLimiter(plans={"searchOrders": (0.5, 1)}, clock=lambda: now[0], sleep=sleep)
    client = make_client(fake, rate_limiter=limiter, clock=lambda: now[0], sleep=sleep)
    pages = client.search_orders(last_updated_after=datetime(2025, 1, 1, tzinfo=timezone.utc))
    next(pages)
    assert len(fake.calls(ORDERS)) == 1 and waits == []
    next(pages)
    assert len(fake.calls(ORDERS)) == 2 and len(waits) == 1
    pages.close()
    # read_ahead=False: the same with no plan at all.
    unthrottled = make_client(fake, read_ahead=False)
    pages = unthrottled.search_orders(last_updated_after=datetime(2025, 1, 1, tzinfo=timezone.utc))
    next(pages)
    assert len(fake.calls(ORDERS)) == 3
    pages.close()
    assert len(fake.calls(ORDERS)) == 3


def test_a_page_read_ahead_that_fails_is_retried_when_the_caller_asks_for_it(fake: FakeAmazon) -> None:
    replies = iter([
        Reply(200, {"orders": [order("A")], "pagination": {"nextToken": "t2"}}),
        amazon_error(503, "ServiceUnavailable", "busy"),
        Reply(200, {"orders": [order("B")]}),
    ])
    fake.route("GET", ORDERS, lambda request: next(replies))
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    pages = list(client.search_orders(last_updated_after=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    assert [[o["orderId"] for o in p.orders] for p in pages] == [["A"], ["B"]]
    assert [(r.status, r.attempt) for r in records if r.operation == "searchOrders"] == [(200, 1), (503, 1), (200, 2)]
    assert client.call_count == 3
    assert [c.query.get("paginationToken") for c in fake.calls(ORDERS)] == [None, "t2", "t2"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"created_after": datetime(2025, 1, 1, tzinfo=timezone.utc),
         "last_updated_after": datetime(2025, 1, 1, tzinfo=timezone.utc)},
        {"created_after": datetime(2025, 1, 1)},  # naive
        {"last_updated_after": datetime(2025, 1, 1, tzinfo=timezone.utc), "fulfillment_statuses": ["SHIPPING"]},
        {"last_updated_after": datetime(2025, 1, 1, tzinfo=timezone.utc), "included_data": ["EVERYTHING"]},
        {"last_updated_after": datetime(2025, 1, 1, tzinfo=timezone.utc), "max_results_per_page": 101},
        {"last_updated_after": datetime(2025, 1, 1, tzinfo=timezone.utc),
         "created_before": datetime(2025, 1, 2, tzinfo=timezone.utc)},
    ],
)
def test_bad_search_arguments_are_usage_errors_before_any_call(fake: FakeAmazon, kwargs: dict[str, Any]) -> None:
    client = make_client(fake)
    with pytest.raises(UsageError):
        client.search_orders(**kwargs)
    assert fake.requests == []


def test_unparseable_watermark_is_not_silently_dropped(fake: FakeAmazon) -> None:
    fake.route("GET", ORDERS, Reply(200, {"orders": [], "lastUpdatedBefore": "yesterday"}))
    client = make_client(fake)
    with pytest.raises(AmazonUnavailableError, match="lastUpdatedBefore"):
        next(client.search_orders(last_updated_after=datetime(2025, 1, 1, tzinfo=timezone.utc)))


def test_get_order_sends_included_data_and_escapes_the_id(fake: FakeAmazon) -> None:
    fake.route("GET", f"{ORDERS}/odd%2Fid", Reply(200, {"order": order("odd/id")}))
    client = make_client(fake)
    assert client.get_order("odd/id", included_data=["BUYER", "TAX"])["orderId"] == "odd/id"
    assert fake.api_calls()[0].query == {"includedData": "BUYER,TAX"}


# --- retries ---


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(fake: FakeAmazon, status: int) -> None:
    fake.route("GET", ORDER_PATH, amazon_error(status, "Transient", "try later"), ok_order())
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    api_records = [r for r in records if r.operation == "getOrder"]
    assert [(r.status, r.attempt, r.error_code) for r in api_records] == [(status, 1, "Transient"), (200, 2, None)]
    assert client.call_count == 2


def test_persistent_503_gives_up_after_bounded_attempts(fake: FakeAmazon) -> None:
    fake.route("GET", ORDERS, amazon_error(503, "ServiceUnavailable", "down", "req-503"))
    client = make_client(fake, max_retries=3)
    with pytest.raises(AmazonUnavailableError) as caught:
        next(client.search_orders(created_after=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    message = str(caught.value)
    assert message.startswith("Amazon did not answer searchOrders after 4 attempts (last: HTTP 503 ServiceUnavailable")
    assert "request id req-503" in message and "nothing was changed" in message
    assert caught.value.operation == "searchOrders"
    assert caught.value.request_id == "req-503"
    assert caught.value.maybe_delivered is True
    assert len(fake.calls(ORDERS)) == 4


def test_429_waits_at_least_as_long_as_the_rate_header_says(fake: FakeAmazon) -> None:
    throttled = amazon_error(429, "QuotaExceeded", "You exceeded your quota", **{"x-amzn-RateLimit-Limit": "0.5"})
    fake.route("GET", ORDER_PATH, throttled, ok_order())
    slept: list[float] = []
    limiter = RateLimiter(plans={"getOrder": (5.0, 30)}, sleep=slept.append, refill_margin=0.0)
    client = make_client(fake, rate_limiter=limiter, sleep=slept.append)
    client.get_order(ORDER_ID)
    assert slept and max(slept) >= 2.0  # 1 / 0.5 requests per second
    assert limiter.plan("getOrder") == (0.5, 30)


def test_rate_header_on_success_adjusts_the_bucket(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, Reply(200, {"order": order()}, headers={"x-amzn-RateLimit-Limit": "0.0167"}))
    limiter = RateLimiter(plans={"getOrder": (0.5, 30)}, refill_margin=0.0)
    make_client(fake, rate_limiter=limiter).get_order(ORDER_ID)
    assert limiter.plan("getOrder") == (0.0167, 30)


def test_client_waits_for_its_bucket_instead_of_sending(fake: FakeAmazon) -> None:
    fake.route("POST", SHIPMENT_PATH, Reply(204))
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(clock=lambda: now[0], sleep=sleep, refill_margin=0.0)  # the real usage plans
    client = make_client(fake, rate_limiter=limiter)
    for _ in range(12):
        client.confirm_shipment(ORDER_ID, {"marketplaceId": "ATVPDKIKX0DER"})
    # confirmShipment: the whole burst of 10, then 2 per second.
    assert slept == [pytest.approx(0.5)] * 2
    assert len(fake.api_calls()) == 12


def test_connection_reset_is_retried(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, Reply(reset=True), Reply(reset=True), ok_order())
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    assert [r.status for r in records if r.operation == "getOrder"] == [None, None, 200]


def test_read_timeout_is_retried(fake: FakeAmazon) -> None:
    # Held until the client's 1 s read timeout gives up; the retry's answer comes at once.
    fake.route("GET", ORDER_PATH, Reply(200, {"order": order()}, delay=120), ok_order())
    records: list[CallRecord] = []
    client = make_client(fake, timeout=(5.0, 1.0), on_call=records.append)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    assert [(r.status, r.error_code) for r in records if r.operation == "getOrder"] == [
        (None, "ReadTimeout"),
        (200, None),
    ]


def test_invalid_json_is_retried_then_reported(fake: FakeAmazon) -> None:
    fake.route("GET", ORDER_PATH, Reply(200, body=b"{\"order\": {"), ok_order())
    client = make_client(fake)
    assert client.get_order(ORDER_ID)["orderId"] == ORDER_ID
    assert len(fake.api_calls()) == 2

    fake.route("GET", ORDER_PATH, Reply(200, body=b"<html>gateway</html>", headers={"x-amzn-RequestId": "req-html"}))
    with pytest.raises(AmazonUnavailableError) as caught:
        client.get_order(ORDER_ID)
    assert "not valid JSON" in str(caught.value)
    assert "after 4 attempts" in str(caught.value)


def test_connection_refused_write_was_not_delivered() -> None:
    client = SpApiClient(
        closed_port_url(),
        LwaCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN),
        "http://unused.invalid/token",
        max_retries=1,
        backoff_base=0.001,
        backoff_cap=0.001,
        rate_limiter=RateLimiter(plans={}),
    )
    client._token = ("Atza|preloaded", 10**12)  # skip LWA: this test is about the API host
    with pytest.raises(AmazonUnavailableError) as caught:
        client.confirm_shipment(ORDER_ID, {"marketplaceId": "ATVPDKIKX0DER"})
    assert caught.value.maybe_delivered is False
    assert "could not connect" in str(caught.value)
    assert "nothing was changed" in str(caught.value)


def test_write_lost_after_sending_may_have_been_delivered(fake: FakeAmazon) -> None:
    fake.route("POST", SHIPMENT_PATH, Reply(reset=True))
    client = make_client(fake, max_retries=1)
    with pytest.raises(AmazonUnavailableError) as caught:
        client.confirm_shipment(ORDER_ID, {"marketplaceId": "ATVPDKIKX0DER"})
    assert caught.value.maybe_delivered is True
    assert "may or may not have received it" in str(caught.value)
    assert len(fake.calls(SHIPMENT_PATH)) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_rejected_at_once_with_amazons_words(fake: FakeAmazon, status: int) -> None:
    fake.route("POST", SHIPMENT_PATH, Reply(
        status,
        {"errors": [{"code": "InvalidInput", "message": "shipDate is invalid", "details": "expected ISO 8601"}]},
        headers={"x-amzn-RequestId": "req-bad"},
    ))
    client = make_client(fake)
    with pytest.raises(AmazonRejectedError) as caught:
        client.confirm_shipment(ORDER_ID, {"marketplaceId": "ATVPDKIKX0DER"})
    error = caught.value
    assert (error.status, error.code, error.amazon_message, error.request_id, error.operation) == (
        status, "InvalidInput", "shipDate is invalid", "req-bad", "confirmShipment"
    )
    assert error.details == "expected ISO 8601"  # type: ignore[attr-defined]
    assert error.exit_code == ExitCode.AMAZON_REJECTED
    assert error.maybe_delivered is True
    assert "shipDate is invalid" in str(error) and "req-bad" in str(error)
    assert len(fake.api_calls()) == 1


def test_bad_base_url_is_a_config_error() -> None:
    from amzorders.errors import ConfigError

    client = SpApiClient("sellingpartnerapi-na.amazon.com", LwaCredentials("a", "b", "c"), "http://x.invalid/t")
    client._token = ("Atza|preloaded", 10**12)
    with pytest.raises(ConfigError, match="not a usable URL"):
        client.get_order(ORDER_ID)


# --- confirmShipment ---


def test_confirm_shipment_posts_the_body_and_accepts_204(fake: FakeAmazon) -> None:
    fake.route("POST", SHIPMENT_PATH, Reply(204, headers={"x-amzn-RequestId": "req-ship"}))
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    body = {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999",
            "shipDate": "2025-01-02T03:04:05Z",
            "orderItems": [{"orderItemId": "79039765272157", "quantity": 1}],
        },
    }
    assert client.confirm_shipment(ORDER_ID, body) is None
    [call] = fake.calls(SHIPMENT_PATH)
    assert call.method == "POST"
    assert call.json() == body
    assert call.headers["content-type"] == "application/json"
    [record] = [r for r in records if r.operation == "confirmShipment"]
    assert (record.method, record.path, record.status, record.request_id) == ("POST", SHIPMENT_PATH, 204, "req-ship")


# --- Feeds ---


def feed_routes(fake: FakeAmazon, result: bytes, compression: str | None) -> None:
    fake.route("POST", "/feeds/2021-06-30/documents", Reply(
        201, {"feedDocumentId": "doc-in-1", "url": fake.base_url + "/s3/in-1?X-Amz-Signature=abc123"}
    ))
    fake.route("PUT", "/s3/in-1", Reply(200, body=b"", headers={"Content-Type": "text/plain"}))
    fake.route("POST", "/feeds/2021-06-30/feeds", Reply(202, {"feedId": "50001"}))
    fake.route("GET", "/feeds/2021-06-30/feeds/50001", Reply(200, {
        "feedId": "50001", "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "createdTime": "2025-01-01T00:00:00Z",
        "processingStatus": "DONE", "resultFeedDocumentId": "doc-out-1",
    }))
    document = {"feedDocumentId": "doc-out-1", "url": fake.base_url + "/s3/out-1?sig=xyz"}
    if compression:
        document["compressionAlgorithm"] = compression
    fake.route("GET", "/feeds/2021-06-30/documents/doc-out-1", Reply(200, document))
    fake.route("GET", "/s3/out-1", Reply(200, body=gzipped(result) if compression else result,
                                         headers={"Content-Type": "application/octet-stream"}))


@pytest.mark.parametrize("compression", ["GZIP", None])
def test_whole_feed_flow(fake: FakeAmazon, compression: str | None) -> None:
    report = b"<?xml version=\"1.0\"?><AmazonEnvelope><MessageType>ProcessingReport</MessageType></AmazonEnvelope>"
    feed_routes(fake, report, compression)
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    content = "<AmazonEnvelope>caf\u00e9</AmazonEnvelope>".encode()
    submitted = client.submit_feed("POST_ORDER_ACKNOWLEDGEMENT_DATA", ["ATVPDKIKX0DER"], content)
    assert (submitted.feed_id, submitted.feed_document_id) == ("50001", "doc-in-1")

    [create_document] = fake.calls("/feeds/2021-06-30/documents")
    assert create_document.json() == {"contentType": "text/xml; charset=UTF-8"}
    [upload] = fake.calls("/s3/in-1")
    assert upload.method == "PUT"
    assert upload.body == content
    assert upload.query == {"X-Amz-Signature": "abc123"}
    assert upload.headers["content-type"] == "text/xml; charset=UTF-8"
    assert "x-amz-access-token" not in upload.headers
    [create_feed] = fake.calls("/feeds/2021-06-30/feeds")
    assert create_feed.json() == {
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA",
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "inputFeedDocumentId": "doc-in-1",
    }

    feed = client.get_feed("50001")
    assert feed["processingStatus"] == "DONE"
    assert client.get_feed_result(feed) == report
    [download] = fake.calls("/s3/out-1")
    assert "x-amz-access-token" not in download.headers
    assert [r.operation for r in records if r.operation != "lwaToken"] == [
        "createFeedDocument", "uploadFeedDocument", "createFeed", "getFeed", "getFeedDocument", "downloadFeedDocument"
    ]
    assert all("?" not in r.path for r in records)
    assert client.call_count == 4  # SP-API calls only; document transfers are not SP-API


def test_feed_without_result_yet_is_not_allowed(fake: FakeAmazon) -> None:
    client = make_client(fake)
    with pytest.raises(NotAllowedError, match="IN_PROGRESS"):
        client.get_feed_result({"feedId": "1", "processingStatus": "IN_PROGRESS"})
    assert fake.requests == []


def test_failed_upload_creates_no_feed(fake: FakeAmazon) -> None:
    feed_routes(fake, b"", None)
    fake.route("PUT", "/s3/in-1", Reply(403, body=b"<Error><Code>AccessDenied</Code></Error>"))
    client = make_client(fake)
    with pytest.raises(AmazonRejectedError) as caught:
        client.submit_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["ATVPDKIKX0DER"], b"<x/>")
    assert caught.value.operation == "uploadFeedDocument"
    assert caught.value.maybe_delivered is False
    assert fake.calls("/feeds/2021-06-30/feeds") == []


# --- secrets ---


def test_no_secret_in_reprs_errors_or_call_records(fake: FakeAmazon) -> None:
    credentials = LwaCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    assert CLIENT_SECRET not in repr(credentials) and REFRESH_TOKEN not in repr(credentials)
    assert CLIENT_SECRET not in str(credentials)

    def echo_token(request: Request) -> Reply:
        # A careless server that repeats the token it was given.
        token = request.headers["x-amz-access-token"]
        return amazon_error(400, "InvalidInput", f"bad request with token {token}", "req-echo")

    fake.route("GET", ORDER_PATH, echo_token)
    records: list[CallRecord] = []
    client = make_client(fake, on_call=records.append)
    with pytest.raises(AmazonRejectedError) as caught:
        client.get_order(ORDER_ID)
    errors: list[BaseException] = [caught.value]
    bad = make_client(fake, credentials=LwaCredentials(CLIENT_ID, CLIENT_SECRET, "Atzr|other-secret-refresh"))
    with pytest.raises(AuthError) as auth_caught:
        bad.get_order(ORDER_ID)
    errors.append(auth_caught.value)

    secrets = [CLIENT_SECRET, REFRESH_TOKEN, "Atzr|other-secret-refresh", *fake.tokens_issued]
    assert fake.tokens_issued  # the echo really carried a token
    shown = [repr(client), repr(bad), *(repr(r) for r in records)]
    for error in errors:
        shown += [str(error), repr(error), repr(error.args), repr(vars(error))]
    for text in shown:
        for secret in secrets:
            assert secret not in text, text
    assert "***" in str(errors[0])
