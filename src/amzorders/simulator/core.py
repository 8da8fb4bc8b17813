"""The Simulator: the marketplace's operations (SP-API semantics, no HTTP) and its test hooks.

The HTTP layer in ``server.py`` turns requests into calls of the ``api_*`` methods, which
return Python objects or raise ``ApiError``; everything a test inspects (orders, actions,
refunds, call counts) goes through the same state, so what a test sees is what the API
serves.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import math
import random
import secrets
import threading
import time
import uuid
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from amzorders.domain.codes import (
    ADJUSTMENT_COMPONENTS,
    ADJUSTMENT_REASONS,
    CANCEL_REASONS,
    CARRIER_CODES,
    FULFILLED_BY,
    FULFILLMENT_STATUSES,
    INCLUDED_DATA,
    MARKETPLACES,
    USAGE_PLANS,
)

from .catalog import MARKETPLACE_BY_COUNTRY, currency_digits
from .feeds import (
    CANCEL_FEED,
    CODE_DUPLICATE,
    CODE_AMOUNT,
    CODE_BAD_MESSAGE,
    CODE_ITEM,
    CODE_ORDER,
    CODE_SIMULATED,
    FEED_TYPES,
    FeedFatal,
    FeedMessage,
    MessageResult,
    parse_feed,
    processing_report,
)
from .market import EXTRA_BASE, MAX_NATURAL_LAG, Market, OrderState, iso
from .state import STATE_FORMAT, StateStore
from .vat import VAT_INVOICE_FEED
from .vat import process as process_vat_invoice

SIMULATOR_CREDENTIALS: dict[str, str] = {
    "client_id": "amzn1.application-oa2-client.simulator0000000000000000",
    "client_secret": "amzn1.oa2-cs.v1.simulator-public-test-secret-not-a-real-one",
    "refresh_token": "Atzr|simulator-public-test-refresh-token",
}
TOKEN_LIFETIME_SECONDS = 3600
WINDOW_MARGIN_SECONDS = 120  # a *Before must be at least 2 minutes before now
MAX_PAGE_SIZE = 100

# Fault kinds and where they apply.
# errors_200: a 2xx whose body is an error list; proxy_html: a 2xx HTML page from a proxy
# or captive portal; 429_bare: a 429 without x-amzn-RateLimit-Limit (Amazon sends the
# header "when available", so a client must cope without it).
CALL_FAULTS = ("429", "500", "503", "reset", "slow", "bad_json", "errors_200", "proxy_html", "429_bare")
# repeat_token: the next token is the one just sent; repeat_page: a new token that serves
# the page just served again. Both are loops a client must stop.
PAGING_FAULTS = ("update_during_paging", "duplicate_across_pages", "repeat_token", "repeat_page")
FAULT_KINDS: tuple[str, ...] = (*CALL_FAULTS, "expire_token", "lwa_refuse", *PAGING_FAULTS,
                                "feed_fatal", "feed_message_error", "feed_stuck", "package_dropped")
FEED_FAULTS = ("feed_fatal", "feed_message_error")
# feed_stuck (on createFeed): the feed stays IN_PROGRESS for STUCK_FEED_SECONDS (Amazon
# documents up to 8 hours of processing; some feeds take longer).
STUCK_FEED_SECONDS = 72 * 3600

GRANTLESS_SCOPES = ("sellingpartnerapi::notifications", "sellingpartnerapi::client_credential:rotation")

SEARCH_PARAMETERS = frozenset({
    "createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore", "fulfillmentStatuses",
    "marketplaceIds", "fulfilledBy", "maxResultsPerPage", "paginationToken", "includedData",
})


class ApiError(Exception):
    """An SP-API error answer: HTTP status plus Amazon's {code, message, details}."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"errors": [error]}


def invalid(message: str, details: str | None = None) -> ApiError:
    return ApiError(400, "InvalidInput", message, details)


def parse_time(value: str, name: str) -> float:
    """An ISO 8601 date-time as epoch seconds; naive times are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid(f"Invalid {name}: '{value}' is not an ISO 8601 date-time.",
                      f"{name} must look like 2026-01-01T00:00:00Z.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(token: str) -> dict[str, Any]:
    padded = token + "=" * (-len(token) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


class TokenBuckets:
    """Amazon's usage plans: a bucket per (client, operation), refilled as the marketplace
    clock moves (real time, scaled, plus whatever ``advance`` added), so a test that moves
    the clock gets its tokens back without waiting for the machine."""

    def __init__(self, time_scale: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.time_scale = time_scale
        self._clock = clock
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def rate(self, operation: str) -> float:
        return USAGE_PLANS[operation][0] * self.time_scale

    def take(self, client_id: str, operation: str) -> bool:
        rate, burst = USAGE_PLANS[operation]
        rate *= self.time_scale
        with self._lock:
            clock = self._clock()
            bucket = self._buckets.setdefault((client_id, operation), [float(burst), clock])
            bucket[0] = min(float(burst), bucket[0] + (clock - bucket[1]) * rate)
            bucket[1] = clock
            if bucket[0] >= 1.0:
                bucket[0] -= 1.0
                return True
            return False


class Simulator:
    """A local Amazon marketplace speaking the SP-API wire format (see the package docs)."""

    slow_seconds: float = 5.0
    # Amazon applies a resubmitted adjustment again (nothing documents deduplication of
    # MerchantAdjustmentID; Seller Central's adjustment template calls it "not used by Amazon").
    applies_duplicate_adjustments: bool = True
    # Refunds show in the Finances API this long after they were applied (Amazon: orders of
    # the last 48 hours might not be included).
    finances_lag_seconds: float = 2 * 3600

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        seed: int = 1,
        orders: int = 200,
        history_days: int = 30,
        arrivals_per_hour: float = 4.0,
        rate_limits: bool = True,
        time_scale: float = 1.0,
        feed_processing_seconds: float = 90.0,
        host: str = "127.0.0.1",
        port: int = 0,
        epoch: datetime | None = None,
        frozen_clock: bool = False,
    ) -> None:
        """``epoch`` (an extension) pins the marketplace creation time, for reproducible runs.

        ``frozen_clock`` (an extension, for tests): the marketplace clock stands still and
        moves only by ``advance``; feeds, arrivals and usage-plan refills then depend on
        what the test does, never on how fast the machine is.

        When ``state_path`` already holds a marketplace, its generator parameters (seed,
        orders, history, arrivals, epoch) win over the arguments: it is the same marketplace.
        """
        self.host = host
        self.port = port
        self.rate_limits = rate_limits
        self.time_scale = time_scale
        self.feed_processing_seconds = feed_processing_seconds
        created = int((epoch or datetime.now(UTC)).timestamp())
        initial = {
            "format": STATE_FORMAT,
            "params": {"seed": seed, "orders": orders, "history_days": history_days,
                       "arrivals_per_hour": arrivals_per_hour, "epoch": created},
            "clock_offset": 0.0 if epoch is None or frozen_clock else created - time.time(),
            "frozen_at": created if frozen_clock else None,
            "secret": secrets.token_hex(16),
            "counter": 0,
            "mutations": {},
            "extra": [],
            "feeds": {},
            "documents": {},
            "actions": [],
            "refunds": {},
            "adjustment_ids": {},
            "package_refs": {},
        }
        self._store = StateStore(Path(state_path) if state_path is not None else None, initial)
        params = self._store.data["params"]
        self.seed = params["seed"]
        self.market = Market(seed=params["seed"], orders=params["orders"], history_days=params["history_days"],
                             arrivals_per_hour=params["arrivals_per_hour"], epoch=params["epoch"])
        self._lock = self._store.lock
        self._seen_generation = -1
        self._mutated: set[int] = set()
        self._next_feed_due = math.inf
        self._sessions: OrderedDict[str, list[tuple[int, int]]] = OrderedDict()
        self._faults: list[dict[str, Any]] = []
        self._random_faults: tuple[float, tuple[str, ...], random.Random] | None = None
        self._expired_tokens: set[str] = set()
        self._calls: dict[str, int] = {}
        self._count_429 = 0
        self._buckets = TokenBuckets(time_scale, self._bucket_clock)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self._sync()
        from .notifications import Notifications

        self.notifications = Notifications(self)

    # ----- lifecycle of the HTTP server -----

    def start(self) -> str:
        from .server import make_server

        if self._server is not None:
            return self.base_url
        self._server = make_server(self, self.host, self.port)
        bound_host, bound_port = self._server.server_address[:2]
        self.port = bound_port
        self.base_url = f"http://{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="amzorders-simulator", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def token_url(self) -> str:
        return self.base_url + "/auth/o2/token"

    # ----- clock -----

    def _now(self) -> float:
        frozen_at = self._store.data.get("frozen_at")
        return (time.time() if frozen_at is None else frozen_at) + self._store.data["clock_offset"]

    def _bucket_clock(self) -> float:
        # Monotonic real time (none when frozen) plus what advance() added: moving the
        # marketplace clock refills the buckets as that much waiting would.
        frozen_at = self._store.data.get("frozen_at")
        real = time.monotonic() if frozen_at is None else 0.0
        return real + self._store.data["clock_offset"]

    def now(self) -> datetime:
        """The marketplace clock: real time plus the offset moved by advance()."""
        with self._lock:
            self._store.refresh()
            return datetime.fromtimestamp(self._now(), UTC)

    def advance(self, minutes: float = 0, seconds: float = 0) -> None:
        """Move the marketplace clock forward (persisted); feeds and orders evolve with it."""
        delta = minutes * 60 + seconds
        if delta < 0:
            raise ValueError("the marketplace clock only moves forward")
        with self._store.write() as data:
            data["clock_offset"] += delta
        self._sync()

    # ----- state synchronisation -----

    def _sync(self) -> float:
        """Pick up other processes' changes, finish due feeds; return the current time."""
        with self._lock:
            self._store.refresh()
            if self._store.generation != self._seen_generation:
                self._reindex()
            now = self._now()
            if now >= self._next_feed_due:
                self._process_due_feeds(now)
                self._reindex()
            return now

    def _reindex(self) -> None:
        """Rebuild what is derived from the state dict (after a reload or a write)."""
        data = self._store.data
        self.market.extras = {e["index"]: e for e in data["extra"]}
        self._mutated = {int(i) for i in data["mutations"]}
        pending = [f["createdTime"] + self._processing_seconds(f)
                   for f in data["feeds"].values() if not f.get("processed")]
        self._next_feed_due = min(pending, default=math.inf)
        self._seen_generation = self._store.generation

    def _mutations(self, index: int) -> list[dict[str, Any]] | None:
        if index not in self._mutated:
            return None
        return self._store.data["mutations"].get(str(index))

    def _add_mutation(self, data: dict[str, Any], index: int, mutation: dict[str, Any]) -> None:
        data["mutations"].setdefault(str(index), []).append(mutation)
        self._mutated.add(index)

    def _state(self, index: int, now: float, *, full: bool = True) -> OrderState:
        return self.market.state_of(index, now, self._mutations(index), full=full)

    def _index(self, order_id: str, now: float) -> int:
        index = self.market.index_of(order_id, now)
        if index is None:
            raise KeyError(order_id)
        return index

    def _next_id(self, data: dict[str, Any]) -> int:
        data["counter"] += 1
        return int(data["counter"])

    # ----- faults -----

    def inject(self, kind: str, count: int = 1, operation: str | None = None) -> None:
        """Queue ``count`` faults of ``kind`` for the next calls of ``operation`` (None: any)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append({"kind": kind, "count": count, "operation": operation})

    def random_faults(self, probability: float, kinds: list[str], seed: int) -> None:
        """Make every API call fail with ``probability`` using one of ``kinds`` (0 turns it off)."""
        unknown = [k for k in kinds if k not in CALL_FAULTS + ("expire_token", "lwa_refuse")]
        if unknown:
            raise ValueError(f"random faults support {', '.join(CALL_FAULTS)}, expire_token, lwa_refuse; not {unknown}")
        with self._lock:
            self._random_faults = (probability, tuple(kinds), random.Random(seed)) if probability > 0 else None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._random_faults = None

    def take_fault(self, operation: str, applicable: tuple[str, ...]) -> str | None:
        """The fault to play on this call, if one is queued or drawn."""
        with self._lock:
            for fault in self._faults:
                if fault["kind"] in applicable and fault["operation"] in (None, operation):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self._faults.remove(fault)
                    return str(fault["kind"])
            if self._random_faults is not None:
                probability, kinds, rng = self._random_faults
                usable = [k for k in kinds if k in applicable]
                if usable and rng.random() < probability:
                    return rng.choice(usable)
        return None

    # ----- counters -----

    def count_call(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] = self._calls.get(operation, 0) + 1

    def count_429(self) -> None:
        with self._lock:
            self._count_429 += 1

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def count_429s(self) -> int:
        with self._lock:
            return self._count_429

    def allow(self, operation: str) -> bool:
        """Spend a token of the operation's usage plan (always True when limits are off)."""
        if not self.rate_limits or operation not in USAGE_PLANS:
            return True
        return self._buckets.take(SIMULATOR_CREDENTIALS["client_id"], operation)

    def rate_header(self, operation: str) -> str | None:
        if operation not in USAGE_PLANS:
            return None
        return format(self._buckets.rate(operation), "g")

    # ----- Login with Amazon -----

    def api_token(self, form: dict[str, str], refuse: bool = False) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type")
        if refuse:
            return 400, {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}
        if not grant_type or not form.get("client_id") or not form.get("client_secret"):
            return 400, {"error": "invalid_request",
                         "error_description": "The request is missing grant_type, client_id or client_secret."}
        # refresh_token: a seller's authorization; client_credentials with a scope: the
        # grantless operations (SP-API guide "Grantless Operations": no refresh token, the
        # scope parameter names the grant instead).
        if grant_type not in ("refresh_token", "client_credentials"):
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"grant_type {grant_type!r} is not supported; use refresh_token."}
        if (not hmac.compare_digest(form["client_id"], SIMULATOR_CREDENTIALS["client_id"])
                or not hmac.compare_digest(form["client_secret"], SIMULATOR_CREDENTIALS["client_secret"])):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        scope = None
        if grant_type == "client_credentials":
            scope = form.get("scope", "")
            if scope not in GRANTLESS_SCOPES:
                return 400, {"error": "invalid_scope",
                             "error_description": f"The scope {scope[:60]!r} is not one of {', '.join(GRANTLESS_SCOPES)}."}
        elif not hmac.compare_digest(form.get("refresh_token", ""), SIMULATOR_CREDENTIALS["refresh_token"]):
            return 400, {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}
        with self._lock:
            now = self._sync()
            claims = {"c": form["client_id"], "e": int(now) + TOKEN_LIFETIME_SECONDS, "n": secrets.token_hex(8)}
            if scope is not None:
                claims["s"] = scope
            payload = _b64(claims)
            signature = hmac.new(self._store.data["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
        answer: dict[str, Any] = {"access_token": f"Atza|{payload}.{signature}", "token_type": "bearer",
                                  "expires_in": TOKEN_LIFETIME_SECONDS}
        if scope is None:
            answer["refresh_token"] = SIMULATOR_CREDENTIALS["refresh_token"]
        return 200, answer

    def check_access_token(self, token: str | None) -> dict[str, Any]:
        """Raise the 403 Amazon answers for a missing, forged or expired access token;
        return the token's claims (``s``: the scope of a grantless token)."""
        denied = "Access to requested resource is denied."
        if not token or not token.startswith("Atza|") or "." not in token:
            raise ApiError(403, "Unauthorized", denied, "The access token you provided is revoked, malformed or invalid.")
        payload, _, signature = token[5:].rpartition(".")
        with self._lock:
            now = self._sync()
            expected = hmac.new(self._store.data["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]
            expired = token in self._expired_tokens
        if not hmac.compare_digest(signature, expected):
            raise ApiError(403, "Unauthorized", denied, "The access token you provided is revoked, malformed or invalid.")
        try:
            claims = _unb64(payload)
        except ValueError:
            raise ApiError(403, "Unauthorized", denied, "The access token you provided is revoked, malformed or invalid.") from None
        if expired or claims.get("e", 0) <= now:
            raise ApiError(403, "Unauthorized", denied, "The access token you provided has expired.")
        return claims

    def expire_token(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._expired_tokens.add(token)

    # ----- searchOrders -----

    def api_search_orders(self, query: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The SearchOrdersResponse, plus paging facts the fault layer needs."""
        unknown = sorted(set(query) - SEARCH_PARAMETERS)
        if unknown:
            raise invalid(f"Unknown query parameter(s): {', '.join(unknown)}.")

        def scalar(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        def array(name: str, allowed: tuple[str, ...] | None = None, max_items: int | None = None) -> list[str] | None:
            if name not in query:
                return None
            values = [v.strip() for raw in query[name] for v in raw.split(",") if v.strip()]
            if not values:
                raise invalid(f"{name} must not be empty.")
            if allowed is not None:
                bad = [v for v in values if v not in allowed]
                if bad:
                    raise invalid(f"Invalid {name}: {', '.join(bad)}.", f"Allowed values: {', '.join(allowed)}.")
            if max_items is not None and len(values) > max_items:
                raise invalid(f"{name} accepts at most {max_items} values, not {len(values)}.")
            return values

        created_after, last_updated_after = scalar("createdAfter"), scalar("lastUpdatedAfter")
        created_before, last_updated_before = scalar("createdBefore"), scalar("lastUpdatedBefore")
        if (created_after is None) == (last_updated_after is None):
            raise invalid("Exactly one of createdAfter and lastUpdatedAfter must be provided.")
        if created_after is not None and last_updated_before is not None:
            raise invalid("lastUpdatedBefore cannot be combined with createdAfter; use createdBefore.")
        if last_updated_after is not None and created_before is not None:
            raise invalid("createdBefore cannot be combined with lastUpdatedAfter; use lastUpdatedBefore.")
        mode = "created" if created_after is not None else "lastUpdated"
        after_name, before_name = f"{mode}After", f"{mode}Before"
        after_value = created_after if created_after is not None else last_updated_after
        before_value = created_before if mode == "created" else last_updated_before
        assert after_value is not None
        after = parse_time(after_value, after_name)
        before = parse_time(before_value, before_name) if before_value is not None else None

        size_text = scalar("maxResultsPerPage")
        page_size = MAX_PAGE_SIZE
        if size_text is not None:
            try:
                page_size = int(size_text)
            except ValueError:
                raise invalid(f"Invalid maxResultsPerPage: '{size_text}' is not an integer.") from None
            if not 1 <= page_size <= MAX_PAGE_SIZE:
                raise invalid(f"Invalid maxResultsPerPage: {page_size}; it must be between 1 and {MAX_PAGE_SIZE}.")
        statuses = array("fulfillmentStatuses", FULFILLMENT_STATUSES)
        fulfilled_by = array("fulfilledBy", FULFILLED_BY)
        included = frozenset(array("includedData", INCLUDED_DATA) or ())
        marketplace_ids = array("marketplaceIds", max_items=50)
        if marketplace_ids:
            bad = [m for m in marketplace_ids if m not in MARKETPLACES]
            if bad:
                raise invalid(f"Invalid marketplaceIds: {', '.join(bad)}.", "Use the marketplace ids Amazon documents.")
        token_text = scalar("paginationToken")
        filters = {"m": mode, "a": after, "s": sorted(statuses or []), "f": sorted(fulfilled_by or []),
                   "k": sorted(marketplace_ids or [])}
        filter_hash = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]

        with self._lock:
            now = self._sync()
            cursor: tuple[int, int] | None = None
            session: str | None = None
            if token_text is not None:
                try:
                    token = _unb64(token_text)
                    upper = int(token["b"])
                    cursor = (int(token["k"]), int(token["i"]))
                    session = str(token["s"])
                    token_hash = token["h"]
                except (ValueError, KeyError, TypeError):
                    raise invalid("Invalid paginationToken: it was not issued by this API.") from None
                if token_hash != filter_hash:
                    raise invalid("The paginationToken does not match the request parameters: "
                                  "send the same parameters as for the first page.")
            else:
                if before is not None:
                    if before > now - WINDOW_MARGIN_SECONDS:
                        raise invalid(f"Invalid {before_name}: it must be at least 2 minutes before the time of the request.",
                                      f"{before_name} {iso(before)} is later than {iso(now - WINDOW_MARGIN_SECONDS)}.")
                    if before < after:
                        raise invalid(f"Invalid {before_name}: it must be equal to or after {after_name}.")
                    upper = math.floor(before)
                else:
                    if after > now:
                        raise invalid(f"Invalid {after_name}: it is in the future.")
                    upper = math.floor(now - WINDOW_MARGIN_SECONDS)
            lower = math.ceil(after)
            marketplaces = set(marketplace_ids) if marketplace_ids else None
            afn_filter = {f == "AMAZON" for f in fulfilled_by} if fulfilled_by else None
            status_filter = set(statuses) if statuses else None

            def matches(index: int, state: Any) -> bool:
                skel = self.market.skeleton(index)
                if marketplaces is not None and skel.marketplace_id not in marketplaces:
                    return False
                if afn_filter is not None and skel.afn not in afn_filter:
                    return False
                key = state.last_updated if mode == "lastUpdated" else skel.created
                if not lower <= key <= upper:
                    return False  # changed since the window was listed: it left the window
                return status_filter is None or state.status in status_filter

            session = session or secrets.token_hex(6)
            candidates: Iterator[tuple[int, int]]
            if mode == "created":
                # Creation times never change: walk the index in order, no listing needed.
                candidates = self.market.iter_created(lower, upper, now, after=cursor)
            else:
                entries = self._sessions.get(session)
                if entries is None:
                    entries = self._updated_window(lower, upper, now, marketplaces, afn_filter, status_filter)
                    self._sessions[session] = entries
                    while len(self._sessions) > 32:
                        self._sessions.popitem(last=False)
                else:
                    self._sessions.move_to_end(session)
                candidates = iter(entries[bisect_right(entries, cursor):] if cursor else entries)
            served: list[tuple[int, int]] = []
            lookahead: list[tuple[int, int]] = []  # the next matches after the page
            orders = []
            for key, index in candidates:
                if not matches(index, self._state(index, now, full=False)):
                    continue
                if len(served) < page_size:
                    served.append((key, index))
                    orders.append(self.market.render(index, self._state(index, now), included))
                else:
                    lookahead.append((key, index))
                    if len(lookahead) >= 2:
                        break
            response: dict[str, Any] = {"orders": orders}
            paging = {"served": served, "remaining": lookahead, "session": session,
                      "upper": upper, "hash": filter_hash, "mode": mode}
            if lookahead and served:
                response["pagination"] = {"nextToken": self.make_page_token(paging, served[-1])}
            response["lastUpdatedBefore" if mode == "lastUpdated" else "createdBefore"] = iso(upper)
            return response, paging

    def make_page_token(self, paging: dict[str, Any], cursor: tuple[int, int], nonce: str | None = None) -> str:
        data = {"s": paging["session"], "b": paging["upper"], "k": cursor[0], "i": cursor[1], "h": paging["hash"]}
        if nonce is not None:
            data["n"] = nonce  # a different token for the same position
        return _b64(data)

    def _updated_window(self, lower: int, upper: int, now: float, marketplaces: set[str] | None,
                        afn_filter: set[bool] | None, status_filter: set[str] | None) -> list[tuple[int, int]]:
        """Every order whose lastUpdatedTime is in the window, as sorted (time, index) pairs."""
        market = self.market
        candidates = market.indices_created_between(lower - MAX_NATURAL_LAG, upper, now)
        seen = set(candidates)
        candidates.extend(i for i in self._mutated if i not in seen and market.created_of(i) <= upper)
        entries = []
        for index in candidates:
            skel = market.skeleton(index)
            if marketplaces is not None and skel.marketplace_id not in marketplaces:
                continue
            if afn_filter is not None and skel.afn not in afn_filter:
                continue
            if index in self._mutated:
                state = self._state(index, now, full=False)
                status, updated = state.status, state.last_updated
            else:
                status, updated = market.quick_state(index, now)
            if status_filter is not None and status not in status_filter:
                continue
            if lower <= updated <= upper:
                entries.append((updated, index))
        entries.sort()
        return entries

    def touch_orders(self, indices: list[int]) -> None:
        """Bump lastUpdatedTime of orders (the update_during_paging fault)."""
        with self._store.write() as data:
            now = int(self._now())
            for index in indices:
                self._add_mutation(data, index, {"kind": "touch", "t": now})

    # ----- getOrder -----

    def api_get_order(self, order_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        included: set[str] = set()
        for raw in query.get("includedData", []):
            for value in (v.strip() for v in raw.split(",") if v.strip()):
                if value not in INCLUDED_DATA:
                    raise invalid(f"Invalid includedData: {value}.", f"Allowed values: {', '.join(INCLUDED_DATA)}.")
                included.add(value)
        with self._lock:
            now = self._sync()
            index = self.market.index_of(order_id, now)
            if index is None:
                raise ApiError(404, "NotFound", f"Order {order_id} was not found.",
                               "Check the order id; orders of other sellers are not visible.")
            return {"order": self.market.render(index, self._state(index, now), included)}

    # ----- confirmShipment (Orders API v0) -----

    def api_confirm_shipment(self, order_id: str, raw_body: bytes) -> None:
        """Apply a shipment confirmation (204) or raise the 400/404; every call is recorded."""
        with self._lock:
            now = self._sync()
            payload: Any
            try:
                payload = json.loads(raw_body or b"null")
            except ValueError:
                payload = raw_body.decode("utf-8", "replace")
            action = {"kind": "confirmShipment", "order_id": order_id, "received_at": iso(now), "accepted": True,
                      "error": None, "payload": payload, "feed_id": None, "duplicate": False}
            try:
                change = self._check_shipment(order_id, payload, now)
            except ApiError as error:
                with self._store.write() as data:
                    data["actions"].append(dict(action, accepted=False, error=error.message))
                raise
            # package_dropped: 204, yet the package never reaches the order (DESIGN.md "Amazon
            # facts": a 204 does not prove the tracking reached the order; read packages back).
            dropped = change is not None and self.take_fault("confirmShipment", ("package_dropped",)) == "package_dropped"
            with self._store.write() as data:
                if dropped:
                    action["dropped"] = True
                elif change is None:
                    action["duplicate"] = True  # the same package again: already applied
                else:
                    index, mutation, reference, digest = change
                    self._add_mutation(data, index, mutation)
                    data["package_refs"].setdefault(order_id, {})[reference] = digest
                data["actions"].append(action)

    def _check_shipment(self, order_id: str, payload: Any, now: float) -> tuple[int, dict[str, Any], str, str] | None:
        """Validate a ConfirmShipmentRequest: the mutation to apply, or None for a repeat."""
        if not isinstance(payload, dict):
            raise invalid("The request body must be a JSON object (ConfirmShipmentRequest).")
        index = self.market.index_of(order_id, now)
        if index is None:
            raise ApiError(404, "NotFound", f"Order {order_id} was not found.")
        skel = self.market.skeleton(index)
        marketplace_id = payload.get("marketplaceId")
        if not isinstance(marketplace_id, str) or not marketplace_id:
            raise invalid("marketplaceId is required.")
        if marketplace_id != skel.marketplace_id:
            raise invalid(f"marketplaceId {marketplace_id} is not the marketplace of order {order_id}.")
        detail = payload.get("packageDetail")
        if not isinstance(detail, dict):
            raise invalid("packageDetail is required.")
        for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
            if not isinstance(detail.get(name), str) or not detail[name].strip():
                raise invalid(f"packageDetail.{name} is required.")
        if "orderItems" not in detail:
            raise invalid("packageDetail.orderItems is required.")
        carrier_code = detail["carrierCode"]
        if carrier_code not in CARRIER_CODES:
            raise invalid(f"Invalid carrierCode: {carrier_code}.", "Use a carrier code from Amazon's CarrierCode list, or Other with carrierName.")
        carrier_name = detail.get("carrierName")
        if carrier_code == "Other" and (not isinstance(carrier_name, str) or not carrier_name.strip()):
            raise invalid("carrierName is required when carrierCode is Other.")
        try:
            ship_time = parse_time(detail["shipDate"], "shipDate")
        except ApiError:
            raise invalid(f"Invalid shipDate: '{detail['shipDate']}' is not an ISO 8601 date-time.") from None
        items = detail["orderItems"]
        if not isinstance(items, list) or not items:
            raise invalid("packageDetail.orderItems must list at least one item.")
        wanted: dict[str, int] = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("orderItemId"), str):
                raise invalid("Each of packageDetail.orderItems needs an orderItemId.")
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise invalid(f"Invalid quantity for order item {item['orderItemId']}: it must be an integer of at least 1.")
            wanted[item["orderItemId"]] = wanted.get(item["orderItemId"], 0) + quantity
        reference = detail["packageReferenceId"]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        known = self._store.data["package_refs"].get(order_id, {})
        if reference in known:
            if known[reference] == digest:
                return None  # the same package again: already applied, answer as Amazon does
            raise invalid(f"packageReferenceId {reference} was already used for a different package of order {order_id}.")
        if skel.afn:
            raise invalid(f"Order {order_id} is fulfilled by Amazon; shipments cannot be confirmed for it.")
        state = self._state(index, now)
        if state.status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
            raise invalid(f"Order {order_id} is {state.status}; only UNSHIPPED or PARTIALLY_SHIPPED orders can be shipped.")
        remaining = self.market.remaining(index, state)
        all_items = {line.order_item_id for line in self.market.details(index).lines}
        for item_id, quantity in wanted.items():
            if item_id not in all_items:
                raise invalid(f"Order item {item_id} does not belong to order {order_id}.")
            if quantity > remaining.get(item_id, 0):
                raise invalid(f"Quantity {quantity} of order item {item_id} exceeds the {remaining.get(item_id, 0)} still to ship.")
        when = int(now)
        mutation = {
            "kind": "ship", "t": when, "items": wanted,
            "package": {"packageReferenceId": reference, "createdTime": when,
                        "carrier": carrier_name if carrier_code == "Other" else carrier_code,
                        "trackingNumber": detail["trackingNumber"], "shipTime": int(ship_time),
                        "shippingService": detail.get("shippingMethod") or ""},
        }
        return index, mutation, reference, digest

    # ----- Feeds API -----

    def api_create_feed_document(self, body: Any, base_url: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("contentType"), str) or not body["contentType"]:
            raise invalid("contentType is required (CreateFeedDocumentSpecification).")
        with self._lock:
            now = self._sync()
            document_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{secrets.token_hex(4).upper()}"
            with self._store.write() as data:
                data["documents"][document_id] = {"contentType": body["contentType"], "data": None, "created": now, "gzip": False}
        return {"feedDocumentId": document_id, "url": self.document_url(base_url, document_id)}

    @staticmethod
    def document_url(base_url: str, document_id: str) -> str:
        signature = hashlib.sha256(document_id.encode()).hexdigest()
        return (f"{base_url}/tortuga-feeds/{document_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")

    def upload_document(self, document_id: str, content: bytes) -> bool:
        with self._lock:
            self._sync()
            if document_id not in self._store.data["documents"]:
                return False
            with self._store.write() as data:
                data["documents"][document_id]["data"] = base64.b64encode(content).decode()
            return True

    def download_document(self, document_id: str) -> tuple[bytes, str] | None:
        with self._lock:
            self._sync()
            document = self._store.data["documents"].get(document_id)
            if document is None or document["data"] is None:
                return None
            return base64.b64decode(document["data"]), document["contentType"]

    def api_create_feed(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object (CreateFeedSpecification).")
        feed_type, marketplace_ids, document_id = body.get("feedType"), body.get("marketplaceIds"), body.get("inputFeedDocumentId")
        if not isinstance(feed_type, str) or not feed_type:
            raise invalid("feedType is required.")
        if feed_type not in FEED_TYPES and feed_type != VAT_INVOICE_FEED:
            raise invalid(f"Invalid feedType: {feed_type}.", f"The simulator processes {', '.join(FEED_TYPES)}, {VAT_INVOICE_FEED}.")
        feed_options = body.get("feedOptions")
        if feed_options is not None and (not isinstance(feed_options, dict)
                                         or not all(isinstance(v, str) for v in feed_options.values())):
            raise invalid("feedOptions must be an object of string values (FeedOptions).")
        if not isinstance(marketplace_ids, list) or not 1 <= len(marketplace_ids) <= 25:
            raise invalid("marketplaceIds must list 1 to 25 marketplace ids.")
        bad = [m for m in marketplace_ids if m not in MARKETPLACES]
        if bad:
            raise invalid(f"Invalid marketplaceIds: {', '.join(map(str, bad))}.")
        if not isinstance(document_id, str) or not document_id:
            raise invalid("inputFeedDocumentId is required.")
        with self._lock:
            now = self._sync()
            if document_id not in self._store.data["documents"]:
                raise invalid(f"Invalid inputFeedDocumentId: {document_id} is not a feed document of this seller.")
            stuck = self.take_fault("createFeed", ("feed_stuck",)) == "feed_stuck"
            with self._store.write() as data:
                feed_id = str(50_000_000_000 + self._next_id(data))
                data["feeds"][feed_id] = {"feedId": feed_id, "feedType": feed_type, "marketplaceIds": marketplace_ids,
                                          "inputFeedDocumentId": document_id, "createdTime": now, "processed": False,
                                          "feedOptions": feed_options or {}}
                if stuck:
                    data["feeds"][feed_id]["processingSeconds"] = STUCK_FEED_SECONDS
            self._sync()
        return {"feedId": feed_id}

    def api_get_feed(self, feed_id: str) -> dict[str, Any]:
        with self._lock:
            now = self._sync()
            feed = self._store.data["feeds"].get(feed_id)
            if feed is None:
                raise ApiError(404, "NotFound", f"Feed {feed_id} was not found.")
            return self._render_feed(feed, now)

    def _render_feed(self, feed: dict[str, Any], now: float) -> dict[str, Any]:
        created = feed["createdTime"]
        start = created + self.feed_processing_seconds * 0.25
        rendered = {"feedId": feed["feedId"], "feedType": feed["feedType"], "marketplaceIds": feed["marketplaceIds"],
                    "createdTime": iso(created)}
        if feed.get("processed"):
            rendered.update(processingStatus=feed["status"], processingStartTime=iso(start),
                            processingEndTime=iso(feed["endTime"]), resultFeedDocumentId=feed["resultFeedDocumentId"])
        elif now >= start:
            rendered.update(processingStatus="IN_PROGRESS", processingStartTime=iso(start))
        else:
            rendered["processingStatus"] = "IN_QUEUE"
        return rendered

    def api_get_feed_document(self, document_id: str, base_url: str) -> dict[str, Any]:
        with self._lock:
            self._sync()
            document = self._store.data["documents"].get(document_id)
            if document is None:
                raise ApiError(404, "NotFound", f"Feed document {document_id} was not found.")
            answer = {"feedDocumentId": document_id, "url": self.document_url(base_url, document_id)}
            if document.get("gzip"):
                answer["compressionAlgorithm"] = "GZIP"
            return answer

    def _process_due_feeds(self, now: float) -> None:
        """Finish every feed whose processing time is over, in order, applying its effects once."""
        with self._store.write() as data:
            due = sorted((f for f in data["feeds"].values()
                          if not f.get("processed") and f["createdTime"] + self._processing_seconds(f) <= now),
                         key=lambda f: (f["createdTime"] + self._processing_seconds(f), f["feedId"]))
            for feed in due:
                self._process_feed(data, feed, feed["createdTime"] + self._processing_seconds(feed))

    def _processing_seconds(self, feed: dict[str, Any]) -> float:
        return float(feed.get("processingSeconds") or self.feed_processing_seconds)

    def _process_feed(self, data: dict[str, Any], feed: dict[str, Any], end: float) -> None:
        feed_id = feed["feedId"]
        document = data["documents"].get(feed["inputFeedDocumentId"], {})
        content = base64.b64decode(document["data"]) if document.get("data") else b""
        fault = self.take_fault("feedProcessing", FEED_FAULTS)
        kind = "cancel" if feed["feedType"] == CANCEL_FEED else "refund"
        status = "DONE"
        if feed["feedType"] == VAT_INVOICE_FEED:  # a PDF with feedOptions, not an XML feed
            if fault == "feed_fatal":
                status, report = "FATAL", processing_report(feed_id, 0, [], fatal="Simulated fatal processing error.")
            else:
                status, report = process_vat_invoice(self, data, feed, content, end)
            self._store_report(data, feed, end, status, report)
            return
        try:
            if fault == "feed_fatal":
                raise FeedFatal("Simulated fatal processing error (injected fault feed_fatal).")
            messages = parse_feed(feed["feedType"], content)
        except FeedFatal as fatal:
            report = processing_report(feed_id, 0, [], fatal=str(fatal))
            status = "FATAL"
        else:
            errors: list[MessageResult] = []
            for position, message in enumerate(messages):
                if position == 0 and fault == "feed_message_error":
                    problem: tuple[str, str] | None = (CODE_SIMULATED, "Simulated processing error (injected fault feed_message_error).")
                elif message.problem:
                    problem = (CODE_BAD_MESSAGE, message.problem)
                elif kind == "cancel":
                    problem = self._apply_cancel(data, message, end, feed_id)
                else:
                    problem = self._apply_refund(data, message, end, feed_id)
                if problem is not None:
                    errors.append(MessageResult(message.message_id, message.order_id, problem[0], problem[1]))
                data["actions"].append({
                    "kind": kind, "order_id": message.order_id, "received_at": iso(feed["createdTime"]),
                    "processed_at": iso(end), "accepted": problem is None,
                    "error": problem[1] if problem else None, "payload": message.payload(kind),
                    "feed_id": feed_id, "duplicate": bool(problem and problem[0] == CODE_DUPLICATE) or (
                        kind == "refund" and problem is None
                        and data["adjustment_ids"].get(message.order_id, []).count(message.merchant_reference) > 1),
                })
            report = processing_report(feed_id, len(messages), errors)
        result_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{secrets.token_hex(4).upper()}"
        data["documents"][result_id] = {"contentType": "text/xml; charset=UTF-8", "created": end, "gzip": True,
                                        "data": base64.b64encode(gzip.compress(report, mtime=0)).decode()}
        feed.update(processed=True, status=status, endTime=end, resultFeedDocumentId=result_id)

    @staticmethod
    def _store_report(data: dict[str, Any], feed: dict[str, Any], end: float, status: str, report: bytes) -> None:
        result_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}.T{secrets.token_hex(4).upper()}"
        data["documents"][result_id] = {"contentType": "text/xml; charset=UTF-8", "created": end, "gzip": True,
                                        "data": base64.b64encode(gzip.compress(report, mtime=0)).decode()}
        feed.update(processed=True, status=status, endTime=end, resultFeedDocumentId=result_id)

    def _apply_cancel(self, data: dict[str, Any], message: FeedMessage, when: float, feed_id: str) -> tuple[str, str] | None:
        if message.status_code not in ("Failure", "Success"):
            return CODE_BAD_MESSAGE, f"StatusCode must be Failure (cancel) or Success, not {message.status_code!r}."
        index = self.market.index_of(message.order_id, when)
        if index is None:
            return CODE_ORDER, f"Order {message.order_id} was not found."
        if message.status_code == "Success":
            return None  # an acknowledgement without cancellation changes nothing
        state = self._state(index, when)
        if state.status != "UNSHIPPED":
            return CODE_ORDER, f"Order {message.order_id} is {state.status}; only UNSHIPPED orders can be canceled."
        item_ids = {line.order_item_id for line in self.market.details(index).lines}
        reasons: dict[str, str] = {}
        for item in message.items:
            if item.order_item_id not in item_ids:
                return CODE_ITEM, f"Order item {item.order_item_id} does not belong to order {message.order_id}."
            if item.reason not in CANCEL_REASONS:
                return CODE_ITEM, f"CancelReason {item.reason!r} is not valid; use one of {', '.join(CANCEL_REASONS)}."
            reasons[item.order_item_id] = item.reason
        self._add_mutation(data, index, {"kind": "cancel", "t": int(when), "items": reasons, "feed_id": feed_id})
        return None

    def _apply_refund(self, data: dict[str, Any], message: FeedMessage, when: float, feed_id: str) -> tuple[str, str] | None:
        """Apply one OrderAdjustment as Amazon does: every accepted message is a refund, a
        resubmitted one too (Amazon does not deduplicate MerchantAdjustmentID: Seller
        Central's adjustment template describes the seller's id as not used by Amazon).

        Signs (DESIGN.md "Amazon facts"): refunded components positive, RestockingFee and
        ReturnShipping negative (kept from the buyer), PromotionAdjustments negative.
        Amounts in the currency's minor units. Only charged units can be refunded: Amazon
        charges the buyer for the whole order when the first shipment is confirmed
        (``OrderState.charged_units``), so an order with nothing shipped is refused ("cancel
        the units instead") and every cap is the charged share of what the buyer paid, per
        component and per item. ``QuantityCancelled`` (Seller Central help 200198080, partial
        cancellation) cancels that many units not yet shipped.
        """
        order_id = message.order_id
        index = self.market.index_of(order_id, when)
        if index is None:
            return CODE_ORDER, f"Order {order_id} was not found."
        adjustment_id = message.merchant_reference
        if not adjustment_id:
            return CODE_BAD_MESSAGE, "MerchantAdjustmentID is required."
        if adjustment_id in data["adjustment_ids"].get(order_id, []) and not self.applies_duplicate_adjustments:
            return CODE_DUPLICATE, f"duplicate adjustment: MerchantAdjustmentID {adjustment_id} was already applied to order {order_id}."
        state = self._state(index, when)
        if state.status in ("PENDING", "PENDING_AVAILABILITY", "CANCELLED") and not state.shipped:
            return CODE_ORDER, f"Order {order_id} is {state.status}; nothing was charged that could be refunded."
        details = self.market.details(index)
        lines = {line.order_item_id: line for line in details.lines}
        currency = details.currency
        digits = currency_digits(currency)
        refunded: dict[tuple[str, str], Decimal] = {}
        for record in data["refunds"].get(order_id, []):
            key = (record["order_item_id"], record["component"])
            refunded[key] = refunded.get(key, Decimal(0)) + Decimal(record["amount"])
        records = []
        cancelling: dict[str, int] = {}
        for item in message.items:
            line = lines.get(item.order_item_id)
            if line is None:
                return CODE_ITEM, f"Order item {item.order_item_id} does not belong to order {order_id}."
            if item.reason not in ADJUSTMENT_REASONS:
                return CODE_ITEM, f"AdjustmentReason {item.reason!r} is not valid; use one of {', '.join(ADJUSTMENT_REASONS)}."
            if not item.components and not item.promotions:
                return CODE_ITEM, f"Order item {item.order_item_id} lists no ItemPriceAdjustments component."
            charged_units = state.charged_units(item.order_item_id, line.quantity)
            if charged_units <= 0:
                return CODE_AMOUNT, (f"Order item {item.order_item_id} was not charged (nothing of order {order_id} "
                                     "has shipped, and Amazon charges the buyer when the first shipment is "
                                     "confirmed): cancel the units instead of refunding them.")
            if item.quantity_cancelled is not None:
                # Seller Central help 200198080 ("Refund or Partially Cancel Orders"): units of
                # a shipped order that cannot be fulfilled are refunded with QuantityCancelled.
                text = item.quantity_cancelled
                if not text.isdigit() or int(text) < 1:
                    return CODE_ITEM, f"QuantityCancelled {text!r} is not a positive whole number."
                unshipped = self.market.remaining(index, state).get(item.order_item_id, 0) - cancelling.get(item.order_item_id, 0)
                if int(text) > unshipped:
                    return CODE_ITEM, (f"QuantityCancelled {text} for order item {item.order_item_id} is more than "
                                       f"its {unshipped} unit(s) not shipped or cancelled.")
                cancelling[item.order_item_id] = cancelling.get(item.order_item_id, 0) + int(text)
            for component, promotion in [*((c, False) for c in item.components), *((c, True) for c in item.promotions)]:
                allowed = PROMOTION_COMPONENTS if promotion else ADJUSTMENT_COMPONENTS
                if component.type not in allowed:
                    return CODE_ITEM, f"Component type {component.type!r} is not valid{' in PromotionAdjustments' if promotion else ''}."
                if component.currency != currency:
                    return CODE_AMOUNT, f"Currency {component.currency} does not match the order's currency {currency}."
                try:
                    amount = Decimal(component.amount)
                except InvalidOperation:
                    return CODE_AMOUNT, f"Amount {component.amount!r} is not a decimal number."
                if not amount.is_finite() or -amount.as_tuple().exponent > digits:  # type: ignore[operator]
                    return CODE_AMOUNT, f"Amount {component.amount} is not a valid {currency} amount ({digits} decimals)."
                negative_expected = promotion or component.type in DEDUCTION_COMPONENTS
                if amount != 0 and (amount < 0) != negative_expected:
                    sign = "negative" if negative_expected else "positive"
                    return CODE_AMOUNT, (f"{'Promotion ' if promotion else ''}{component.type} {amount} must be {sign}: "
                                         f"{'it is kept from the buyer' if negative_expected else 'it is refunded to the buyer'}.")
                name = f"Promotion{component.type}" if promotion else component.type
                key = (item.order_item_id, name)
                refunded[key] = refunded.get(key, Decimal(0)) + amount
                records.append({"merchant_adjustment_id": adjustment_id, "order_item_id": item.order_item_id,
                                "component": name, "amount": str(amount), "currency": currency,
                                "reason": item.reason, "applied_at": iso(when), "feed_id": feed_id})
            problem = _over_charged(line, charged_units, refunded, currency)
            if problem:
                return CODE_AMOUNT, problem
        data["refunds"].setdefault(order_id, []).extend(records)
        data["adjustment_ids"].setdefault(order_id, []).append(adjustment_id)
        if cancelling:
            self._add_mutation(data, index, {"kind": "cancel_units", "t": int(when), "items": cancelling,
                                             "feed_id": feed_id})
        return None

    # ----- Finances API v0 -----

    def api_list_financial_events_by_order_id(self, order_id: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """listFinancialEventsByOrderId: the refunds Amazon applied to the order, as a
        RefundEventList, each posted ``finances_lag_seconds`` after it was applied
        ("Orders from the last 48 hours might not be included in financial events",
        financesV0.json). Amounts are from the seller's side: money going back to the buyer
        is negative, what the seller keeps (RestockingFee) positive, and a promotion
        reversed is a positive PromotionAmount. Paged by ``MaxResultsPerPage`` (1-100)."""
        size_text = (query.get("MaxResultsPerPage") or ["100"])[-1]
        try:
            size = int(size_text)
        except ValueError:
            raise invalid(f"Invalid MaxResultsPerPage: '{size_text}' is not an integer.") from None
        if not 1 <= size <= 100:
            raise invalid(f"Invalid MaxResultsPerPage: {size}; it must be between 1 and 100.")
        with self._lock:
            now = self._sync()
            if self.market.index_of(order_id, now) is None:
                raise invalid(f"Invalid orderId: {order_id} is not an order of this seller.")
            events = self._refund_events(order_id, now)
        start = 0
        token = (query.get("NextToken") or [None])[-1]
        if token is not None:
            try:
                start = int(_unb64(token)["o"])
            except (ValueError, KeyError, TypeError):
                raise invalid("Invalid NextToken: it was not issued by this API.") from None
        payload: dict[str, Any] = {"FinancialEvents": {"RefundEventList": events[start:start + size]}}
        if start + size < len(events):
            payload["NextToken"] = _b64({"o": start + size})
        return {"payload": payload}

    def _refund_events(self, order_id: str, now: float) -> list[dict[str, Any]]:
        from amzorders.domain.codes import FINANCE_CHARGE_TYPES

        by_adjustment: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for record in self._store.data["refunds"].get(order_id, []):
            applied = datetime.fromisoformat(record["applied_at"].replace("Z", "+00:00")).timestamp()
            if applied + self.finances_lag_seconds > now:
                continue  # not posted yet
            key = (record["feed_id"], record["merchant_adjustment_id"], record["applied_at"])
            by_adjustment.setdefault(key, []).append(record)
        events = []
        for (feed_id, _, applied_at), records in by_adjustment.items():
            items: dict[str, dict[str, Any]] = {}
            for record in records:
                item = items.setdefault(record["order_item_id"], {
                    "OrderItemId": record["order_item_id"],
                    "OrderAdjustmentItemId": f"{feed_id}{len(items) + 1:04d}",
                    "QuantityShipped": 0, "ItemChargeAdjustmentList": [], "PromotionAdjustmentList": [],
                })
                amount = -Decimal(record["amount"])  # the seller's side of the refund
                money = {"CurrencyCode": record["currency"], "CurrencyAmount": float(amount)}
                name = record["component"]
                if name.startswith("Promotion"):
                    item["PromotionAdjustmentList"].append({"PromotionType": name[len("Promotion"):],
                                                            "PromotionAmount": money})
                else:
                    item["ItemChargeAdjustmentList"].append({"ChargeType": FINANCE_CHARGE_TYPES.get(name, name),
                                                             "ChargeAmount": money})
            events.append({"AmazonOrderId": order_id, "PostedDate": iso(
                datetime.fromisoformat(applied_at.replace("Z", "+00:00")).timestamp() + self.finances_lag_seconds),
                "ShipmentItemAdjustmentList": list(items.values())})
        return events

    # ----- test hooks -----

    def received_actions(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._sync()
            return [dict(a) for a in self._store.data["actions"] if kind is None or a["kind"] == kind]

    def received_messages(self, order_id: str | None = None) -> list[dict[str, Any]]:
        """Every Messaging API send received (accepted or refused), oldest first."""
        from .messaging import received_messages

        return received_messages(self, order_id)

    def received_solicitations(self, order_id: str | None = None) -> list[dict[str, Any]]:
        from .messaging import received_solicitations

        return received_solicitations(self, order_id)

    def received_vat_invoices(self, order_id: str | None = None) -> list[dict[str, Any]]:
        """Every UPLOAD_VAT_INVOICE document processed (accepted or refused), oldest first."""
        from .vat import received

        return received(self, order_id)

    def uploaded_attachment(self, upload_destination_id: str) -> bytes | None:
        from .messaging import uploaded_content

        return uploaded_content(self, upload_destination_id)

    def order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            now = self._sync()
            index = self._index(order_id, now)
            return self.market.render(index, self._state(index, now), frozenset(INCLUDED_DATA))

    def order_ids(self) -> list[str]:
        with self._lock:
            now = self._sync()
            return [self.market.skeleton(i).order_id for _, i in self.market.iter_created(-math.inf, now, now)]

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._sync()
            return [dict(r, amount=Decimal(r["amount"])) for r in self._store.data["refunds"].get(order_id, [])]

    def buyer_cancel(self, order_id: str, reason: str = "Order placed by mistake") -> None:
        with self._lock:
            now = self._sync()
            index = self._index(order_id, now)
            with self._store.write() as data:
                self._add_mutation(data, index, {"kind": "buyer_cancel", "t": int(now), "reason": reason})

    def set_status(self, order_id: str, status: str) -> None:
        if status not in FULFILLMENT_STATUSES:
            raise ValueError(f"unknown fulfillment status {status!r}")
        with self._lock:
            now = self._sync()
            index = self._index(order_id, now)
            with self._store.write() as data:
                self._add_mutation(data, index, {"kind": "status", "t": int(now), "status": status})

    def add_orders(self, n: int, **opts: Any) -> list[str]:
        """Create ``n`` orders now. opts: status, fulfilled_by (MERCHANT/AMAZON),
        marketplace_id, items (a number of lines, or a list of quantities, one per line),
        currency (an extension: the order priced in another ISO 4217 currency, e.g. KWD with
        three decimals), shapes (money shapes forced on: promotion, shipping_promotion,
        shipping, gift_wrap, cod, points, sub_unit, other).
        With a status the order stays in it until acted on; without, it follows the
        natural lifecycle (PENDING, then UNSHIPPED after 5-45 minutes...)."""
        allowed = {"status", "fulfilled_by", "marketplace_id", "items", "currency", "shapes"}
        unknown = set(opts) - allowed
        if unknown:
            raise ValueError(f"unknown add_orders options {sorted(unknown)}; use {sorted(allowed)}")
        if opts.get("status") is not None and opts["status"] not in FULFILLMENT_STATUSES:
            raise ValueError(f"unknown fulfillment status {opts['status']!r}")
        if opts.get("fulfilled_by") is not None and opts["fulfilled_by"] not in FULFILLED_BY:
            raise ValueError(f"fulfilled_by must be one of {FULFILLED_BY}")
        if opts.get("marketplace_id") is not None and opts["marketplace_id"] not in MARKETPLACE_BY_COUNTRY.values():
            raise ValueError(f"marketplace_id must be one of {sorted(MARKETPLACE_BY_COUNTRY.values())}")
        with self._lock:
            now = self._sync()
            with self._store.write() as data:
                start = len(data["extra"])
                added = [{"index": EXTRA_BASE + start + k, "created": int(now),
                          "opts": {k2: v for k2, v in opts.items() if v is not None}} for k in range(n)]
                data["extra"].extend(added)
            now = self._sync()
            return [self.market.skeleton(e["index"]).order_id for e in added]


# Component type -> the charge (domain.money kinds of the simulated line) it draws on.
_CHARGE_OF: dict[str, tuple[str, ...]] = {
    "Principal": ("ITEM",), "Tax": ("ITEM_TAX", "OTHER_TAX"), "Shipping": ("SHIPPING",),
    "ShippingTax": ("SHIPPING_TAX",), "GiftWrap": ("GIFT_WRAP",), "GiftWrapTax": ("GIFT_WRAP_TAX",),
    "COD": ("COD_FEE",), "CODTax": ("COD_FEE_TAX",), "Other": ("OTHER",),
    "PromotionPrincipal": ("ITEM_PROMOTION",), "PromotionShipping": ("SHIPPING_PROMOTION",),
}
PROMOTION_COMPONENTS = ("Principal", "Shipping")
DEDUCTION_COMPONENTS = frozenset({"RestockingFee", "ReturnShipping"})


def _over_charged(line: Any, units: int, refunded: dict[tuple[str, str], Decimal], currency: str) -> str | None:
    """Why the refunds of a line would return more than the buyer was charged for its
    ``units`` charged units, or None. Each component is held to its own charge, each
    promotion reversal to the promotion given, and the line's net to what was paid."""
    share = Decimal(units) / Decimal(line.quantity)
    item_id = line.order_item_id
    net = Decimal(0)
    for (refunded_item, name), amount in refunded.items():
        if refunded_item != item_id:
            continue
        net += amount
        kinds = _CHARGE_OF.get(name)
        if kinds is None:
            continue  # Goodwill, fees...: held by the line's total below
        cap = sum((line.money.get(k, Decimal(0)) for k in kinds), Decimal(0)) * share
        if abs(amount) > cap:
            what = "promotion given" if name.startswith("Promotion") else "charged"
            return (f"The {name} refund for order item {item_id} would total {abs(amount)} {currency}, more than the "
                    f"{cap.normalize():f} {currency} {what} for {units} charged unit(s).")
    paid = line.total * share
    if net > paid:
        return (f"Refunds for order item {item_id} would total {net} {currency}, more than the "
                f"{paid.normalize():f} {currency} the buyer paid for {units} charged unit(s).")
    return None
