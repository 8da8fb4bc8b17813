"""Reconcile the local store with Amazon for a window of orders.

The window is by order creation (purchase) time: Amazon is asked for every order created in
[since, until) (searchOrders createdAfter/createdBefore, all statuses, the account's
marketplaces), the store for its orders purchased in the same window. Reported:

- missing: at Amazon, not in the store;
- extra: in the store (this account, these marketplaces, this window), not at Amazon;
- status mismatches: Amazon's fulfillment status differs from the stored one;
- quantity mismatches: units Amazon reports shipped per item differ from the units the
  store has shipped (the commerce order's, or the stored Amazon copy's when there is no
  commerce order), less what is still on its way to Amazon in the outbox;
- unapplied actions: outbox rows marked done that Amazon's order does not reflect: a
  confirmed shipment whose package (or its quantities) Amazon does not list, a cancel while
  Amazon's items show no cancellation. Refunds are not visible in the Orders API and are
  not checked.

``until`` defaults to the account's sync watermark: orders created after it are the next
sync's work, not differences. ``fix`` re-imports the missing and stale orders from the
copies already read (no extra Amazon calls) through the importer, as sync would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from amzorders.domain.mapping import OrderPayloadError, parse_order
from amzorders.domain.models import AmazonOrder, utcnow
from amzorders.domain.views import OrderQuery, OrderSummary
from amzorders.errors import AmzOrdersError, ExitCode, UsageError
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter, OrdersSource
from amzorders.store import Store

# Amazon refuses a createdBefore later than two minutes ago.
AMAZON_LATEST_BEFORE = timedelta(minutes=2)
_LOCAL_PAGE = 5_000
_IN_FLIGHT_STATES = ("pending", "submitted")


class AuditDifferencesError(AmzOrdersError):
    """The audit found the store and Amazon disagreeing (exit 1, for cron alerting)."""

    exit_code = ExitCode.NOT_FOUND_OR_NOT_ALLOWED


class AuditAccount(Protocol):
    """What the audit needs of config.AccountConfig."""

    name: str
    marketplace_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusMismatch:
    amazon_order_id: str
    amazon_status: str
    local_status: str
    amazon_last_updated: datetime
    local_last_updated: datetime

    @property
    def stale(self) -> bool:
        """Amazon changed the order after our copy: a sync (or --fix) brings it in."""
        return self.amazon_last_updated > self.local_last_updated


@dataclass(frozen=True, slots=True)
class QuantityMismatch:
    amazon_order_id: str
    order_item_id: str
    sku: str | None
    amazon_shipped: int
    local_shipped: int
    in_flight: int  # units in confirm_shipment rows not yet accepted by Amazon


@dataclass(frozen=True, slots=True)
class UnappliedAction:
    outbox_id: int
    amazon_order_id: str
    kind: str
    why: str


@dataclass(slots=True)
class AuditReport:
    account: str
    since: datetime
    until: datetime | None
    amazon_orders: int = 0
    local_orders: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    status_mismatches: list[StatusMismatch] = field(default_factory=list)
    quantity_mismatches: list[QuantityMismatch] = field(default_factory=list)
    unapplied_actions: list[UnappliedAction] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # Amazon orders we cannot parse
    fixed: list[str] = field(default_factory=list)  # order ids re-imported by --fix
    fix_result: ImportResult | None = None
    remaining_after_fix: int | None = None  # differences still there after --fix

    @property
    def differences(self) -> int:
        return (
            len(self.missing)
            + len(self.extra)
            + len(self.status_mismatches)
            + len(self.quantity_mismatches)
            + len(self.unapplied_actions)
            + len(self.unreadable)
        )

    @property
    def clean(self) -> bool:
        return self.differences == 0

    def summary(self) -> str:
        window = f"orders created {self.since:%Y-%m-%d %H:%M}" + (
            f" to {self.until:%Y-%m-%d %H:%M} UTC" if self.until else " UTC until now"
        )
        head = f"Audit of account '{self.account}', {window}: {self.amazon_orders} at Amazon, {self.local_orders} in the store"
        if self.clean:
            return head + "; no differences"
        parts = [
            f"{len(self.missing)} missing",
            f"{len(self.extra)} extra",
            f"{len(self.status_mismatches)} status mismatch(es)",
            f"{len(self.quantity_mismatches)} quantity mismatch(es)",
            f"{len(self.unapplied_actions)} action(s) Amazon never applied",
        ]
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable at Amazon")
        text = f"{head}; {self.differences} difference(s): " + ", ".join(parts)
        if self.fix_result is not None:
            text += f"; --fix re-imported {len(self.fixed)} order(s), {self.remaining_after_fix} difference(s) remain"
        return text


def audit(
    store: Store,
    client: OrdersSource,
    account: AuditAccount,
    since: datetime,
    until: datetime | None = None,
    fix: bool = False,
    *,
    import_settings: ImportSettings | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """Compare the store with Amazon for orders created in [since, until); see module doc."""
    now = now or utcnow()
    latest_allowed = now - AMAZON_LATEST_BEFORE
    if until is None:
        watermark = store.get_watermark(account.name)
        if watermark is not None:
            until = min(watermark, latest_allowed)
    elif until > latest_allowed:
        raise UsageError("--until must be at least 2 minutes ago (Amazon refuses later times).")
    if until is not None and since >= until:
        raise UsageError("--since must be earlier than --until (and than the last sync's watermark).")

    report = AuditReport(account=account.name, since=since, until=until)
    marketplaces = tuple(account.marketplace_ids)
    raw_by_id: dict[str, dict] = {}
    for page in client.search_orders(
        created_after=since, created_before=until, marketplace_ids=list(marketplaces) or None
    ):
        for raw in page.orders:
            if isinstance(raw, dict) and isinstance(raw.get("orderId"), str):
                raw_by_id[raw["orderId"]] = raw
            else:
                report.unreadable.append(("?", "an order without an orderId"))
    amazon: dict[str, AmazonOrder] = {}
    for order_id, raw in raw_by_id.items():
        try:
            amazon[order_id] = parse_order(raw)
        except OrderPayloadError as exc:
            report.unreadable.append((order_id, str(exc)))
    report.amazon_orders = len(raw_by_id)

    _compare(store, account, marketplaces, since, until, amazon, report)

    if fix:
        to_fix = list(
            dict.fromkeys(
                [*report.missing]
                + [m.amazon_order_id for m in report.status_mismatches]
                + [m.amazon_order_id for m in report.quantity_mismatches]
            )
        )
        settings = import_settings or ImportSettings(account=account.name)
        result = ImportResult()
        if to_fix:
            OrderImporter(store, settings).store_page([raw_by_id[i] for i in to_fix], result)
        report.fix_result = result
        report.fixed = to_fix
        after = AuditReport(account=account.name, since=since, until=until)
        after.unreadable = list(report.unreadable)
        _compare(store, account, marketplaces, since, until, amazon, after)
        report.remaining_after_fix = after.differences
    return report


def _local_orders(
    store: Store, account: str, marketplaces: tuple[str, ...], since: datetime, until: datetime | None
) -> list[OrderSummary]:
    rows: list[OrderSummary] = []
    offset = 0
    while True:
        page = store.list_orders(
            OrderQuery(
                since=since, until=until, account=account, marketplace_ids=marketplaces, limit=_LOCAL_PAGE, offset=offset
            )
        )
        rows.extend(page)
        if len(page) < _LOCAL_PAGE:
            return rows
        offset += _LOCAL_PAGE


def _compare(
    store: Store,
    account: AuditAccount,
    marketplaces: tuple[str, ...],
    since: datetime,
    until: datetime | None,
    amazon: dict[str, AmazonOrder],
    report: AuditReport,
) -> None:
    local = {s.amazon_order_id: s for s in _local_orders(store, account.name, marketplaces, since, until)}
    report.local_orders = len(local)
    # An order can be stored under another account or outside the window's filters: then
    # it is not missing, but it is not compared either.
    stored_elsewhere = store.stored_order_states([i for i in amazon if i not in local])
    report.missing = sorted(i for i in amazon if i not in local and i not in stored_elsewhere)
    report.extra = sorted(i for i in local if i not in amazon and i not in _unreadable_ids(report))
    for order_id in sorted(set(amazon) & set(local)):
        order, summary = amazon[order_id], local[order_id]
        if order.status != summary.amazon_status:
            report.status_mismatches.append(
                StatusMismatch(order_id, order.status, summary.amazon_status, order.last_updated_time, summary.last_updated)
            )
        outbox = store.outbox_for_order(order_id)
        report.quantity_mismatches.extend(_quantity_mismatches(store, order, outbox))
        report.unapplied_actions.extend(_unapplied(order, outbox))


def _unreadable_ids(report: AuditReport) -> set[str]:
    return {order_id for order_id, _ in report.unreadable}


def _quantity_mismatches(store: Store, order: AmazonOrder, outbox: Iterable[Any]) -> list[QuantityMismatch]:
    in_flight: dict[str, int] = {}
    for row in outbox:
        if row.kind != "confirm_shipment" or row.state not in _IN_FLIGHT_STATES:
            continue
        for item in _package_items(row.payload):
            in_flight[item[0]] = in_flight.get(item[0], 0) + item[1]
    commerce = store.load_commerce_order(amazon_order_id=order.order_id)
    if commerce is not None:
        local = {i.order_item_id: (i.sku, i.qty_shipped) for i in commerce.items}
    else:
        view = store.order_view(order.order_id)
        local = {i.order_item_id: (i.sku, i.quantity_shipped) for i in (view.amazon_items if view else ())}
    mismatches = []
    for item in order.items:
        sku, shipped = local.get(item.order_item_id, (item.sku, 0))
        waiting = in_flight.get(item.order_item_id, 0)
        if item.quantity_shipped != shipped - waiting:
            mismatches.append(
                QuantityMismatch(order.order_id, item.order_item_id, sku, item.quantity_shipped, shipped, waiting)
            )
    return mismatches


def _package_items(payload: dict) -> list[tuple[str, int]]:
    detail = payload.get("packageDetail") if isinstance(payload, dict) else None
    items = detail.get("orderItems") if isinstance(detail, dict) else None
    result = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("orderItemId"), str) and isinstance(item.get("quantity"), int):
            result.append((item["orderItemId"], item["quantity"]))
    return result


def _unapplied(order: AmazonOrder, outbox: Iterable[Any]) -> list[UnappliedAction]:
    found = []
    packages = {p.package_reference_id: p for p in order.packages}
    cancelled_items = {i.order_item_id for i in order.items if _item_cancelled(order, i.order_item_id)}
    for row in outbox:
        if row.state != "done":
            continue
        if row.kind == "confirm_shipment":
            detail = row.payload.get("packageDetail") if isinstance(row.payload, dict) else None
            reference = str((detail or {}).get("packageReferenceId") or "")
            package = packages.get(reference)
            if package is None:
                found.append(
                    UnappliedAction(row.id, order.order_id, row.kind, f"Amazon lists no package {reference or '(no reference)'}")
                )
                continue
            at_amazon = dict(package.items)
            short = [f"{oid} {qty} sent, {at_amazon.get(oid, 0)} at Amazon"
                     for oid, qty in _package_items(row.payload) if at_amazon.get(oid, 0) < qty]
            if short:
                found.append(
                    UnappliedAction(row.id, order.order_id, row.kind, f"package {reference} short: " + "; ".join(short))
                )
        elif row.kind == "cancel":
            if order.status == "CANCELLED":
                continue
            wanted = [str(i.get("order_item_id")) for i in (row.payload.get("items") or []) if isinstance(i, dict)]
            not_cancelled = [oid for oid in wanted if oid not in cancelled_items]
            if not wanted or not_cancelled:
                found.append(
                    UnappliedAction(
                        row.id,
                        order.order_id,
                        row.kind,
                        f"Amazon's order is {order.status} and shows no cancellation of "
                        + (", ".join(not_cancelled) if not_cancelled else "its items"),
                    )
                )
    return found


def _item_cancelled(order: AmazonOrder, order_item_id: str) -> bool:
    """Amazon reports a cancellation execution for the item (not just a buyer's request)."""
    for raw in order.raw.get("orderItems") or []:
        if isinstance(raw, dict) and raw.get("orderItemId") == order_item_id:
            cancellation = raw.get("cancellation")
            return isinstance(cancellation, dict) and isinstance(cancellation.get("cancellationExecution"), dict)
    return False
