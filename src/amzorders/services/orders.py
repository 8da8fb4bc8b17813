"""Read use cases: the recent-orders view, search, and the order view."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from datetime import datetime, timedelta, timezone, tzinfo

from amzorders.domain.codes import FULFILLMENT_STATUSES, MARKETPLACES
from amzorders.domain.commerce import STATUS_OF_STATE

COMMERCE_STATUSES = tuple(dict.fromkeys(STATUS_OF_STATE.values()))
from amzorders.domain.timefmt import parse_day_window, parse_when
from amzorders.domain.views import OrderQuery, OrderSummary, PickLine
from amzorders.errors import NotFoundError, UsageError
from amzorders.store import Store
from amzorders.store.orders import SORT_COLUMNS

if TYPE_CHECKING:
    from amzorders.domain.orderview import OrderView

MAX_LIMIT = 10_000
# Orders API v2026-01-01, searchOrders: createdBefore (and lastUpdatedBefore) "must be ...
# at least two minutes before the time of the request" (orders_2026-01-01.json).
AMAZON_BEFORE_MARGIN = timedelta(minutes=2)
# Amazon order numbers look like 902-1845936-5435065; the model gives no pattern, so only
# what can never be one is refused locally: empty, too long, anything but letters, digits, '-'.
_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,40}", re.ASCII)


def parse_time_option(name: str, value: str | None, now: datetime, zone: tzinfo = timezone.utc) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value, now, zone)
    except ValueError as exc:
        raise UsageError(f"--{name}: {exc}.") from None


def check_import_window(since: datetime | None, until: datetime | None, now: datetime) -> None:
    """What searchOrders would refuse, refused before asking Amazon."""
    if since is not None and since > now:
        raise UsageError(f"--since {since:%Y-%m-%d %H:%M} UTC is in the future; no order was created then.")
    if until is not None and until > now - AMAZON_BEFORE_MARGIN:
        raise UsageError(
            "--until must be at least 2 minutes ago (Amazon's rule for createdBefore); "
            "leave it out to import up to now."
        )
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be earlier than --until.")


def check_sync_since(since: datetime | None, now: datetime) -> None:
    if since is not None and since > now - AMAZON_BEFORE_MARGIN:
        raise UsageError(
            f"--since {since:%Y-%m-%d %H:%M} UTC is not in the past: Amazon only answers for "
            "updates at least 2 minutes old. Give an earlier time, e.g. --since 2d."
        )


def parse_order_ids(values: Iterable[str]) -> list[str]:
    """Amazon order numbers for getOrder; refused here when they cannot be one."""
    ids: list[str] = []
    for value in values:
        order_id = value.strip()
        if not order_id:
            raise UsageError("--order needs an Amazon order number, e.g. --order 902-1845936-5435065.")
        if not _ORDER_ID.fullmatch(order_id):
            raise UsageError(
                f"--order {order_id[:60]!r} is not an Amazon order number (letters, digits and '-', "
                "like 902-1845936-5435065)."
            )
        ids.append(order_id)
    return list(dict.fromkeys(ids))


def parse_sort(value: str | None) -> str:
    """'--sort ship_by' (ascending) or '--sort -grand_total' (descending)."""
    if value is None or not value.strip():
        return "-purchase_date"
    text = value.strip().lower().replace("-", "_")
    descending = value.strip().startswith("-")
    key = text.lstrip("_")
    key = SORT_ALIASES.get(key, key)
    if key not in SORT_COLUMNS:
        raise UsageError(
            f"--sort: cannot sort by '{value.strip()}'. Use one of: {', '.join(SORT_COLUMNS)} "
            "(a leading '-' sorts descending, e.g. --sort -grand_total)."
        )
    return ("-" if descending else "") + key


SORT_ALIASES = {"total": "grand_total", "buyer": "buyer_name", "purchased": "purchase_date", "order": "amazon_order_id", "status": "commerce_status", "updated": "last_updated", "number": "increment_id"}


def listing_title(query: OrderQuery, shown: int, matching: int) -> str:
    """'12 late orders', '20 of 1,284 orders matching 'lopez'', 'orders 21-40 of 96'."""
    words: list[str] = []
    if query.late_before:
        words.append("late")
    if query.held:
        words.append("held")
    if query.statuses:
        words.append("/".join(query.statuses))
    if query.commerce_statuses:
        words.append("/".join(query.commerce_statuses))
    if query.prime:
        words.append("Prime")
    if query.business:
        words.append("Business")
    if query.channel:
        words.append(query.channel)
    noun = " ".join([*words, "order" if matching == 1 else "orders"])
    extra: list[str] = []
    if query.search:
        extra.append(f"matching '{query.search}'")
    if query.cancel_requested:
        extra.append("with a buyer cancellation request")
    if query.ship_by_from or query.ship_by_until:
        extra.append("in the ship-by window")
    if query.since or query.until:
        extra.append("in the purchase window")
    suffix = (" " + ", ".join(extra)) if extra else ""
    if shown == matching and query.offset == 0:
        return f"{matching:,} {noun}{suffix}"
    if query.offset:
        first = query.offset + 1
        return f"{noun[0].upper() + noun[1:]} {first:,}-{query.offset + shown:,} of {matching:,}{suffix}"
    return f"{shown:,} of {matching:,} {noun}{suffix}"


def parse_commerce_statuses(values: Iterable[str]) -> tuple[str, ...]:
    statuses = []
    for value in values:
        for part in value.split(","):
            status = part.strip().lower().replace("-", "_").replace(" ", "_")
            if not status:
                continue
            if status not in COMMERCE_STATUSES:
                raise UsageError(
                    f"--order-status: unknown order status '{part.strip()}'. Use one of: {', '.join(COMMERCE_STATUSES)}."
                )
            statuses.append(status)
    return tuple(dict.fromkeys(statuses))


def parse_statuses(values: Iterable[str]) -> tuple[str, ...]:
    statuses = []
    for value in values:
        for part in value.split(","):
            status = part.strip().upper().replace("-", "_")
            if not status:
                continue
            if status not in FULFILLMENT_STATUSES:
                raise UsageError(
                    f"--status: unknown Amazon status '{part.strip()}'. Use one of: "
                    + ", ".join(FULFILLMENT_STATUSES)
                    + "."
                )
            statuses.append(status)
    return tuple(dict.fromkeys(statuses))


def parse_marketplaces(values: Iterable[str]) -> tuple[str, ...]:
    """Marketplace ids, or country codes (US, DE, JP...) for convenience."""
    by_country = {m.country: m.marketplace_id for m in MARKETPLACES.values()}
    ids = []
    for value in values:
        for part in value.split(","):
            token = part.strip()
            if not token:
                continue
            if token in MARKETPLACES:
                ids.append(token)
            elif token.upper() in by_country:
                ids.append(by_country[token.upper()])
            elif token.upper() == "UK":
                ids.append(by_country["GB"])
            else:
                raise UsageError(
                    f"--marketplace: unknown marketplace '{token}'. Use a marketplace id "
                    "(e.g. ATVPDKIKX0DER) or a country code: "
                    + ", ".join(sorted(by_country))
                    + "."
                )
    return tuple(dict.fromkeys(ids))


def build_query(
    *,
    now: datetime,
    statuses: Iterable[str] = (),
    since: str | None = None,
    until: str | None = None,
    marketplaces: Iterable[str] = (),
    channel: str | None = None,
    account: str | None = None,
    late: bool = False,
    search: str | None = None,
    limit: int = 20,
    offset: int = 0,
    sort: str | None = None,
    commerce_statuses: Iterable[str] = (),
    prime: bool | None = None,
    business: bool | None = None,
    cancel_requested: bool | None = None,
    held: bool | None = None,
    ship_by: str | None = None,
    zone: tzinfo = timezone.utc,
) -> OrderQuery:
    if limit < 1 or limit > MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT} (got {limit}).")
    if channel is not None:
        channel = channel.strip().upper()
        if channel not in ("MFN", "AFN"):
            raise UsageError("--channel must be MFN (merchant-fulfilled) or AFN (Amazon-fulfilled).")
    if offset < 0:
        raise UsageError(f"--offset must be 0 or more (got {offset}).")
    since_dt = parse_time_option("since", since, now, zone)
    until_dt = parse_time_option("until", until, now, zone)
    if since_dt and until_dt and since_dt >= until_dt:
        raise UsageError("--since must be earlier than --until.")
    ship_by_window: tuple[datetime | None, datetime | None] = (None, None)
    if ship_by is not None:
        try:
            ship_by_window = parse_day_window(ship_by, now, zone)
        except ValueError as exc:
            raise UsageError(f"--ship-by: {exc}.") from None
    if search is not None and not search.strip():
        raise UsageError("--search needs some text (an order number, buyer name or e-mail, SKU, ASIN or title).")
    return OrderQuery(
        statuses=parse_statuses(statuses),
        since=since_dt,
        until=until_dt,
        marketplace_ids=parse_marketplaces(marketplaces),
        channel=channel,
        account=account,
        late_before=now if late else None,
        search=search.strip() if search else None,
        commerce_statuses=parse_commerce_statuses(commerce_statuses),
        prime=prime,
        business=business,
        cancel_requested=cancel_requested,
        held=held,
        ship_by_from=ship_by_window[0],
        ship_by_until=ship_by_window[1],
        sort=parse_sort(sort),
        limit=limit,
        offset=offset,
    )


def list_orders(store: Store, query: OrderQuery) -> list[OrderSummary]:
    return store.list_orders(query)


def pick_list(store: Store, orders: list[OrderSummary]) -> list[PickLine]:
    """One line per item of ``orders`` (a pick list), in the listing's order."""
    return store.pick_lines([o.amazon_order_id for o in orders])


def count_matching(store: Store, query: OrderQuery, shown: int) -> int:
    """How many orders the filters match; no second query when the page says it all."""
    if query.offset == 0 and shown < query.limit:
        return shown
    return store.count_matching_orders(query)


def find_amazon_order_id(store: Store, key: str) -> str:
    amazon_order_id = store.resolve_order_key(key)
    if amazon_order_id is None:
        raise NotFoundError(
            f"No order '{key}' in the store (looked for an Amazon order number, a commerce "
            f"order number and a seller order id). Check the number with 'amzorders list "
            f"--search {key}', or fetch it from Amazon with 'amzorders import --order {key}'."
        )
    return amazon_order_id


def get_order_view(store: Store, key: str) -> OrderView:
    view = store.order_view(find_amazon_order_id(store, key))
    assert view is not None  # resolved a moment ago in the same connection
    outbox_for_order = getattr(store, "outbox_for_order", None)
    if outbox_for_order is not None:
        view.outbox = outbox_for_order(view.summary.amazon_order_id)
    return view


def get_raw_order(store: Store, amazon_order_id: str) -> dict:
    """Amazon's order JSON as stored (the store keeps it compressed; scrubbed after purge)."""
    raw = store.raw_order(amazon_order_id)
    if raw is None:
        raise NotFoundError(f"No order {amazon_order_id} in the store.")
    return raw


def available_actions(view: OrderView) -> list[str]:
    """The commands this order's state allows, as the operator would type them."""
    s = view.summary
    c = view.commerce
    number = c.increment_id if c else s.amazon_order_id
    actions: list[str] = []
    if c is None:
        if s.amazon_status in ("PENDING", "PENDING_AVAILABILITY"):
            actions.append("wait: Amazon has not released the order yet (a later sync brings it in)")
            actions.append("cancel a pending order in Seller Central")
        return actions
    if c.state in ("canceled", "closed"):
        actions.append(f"amzorders comment {number} TEXT")
        return actions
    if any(i.qty_to_invoice for i in c.items):
        actions.append(f"amzorders invoice {number}")
    # Only what the tool can prove allowed: merchant-fulfilled (fulfilledBy MERCHANT), a
    # known shippable status, no program that forbids or changes confirmShipment.
    blocked = view.details.blocks_shipping() if view.details is not None else None
    if s.channel == "MFN" and blocked is None and s.amazon_status in ("UNSHIPPED", "PARTIALLY_SHIPPED") and any(
        i.qty_to_ship for i in c.items
    ):
        actions.append(f"amzorders ship {number} --carrier CODE --tracking NUMBER")
    if s.amazon_status == "UNSHIPPED" and not any(i.qty_shipped for i in c.items):
        actions.append(f"amzorders cancel {number} --reason REASON")
    if any(i.qty_to_refund for i in c.items) or c.total_paid > c.total_refunded:
        actions.append(f"amzorders refund {number} --reason REASON")
    actions.append(f"amzorders comment {number} TEXT")
    return actions
