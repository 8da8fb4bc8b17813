"""Bring Amazon orders into the store and keep their commerce orders in step.

The import is an idempotent upsert keyed by Amazon order id: reading the same order twice
stores it once, and an older ``lastUpdatedTime`` never overwrites newer data. Each page is
stored in one transaction; the sync watermark is committed with the last page it covers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from amzorders.domain.commerce import (
    CommerceOrder,
    build_commerce_order,
    derive_state,
    should_create_commerce_order,
)
from amzorders.domain.mapping import OrderPayloadError, parse_order
from amzorders.domain.models import AmazonOrder, utcnow
from amzorders.domain.timefmt import parse_iso, to_iso
from amzorders.errors import AmazonBadResponseError, AmazonRejectedError
from amzorders.store import ReadCheckpoint, Store, StoredOrderState
from amzorders.store.orders import AMAZON_INVOICE_COMMENT, PageWrites, PendingInvoice, PendingShipment

if TYPE_CHECKING:  # the client module loads requests: not at import time
    from amzorders.amazon.client import OrdersPage

_log = logging.getLogger(__name__)
# searchOrders only serves orders last updated at least this long ago.
AMAZON_SETTLE_TIME = timedelta(minutes=2)
# Amazon keeps a pagination token 24 h (orders_2026-01-01.json, Pagination); a saved one
# is used only while it surely lives.
TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_SAFETY_MARGIN = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """What a pull is doing, for a progress display (services know nothing of terminals).

    ``kind``: "page" (a page was stored), "wait" (the client waits for Amazon's quota:
    ``operation``, ``wait_seconds``, ``rate`` in calls per second), "resume" (an interrupted
    search continues at ``page``), "restart" (a saved position could not be used)."""

    kind: str
    page: int  # the page just stored, or the page about to be read
    orders_read: int
    orders_stored: int
    operation: str | None = None
    wait_seconds: float = 0.0
    rate: float | None = None
    resumed_from_page: int | None = None


ProgressCallback = Callable[[ReadProgress], None]


class OrdersSource(Protocol):
    """What the importer needs from the SP-API client (amazon.client.SpApiClient)."""

    call_count: int

    def search_orders(self, **kwargs) -> Iterator: ...

    def get_order(self, order_id: str) -> dict: ...

    # Optional: told (operation, seconds, rate) before the client waits for quota.
    quota_listener: Callable[[str, float, float | None], None] | None


@dataclass(frozen=True, slots=True)
class ImportSettings:
    account: str
    import_orders: bool = True
    order_number_source: str = "increment"  # increment / amazon
    order_number_prefix: str = ""
    initial_status: str = "pending"
    hold_on_cancel_request: bool = False  # orders.hold_on_cancel_request


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
    resumed_from_page: int | None = None  # an interrupted search continued at this page
    notes: list[str] = field(default_factory=list)  # what the operator should know (resume, restart)

    def summary(self) -> str:
        text = (
            f"{self.read} orders read: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged; {self.commerce_created} commerce orders created; "
            f"{self.api_calls} API calls"
        )
        if self.rejected:
            text += f"; {len(self.rejected)} orders could not be stored"
        if self.resumed_from_page:
            text += f"; resumed an interrupted search at page {self.resumed_from_page}"
        return text

    @property
    def stored(self) -> int:
        return self.new + self.updated + self.unchanged


class OrderImporter:
    def __init__(self, store: Store, settings: ImportSettings, now: Callable[[], datetime] = utcnow):
        self.store = store
        self.settings = settings
        self.now = now
        # The page being stored: history entries (a comment may be a function, for a
        # text that names a number given only when the page is numbered) and rows.
        self._history: list[tuple[str, str | Callable[[], str], str | None, str, str | None, datetime]] = []
        self._page = PageWrites(settings.account)

    # -- entry points --------------------------------------------------------------

    def store_page(
        self,
        raw_orders: list,
        result: ImportResult,
        watermark: datetime | None = None,
        with_page: Callable[[], None] | None = None,
    ) -> None:
        """Store one page of raw orders in one transaction (with the watermark, if given,
        and whatever ``with_page`` writes: the search's checkpoint)."""
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
            # The page's rows are gathered in memory and written with one executemany per
            # table (store.write_page), in this same transaction: a statement per row was
            # ~13 per order. Commerce orders already stored are changed in place.
            self._history = []
            self._page = PageWrites(self.settings.account)
            for order in newest.values():
                self._apply(order, known.get(order.order_id), result)
            self._number_page()
            self.store.write_page(self._page)
            self.store.add_history_rows(
                [(oid, text() if callable(text) else text, *rest) for oid, text, *rest in self._history]
            )
            self._history = []
            self._page = PageWrites(self.settings.account)
            if watermark is not None:
                self.store.set_watermark(self.settings.account, watermark)
            if with_page is not None:
                with_page()
        result.pages += 1

    # -- one order -----------------------------------------------------------------

    def _add_history(
        self,
        amazon_order_id: str,
        comment: str | Callable[[], str],
        *,
        source: str,
        now: datetime,
        status: str | None = None,
        entity_type: str | None = None,
    ) -> None:
        self._history.append((amazon_order_id, comment, status, source, entity_type, now))

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
        self._page.orders.append((order, stored, now))
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

        new_cancel_request = order.buyer_cancel_requested and not (stored and stored.buyer_cancel_requested)
        commerce_id = stored.commerce_id if stored else None
        if commerce_id is None:
            if self._wants_commerce_order(order):
                created = self._create_commerce_order(order, now)
                result.commerce_created += 1
                if new_cancel_request and self.settings.hold_on_cancel_request:
                    self._hold_for_cancel_request(created, order, now)
            return
        commerce = self.store.load_commerce_order(commerce_id=commerce_id)
        if commerce is not None:
            self._follow_amazon(commerce, order, now)
            if new_cancel_request and self.settings.hold_on_cancel_request:
                self._hold_for_cancel_request(commerce, order, now)

    def _hold_for_cancel_request(self, commerce: CommerceOrder, order: AmazonOrder, now: datetime) -> None:
        """orders.hold_on_cancel_request: hold the order so that nobody ships it while
        the buyer's request waits for an answer (Amazon asks sellers to honour it)."""
        if commerce.state in ("holded", "canceled", "complete", "closed"):
            return
        before_state, before_status = commerce.state, commerce.status
        commerce.state = commerce.status = "holded"
        commerce.updated_at = now
        reason = "the buyer asked to cancel"
        if self._page.created(commerce):
            self._page.holds[id(commerce)] = (now, reason, before_state, before_status)
        else:
            self.store.save_commerce_order(commerce)
            self.store.set_hold(commerce.id, held_at=now, reason=reason, before_state=before_state, before_status=before_status)
        self._add_history(
            order.order_id,
            "Order put on hold: the buyer asked to cancel. Release it with 'amzorders unhold', then cancel it or ship it.",
            source="system",
            status="holded",
            entity_type="order",
            now=now,
        )

    def _wants_commerce_order(self, order: AmazonOrder) -> bool:
        return self.settings.import_orders and should_create_commerce_order(order)

    def _number_page(self) -> None:
        """Number the commerce orders, invoices and shipments created in this page: one
        reservation per sequence (numbers in page order, as one at a time gave them)."""
        page, prefix = self._page, self.settings.order_number_prefix
        unnumbered = list(page.commerce)
        if unnumbered and self.settings.order_number_source == "amazon":
            # Amazon's order number, unless a commerce order already has it as its number.
            taken = self.store.existing_increment_ids([c.amazon_order_id for c in unnumbered])
            for commerce in unnumbered:
                if commerce.amazon_order_id not in taken:
                    commerce.increment_id = commerce.amazon_order_id
            unnumbered = [c for c in unnumbered if c.amazon_order_id in taken]
        used = {c.increment_id for c in page.commerce if c.increment_id}
        while unnumbered:
            candidates = [f"{prefix}{n:09d}" for n in self.store.reserve_sequence_values("order", len(unnumbered))]
            taken = self.store.existing_increment_ids(candidates) | used
            free = iter([c for c in candidates if c not in taken])
            left = []
            for commerce in unnumbered:
                number = next(free, None)
                if number is None:
                    left.append(commerce)  # a number was taken: another round
                else:
                    commerce.increment_id = number
                    used.add(number)
            unnumbered = left
        for documents, sequence in ((page.invoices, "invoice"), (page.shipments, "shipment")):
            for document, n in zip(documents, self.store.reserve_sequence_values(sequence, len(documents))):
                document.increment_id = f"{prefix}{n:09d}"

    def _create_commerce_order(self, order: AmazonOrder, now: datetime) -> CommerceOrder:
        """A commerce order for ``order``, in its final state (Amazon's shipments and
        cancellations applied), written with the page; numbered by ``_number_page``."""
        commerce = build_commerce_order(
            order,
            increment_id="",
            account=self.settings.account,
            initial_status=self.settings.initial_status,
            now=now,
        )
        self._page.add_commerce(commerce)
        self._add_history(
            order.order_id,
            lambda: f"Commerce order {commerce.increment_id} created from Amazon order {order.order_id}.",
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
        return commerce

    def _invoice_all_from_amazon(self, commerce: CommerceOrder, now: datetime) -> None:
        lines = [(i.order_item_id, i.qty_to_invoice, i) for i in commerce.items if i.qty_to_invoice]
        if not lines:
            return
        subtotal = sum((i.row_total for _, _, i in lines), Decimal(0))
        tax = sum((i.tax_amount for _, _, i in lines), Decimal(0))
        shipping = sum((i.shipping_amount for _, _, i in lines), Decimal(0))
        discount = sum((i.discount_amount for _, _, i in lines), Decimal(0))
        total = commerce.grand_total - commerce.total_invoiced
        # Only a commerce order created in this page comes here: the invoice goes with it.
        self._page.invoices.append(PendingInvoice(
            commerce=commerce,
            items=[(oid, qty, item.row_total, item.tax_amount) for oid, qty, item in lines],
            subtotal=subtotal,
            shipping_amount=shipping,
            tax_amount=tax,
            discount_amount=discount,
            grand_total=total,
            source="amazon",
            comment=AMAZON_INVOICE_COMMENT,
            now=now,
        ))
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
        # Only the state is needed: with_derived_state would copy the whole order first.
        derived = derive_state(commerce)
        if derived != before or changed:
            commerce.state, commerce.status = derived
            commerce.updated_at = now
            if not self._page.created(commerce):  # a new one is written in its final state
                self.store.save_commerce_order(commerce)
            if derived != before:
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
        created = self._page.created(commerce)
        known_refs = set() if created else self.store.shipment_package_refs(commerce.id)
        unknown_packages = [p for p in order.packages if p.package_reference_id not in known_refs]
        package = unknown_packages[-1] if unknown_packages else None
        ref = package.package_reference_id if package else f"amazon-{to_iso(now)}"
        if ref in known_refs:
            ref = f"{ref}-{len(known_refs) + 1}"
        shipment = PendingShipment(
            commerce=commerce,
            package_reference_id=ref,
            items=sorted(deltas.items()),
            carrier_code=package.carrier if package else None,
            carrier_name=None,
            shipping_method=package.shipping_service if package else None,
            tracking_number=package.tracking_number if package else None,
            ship_date=(package.ship_time if package and package.ship_time else order.last_updated_time),
            source="amazon",
            now=now,
        )
        if created:
            self._page.shipments.append(shipment)  # numbered and written with the page
        else:
            number = self.store.next_sequence_value("shipment")
            shipment.increment_id = f"{self.settings.order_number_prefix}{number:09d}"
            self.store.insert_shipment(order_id=commerce.id, **{
                k: getattr(shipment, k) for k in (
                    "increment_id", "package_reference_id", "items", "carrier_code", "carrier_name",
                    "shipping_method", "tracking_number", "ship_date", "source", "outbox_id", "now")
            })
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


class _SearchRun:
    """One searchOrders walk that saves its position with every stored page and resumes a
    walk an earlier run left unfinished (same parameters, token younger than 24 h)."""

    def __init__(self, store: Store, client: OrdersSource, importer: OrderImporter, result: ImportResult,
                 kind: str, progress: ProgressCallback | None, now: Callable[[], datetime]) -> None:
        self.store = store
        self.client = client
        self.importer = importer
        self.result = result
        self.kind = kind
        self.progress = progress
        self.now = now
        self.account = importer.settings.account
        self.next_page = 1

    def saved(self, matches: Callable[[dict], bool]) -> ReadCheckpoint | None:
        """The saved position of this kind of search, if it can be resumed now."""
        checkpoint = self.store.read_checkpoint(self.account, self.kind)
        if checkpoint is None:
            return None
        fresh = checkpoint.saved_at > self.now() - (TOKEN_LIFETIME - TOKEN_SAFETY_MARGIN)
        if fresh and matches(checkpoint.params):
            return checkpoint
        self._clear()
        if not fresh:
            self.result.notes.append(
                f"An interrupted search from {to_iso(checkpoint.started_at)} was not resumed: its "
                "pagination token is older than Amazon keeps tokens (24 h); the window is read again."
            )
        return None

    def walk(self, params: dict, *, token: str | None = None, first_page: int = 1, pages_before: int = 0,
             orders_before: int = 0, started_at: datetime | None = None,
             on_last_page: Callable[[OrdersPage], datetime | None] = lambda page: None) -> None:
        """Read and store every page of the search ``params``, from ``token`` if given."""
        started = started_at or self.now()
        self.next_page = first_page
        orders_in_search = orders_before
        listener_before = getattr(self.client, "quota_listener", None)
        if hasattr(self.client, "quota_listener"):
            self.client.quota_listener = self._waiting
        try:
            pages = self.client.search_orders(**_search_kwargs(params), pagination_token=token)
            iterator = iter(pages)
            while True:
                try:
                    page = next(iterator)
                except StopIteration:
                    return
                except AmazonRejectedError:
                    if token is not None and self.next_page == first_page:
                        raise _TokenRefused() from None
                    raise
                except AmazonBadResponseError as error:
                    if error.code == "PaginationLoop":
                        # A saved token would only lead into the same loop.
                        self._clear()
                    raise
                orders_in_search += len(page.orders)
                page_number = self.next_page
                if page.next_token is None:
                    watermark = on_last_page(page)

                    def finish() -> None:
                        self.store.clear_read_checkpoint(self.account, self.kind)

                    self.importer.store_page(page.orders, self.result, watermark=watermark, with_page=finish)
                    if watermark is not None:
                        self.result.watermark = watermark
                else:
                    checkpoint = ReadCheckpoint(
                        account=self.account, kind=self.kind, params=params, next_token=page.next_token,
                        pages=pages_before + (page_number - first_page) + 1, orders=orders_in_search,
                        started_at=started, saved_at=self.now(),
                    )
                    self.importer.store_page(
                        page.orders, self.result, with_page=lambda c=checkpoint: self.store.save_read_checkpoint(c)
                    )
                self.next_page = page_number + 1
                self._tell("page", page_number)
        finally:
            if hasattr(self.client, "quota_listener"):
                self.client.quota_listener = listener_before

    def resume(self, checkpoint: ReadCheckpoint, on_last_page: Callable[[OrdersPage], datetime | None]) -> bool:
        """Continue a saved search; False when Amazon no longer takes its token."""
        first_page = checkpoint.pages + 1
        self.result.resumed_from_page = first_page
        _log.info("%s of account %s: resuming the search saved at %s at page %d (%d orders read before)",
                  self.kind, self.account, to_iso(checkpoint.saved_at), first_page, checkpoint.orders)
        self._tell("resume", first_page)
        try:
            self.walk(checkpoint.params, token=checkpoint.next_token, first_page=first_page,
                      pages_before=checkpoint.pages, orders_before=checkpoint.orders,
                      started_at=checkpoint.started_at, on_last_page=on_last_page)
        except _TokenRefused:
            self._clear()
            self.result.resumed_from_page = None
            self.result.notes.append(
                f"Amazon no longer accepted the saved position (page {first_page}) of the interrupted "
                "search; it was read again from its start."
            )
            self._tell("restart", 1)
            return False
        return True

    def _clear(self) -> None:
        with self.store.transaction():
            self.store.clear_read_checkpoint(self.account, self.kind)

    def _waiting(self, operation: str, seconds: float, rate: float | None) -> None:
        if self.progress is not None:
            self.progress(ReadProgress("wait", self.next_page, self.result.read, self.result.stored,
                                       operation=operation, wait_seconds=seconds, rate=rate,
                                       resumed_from_page=self.result.resumed_from_page))

    def _tell(self, kind: str, page: int) -> None:
        if self.progress is not None:
            self.progress(ReadProgress(kind, page, self.result.read, self.result.stored,
                                       resumed_from_page=self.result.resumed_from_page))


class _TokenRefused(Exception):
    """Amazon answered the first request of a resumed search with a 4xx."""


def _search_kwargs(params: dict) -> dict:
    """Checkpoint parameters (JSON) -> search_orders keyword arguments."""
    kwargs = {}
    for name, value in params.items():
        if name.endswith(("_after", "_before")) and value is not None:
            kwargs[name] = parse_iso(value)
        elif name in ("marketplace_ids", "fulfillment_statuses") and value:
            kwargs[name] = list(value)
    return kwargs


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
    """Incremental pull by lastUpdatedAfter from the stored watermark (or ``since``).

    An earlier run's unfinished search (same window start, token still alive) continues
    at its next page; the watermark moves only with the search's last page."""
    importer = OrderImporter(store, settings, now)
    result = ImportResult()
    calls_before = client.call_count
    run = _SearchRun(store, client, importer, result, "sync", progress, now)
    watermark_before = store.get_watermark(settings.account)
    markets = sorted(marketplace_ids)

    def same_search(params: dict) -> bool:
        return params.get("marketplace_ids", []) == markets and (
            since is None or params.get("last_updated_after") == to_iso(since)
        )

    checkpoint = run.saved(same_search)
    done = False
    if checkpoint is not None:
        done = run.resume(checkpoint, _watermark_for(checkpoint.params, checkpoint.started_at))
    if not done:
        start = since or watermark_before or (now() - timedelta(days=initial_days))
        params = {"last_updated_after": to_iso(start), "marketplace_ids": markets}
        run.walk(params, on_last_page=_watermark_for(params, now()))
    result.api_calls = client.call_count - calls_before
    return result


def _watermark_for(params: dict, started_at: datetime) -> Callable[[OrdersPage], datetime | None]:
    """The watermark a search's last page sets: Amazon's ``lastUpdatedBefore``, or (a
    response naming no bound) 2 minutes before the first request; never backwards."""
    start = parse_iso(params["last_updated_after"])
    fallback = started_at - AMAZON_SETTLE_TIME

    def watermark(page: OrdersPage) -> datetime | None:
        mark = page.last_updated_before or fallback
        return None if mark < start else mark

    return watermark


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
    """One-off pull: specific orders by id (getOrder), or a created-time window.

    A window import interrupted earlier continues at its next page when it is asked for
    again (same statuses and marketplaces, a start within the saved search's age of the
    saved one, as a relative ``--since 30d`` typed again gives); orders created after the
    saved search's bound are then read by a second search."""
    importer = OrderImporter(store, settings, now)
    result = ImportResult()
    calls_before = client.call_count
    ids = list(dict.fromkeys(order_ids))
    if ids:
        for n, order_id in enumerate(ids, start=1):
            importer.store_page([client.get_order(order_id)], result)
            if progress:
                progress(ReadProgress("page", n, result.read, result.stored))
        result.api_calls = client.call_count - calls_before
        return result
    run = _SearchRun(store, client, importer, result, "import", progress, now)
    params = {
        "created_after": to_iso(since) if since else None,
        "created_before": to_iso(until) if until else None,
        "fulfillment_statuses": sorted(statuses),
        "marketplace_ids": sorted(marketplace_ids),
    }

    def same_import(saved: dict) -> bool:
        if any(saved.get(k) != params[k] for k in ("created_before", "fulfillment_statuses", "marketplace_ids")):
            return False
        if since is None or saved.get("created_after") is None:
            return saved.get("created_after") == params["created_after"]
        drift = parse_iso(params["created_after"]) - parse_iso(saved["created_after"])
        return timedelta(0) <= drift <= TOKEN_LIFETIME

    checkpoint = run.saved(same_import)
    bound: list[datetime | None] = [None]

    def remember_bound(page: OrdersPage) -> None:
        bound[0] = page.created_before
        return None

    if checkpoint is not None and run.resume(checkpoint, remember_bound):
        if until is None and bound[0] is not None:
            # The saved search ended at its own bound; newer orders come from a second one.
            rest = dict(params, created_after=to_iso(bound[0]))
            run.walk(rest, first_page=run.next_page)
    else:
        run.walk(params)
    result.api_calls = client.call_count - calls_before
    return result
