"""Read models: what `list` and `show` display, as the store returns them.

The order view's records (``OrderView``, its documents, history and Amazon items) live
in ``domain/orderview.py`` and are loaded on first use: a listing (list --json) does not
build their records at start-up (issue 15). ``from amzorders.domain.views import
OrderView`` still works.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class OrderSummary(msgspec.Struct, frozen=True):
    """One row of the recent-orders table."""

    amazon_order_id: str
    increment_id: str | None
    account: str
    purchase_date: datetime
    last_updated: datetime
    amazon_status: str
    commerce_status: str | None
    channel: str
    marketplace_id: str | None
    buyer_name: str | None
    buyer_email: str | None
    item_count: int
    grand_total: Decimal | None
    currency: str | None
    ship_by: datetime | None
    is_prime: bool
    is_business: bool
    buyer_cancel_requested: bool
    held_at: datetime | None = None  # on hold ('amzorders hold'): no invoice, shipment or refund
    hold_reason: str | None = None

    @property
    def held(self) -> bool:
        return self.held_at is not None

    def is_late(self, now: datetime) -> bool:
        return (
            self.amazon_status in ("UNSHIPPED", "PARTIALLY_SHIPPED")
            and self.ship_by is not None
            and self.ship_by < now
        )








class OutboxRecord(msgspec.Struct, frozen=True):
    id: int
    account: str
    amazon_order_id: str
    kind: str
    idempotency_key: str
    payload: dict
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    request_id: str | None
    feed_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None
    result: dict | None = None



class OrderQuery(msgspec.Struct, frozen=True):
    """Filters of the recent-orders view; None means 'any'."""

    statuses: tuple[str, ...] = ()
    since: datetime | None = None  # purchase date from
    until: datetime | None = None  # purchase date before
    marketplace_ids: tuple[str, ...] = ()
    channel: str | None = None  # MFN / AFN
    account: str | None = None
    late_before: datetime | None = None  # unshipped with ship-by earlier than this
    search: str | None = None  # folded (case and accents) substring of numbers, buyer, SKU, ASIN, title
    commerce_statuses: tuple[str, ...] = ()
    prime: bool | None = None  # programs include PRIME
    business: bool | None = None  # an Amazon Business order
    cancel_requested: bool | None = None  # the buyer asked to cancel
    held: bool | None = None
    ship_by_from: datetime | None = None
    ship_by_until: datetime | None = None
    sort: str = "-purchase_date"  # a field name; '-' first: descending
    limit: int = 20
    offset: int = 0


class PickLine(msgspec.Struct, frozen=True):
    """One item of one order: a row of a pick list ('list --items')."""

    amazon_order_id: str
    increment_id: str | None
    sku: str | None
    asin: str | None
    title: str | None
    quantity: int
    quantity_shipped: int
    ship_by: datetime | None
    ship_to_name: str | None
    ship_to_city: str | None
    ship_to_postal_code: str | None
    ship_to_country: str | None


_ORDER_VIEW_NAMES = frozenset({"AmazonItemView", "DocumentItem", "InvoiceRecord", "ShipmentRecord", "CreditMemoRecord", "HistoryEntry", "OrderView"})


def __getattr__(name: str):
    if name in _ORDER_VIEW_NAMES:
        from amzorders.domain import orderview

        return getattr(orderview, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
