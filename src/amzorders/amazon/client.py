"""Selling Partner API client: LWA tokens, token buckets, retries, orders, shipments, feeds.

The one place that imports ``requests``; import this module only when a command really
talks to Amazon.
"""

from __future__ import annotations

import gzip
import json
import platform
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions

from amzorders import __version__
from amzorders.amazon.auth import LwaCredentials, TokenStore, grantless_cache_key, token_cache_key
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.domain import codes
from amzorders.errors import (
    AmazonBadResponseError,
    AmazonError,
    AmazonRejectedError,
    AmazonUnavailableError,
    AuthError,
    ConfigError,
    NotAllowedError,
    UsageError,
)

__all__ = [
    "CallRecord",
    "LwaCredentials",
    "OrdersPage",
    "SpApiClient",
    "SubmittedFeed",
    "TokenStore",
]

USER_AGENT = f"amzorders/{__version__} (Language=Python/{platform.python_version()})"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Refresh the access token this long before LWA says it expires.
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0
# 401/403 codes that mean "your access token is no good", worth one refresh.
TOKEN_REJECTED_CODES = frozenset({"unauthorized", "invalidtoken", "expiredtoken", "invalidaccesstoken"})
LWA_CREDENTIAL_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
# What each LWA token-endpoint error means, from Login with Amazon's docs ("Retrieve an
# Access Token and Refresh Token", token errors; "Refresh Tokens": valid indefinitely unless
# the user removed the app, bound to one client): which credential to fix.
_LWA_ADVICE = {
    "invalid_grant": (
        "The refresh token was refused: it was revoked (the seller removed the app's "
        "authorization), belongs to another application, or is mistyped. Have the seller authorize the app again in Seller "
        "Central and put the new refresh token in the config file (or AMZORDERS_REFRESH_TOKEN)."
    ),
    "invalid_client": (
        "The application's client id or client secret was refused (a rotated or mistyped "
        "secret). Copy both from the Developer Console (LWA credentials) into the config file "
        "or the AMZORDERS_* environment variables."
    ),
    "unauthorized_client": (
        "The application may not use this refresh token (it belongs to another app, or the app "
        "is not authorized for this grant). Check that the client id and the refresh token come "
        "from the same application."
    ),
}

ORDERS_PATH = "/orders/2026-01-01/orders"
# Request errors that no retry can cure: the URL itself is wrong.
_MALFORMED_REQUEST = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)
FEEDS_PATH = "/feeds/2021-06-30"
NOTIFICATIONS_PATH = "/notifications/v1"
# Seconds one client may wait after 429s per operation (see SpApiClient.max_throttle_wait).
DEFAULT_MAX_THROTTLE_WAIT = 600.0
# Pages one searchOrders run follows at most (100 orders each: a million orders; at the
# usage plan's 0.0056 req/s that is days of quota). More means a loop, not a backlog.
DEFAULT_MAX_PAGES = 10_000


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call, for logs and counters. Never holds a token or a query string."""

    operation: str
    method: str
    path: str
    status: int | None  # None: no response (connection failed, timed out)
    request_id: str | None
    duration_ms: float
    attempt: int  # 1 for the first try of this operation call, 2 for its first retry...
    error_code: str | None  # Amazon's error code, or what went wrong on the wire


@dataclass(frozen=True)
class OrdersPage:
    orders: list[dict[str, Any]]
    next_token: str | None
    last_updated_before: datetime | None
    created_before: datetime | None
    request_id: str | None


@dataclass(frozen=True)
class SubmittedFeed:
    feed_id: str
    feed_document_id: str


@dataclass
class _Outcome:
    """A successful SP-API reply: the response, its parsed JSON body, its request id."""

    response: requests.Response | None
    body: Any
    request_id: str | None = None


class _Ahead:
    """One HTTP request running on its own thread (``SpApiClient._send_ahead``)."""

    def __init__(self, send: Callable[[], requests.Response]) -> None:
        self.started = time.monotonic()
        self._send = send
        self._response: requests.Response | None = None
        self._error: BaseException | None = None
        self._abandoned = False
        self._lock = threading.Lock()
        # A daemon: a run that ends (or is interrupted) never waits for a reply nobody reads.
        self._thread = threading.Thread(target=self._run, name="amzorders-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            response = self._send()
        except BaseException as exc:  # handed to the caller's thread, which maps it
            self._error = exc
            return
        with self._lock:
            if self._abandoned:
                response.close()
            else:
                self._response = response

    def response(self) -> requests.Response:
        """The reply (waiting for it), or the request's exception raised here."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._response is not None
        return self._response

    def abandon(self) -> None:
        """Nobody will read the reply (the search stopped): let it go when it comes."""
        with self._lock:
            self._abandoned = True
            if self._response is not None:
                self._response.close()
                self._response = None


class SpApiClient:
    """A Selling Partner API client for one seller account.

    Every call waits for its operation's token bucket, retries transient failures with
    exponential backoff and full jitter, and raises ``AmazonRejectedError`` (Amazon said
    no), ``AmazonUnavailableError`` (no usable answer after the retries) or ``AuthError``
    (LWA refused the credentials). Each error also carries ``maybe_delivered``: False
    only when no attempt ever reached Amazon.
    """

    def __init__(
        self,
        base_url: str,
        credentials: LwaCredentials,
        token_url: str,
        *,
        rate_limiter: RateLimiter | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        token_store: TokenStore | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        account_name: str = "default",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        max_throttle_wait: float = DEFAULT_MAX_THROTTLE_WAIT,
        read_ahead: bool = True,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.account_name = account_name
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter(sleep=sleep)
        if self.rate_limiter.on_wait is None:
            self.rate_limiter.on_wait = self._pacing
        self.timeout = timeout
        self.max_retries = max_retries
        # Seconds this client may spend waiting after 429s, per operation, in its life
        # (one command run): a throttling storm on reads ends the pull instead of
        # holding the run (and the outbox behind it) for hours.
        self.max_throttle_wait = max_throttle_wait
        # searchOrders fetches its next page while the caller stores this one (inside the
        # burst only): the default of search_orders(read_ahead=).
        self.read_ahead = read_ahead
        self.throttle_waited: dict[str, float] = {}
        # Told (operation, seconds, rate per second) before every wait for Amazon's quota:
        # the limiter's own pacing and the waits after a 429 (progress displays).
        self.quota_listener: Callable[[str, float, float | None], None] | None = None
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_call = on_call
        self.call_count = 0
        self.token_call_count = 0
        self._credentials = credentials
        self._token_store = token_store
        self._token_key = token_cache_key(credentials)
        self._clock = clock
        self._sleep = sleep
        self._random = random.Random()
        self._session = session if session is not None else requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._token: tuple[str, float] | None = None
        self._grantless_tokens: dict[str, tuple[str, float]] = {}
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SpApiClient(base_url={self.base_url!r}, account_name={self.account_name!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SpApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Orders API v2026-01-01 -----------------------------------------------------

    def login(self) -> None:
        """One Login with Amazon token call (a fresh token, not a cached one): raises
        AuthError when LWA refuses the credentials (config check)."""
        self._access_token(force_refresh=True)

    def search_orders(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        fulfillment_statuses: Iterable[str] | None = None,
        marketplace_ids: Iterable[str] | None = None,
        fulfilled_by: Iterable[str] | None = None,
        included_data: Iterable[str] | None = codes.DEFAULT_INCLUDED_DATA,
        max_results_per_page: int = 100,
        pagination_token: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        read_ahead: bool | None = None,
    ) -> Iterator[OrdersPage]:
        """Pages of orders, following ``pagination.nextToken``.

        Exactly one of ``created_after`` / ``last_updated_after``. ``pagination_token``
        resumes a search from a token an earlier page returned (same other parameters).
        ``read_ahead`` (default: the client's): while the caller handles a page, the next
        one is already being fetched when the operation's bucket has a token to spare
        (inside the burst); False: each page is requested only when asked for. A search
        left before its end may so have fetched one page nobody reads.
        """
        if (created_after is None) == (last_updated_after is None):
            raise UsageError("searchOrders needs exactly one of created_after and last_updated_after.")
        if created_after is not None and last_updated_before is not None:
            raise UsageError("searchOrders: last_updated_before cannot be combined with created_after.")
        if last_updated_after is not None and created_before is not None:
            raise UsageError("searchOrders: created_before cannot be combined with last_updated_after.")
        if not 1 <= max_results_per_page <= 100:
            raise UsageError(f"max_results_per_page must be between 1 and 100, got {max_results_per_page}.")
        params: dict[str, str] = {}
        for name, value in (
            ("createdAfter", created_after),
            ("createdBefore", created_before),
            ("lastUpdatedAfter", last_updated_after),
            ("lastUpdatedBefore", last_updated_before),
        ):
            if value is not None:
                params[name] = format_datetime(value)
        for name, values, allowed in (
            ("fulfillmentStatuses", fulfillment_statuses, codes.FULFILLMENT_STATUSES),
            ("marketplaceIds", marketplace_ids, None),
            ("fulfilledBy", fulfilled_by, codes.FULFILLED_BY),
            ("includedData", included_data, codes.INCLUDED_DATA),
        ):
            if values is not None:
                joined = _csv(name, values, allowed)
                if joined:
                    params[name] = joined
        params["maxResultsPerPage"] = str(max_results_per_page)
        if max_pages < 1:
            raise UsageError(f"max_pages must be at least 1, got {max_pages}.")
        return self._search_pages(params, pagination_token, max_pages,
                                  self.read_ahead if read_ahead is None else read_ahead)

    def _search_pages(
        self, params: dict[str, str], token: str | None, max_pages: int, read_ahead: bool
    ) -> Iterator[OrdersPage]:
        """Follow ``nextToken`` until Amazon leaves it out, and stop a loop.

        Amazon's model: "When there are no other pages to fetch, the pagination field will
        be absent"; nothing promises a token never repeats. A token already sent in this
        run, a page identical to one already served (same orders, same update times), or
        more than ``max_pages`` pages stop the search with ``AmazonBadResponseError``: what
        was yielded stays stored, and no watermark is yielded past it."""
        sent_tokens: set[str] = set()
        seen_pages: set[tuple[tuple[str, str], ...]] = set()
        pages = 0
        last: _Outcome | None = None
        ahead: _Ahead | None = None
        try:
            while True:
                if token is not None and last is not None:
                    # Checked before the request: the page that handed out the token is kept.
                    problem = _paging_problem(token, sent_tokens, pages, max_pages)
                    if problem:
                        raise _paging_error(last, problem)
                page_params = dict(params)
                if token is not None:
                    page_params["paginationToken"] = token
                    sent_tokens.add(token)
                last = outcome = self._call("searchOrders", "GET", ORDERS_PATH, params=page_params, ahead=ahead)
                ahead = None
                pages += 1
                body = _json_object(outcome, "searchOrders")
                orders = body["orders"]
                pagination = body.get("pagination")
                next_token = (pagination.get("nextToken") if isinstance(pagination, dict) else None) or None
                fingerprint = tuple(
                    (str(order.get("orderId")), str(order.get("lastUpdatedTime"))) for order in orders
                )
                if fingerprint and fingerprint in seen_pages:
                    raise _paging_error(outcome, f"page {pages} repeats an earlier page of this search ({len(orders)} orders)")
                seen_pages.add(fingerprint)
                page = OrdersPage(
                    orders=orders,
                    next_token=next_token,
                    last_updated_before=_watermark(body, "lastUpdatedBefore", outcome),
                    created_before=_watermark(body, "createdBefore", outcome),
                    request_id=outcome.request_id,
                )
                if read_ahead and next_token is not None and not _paging_problem(next_token, sent_tokens, pages, max_pages):
                    # The next page is fetched while the caller stores this one, when the
                    # bucket lets it go now (inside the burst); the caller still stores
                    # the pages one after another.
                    ahead = self._send_ahead(
                        "searchOrders", "GET", ORDERS_PATH, params=dict(params, paginationToken=next_token)
                    )
                yield page
                if next_token is None:
                    return
                token = next_token
        finally:
            if ahead is not None:
                ahead.abandon()

    def get_order(
        self, order_id: str, included_data: Iterable[str] | None = codes.DEFAULT_INCLUDED_DATA
    ) -> dict[str, Any]:
        """The raw Order object (unwrapped from ``{"order": ...}``)."""
        params = {}
        if included_data is not None:
            joined = _csv("includedData", included_data, codes.INCLUDED_DATA)
            if joined:
                params["includedData"] = joined
        path = f"{ORDERS_PATH}/{_segment(order_id)}"
        outcome = self._call("getOrder", "GET", path, params=params)
        order = _json_object(outcome, "getOrder").get("order")
        if not isinstance(order, dict):
            raise _shape_error("getOrder", outcome, "it has no 'order' object")
        return order

    # --- Orders API v0: shipment confirmation -----------------------------------------

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None:
        """Confirm a shipment (v0 confirmShipment); Amazon answers 204 No Content."""
        path = f"/orders/v0/orders/{_segment(order_id)}/shipmentConfirmation"
        self._call("confirmShipment", "POST", path, json_body=body, expect_json=False)

    # --- Feeds API 2021-06-30 ---------------------------------------------------------

    def submit_feed(
        self,
        feed_type: str,
        marketplace_ids: list[str],
        content: bytes,
        content_type: str = "text/xml; charset=UTF-8",
        feed_options: dict[str, str] | None = None,
        before_create: Callable[[str], None] | None = None,
    ) -> SubmittedFeed:
        """createFeedDocument, upload ``content`` to its URL, createFeed.

        ``before_create(feed_document_id)`` runs right before createFeed: from then on a
        feed may exist even if no answer comes (the caller records that doubt)."""
        if not marketplace_ids:
            raise UsageError(f"A {feed_type} feed needs at least one marketplace id.")
        try:
            outcome = self._call(
                "createFeedDocument",
                "POST",
                f"{FEEDS_PATH}/documents",
                json_body={"contentType": content_type},
            )
            document = _json_object(outcome, "createFeedDocument")
            document_id, upload_url = document.get("feedDocumentId"), document.get("url")
            if not isinstance(document_id, str) or not isinstance(upload_url, str):
                raise _shape_error("createFeedDocument", outcome, "it lacks feedDocumentId or url")
            self._transfer(
                "uploadFeedDocument", "PUT", upload_url, data=content, headers={"Content-Type": content_type}
            )
        except AmazonError as error:
            # Until createFeed is sent, no feed exists: nothing can have been applied.
            raise _delivered(error, False) from None
        if before_create is not None:
            before_create(document_id)
        specification: dict[str, Any] = {
            "feedType": feed_type,
            "marketplaceIds": list(marketplace_ids),
            "inputFeedDocumentId": document_id,
        }
        if feed_options:
            specification["feedOptions"] = feed_options
        outcome = self._call(
            "createFeed", "POST", f"{FEEDS_PATH}/feeds", json_body=specification, resend_if_maybe_delivered=False
        )
        feed_id = _json_object(outcome, "createFeed").get("feedId")
        if not isinstance(feed_id, str):
            raise _shape_error("createFeed", outcome, "it has no feedId")
        return SubmittedFeed(feed_id=feed_id, feed_document_id=document_id)

    # --- Finances API v0 ---------------------------------------------------------------

    def list_refund_events(self, order_id: str) -> list[dict[str, Any]]:
        """Every RefundEventList entry of the order (listFinancialEventsByOrderId, all
        pages). Amounts are read as Decimal (the model's BigDecimal is a JSON number, which a
        float would round). Amazon: "Orders from the last 48 hours might not be included"."""
        events: list[dict[str, Any]] = []
        token: str | None = None
        path = f"/finances/v0/orders/{_segment(order_id)}/financialEvents"
        for _ in range(1000):  # a guard against a token that never ends
            params = {"MaxResultsPerPage": "100"}
            if token:
                params["NextToken"] = token
            outcome = self._call("listFinancialEventsByOrderId", "GET", path, params=params)
            try:
                body = json.loads(outcome.response.content, parse_float=Decimal) if outcome.response is not None else None
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
                raise _shape_error("listFinancialEventsByOrderId", outcome, "it has no payload object")
            payload = body["payload"]
            found = (payload.get("FinancialEvents") or {}).get("RefundEventList") or []
            if not isinstance(found, list):
                raise _shape_error("listFinancialEventsByOrderId", outcome, "RefundEventList is not a list")
            events.extend(e for e in found if isinstance(e, dict))
            token = payload.get("NextToken") or None
            if not token:
                return events
        raise _shape_error("listFinancialEventsByOrderId", outcome, "its NextToken never ends")

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        """The Feed object: ``processingStatus``, ``resultFeedDocumentId`` when done."""
        outcome = self._call("getFeed", "GET", f"{FEEDS_PATH}/feeds/{_segment(feed_id)}")
        return _json_object(outcome, "getFeed")

    def get_feed_result(self, feed: dict[str, Any]) -> bytes:
        """The processing report of a finished feed (downloaded, gunzipped if needed)."""
        document_id = feed.get("resultFeedDocumentId")
        if not document_id:
            raise NotAllowedError(
                f"Feed {feed.get('feedId')} has no result document yet (processingStatus "
                f"{feed.get('processingStatus')}); ask again once it is DONE or FATAL."
            )
        outcome = self._call("getFeedDocument", "GET", f"{FEEDS_PATH}/documents/{_segment(str(document_id))}")
        document = _json_object(outcome, "getFeedDocument")
        url = document.get("url")
        if not isinstance(url, str):
            raise _shape_error("getFeedDocument", outcome, "it has no url")
        response = self._transfer("downloadFeedDocument", "GET", url)
        content = response.content
        # requests already undoes a Content-Encoding: gzip, so only gunzip what still is.
        if document.get("compressionAlgorithm") == "GZIP" and content[:2] == b"\x1f\x8b":
            try:
                content = gzip.decompress(content)
            except (OSError, EOFError) as exc:
                error = AmazonUnavailableError(
                    f"The processing report of feed {feed.get('feedId')} is not valid gzip ({exc}). "
                    "Try again later - nothing was changed.",
                    operation="downloadFeedDocument",
                    status=response.status_code,
                )
                raise _delivered(error, True) from None
        return content

    # --- Notifications API v1 (notifications.json) -------------------------------------

    def get_destinations(self) -> list[dict[str, Any]]:
        """Every destination of this application (grantless)."""
        outcome = self._call("getDestinations", "GET", f"{NOTIFICATIONS_PATH}/destinations")
        return list(_json_object(outcome, "getDestinations")["payload"])

    def create_destination(self, name: str, queue_arn: str) -> dict[str, Any]:
        """An SQS destination (grantless). Amazon refuses a queue whose policy does not let
        its AWS account send to it."""
        body = {"name": name, "resourceSpecification": {"sqs": {"arn": queue_arn}}}
        outcome = self._call("createDestination", "POST", f"{NOTIFICATIONS_PATH}/destinations", json_body=body)
        return dict(_json_object(outcome, "createDestination")["payload"])

    def delete_destination(self, destination_id: str) -> None:
        self._call("deleteDestination", "DELETE", f"{NOTIFICATIONS_PATH}/destinations/{_segment(destination_id)}")

    def get_subscription(self, notification_type: str, payload_version: str | None = None) -> dict[str, Any] | None:
        """The seller's subscription to ``notification_type``, or None (Amazon answers 404)."""
        params = {"payloadVersion": payload_version} if payload_version else None
        try:
            outcome = self._call(
                "getSubscription", "GET", f"{NOTIFICATIONS_PATH}/subscriptions/{_segment(notification_type)}", params=params
            )
        except AmazonRejectedError as error:
            if error.status == 404:
                return None
            raise
        return dict(_json_object(outcome, "getSubscription")["payload"])

    def create_subscription(
        self, notification_type: str, destination_id: str, payload_version: str,
        processing_directive: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Subscribe the seller to ``notification_type``; None when one exists already (409)."""
        body: dict[str, Any] = {"payloadVersion": payload_version, "destinationId": destination_id}
        if processing_directive is not None:
            body["processingDirective"] = processing_directive
        try:
            outcome = self._call(
                "createSubscription", "POST", f"{NOTIFICATIONS_PATH}/subscriptions/{_segment(notification_type)}",
                json_body=body,
            )
        except AmazonRejectedError as error:
            if error.status == 409:
                return None
            raise
        return dict(_json_object(outcome, "createSubscription")["payload"])

    def delete_subscription(self, notification_type: str, subscription_id: str) -> None:
        """deleteSubscriptionById (grantless)."""
        self._call(
            "deleteSubscriptionById", "DELETE",
            f"{NOTIFICATIONS_PATH}/subscriptions/{_segment(notification_type)}/{_segment(subscription_id)}",
        )

    # --- access tokens ----------------------------------------------------------------

    def _access_token(self, *, force_refresh: bool = False, scope: str | None = None) -> str:
        """A valid LWA access token: from memory, the token store, or a fresh LWA call.

        ``scope`` set: a grantless token (client_credentials grant with that scope, no
        refresh token: "Grantless Operations" in the SP-API guide), cached apart from the
        seller's token because Amazon refuses each where the other is required."""
        with self._token_lock:
            now = self._clock()
            key = self._token_key if scope is None else grantless_cache_key(self._credentials.client_id, scope)
            held = self._token if scope is None else self._grantless_tokens.get(scope)
            if not force_refresh:
                if held is not None and now < held[1] - TOKEN_EXPIRY_MARGIN_SECONDS:
                    return held[0]
                if self._token_store is not None:
                    stored = self._token_store.load(key)
                    if stored is not None and now < stored[1] - TOKEN_EXPIRY_MARGIN_SECONDS:
                        self._remember_token(scope, stored)
                        return stored[0]
            token, expires_in = self._fetch_token(scope)
            fresh = (token, self._clock() + expires_in)
            self._remember_token(scope, fresh)
            if self._token_store is not None:
                self._token_store.save(key, token, fresh[1])
            return token

    def _remember_token(self, scope: str | None, token: tuple[str, float]) -> None:
        if scope is None:
            self._token = token
        else:
            self._grantless_tokens[scope] = token

    def _fetch_token(self, scope: str | None = None) -> tuple[str, float]:
        if scope is None:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._credentials.refresh_token,
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
            }
        else:
            form = {
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
            }
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}

        def refuse(response: requests.Response) -> None:
            raise self._lwa_refusal(response)

        response = self._transfer(
            "lwaToken", "POST", self.token_url, data=form, headers=headers, on_refusal=refuse, is_token=True
        )
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in", 3600))
            if not isinstance(token, str) or not token:
                raise ValueError("empty access_token")
        except (ValueError, KeyError, TypeError):
            raise AmazonUnavailableError(
                f"Login with Amazon answered without a usable access token (HTTP {response.status_code}). "
                "Try again later - nothing was changed.",
                operation="lwaToken",
                status=response.status_code,
            ) from None
        return token, expires_in

    def _lwa_refusal(self, response: requests.Response) -> AmazonError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error") or f"HTTP {response.status_code}")
        description = body.get("error_description")
        said = self._scrub(f"{code}: {description}" if description else code)
        request_id = response.headers.get("x-amzn-RequestId")
        if response.status_code in (400, 401) or code in LWA_CREDENTIAL_ERRORS:
            error: AmazonError = AuthError(
                f"Login with Amazon refused the credentials of account '{self.account_name}' ({said}). "
                + _LWA_ADVICE.get(code, _LWA_ADVICE["invalid_client"]),
                status=response.status_code,
                code=code,
                amazon_message=self._scrub(str(description)) if description else None,
                request_id=request_id,
                operation="lwaToken",
            )
        else:
            error = AmazonRejectedError(
                f"Login with Amazon rejected the token request of account '{self.account_name}' "
                f"(HTTP {response.status_code}, {said}). Check the token URL in the config.",
                status=response.status_code,
                code=code,
                request_id=request_id,
                operation="lwaToken",
            )
        return _delivered(error, True)

    # --- the HTTP machinery -----------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        expect_json: bool = True,
        resend_if_maybe_delivered: bool = True,
        documented: Callable[[Any], str | None] | None = None,
        ahead: _Ahead | None = None,
    ) -> _Outcome:
        """One SP-API operation: token bucket, access token, retries, error mapping.

        ``documented(body)`` says what is wrong with a 2xx JSON body that is not the
        operation's documented response (None: it is). Such a reply is never data: it is
        retried like a 5xx, within the same bounds, and then fails with
        ``AmazonBadResponseError`` (exit 9).

        ``resend_if_maybe_delivered=False`` is for writes that are not idempotent at Amazon
        (createFeed: a second call makes a second feed). Once an attempt may have reached
        Amazon, such a call is not retried here; it fails with ``maybe_delivered`` set so
        the caller can settle the doubt. A 429 is still retried: Amazon processed nothing.

        ``ahead``: the first attempt, already sent by ``_send_ahead`` (its bucket token and
        access token taken then); its reply is handled here like any other attempt's."""
        url = self.base_url + path
        documented = documented or DOCUMENTED_RESPONSES.get(operation)
        scope = codes.NOTIFICATIONS_SCOPE if operation in codes.GRANTLESS_OPERATIONS else None
        attempt = 0
        failures = 0
        token_refreshed = False
        refresh_token_now = False
        maybe_delivered = False
        while True:
            attempt += 1
            sent, ahead = ahead, None
            if sent is None:
                try:
                    token = self._access_token(force_refresh=refresh_token_now, scope=scope)
                    refresh_token_now = False
                except AmazonError as error:
                    # The SP-API request itself was not sent this time.
                    raise _delivered(error, maybe_delivered) from None
                self.rate_limiter.acquire(operation)
                headers = {"x-amz-access-token": token, "Accept": "application/json"}
                started = time.monotonic()
                self.call_count += 1
            else:
                started = sent.started
            try:
                if sent is not None:
                    response = sent.response()
                else:
                    response = self._session.request(
                        method, url, params=params, json=json_body, headers=headers, timeout=self.timeout
                    )
            except _MALFORMED_REQUEST as exc:
                raise ConfigError(
                    f"The SP-API endpoint {self.base_url!r} of account '{self.account_name}' is not a "
                    f"usable URL ({type(exc).__name__}); check the account's region or endpoint "
                    "in the config."
                ) from None
            except requests.RequestException as exc:
                maybe_delivered = maybe_delivered or _may_have_reached(exc)
                self._record(operation, method, path, None, None, started, attempt, type(exc).__name__)
                failures += 1
                last = _describe_exception(exc, self.timeout)
                if maybe_delivered and not resend_if_maybe_delivered:
                    raise self._unavailable(operation, method, failures, last, None, True)
                self._wait_or_give_up(operation, method, failures, last, None, maybe_delivered)
                continue

            maybe_delivered = True
            status = response.status_code
            request_id = response.headers.get("x-amzn-RequestId")
            rate = _rate_header(response)
            if rate is not None:
                self.rate_limiter.observe_rate(operation, rate)
            body, json_ok = _parse_json(response)
            error_code, error_message, error_details = _first_error(body)
            success = 200 <= status < 300
            unusable = success and expect_json and not json_ok
            # An operation answered "204 No Content" by Amazon that comes back as another
            # 2xx (a proxy's page, a garbled reply) has not been confirmed: treat it as a
            # failed attempt, never as success, or an action could be marked done unapplied.
            unconfirmed = success and not expect_json and status != 204
            # Amazon's models define one response schema per 2xx; anything else in a 2xx
            # (an {"errors": ...} body, JSON without the required fields) is not data.
            undocumented = (
                _undocumented(body, documented) if success and expect_json and json_ok else None
            )
            if unusable or unconfirmed or undocumented:
                record_code: str | None = (
                    "InvalidJSON" if unusable else f"Unexpected{status}" if unconfirmed else "UndocumentedBody"
                )
            else:
                record_code = error_code or (f"HTTP{status}" if status >= 400 else None)
            self._record(operation, method, path, status, request_id, started, attempt, record_code)

            if success:
                if unusable or unconfirmed or undocumented:
                    failures += 1
                    if unusable:
                        last = f"HTTP {status} with a body that is not valid JSON ({_body_kind(response)})"
                    elif unconfirmed:
                        last = f"HTTP {status} instead of 204 No Content"
                    else:
                        last = f"HTTP {status} whose body {undocumented}"
                    last += f", request id {request_id}"
                    bad = bool(unusable or undocumented)
                    if not resend_if_maybe_delivered:
                        raise self._unavailable(operation, method, failures, last, request_id, True, bad)
                    self._wait_or_give_up(operation, method, failures, last, request_id, True, bad_response=bad)
                    continue
                return _Outcome(response, body, request_id)

            if status in (401, 403) and _is_token_rejection(error_code, error_message, error_details):
                if not token_refreshed:
                    token_refreshed = refresh_token_now = True
                    continue
                raise self._token_refused_twice(operation, status, error_code, error_message, error_details, request_id)

            if status in RETRYABLE_STATUSES:
                failures += 1
                last = f"HTTP {status} {error_code or response.reason or ''}".rstrip()
                last += f", request id {request_id}"
                if status != 429 and not resend_if_maybe_delivered:
                    raise self._unavailable(operation, method, failures, last, request_id, True)
                if status == 429:
                    self._wait_after_throttle(operation, method, failures, last, request_id, rate)
                else:
                    self._wait_or_give_up(operation, method, failures, last, request_id, True)
                continue

            raise self._rejected(
                operation, status, error_code, error_message, error_details, request_id, response
            )

    def _send_ahead(self, operation: str, method: str, path: str, *, params: dict[str, str]) -> _Ahead | None:
        """Send the first attempt of a read now, on a worker thread, for ``_call(ahead=)``
        to handle later; None (nothing sent) unless the bucket has a token right now.

        What touches the token store and the rate buckets (the store's connection, in a
        CLI run) happens here, on the caller's thread; the worker only does the HTTP."""
        if not self.rate_limiter.ready(operation):
            return None
        scope = codes.NOTIFICATIONS_SCOPE if operation in codes.GRANTLESS_OPERATIONS else None
        try:
            token = self._access_token(scope=scope)
        except AmazonError:
            return None  # the call itself meets this again, and reports it
        self.rate_limiter.acquire(operation)
        headers = {"x-amz-access-token": token, "Accept": "application/json"}
        self.call_count += 1
        return _Ahead(
            lambda: self._session.request(method, self.base_url + path, params=params, headers=headers,
                                          timeout=self.timeout)
        )

    def _wait_or_give_up(
        self,
        operation: str,
        method: str,
        failures: int,
        last: str,
        request_id: str | None,
        maybe_delivered: bool,
        at_least: float = 0.0,
        *,
        bad_response: bool = False,
    ) -> None:
        """Sleep before the next retry, or raise when ``failures`` used up the retries."""
        if failures > self.max_retries:
            raise self._unavailable(operation, method, failures, last, request_id, maybe_delivered, bad_response)
        self._sleep(max(self._backoff(failures), at_least))

    def _pacing(self, operation: str, seconds: float) -> None:
        if self.quota_listener is not None:
            plan = self.rate_limiter.plan(operation)
            self.quota_listener(operation, seconds, plan[0] if plan else None)

    def _wait_after_throttle(
        self,
        operation: str,
        method: str,
        failures: int,
        last: str,
        request_id: str | None,
        reported_rate: float | None,
    ) -> None:
        """After a 429: no token comes back at Amazon sooner than one refill period, at
        the rate of x-amzn-RateLimit-Limit, or the usage plan's when the header is absent
        (Amazon sends it "when available"). The waits of a run are bounded per operation."""
        if failures > self.max_retries:
            raise self._unavailable(operation, method, failures, last, request_id, True)
        plan = self.rate_limiter.plan(operation)
        rate = reported_rate if reported_rate is not None else (plan[0] if plan else None)
        wait = max(self._backoff(failures), 1.0 / rate if rate else 0.0)
        waited = self.throttle_waited.get(operation, 0.0)
        if waited + wait > self.max_throttle_wait:
            error = AmazonUnavailableError(
                f"Amazon kept throttling {operation} (HTTP 429, last request id {request_id}): this "
                f"run already waited {waited:.0f} s for it and the bound is {self.max_throttle_wait:.0f} s. "
                "Nothing was changed by the throttled call; the next run continues.",
                status=429,
                request_id=request_id,
                operation=operation,
            )
            raise _delivered(error, True)
        self.throttle_waited[operation] = waited + wait
        if self.quota_listener is not None:
            self.quota_listener(operation, wait, rate)
        self._sleep(wait)

    def _transfer(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
        on_refusal: Callable[[requests.Response], None] | None = None,
        is_token: bool = False,
    ) -> requests.Response:
        """A call outside the SP-API (LWA, presigned document URLs): retries, no SP-API headers."""
        path = urlsplit(url).path or "/"
        attempt = 0
        maybe_delivered = False
        while True:
            attempt += 1
            started = time.monotonic()
            if is_token:
                self.token_call_count += 1
            try:
                response = self._session.request(
                    method, url, data=data, headers=headers, timeout=self.timeout
                )
            except _MALFORMED_REQUEST as exc:
                if is_token:
                    raise ConfigError(
                        f"The Login with Amazon token URL {url!r} of account '{self.account_name}' is not "
                        f"a usable URL ({type(exc).__name__}); check token_url in the config."
                    ) from None
                raise _delivered(
                    AmazonUnavailableError(
                        f"Amazon handed out a document URL that cannot be used for {operation} "
                        f"({type(exc).__name__}). Try again later - nothing was changed.",
                        operation=operation,
                    ),
                    False,
                ) from None
            except requests.RequestException as exc:
                maybe_delivered = maybe_delivered or _may_have_reached(exc)
                self._record(operation, method, path, None, None, started, attempt, type(exc).__name__)
                what = _describe_exception(exc, self.timeout)
            else:
                maybe_delivered = True
                status = response.status_code
                request_id = response.headers.get("x-amzn-RequestId") or response.headers.get(
                    "x-amz-request-id"
                )
                error_code = f"HTTP{status}" if status >= 400 else None
                self._record(operation, method, path, status, request_id, started, attempt, error_code)
                if status < 300:
                    return response
                if status not in RETRYABLE_STATUSES:
                    if on_refusal is not None:
                        on_refusal(response)
                    raise _delivered(
                        AmazonRejectedError(
                            f"Amazon refused {operation} "
                            f"(HTTP {status}{_short_body(response, self._scrub)}). "
                            "The document link may have expired; try again - nothing was changed.",
                            status=status,
                            request_id=request_id,
                            operation=operation,
                        ),
                        True,
                    )
                what = f"HTTP {status}, request id {request_id}"
            if attempt > self.max_retries:
                target = "Login with Amazon" if is_token else "Amazon"
                error = AmazonUnavailableError(
                    f"{target} did not answer {operation} after {attempt} attempts (last: {what}). "
                    f"{target} may be having trouble or be unreachable from here; try again later"
                    " - nothing was changed.",
                    operation=operation,
                )
                raise _delivered(error, maybe_delivered)
            self._sleep(self._backoff(attempt))

    def _backoff(self, failures: int) -> float:
        """Full jitter: a random wait up to min(cap, base * 2^(failures-1))."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (failures - 1)))
        return self._random.uniform(0.0, ceiling)

    def _record(
        self,
        operation: str,
        method: str,
        path: str,
        status: int | None,
        request_id: str | None,
        started: float,
        attempt: int,
        error_code: str | None,
    ) -> None:
        if self.on_call is None:
            return
        self.on_call(
            CallRecord(
                operation=operation,
                method=method,
                path=path,
                status=status,
                request_id=request_id,
                duration_ms=round((time.monotonic() - started) * 1000.0, 3),
                attempt=attempt,
                error_code=error_code,
            )
        )

    def _unavailable(
        self,
        operation: str,
        method: str,
        attempts: int,
        last: str,
        request_id: str | None,
        maybe_delivered: bool,
        bad_response: bool = False,
    ) -> AmazonUnavailableError:
        if method == "GET" or not maybe_delivered:
            outcome = "nothing was changed."
        else:
            outcome = "Amazon may or may not have received it."
        if bad_response:
            message = (
                f"Amazon's reply to {operation} was not the documented response after {attempts} "
                f"attempts (last: {last}); nothing in it was taken as data. A proxy between here "
                f"and Amazon, or trouble at Amazon, can cause this; try again later - {outcome}"
            )
        else:
            message = (
                f"Amazon did not answer {operation} after {attempts} attempts (last: {last}). "
                f"Amazon may be having trouble; try again later - {outcome}"
            )
        error_type = AmazonBadResponseError if bad_response else AmazonUnavailableError
        error = error_type(
            self._scrub(message),
            request_id=request_id,
            operation=operation,
        )
        return _delivered(error, maybe_delivered)

    def _rejected(
        self,
        operation: str,
        status: int,
        code: str | None,
        message: str | None,
        details: str | None,
        request_id: str | None,
        response: requests.Response,
    ) -> AmazonRejectedError | AuthError:
        said = ": ".join(part for part in (code, message) if part) or (response.reason or "no explanation")
        if details and details != message:
            said += f" ({details})"
        hint = "Nothing was changed; correct the request and try again."
        if status in (401, 403):
            # Not a token problem (those are refreshed, then _token_refused_twice): the
            # access token is good, so Amazon denies this operation to this application.
            hint = (
                f"The application lacks a role for {operation}, or the seller has not authorized it "
                "for this account's marketplaces. Nothing was changed; queued actions wait. In the "
                "Developer Console check the app's roles (Orders needs 'Inventory and Order Tracking'), "
                "have the seller authorize it again in Seller Central (Apps and Services > Manage Your "
                "Apps), and check that the account's region matches its marketplaces."
            )
        elif status == 404:
            hint = "Nothing was changed; check the id (and the account/region it belongs to)."
        # 401/403 judge the credentials or the app's roles, never the request itself: an
        # AuthError, so queued actions wait for a person instead of being failed.
        error_type = AuthError if status in (401, 403) else AmazonRejectedError
        error = error_type(
            self._scrub(
                f"Amazon rejected {operation} (HTTP {status} {said}; request id {request_id}). {hint}"
            ),
            status=status,
            code=code,
            amazon_message=self._scrub(message) if message else None,
            request_id=request_id,
            operation=operation,
        )
        error.details = self._scrub(details) if details else None
        return _delivered(error, True)

    def _token_refused_twice(
        self, operation: str, status: int, code: str | None, message: str | None, details: str | None,
        request_id: str | None,
    ) -> AuthError:
        """Amazon refused the access token, and then the fresh one LWA issued right after."""
        said = ": ".join(part for part in (code, message) if part) or f"HTTP {status}"
        if details and details != message:
            said += f" ({details})"
        error = AuthError(
            self._scrub(
                f"Amazon refused the access token of account '{self.account_name}' twice in a row for "
                f"{operation}, the second one freshly issued by Login with Amazon (HTTP {status} {said}; "
                f"request id {request_id}). Nothing was changed; queued actions wait. Check this machine's "
                "clock (timedatectl; access tokens are valid for 60 minutes from issue), and that the account's "
                "token URL and endpoint belong to the same region; if both are right, have the seller "
                "authorize the app again in Seller Central."
            ),
            status=status,
            code=code,
            amazon_message=self._scrub(message) if message else None,
            request_id=request_id,
            operation=operation,
        )
        error.details = self._scrub(details) if details else None
        return _delivered(error, True)

    def _scrub(self, text: str) -> str:
        """``text`` with every secret of this client blanked out."""
        secrets = list(self._credentials.secrets())
        if self._token is not None:
            secrets.append(self._token[0])
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


# --- helpers --------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as Amazon expects; refuses naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"Times sent to Amazon must be timezone-aware (got naive {value.isoformat()}).")
    utc = value.astimezone(timezone.utc)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 time from Amazon as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _csv(name: str, values: Iterable[str], allowed: tuple[str, ...] | None) -> str:
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if allowed is not None and item not in allowed:
            raise UsageError(f"{item!r} is not a valid {name} value; use one of {', '.join(allowed)}.")
        if "," in item:
            raise UsageError(f"{name} value {item!r} may not contain a comma.")
    return ",".join(items)


def _segment(value: str) -> str:
    if not value:
        raise UsageError("An empty id cannot be sent to Amazon.")
    return quote(value, safe="")


def _parse_json(response: requests.Response) -> tuple[Any, bool]:
    if not response.content:
        return None, False
    try:
        return response.json(), True
    except ValueError:
        return None, False


def _paging_problem(token: str, sent_tokens: set[str], pages: int, max_pages: int) -> str | None:
    """Why the search may not send ``token`` as its next request, or None."""
    if token in sent_tokens:
        return f"page {pages} hands back a pagination token already used in this search"
    if pages >= max_pages:
        return f"the search has more than {max_pages} pages (the bound per run)"
    return None


def _first_error(body: Any) -> tuple[str | None, str | None, str | None]:
    if not isinstance(body, dict):
        return None, None, None
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None, None
    first = errors[0]

    def text(key: str) -> str | None:
        value = first.get(key)
        return str(value) if value not in (None, "") else None

    return text("code"), text("message"), text("details")


def _is_token_rejection(code: str | None, message: str | None, details: str | None) -> bool:
    if code is not None and code.replace(" ", "").casefold() in TOKEN_REJECTED_CODES:
        return True
    said = f"{message or ''} {details or ''}".casefold()
    return "expired" in said and "token" in said


def _rate_header(response: requests.Response) -> float | None:
    raw = response.headers.get("x-amzn-RateLimit-Limit")
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        return None
    return rate if 0.0 < rate < float("inf") else None


def _may_have_reached(exc: BaseException) -> bool:
    """False only when the connection was never made (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        seen: set[int] = set()
        stack: list[BaseException | None] = [exc]
        while stack:
            current = stack.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            if isinstance(current, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
                return False
            if isinstance(current, urllib3.exceptions.ConnectTimeoutError):
                return False
            stack.append(getattr(current, "reason", None))
            stack.append(current.__cause__)
            stack.append(current.__context__)
            stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return True


def _describe_exception(exc: BaseException, timeout: tuple[float, float]) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout[0]:g} s"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no reply within {timeout[1]:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if not _may_have_reached(exc):
            return "could not connect"
        return "connection reset or closed before a reply"
    return type(exc).__name__


def _body_kind(response: requests.Response) -> str:
    """A short, safe description of a non-JSON body: what a proxy or a cut reply sent."""
    content_type = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()
    head = response.content[:200].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page, {content_type}"
    if not response.content:
        return "empty"
    return content_type


def _undocumented(body: Any, documented: Callable[[Any], str | None] | None) -> str | None:
    """What makes ``body`` not the documented 2xx response, or None (also when the
    operation's schema is not known here). None of the schemas checked has an ``errors``
    property, so a 2xx carrying one is Amazon's (or a proxy's) failure, not data."""
    if documented is None:
        return None
    if not isinstance(body, dict):
        return "is not a JSON object"
    if "errors" in body:
        code, message, _ = _first_error(body)
        said = ": ".join(part for part in (code, message) if part) or "no details"
        return f"is an error list ({said[:200]})"
    return documented(body)


def _requires(**fields: type | tuple[type, ...]) -> Callable[[Any], str | None]:
    """A check for the ``required`` properties of a response schema in Amazon's model."""

    def check(body: dict[str, Any]) -> str | None:
        for name, kind in fields.items():
            if name not in body:
                return f"has no '{name}'"
            if not isinstance(body[name], kind):
                return f"has a '{name}' that is not {_type_name(kind)}"
        return None

    return check


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "an array", str: "a string"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _search_orders_documented(body: dict[str, Any]) -> str | None:
    """SearchOrdersResponse (orders_2026-01-01.json): ``orders`` required, an array of
    Order objects; ``pagination`` an object whose ``nextToken`` is a string."""
    problem = _requires(orders=list)(body)
    if problem:
        return problem
    if not all(isinstance(order, dict) for order in body["orders"]):
        return "has an 'orders' entry that is not an object"
    pagination = body.get("pagination")
    if pagination is not None:
        if not isinstance(pagination, dict):
            return "has a 'pagination' that is not an object"
        token = pagination.get("nextToken")
        if token is not None and not isinstance(token, str):
            return "has a 'pagination.nextToken' that is not a string"
    return None


# The 2xx response schemas of each operation read, from Amazon's models: required
# properties and their types (orders_2026-01-01.json, feeds_2021-06-30.json).
DOCUMENTED_RESPONSES: dict[str, Callable[[Any], str | None]] = {
    "searchOrders": _search_orders_documented,
    "getOrder": _requires(order=dict),  # GetOrderResponse
    "createFeedDocument": _requires(feedDocumentId=str, url=str),  # CreateFeedDocumentResponse
    "createFeed": _requires(feedId=str),  # CreateFeedResponse
    "getFeed": _requires(feedId=str, feedType=str, createdTime=str, processingStatus=str),  # Feed
    "getFeedDocument": _requires(feedDocumentId=str, url=str),  # FeedDocument
    # ListFinancialEventsResponse (financesV0.json): nothing is required by the model, but a
    # reply without its payload says nothing about what Amazon applied.
    "listFinancialEventsByOrderId": _requires(payload=dict),
    # Notifications API (notifications.json): the model requires nothing at the top, but a
    # payload-less 2xx says nothing; Destination requires destinationId, name, resource;
    # Subscription subscriptionId, payloadVersion, destinationId.
    "getDestinations": _requires(payload=list),
    "createDestination": lambda body: _requires(payload=dict)(body) or _requires(
        destinationId=str, name=str, resource=dict)(body["payload"]),
    "getSubscription": lambda body: _requires(payload=dict)(body) or _requires(
        subscriptionId=str, payloadVersion=str, destinationId=str)(body["payload"]),
    "createSubscription": lambda body: _requires(payload=dict)(body) or _requires(
        subscriptionId=str, payloadVersion=str, destinationId=str)(body["payload"]),
    # DeleteSubscriptionByIdResponse / DeleteDestinationResponse: only "errors" is defined.
    "deleteSubscriptionById": lambda body: None,
    "deleteDestination": lambda body: None,
}


def _json_object(outcome: _Outcome, operation: str) -> dict[str, Any]:
    if not isinstance(outcome.body, dict):
        raise _shape_error(operation, outcome, "it is not a JSON object")
    return outcome.body


def _shape_error(operation: str, outcome: _Outcome, problem: str) -> AmazonUnavailableError:
    status = outcome.response.status_code if outcome.response is not None else None
    error = AmazonBadResponseError(
        f"Amazon's reply to {operation} cannot be used: {problem} (HTTP {status}, request id "
        f"{outcome.request_id}). Try again later; if it persists, Amazon changed its API.",
        status=status,
        request_id=outcome.request_id,
        operation=operation,
    )
    return _delivered(error, True)


def _paging_error(outcome: _Outcome, problem: str) -> AmazonBadResponseError:
    error = AmazonBadResponseError(
        f"Amazon's searchOrders pagination does not end: {problem} (request id "
        f"{outcome.request_id}). The pages read before are stored; the sync position stays "
        "behind the unread orders. Run sync again later; if it repeats, report the request "
        "id to Amazon support.",
        status=outcome.response.status_code if outcome.response is not None else None,
        request_id=outcome.request_id,
        operation="searchOrders",
        code="PaginationLoop",
    )
    return _delivered(error, True)


def _watermark(body: dict[str, Any], key: str, outcome: _Outcome) -> datetime | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return parse_datetime(str(value))
    except ValueError:
        raise _shape_error("searchOrders", outcome, f"{key} {value!r} is not an ISO 8601 time") from None


def _short_body(response: requests.Response, scrub: Callable[[str], str]) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {scrub(text[:200])}" if text else ""


def _delivered(error: AmazonError, maybe_delivered: bool) -> Any:
    # errors.AmazonError has no such attribute yet; the caller's outbox needs it.
    error.maybe_delivered = maybe_delivered
    return error
