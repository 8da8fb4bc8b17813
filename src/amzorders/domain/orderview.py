"""The order view's read models (``show``, ``history``): loaded on first use, apart
from the listing's models in ``domain/views.py`` (issue 15: start-up of list)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from amzorders.domain.commerce import CommerceOrder
    from amzorders.domain.details import AmazonOrderDetails
    from amzorders.domain.models import Address
    from amzorders.domain.views import OrderSummary, OutboxRecord


class AmazonItemView(msgspec.Struct, frozen=True):
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


class DocumentItem(msgspec.Struct, frozen=True):
    order_item_id: str
    sku: str
    qty: int
    row_total: Decimal = Decimal(0)


class InvoiceRecord(msgspec.Struct, frozen=True):
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


class ShipmentRecord(msgspec.Struct, frozen=True):
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


class CreditMemoRecord(msgspec.Struct, frozen=True):
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


class HistoryEntry(msgspec.Struct, frozen=True):
    created_at: datetime
    comment: str
    status: str | None
    source: str
    entity_type: str | None
    is_customer_notified: bool | None
    notify_error: str | None


class OrderView(msgspec.Struct):
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
    invoices: list[InvoiceRecord] = msgspec.field(default_factory=list)
    shipments: list[ShipmentRecord] = msgspec.field(default_factory=list)
    credit_memos: list[CreditMemoRecord] = msgspec.field(default_factory=list)
    history: list[HistoryEntry] = msgspec.field(default_factory=list)
    outbox: list[OutboxRecord] = msgspec.field(default_factory=list)
    # Everything else Amazon sent (programs, tax registrations, windows, constraints,
    # associated orders, packages): domain/details.py, read from the stored raw order.
    details: AmazonOrderDetails | None = None
