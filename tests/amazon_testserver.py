"""A small programmable HTTP server on loopback that plays Amazon in the client's tests.

Routes map (method, path) to a list of replies served in order (the last one repeats) or
to a function of the request. The LWA token endpoint is built in: it hands out
"Atza|token-1", "Atza|token-2"... to the one set of credentials it knows.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import select
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "amzn1.application-oa2-client.test"
CLIENT_SECRET = "amzn1.oa2-cs.v1.SECRET-do-not-show"
REFRESH_TOKEN = "Atzr|REFRESH-do-not-show"
TOKEN_PATH = "/auth/o2/token"


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to hold the answer, or until the client hangs up (read timeouts)
    reset: bool = False  # drop the connection with a TCP reset instead of answering


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


Responder = Callable[[Request], Reply]


def amazon_error(status: int, code: str, message: str, request_id: str = "req-err", **headers: str) -> Reply:
    return Reply(
        status=status,
        json={"errors": [{"code": code, "message": message}]},
        headers={"x-amzn-RequestId": request_id, **headers},
    )


class FakeAmazon:
    def __init__(self, token_lifetime: int = 3600) -> None:
        self.token_lifetime = token_lifetime
        self.requests: list[Request] = []
        self.routes: dict[tuple[str, str], list[Reply] | Responder] = {}
        self.tokens_issued: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    # --- lifecycle ---
    def __enter__(self) -> FakeAmazon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    # --- programming ---
    def route(self, method: str, path: str, *replies: Reply | Responder) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self.routes[(method, path)] = replies[0]  # type: ignore[assignment]
        else:
            self.routes[(method, path)] = list(replies)  # type: ignore[arg-type]

    def calls(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def api_calls(self) -> list[Request]:
        return [request for request in self.requests if request.path != TOKEN_PATH]

    # --- serving ---
    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get((request.method, request.path))
            if route is None and request.path == TOKEN_PATH:
                return self._issue_token(request)
            if route is None:
                return amazon_error(404, "NotFound", f"no route for {request.method} {request.path}")
            if callable(route):
                responder = route
            else:
                reply = route.pop(0) if len(route) > 1 else route[0]
                return reply
        return responder(request)

    def _issue_token(self, request: Request) -> Reply:
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("refresh_token") != REFRESH_TOKEN:
            return Reply(
                400,
                {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"},
            )
        token = f"Atza|token-{len(self.tokens_issued) + 1}"
        self.tokens_issued.append(token)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per reply and no Nagle: avoids 40 ms delayed-ACK stalls.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                pass

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=split.path,
                    query={key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()},
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                reply = fake._reply_for(request)
                if reply.delay and _client_hung_up_within(self.connection, reply.delay):
                    self.close_connection = True
                    return
                if reply.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                payload = reply.body if reply.body is not None else (
                    json.dumps(reply.json).encode() if reply.json is not None else b""
                )
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def make_client(fake: FakeAmazon, **overrides: Any) -> Any:
    """A client for ``fake`` with tiny backoffs and no client-side throttling."""
    from amzorders.amazon.client import LwaCredentials, SpApiClient
    from amzorders.amazon.ratelimit import RateLimiter

    options: dict[str, Any] = {
        "rate_limiter": RateLimiter(plans={}),
        "timeout": (2.0, 2.0),
        "max_retries": 3,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
        "account_name": "test-shop",
    }
    options.update(overrides)
    credentials = options.pop("credentials", LwaCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN))
    return SpApiClient(fake.base_url, credentials, fake.token_url, **options)


def _client_hung_up_within(connection: socket.socket, seconds: float) -> bool:
    """Hold for up to ``seconds``; True if the client closed first. A client whose read
    timeout is shorter than the hold always times out, however loaded the machine is."""
    readable, _, _ = select.select([connection], [], [], seconds)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
