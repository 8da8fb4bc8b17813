"""Read models: what `list` and `show` display, as the store returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from amzorders.domain.commerce import CommerceOrder
from amzorders.domain.details import AmazonOrderDetails
from amzorders.domain.models import Address


@dataclass(frozen=True, slots=True)
class OrderSummary:
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


@dataclass(frozen=True, slots=True)
class AmazonItemView:
    order_item_id: str
    sku: str | None
    asin: str | None
    title: str | None
    quantity_ordered: int
    quantity_shipped: int
    unit_price: Decimal | None
    item_price: Decimal | None
    shipping_price: Decimal | None
    tax: Decimal | None
    discount: Decimal | None
    is_gift: bool
    gift_message: str | None
    cancel_requested_by: str | None
    cancel_reason: str | None


@dataclass(frozen=True, slots=True)
class DocumentItem:
    order_item_id: str
    sku: str
    qty: int
    row_total: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    increment_id: str
    created_at: datetime
    grand_total: Decimal
    subtotal: Decimal
    shipping_amount: Decimal
    tax_amount: Decimal
    discount_amount: Decimal
    state: str
    source: str
    comment: str | None
    items: tuple[DocumentItem, ...]


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    increment_id: str
    created_at: datetime
    package_reference_id: str
    carrier_code: str | None
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str | None
    ship_date: datetime
    source: str
    outbox_id: int | None
    items: tuple[DocumentItem, ...]


@dataclass(frozen=True, slots=True)
class CreditMemoRecord:
    increment_id: str
    created_at: datetime
    reason: str
    subtotal: Decimal
    shipping_refund: Decimal
    tax_refund: Decimal
    adjustment_refund: Decimal
    adjustment_fee: Decimal
    grand_total: Decimal
    comment: str | None
    outbox_id: int | None
    items: tuple[DocumentItem, ...]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created_at: datetime
    comment: str
    status: str | None
    source: str
    entity_type: str | None
    is_customer_notified: bool | None
    notify_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
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


@dataclass(slots=True)
class OrderView:
    """Everything the order view shows, in the admin order view's order."""

    summary: OrderSummary
    service_level: str | None
    deliver_by: datetime | None
    buyer_company: str | None
    buyer_po_number: str | None
    seller_order_id: str | None
    marketplace_name: str | None
    is_gift: bool
    shipping_address: Address | None
    pii_purged_at: datetime | None
    imported_at: datetime
    import_warnings: tuple[str, ...]
    amazon_items: tuple[AmazonItemView, ...]
    commerce: CommerceOrder | None
    invoices: list[InvoiceRecord] = field(default_factory=list)
    shipments: list[ShipmentRecord] = field(default_factory=list)
    credit_memos: list[CreditMemoRecord] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)
    # Everything else Amazon sent (programs, tax registrations, windows, constraints,
    # associated orders, packages): domain/details.py, read from the stored raw order.
    details: AmazonOrderDetails | None = None


@dataclass(frozen=True, slots=True)
class OrderQuery:
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


@dataclass(frozen=True, slots=True)
class PickLine:
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
