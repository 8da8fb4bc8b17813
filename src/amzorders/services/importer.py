"""Bring Amazon orders into the store and keep their commerce orders in step.

The import is an idempotent upsert keyed by Amazon order id: reading the same order twice
stores it once, and an older ``lastUpdatedTime`` never overwrites newer data. Each page is
stored in one transaction; the sync watermark is committed with the last page it covers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from amzorders.domain.commerce import (
    CommerceOrder,
    build_commerce_order,
    should_create_commerce_order,
    with_derived_state,
)
from amzorders.domain.mapping import OrderPayloadError, parse_order
from amzorders.domain.models import AmazonOrder, utcnow
from amzorders.domain.timefmt import to_iso
from amzorders.store import Store, StoredOrderState

ProgressCallback = Callable[[int], None]  # called with the number of orders read so far
# searchOrders only serves orders last updated at least this long ago.
AMAZON_SETTLE_TIME = timedelta(minutes=2)


class OrdersSource(Protocol):
    """What the importer needs from the SP-API client (amazon.client.SpApiClient)."""

    call_count: int

    def search_orders(self, **kwargs) -> Iterator: ...

    def get_order(self, order_id: str) -> dict: ...


@dataclass(frozen=True, slots=True)
class ImportSettings:
    account: str
    import_orders: bool = True
    order_number_source: str = "increment"  # increment / amazon
    order_number_prefix: str = ""
    initial_status: str = "pending"


@dataclass(slots=True)
class ImportResult:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    commerce_created: int = 0
    pages: int = 0
    api_calls: int = 0
    watermark: datetime | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (order id or '?', why)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (order id, warning)

    def summary(self) -> str:
        text = (
            f"{self.read} orders read: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged; {self.commerce_created} commerce orders created; "
            f"{self.api_calls} API calls"
        )
        if self.rejected:
            text += f"; {len(self.rejected)} orders could not be stored"
        return text


class OrderImporter:
    def __init__(self, store: Store, settings: ImportSettings, now: Callable[[], datetime] = utcnow):
        self.store = store
        self.settings = settings
        self.now = now
        self._history: list[tuple[str, str, str | None, str, str | None, str]] = []

    # -- entry points --------------------------------------------------------------

    def store_page(self, raw_orders: list, result: ImportResult, watermark: datetime | None = None) -> None:
        """Store one page of raw orders in one transaction (with the watermark, if given)."""
        parsed: list[AmazonOrder] = []
        for raw in raw_orders:
            try:
                parsed.append(parse_order(raw))
            except OrderPayloadError as exc:
                order_id = raw.get("orderId") if isinstance(raw, dict) else None
                result.rejected.append((str(order_id or "?"), str(exc)))
        result.read += len(raw_orders)
        # The same order can come twice in a page run; the newest copy wins.
        newest: dict[str, AmazonOrder] = {}
        for order in parsed:
            seen = newest.get(order.order_id)
            if seen is None or order.last_updated_time >= seen.last_updated_time:
                newest[order.order_id] = order
        with self.store.transaction():
            known = self.store.stored_order_states(list(newest))
            # History entries are collected and written in one executemany per page
            # (same transaction, same order); one INSERT each was ~20 % of the import.
            self._history = []
            for order in newest.values():
                self._apply(order, known.get(order.order_id), result)
            self.store.add_history_rows(self._history)
            self._history = []
            if watermark is not None:
                self.store.set_watermark(self.settings.account, watermark)
        result.pages += 1

    # -- one order -----------------------------------------------------------------

    def _add_history(
        self,
        amazon_order_id: str,
        comment: str,
        *,
        source: str,
        now: datetime,
        status: str | None = None,
        entity_type: str | None = None,
    ) -> None:
        self._history.append((amazon_order_id, comment, status, source, entity_type, to_iso(now)))

    def _apply(self, order: AmazonOrder, stored: StoredOrderState | None, result: ImportResult) -> None:
        now = self.now()
        for warning in order.warnings:
            result.warnings.append((order.order_id, warning))
        if stored is not None:
            if order.last_updated_time < stored.last_updated:
                result.unchanged += 1  # an older copy: never overwrites newer data
                return
            if (
                order.last_updated_time == stored.last_updated
                and order.status == stored.status
                and order.buyer_cancel_requested == stored.buyer_cancel_requested
                and (stored.commerce_id is not None or not self._wants_commerce_order(order))
            ):
                result.unchanged += 1
                return
        # A new order that gets a commerce order: take its number first, so the search
        # row is written once with it (instead of written, read back and rewritten).
        increment_id = None
        if stored is None and self._wants_commerce_order(order):
            increment_id = self._next_increment_id(order)
        self.store.write_amazon_order(
            self.settings.account, order, now, new=stored is None, increment_id=increment_id
        )
        if stored is None:
            result.new += 1
            self._add_history(
                order.order_id,
                f"Amazon order imported ({order.status}, {order.channel}).",
                source="amazon",
                status=order.status,
                now=now,
            )
        else:
            result.updated += 1
            if stored.status != order.status:
                self._add_history(
                    order.order_id,
                    f"Amazon status changed from {stored.status} to {order.status}.",
                    source="amazon",
                    status=order.status,
                    now=now,
                )
        if order.buyer_cancel_requested and not (stored and stored.buyer_cancel_requested):
            reasons = {i.cancel_reason for i in order.items if i.cancel_reason}
            self._add_history(
                order.order_id,
                "The buyer asked to cancel this order"
                + (f" ({', '.join(sorted(reasons))})" if reasons else "")
                + ". Cancel it with 'amzorders cancel' while it is unshipped.",
                source="amazon",
                now=now,
            )

        commerce_id = stored.commerce_id if stored else None
        if commerce_id is None:
            if self._wants_commerce_order(order):
                self._create_commerce_order(order, now, increment_id)
                result.commerce_created += 1
            return
        commerce = self.store.load_commerce_order(commerce_id=commerce_id)
        if commerce is not None:
            self._follow_amazon(commerce, order, now)

    def _wants_commerce_order(self, order: AmazonOrder) -> bool:
        return self.settings.import_orders and should_create_commerce_order(order)

    def _next_increment_id(self, order: AmazonOrder) -> str:
        if self.settings.order_number_source == "amazon" and not self.store.increment_id_exists(order.order_id):
            return order.order_id
        while True:
            number = self.store.next_sequence_value("order")
            candidate = f"{self.settings.order_number_prefix}{number:09d}"
            if not self.store.increment_id_exists(candidate):
                return candidate

    def _create_commerce_order(self, order: AmazonOrder, now: datetime, increment_id: str | None = None) -> None:
        """``increment_id``: taken (and put in the search row) before the Amazon order was written."""
        commerce = build_commerce_order(
            order,
            increment_id=increment_id or self._next_increment_id(order),
            account=self.settings.account,
            initial_status=self.settings.initial_status,
            now=now,
        )
        self.store.insert_commerce_order(commerce, search_indexed=increment_id is not None)
        self._add_history(
            order.order_id,
            f"Commerce order {commerce.increment_id} created from Amazon order {order.order_id}.",
            source="system",
            status=commerce.status,
            entity_type="order",
            now=now,
        )
        if order.status == "SHIPPED":
            # Shipped before we ever saw it (Amazon-fulfilled, or shipped in Seller
            # Central): Amazon captured the payment, so the order comes in complete.
            self._invoice_all_from_amazon(commerce, now)
        self._follow_amazon(commerce, order, now)

    def _invoice_all_from_amazon(self, commerce: CommerceOrder, now: datetime) -> None:
        lines = [(i.order_item_id, i.qty_to_invoice, i) for i in commerce.items if i.qty_to_invoice]
        if not lines:
            return
        subtotal = sum((i.row_total for _, _, i in lines), Decimal(0))
        tax = sum((i.tax_amount for _, _, i in lines), Decimal(0))
        shipping = sum((i.shipping_amount for _, _, i in lines), Decimal(0))
        discount = sum((i.discount_amount for _, _, i in lines), Decimal(0))
        total = commerce.grand_total - commerce.total_invoiced
        number = self.store.next_sequence_value("invoice")
        self.store.insert_invoice(
            order_id=commerce.id,
            increment_id=f"{self.settings.order_number_prefix}{number:09d}",
            items=[(oid, qty, item.row_total, item.tax_amount) for oid, qty, item in lines],
            subtotal=subtotal,
            shipping_amount=shipping,
            tax_amount=tax,
            discount_amount=discount,
            grand_total=total,
            source="amazon",
            comment="Captured by Amazon (offline).",
            now=now,
        )
        for _, qty, item in lines:
            item.qty_invoiced += qty
        commerce.total_invoiced += total
        commerce.total_paid += total
        self._add_history(
            commerce.amazon_order_id,
            f"Invoiced {commerce.currency} {total:f}: Amazon collected the payment (captured offline).",
            source="amazon",
            entity_type="invoice",
            now=now,
        )

    def _follow_amazon(self, commerce: CommerceOrder, order: AmazonOrder, now: datetime) -> None:
        """Bring the commerce order in line with what Amazon reports: units shipped
        elsewhere (Amazon's fulfilment, Seller Central) and cancellations."""
        before = (commerce.state, commerce.status)
        changed = self._record_amazon_shipments(commerce, order, now)
        if order.status == "CANCELLED":
            changed |= self._cancel_rest(commerce, now)
        updated = with_derived_state(commerce)
        if (updated.state, updated.status) != before or changed:
            commerce.state, commerce.status = updated.state, updated.status
            commerce.updated_at = now
            self.store.save_commerce_order(commerce)
            if (updated.state, updated.status) != before:
                self._add_history(
                    order.order_id,
                    f"Order is now {commerce.state} ({commerce.status}).",
                    source="system",
                    status=commerce.status,
                    entity_type="order",
                    now=now,
                )

    def _record_amazon_shipments(self, commerce: CommerceOrder, order: AmazonOrder, now: datetime) -> bool:
        # Quantities are the authority: units Amazon reports shipped beyond what the
        # commerce order knows were shipped outside amzorders. Our own confirmed
        # shipments are already counted, so they are never recorded twice.
        deltas: dict[str, int] = {}
        for amazon_item in order.items:
            item = commerce.item(amazon_item.order_item_id)
            if item is None:
                continue
            delta = min(amazon_item.quantity_shipped, item.qty_ordered - item.qty_canceled) - item.qty_shipped
            if delta > 0:
                deltas[item.order_item_id] = delta
        if not deltas:
            return False
        known_refs = self.store.shipment_package_refs(commerce.id)
        unknown_packages = [p for p in order.packages if p.package_reference_id not in known_refs]
        package = unknown_packages[-1] if unknown_packages else None
        ref = package.package_reference_id if package else f"amazon-{to_iso(now)}"
        if ref in known_refs:
            ref = f"{ref}-{len(known_refs) + 1}"
        number = self.store.next_sequence_value("shipment")
        self.store.insert_shipment(
            order_id=commerce.id,
            increment_id=f"{self.settings.order_number_prefix}{number:09d}",
            package_reference_id=ref,
            items=sorted(deltas.items()),
            carrier_code=package.carrier if package else None,
            carrier_name=None,
            shipping_method=package.shipping_service if package else None,
            tracking_number=package.tracking_number if package else None,
            ship_date=(package.ship_time if package and package.ship_time else order.last_updated_time),
            source="amazon",
            outbox_id=None,
            now=now,
        )
        for order_item_id, qty in deltas.items():
            commerce.item(order_item_id).qty_shipped += qty
        who = "Amazon" if order.fulfilled_by == "AMAZON" else "Seller Central"
        units = sum(deltas.values())
        tracking = f", tracking {package.tracking_number}" if package and package.tracking_number else ""
        self._add_history(
            order.order_id,
            f"{who} reports {units} unit(s) shipped{tracking}; shipment recorded.",
            source="amazon",
            entity_type="shipment",
            now=now,
        )
        return True

    def _cancel_rest(self, commerce: CommerceOrder, now: datetime) -> bool:
        canceled_any = False
        for item in commerce.items:
            open_qty = item.qty_ordered - item.qty_shipped - item.qty_canceled
            open_qty = min(open_qty, item.qty_ordered - item.qty_invoiced - item.qty_canceled)
            if open_qty > 0:
                item.qty_canceled += open_qty
                canceled_any = True
        if canceled_any:
            commerce.total_canceled = max(Decimal(0), commerce.grand_total - commerce.total_invoiced)
            self._add_history(
                commerce.amazon_order_id,
                "Amazon canceled the order; open quantities canceled.",
                source="amazon",
                entity_type="order",
                now=now,
            )
        return canceled_any


# -- use cases ---------------------------------------------------------------------


def sync_orders(
    store: Store,
    client: OrdersSource,
    settings: ImportSettings,
    *,
    marketplace_ids: Iterable[str] = (),
    since: datetime | None = None,
    initial_days: int = 30,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] = utcnow,
) -> ImportResult:
    """Incremental pull by lastUpdatedAfter from the stored watermark (or ``since``)."""
    start = since or store.get_watermark(settings.account) or (now() - timedelta(days=initial_days))
    importer = OrderImporter(store, settings, now)
    result = ImportResult()
    calls_before = client.call_count
    # Without lastUpdatedBefore Amazon reads up to 2 minutes before the request; should a
    # response not name its bound, that is the bound this run covered.
    fallback_watermark = now() - AMAZON_SETTLE_TIME
    pages = client.search_orders(last_updated_after=start, marketplace_ids=list(marketplace_ids) or None)
    for page in pages:
        last_page = page.next_token is None
        watermark = (page.last_updated_before or fallback_watermark) if last_page else None
        if watermark is not None and watermark < start:
            watermark = None  # never move the watermark backwards
        importer.store_page(page.orders, result, watermark=watermark)
        if last_page:
            result.watermark = watermark
        if progress:
            progress(result.read)
    result.api_calls = client.call_count - calls_before
    return result


def import_orders(
    store: Store,
    client: OrdersSource,
    settings: ImportSettings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    order_ids: Iterable[str] = (),
    statuses: Iterable[str] = (),
    marketplace_ids: Iterable[str] = (),
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] = utcnow,
) -> ImportResult:
    """One-off pull: specific orders by id (getOrder), or a created-time window."""
    importer = OrderImporter(store, settings, now)
    result = ImportResult()
    calls_before = client.call_count
    ids = list(dict.fromkeys(order_ids))
    if ids:
        for order_id in ids:
            importer.store_page([client.get_order(order_id)], result)
            if progress:
                progress(result.read)
    else:
        pages = client.search_orders(
            created_after=since,
            created_before=until,
            fulfillment_statuses=list(statuses) or None,
            marketplace_ids=list(marketplace_ids) or None,
        )
        for page in pages:
            importer.store_page(page.orders, result)
            if progress:
                progress(result.read)
    result.api_calls = client.call_count - calls_before
    return result
