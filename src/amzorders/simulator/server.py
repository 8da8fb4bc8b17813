"""HTTP front of the simulator: SP-API routes, LWA, upload URLs and /_sim/ admin routes."""

from __future__ import annotations

import json
import re
import select
import socket
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import messaging
from amzorders.domain.codes import GRANTLESS_OPERATIONS, NOTIFICATIONS_SCOPE

from .core import CALL_FAULTS, PAGING_FAULTS, ApiError, Simulator
from .messaging import ROUTES as MESSAGING_ROUTES
from .notifications import AWS_TEST_CREDENTIALS, NOTIFICATION_OPERATIONS, SqsError

JSON = "application/json"
PRE_RESPONSE_FAULTS = (*CALL_FAULTS, "expire_token")
TOKEN_FAULTS = (*CALL_FAULTS, "lwa_refuse")

# (method, pattern, operation); the pattern's group is the path id.
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), operation)
    for method, pattern, operation in (
        ("GET", r"/orders/2026-01-01/orders", "searchOrders"),
        ("GET", r"/orders/2026-01-01/orders/([^/]+)", "getOrder"),
        ("POST", r"/orders/v0/orders/([^/]+)/shipmentConfirmation", "confirmShipment"),
        ("POST", r"/feeds/2021-06-30/documents", "createFeedDocument"),
        ("GET", r"/feeds/2021-06-30/documents/([^/]+)", "getFeedDocument"),
        ("POST", r"/feeds/2021-06-30/feeds", "createFeed"),
        ("GET", r"/feeds/2021-06-30/feeds/([^/]+)", "getFeed"),
        ("GET", r"/finances/v0/orders/([^/]+)/financialEvents", "listFinancialEventsByOrderId"),
        *MESSAGING_ROUTES,
        ("GET", r"/notifications/v1/destinations", "getDestinations"),
        ("POST", r"/notifications/v1/destinations", "createDestination"),
        ("GET", r"/notifications/v1/destinations/([^/]+)", "getDestination"),
        ("DELETE", r"/notifications/v1/destinations/([^/]+)", "deleteDestination"),
        ("GET", r"/notifications/v1/subscriptions/([^/]+)", "getSubscription"),
        ("POST", r"/notifications/v1/subscriptions/([^/]+)", "createSubscription"),
        ("GET", r"/notifications/v1/subscriptions/([^/]+/[^/]+)", "getSubscriptionById"),
        ("DELETE", r"/notifications/v1/subscriptions/([^/]+/[^/]+)", "deleteSubscriptionById"),
    )
)


class _Abort(Exception):
    """Close the connection without answering (the 'reset' fault)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, the reset fault) are normal here, not worth a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (SimulatorHandler,), {"sim": sim})
    return _Server((host, port), handler)


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one buffered write, sent at once: with the default unbuffered
    # writes and Nagle, each reply stalled ~40 ms on delayed ACKs.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "amzorders-simulator"
    sim: Simulator

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed
        # ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and the CLI own the terminal

    # ----- plumbing -----

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        if host:
            return f"http://{host}"
        return self.sim.base_url

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes = b"", content_type: str | None = JSON,
              operation: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if operation is not None:
            rate = self.sim.rate_header(operation)
            if rate is not None:
                self.send_header("x-amzn-RateLimit-Limit", rate)
        if body and content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any, operation: str | None = None) -> None:
        self._send(status, json.dumps(value).encode(), JSON, operation)

    def _error(self, error: ApiError, operation: str | None = None) -> None:
        self._json(error.status, error.body(), operation)

    def _json_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "InvalidInput", "The request body is not valid JSON.") from None

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            if path == "/auth/o2/token" and self.command == "POST":
                self._token()
            elif path == "/" and self.command == "POST" and self.headers.get("X-Amz-Target", "").startswith("AmazonSQS."):
                self._sqs(self.headers["X-Amz-Target"][len("AmazonSQS."):])
            elif path.startswith("/tortuga-feeds/"):
                self._document(unquote(path[len("/tortuga-feeds/"):]))
            elif path.startswith(messaging.UPLOAD_PREFIX) and self.command == "PUT":
                self.sim.count_call("uploadAttachment")
                status, problem = messaging.upload_file(
                    self.sim, unquote(path[len(messaging.UPLOAD_PREFIX):]), self._body(), self.headers.get("Content-MD5"))
                if status == 200:
                    self._send(200, headers={"ETag": f'"{uuid.uuid4().hex}"'})
                else:
                    self._send(status, f"<Error><Code>{problem}</Code></Error>".encode(), "application/xml")
            elif path.startswith("/_sim/"):
                self._admin(path[len("/_sim/"):], query)
            else:
                for method, pattern, operation in ROUTES:
                    match = pattern.fullmatch(path)
                    if match and method == self.command:
                        self._api(operation, unquote(match.group(1)) if match.groups() else None, query)
                        return
                self._error(ApiError(404, "NotFound", f"No resource at {self.command} {path}."))
        except _Abort:
            self.close_connection = True
        except ApiError as error:
            self._error(error)
        except ConnectionError:
            raise
        except Exception as exc:  # a bug in the simulator must still answer like a server
            self._json(500, {"errors": [{"code": "InternalFailure", "message": f"Simulator error: {exc!r}"}]})

    # ----- faults -----

    def _play_fault(self, fault: str | None, operation: str) -> bool:
        """Play a pre-response fault; True when the call has been answered (or dropped)."""
        if fault is None:
            return False
        if fault == "reset":
            raise _Abort()
        if fault == "slow":
            self._stall(self.sim.slow_seconds)
            return False
        if fault == "429_bare":
            self.sim.count_429()
            self._json(429, {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]})
            return True
        if fault == "errors_200":
            self._json(200, {"errors": [{"code": "InternalFailure", "message": "We encountered an internal error. Please try again."}]}, operation)
            return True
        if fault == "proxy_html":
            page = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>")
            self._send(200, page, "text/html; charset=utf-8")
            return True
        if fault == "429":
            self.sim.count_429()
            self._json(429, {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}, operation)
            return True
        if fault == "500":
            self._json(500, {"errors": [{"code": "InternalFailure", "message": "We encountered an internal error. Please try again."}]}, operation)
            return True
        if fault == "503":
            self._json(503, {"errors": [{"code": "ServiceUnavailable", "message": "Service temporarily unavailable. Please try again."}]}, operation)
            return True
        return False

    def _stall(self, seconds: float) -> None:
        """A slow Amazon: hold the answer until the client gives up (closes the connection)
        or ``seconds`` pass. Whether the client sees a read timeout then depends on its own
        timeout against ``seconds``, not on how fast this machine answers. The request is
        still processed afterwards, as a server that already read it would."""
        try:
            readable, _, _ = select.select([self.connection], [], [], seconds)
        except (OSError, ValueError):
            return
        if readable:
            try:
                gone = self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                gone = True
            if gone:
                self.close_connection = True

    # ----- Login with Amazon -----

    def _token(self) -> None:
        self.sim.count_call("token")
        raw = self._body()
        fault = self.sim.take_fault("token", TOKEN_FAULTS)
        if self._play_fault(fault, "token"):
            return
        if fault == "bad_json":
            self._send(200, b'{"access_token": "Atza|trunc', JSON)
            return
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            try:
                form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
            except (ValueError, AttributeError):
                form = {}
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        status, body = self.sim.api_token(form, refuse=fault == "lwa_refuse")
        self._json(status, body)

    # ----- SP-API operations -----

    def _api(self, operation: str, path_id: str | None, query: dict[str, list[str]]) -> None:
        self.sim.count_call(operation)
        raw = self._body() if self.command in ("POST", "PUT") else b""
        token = self.headers.get("x-amz-access-token")
        try:
            claims = self.sim.check_access_token(token)
            _check_grant(operation, claims)
        except ApiError as error:
            self._error(error, operation)
            return
        fault = self.sim.take_fault(operation, PRE_RESPONSE_FAULTS)
        if fault == "expire_token":
            self.sim.expire_token(token)
            self._error(ApiError(403, "Unauthorized", "Access to requested resource is denied.",
                                 "The access token you provided has expired."), operation)
            return
        if self._play_fault(fault, operation):
            return
        if not self.sim.allow(operation):
            self.sim.count_429()
            self._json(429, {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}, operation)
            return
        if fault == "bad_json" and self.command != "GET":
            self._send(200, b'{"errors": [{"code": "Intern', JSON, operation)
            return
        try:
            status, value = self._operation(operation, path_id, query, raw)
        except ApiError as error:
            self._error(error, operation)
            return
        if status == 204:
            self._send(204, operation=operation)
            return
        body = json.dumps(value).encode()
        if fault == "bad_json":
            body = body[: max(1, len(body) // 2)]
        self._send(status, body, JSON, operation)

    def _operation(self, operation: str, path_id: str | None, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any]:
        sim = self.sim
        if operation == "searchOrders":
            return 200, self._search(query)
        if operation == "getOrder":
            assert path_id is not None
            return 200, sim.api_get_order(path_id, query)
        if operation == "confirmShipment":
            assert path_id is not None
            sim.api_confirm_shipment(path_id, raw)
            return 204, None
        if operation == "createFeedDocument":
            return 201, sim.api_create_feed_document(self._json_body(raw), self._base_url())
        if operation == "createFeed":
            return 202, sim.api_create_feed(self._json_body(raw))
        if operation == "getFeed":
            assert path_id is not None
            return 200, sim.api_get_feed(path_id)
        if operation == "getFeedDocument":
            assert path_id is not None
            return 200, sim.api_get_feed_document(path_id, self._base_url())
        if operation == "listFinancialEventsByOrderId":
            assert path_id is not None
            return 200, sim.api_list_financial_events_by_order_id(path_id, query)
        if operation in messaging.OPERATIONS:
            return messaging.handle(sim, operation, path_id, query, raw, self._base_url())
        if operation in NOTIFICATION_OPERATIONS:
            body = self._json_body(raw) if self.command == "POST" else None
            return sim.notifications.handle(operation, path_id, query, body)
        raise ApiError(404, "NotFound", f"Unknown operation {operation}.")

    def _search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        sim = self.sim
        response, paging = sim.api_search_orders(query)
        if "pagination" not in response:
            return response
        sent_token = (query.get("paginationToken") or [None])[-1]
        # A token can only repeat on a request that sent one.
        applicable = PAGING_FAULTS if sent_token else tuple(k for k in PAGING_FAULTS if k != "repeat_token")
        fault = sim.take_fault("searchOrders", applicable)
        served = paging["served"]
        if fault == "repeat_token":
            response["pagination"]["nextToken"] = sent_token
        elif fault == "repeat_page" and served:
            # Just before this page's first order: the next request gets this page again.
            first_key, first_index = served[0]
            response["pagination"]["nextToken"] = sim.make_page_token(
                paging, (first_key, first_index - 1), nonce=uuid.uuid4().hex[:8])
        elif fault == "duplicate_across_pages" and len(served) >= 2:
            response["pagination"]["nextToken"] = sim.make_page_token(paging, served[-2])
        elif fault == "update_during_paging":
            touched = [served[0][1]] + [index for _, index in paging["remaining"][:2]]
            sim.touch_orders(touched)
        return response

    # ----- SQS (AWS JSON 1.0) -----

    def _sqs(self, action: str) -> None:
        """One SQS action: SigV4-signed by the simulator's test AWS key (boto3's standard
        signing), JSON in and out; errors as AWS JSON 1.0 does them (``__type`` plus the
        query-compatible code in ``x-amzn-query-error``)."""
        self.sim.count_call(f"sqs:{action}")
        raw = self._body()
        try:
            check_sigv4(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                raise SqsError(400, "InvalidParameterValue", "The request body is not valid JSON.") from None
            answer = self.sim.notifications.sqs(action, request, self._base_url())
        except SqsError as error:
            body = json.dumps(error.body()).encode()
            self._send(error.status, body, "application/x-amz-json-1.0",
                       headers={"x-amzn-query-error": f"{error.query_code};Sender"})
            return
        self._send(200, json.dumps(answer).encode(), "application/x-amz-json-1.0")

    # ----- presigned document URLs -----

    def _document(self, document_id: str) -> None:
        if self.command == "PUT":
            self.sim.count_call("uploadFeedDocument")
            if self.sim.upload_document(document_id, self._body()):
                self._send(200, headers={"ETag": f'"{uuid.uuid4().hex}"'})
            else:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        if self.command == "GET":
            self.sim.count_call("downloadFeedDocument")
            found = self.sim.download_document(document_id)
            if found is None:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            else:
                self._send(200, found[0], found[1])
            return
        self._send(405, b"<Error><Code>MethodNotAllowed</Code></Error>", "application/xml")

    # ----- /_sim/ admin routes (drive a simulator in another process) -----

    def _admin(self, route: str, query: dict[str, list[str]]) -> None:
        sim = self.sim
        method = self.command
        body = self._json_body(self._body()) if method in ("POST", "PUT") else None
        body = body if isinstance(body, dict) else {}
        parts = route.split("/")
        try:
            if route == "health" and method == "GET":
                self._json(200, {"ok": True, "now": sim.now().isoformat(), "base_url": sim.base_url})
            elif route == "advance" and method == "POST":
                sim.advance(minutes=float(body.get("minutes", 0)), seconds=float(body.get("seconds", 0)))
                self._json(200, {"now": sim.now().isoformat()})
            elif route == "faults" and method == "POST":
                sim.inject(str(body["kind"]), int(body.get("count", 1)), body.get("operation"))
                self._json(200, {"ok": True})
            elif route == "faults" and method == "DELETE":
                sim.clear_faults()
                self._json(200, {"ok": True})
            elif route == "random_faults" and method == "POST":
                sim.random_faults(float(body["probability"]), list(body.get("kinds", [])), int(body.get("seed", 1)))
                self._json(200, {"ok": True})
            elif route == "actions" and method == "GET":
                kind = query.get("kind", [None])[-1]
                self._json(200, {"actions": sim.received_actions(kind)})
            elif route == "messages" and method == "GET":
                self._json(200, {"messages": sim.received_messages(query.get("order", [None])[-1])})
            elif route == "solicitations" and method == "GET":
                self._json(200, {"solicitations": sim.received_solicitations(query.get("order", [None])[-1])})
            elif route == "notifications/faults" and method == "POST":
                sim.notifications.inject(str(body["kind"]), int(body.get("count", 1)))
                self._json(200, {"ok": True})
            elif route == "notifications/config" and method == "POST":
                sim.notifications.configure(notify_new_orders=body.get("notify_new_orders"),
                                            delivery_delay=body.get("delivery_delay"))
                self._json(200, {"ok": True})
            elif route == "notifications/publish" and method == "POST":
                self._json(200, {"queued": sim.notifications.publish()})
            elif route == "notifications/dropped" and method == "GET":
                self._json(200, {"dropped": sim.notifications.dropped()})
            elif route == "calls" and method == "GET":
                self._json(200, {"calls": sim.call_counts(), "429s": sim.count_429s()})
            elif route == "orders" and method == "GET":
                self._json(200, {"orderIds": sim.order_ids()})
            elif route == "orders" and method == "POST":
                opts = {k: body[k] for k in ("status", "fulfilled_by", "marketplace_id", "items") if k in body}
                self._json(200, {"orderIds": sim.add_orders(int(body.get("count", 1)), **opts)})
            elif len(parts) == 2 and parts[0] == "orders" and method == "GET":
                self._json(200, {"order": sim.order(unquote(parts[1]))})
            elif len(parts) == 3 and parts[0] == "orders" and parts[2] == "buyer_cancel" and method == "POST":
                sim.buyer_cancel(unquote(parts[1]))
                self._json(200, {"ok": True})
            elif len(parts) == 3 and parts[0] == "orders" and parts[2] == "status" and method == "POST":
                sim.set_status(unquote(parts[1]), str(body["status"]))
                self._json(200, {"ok": True})
            elif len(parts) == 2 and parts[0] == "refunds" and method == "GET":
                refunds = [dict(r, amount=str(r["amount"])) for r in sim.refunds(unquote(parts[1]))]
                self._json(200, {"refunds": refunds})
            else:
                self._json(404, {"errors": [{"code": "NotFound", "message": f"No admin route {method} /_sim/{route}."}]})
        except KeyError as exc:
            self._json(404, {"errors": [{"code": "NotFound", "message": f"Not found: {exc}"}]})
        except (ValueError, TypeError) as exc:
            self._json(400, {"errors": [{"code": "InvalidInput", "message": str(exc)}]})


def _check_grant(operation: str, claims: dict[str, Any]) -> None:
    """Grantless operations take only a client_credentials token with the notifications
    scope; every other operation acts for a seller and takes only a refresh-token grant's
    token (SP-API guide "Grantless Operations"). Amazon answers either mistake with 403."""
    scope = claims.get("s")
    if operation in GRANTLESS_OPERATIONS:
        if scope != NOTIFICATIONS_SCOPE:
            raise ApiError(403, "Unauthorized", "Access to requested resource is denied.",
                           f"{operation} is a grantless operation: use an access token of the client_credentials "
                           f"grant with scope {NOTIFICATIONS_SCOPE}, not a seller's token.")
    elif scope is not None:
        raise ApiError(403, "Unauthorized", "Access to requested resource is denied.",
                       f"{operation} needs the selling partner's authorization (a refresh-token grant), "
                       "not a grantless token.")


def check_sigv4(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """AWS Signature Version 4 (AWS General Reference, "Create a signed AWS API request"):
    the simulator's test access key, and the signature recomputed from the canonical
    request, as SQS checks it (InvalidClientTokenId / SignatureDoesNotMatch)."""
    import hashlib
    import hmac

    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise SqsError(400, "MissingAuthenticationToken", "Request is missing Authentication Token")
    fields = dict(part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 "):].split(",")
                  if "=" in part)
    credential = fields.get("Credential", "").split("/")
    if len(credential) != 5 or credential[0] != AWS_TEST_CREDENTIALS["aws_access_key_id"]:
        raise SqsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.",
                       "InvalidClientTokenId")
    _key_id, day, region, service, terminal = credential
    signed = fields.get("SignedHeaders", "").split(";")
    amz_date = headers.get("x-amz-date", "")
    if service != "sqs" or terminal != "aws4_request" or "host" not in signed or not amz_date.startswith(day):
        raise SqsError(403, "SignatureDoesNotMatch", "The request signature's credential scope is not valid.",
                       "SignatureDoesNotMatch")
    parts = urlsplit(path)
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method, parts.path or "/", parts.query, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{day}/{region}/{service}/{terminal}"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + AWS_TEST_CREDENTIALS["aws_secret_access_key"]).encode()
    for part in (day, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        raise SqsError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                       "signature you provided. Check your AWS Secret Access Key and signing method.",
                       "SignatureDoesNotMatch")

