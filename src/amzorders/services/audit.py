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

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from amzorders.domain.mapping import OrderPayloadError, parse_order
from amzorders.domain.models import AmazonOrder, utcnow
from amzorders.errors import AmzOrdersError, ExitCode, UsageError
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter, OrdersSource
from amzorders.store import Store

# Amazon refuses a createdBefore later than two minutes ago.
AMAZON_LATEST_BEFORE = timedelta(minutes=2)
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


@dataclass(frozen=True, slots=True)
class AuditEstimate:
    """How long Amazon's searchOrders quota makes the audit take, told before it starts.

    ``expected_orders`` is the store's count for the window (Amazon's own count is known
    only at the end); ``seconds`` is the wait for the pages' tokens from the bucket as it
    is now (None: the client does not throttle), so a running sync's reservations, kept in
    the same store-backed bucket, are counted in.
    """

    expected_orders: int
    pages: int
    seconds: float | None
    rate: float | None
    burst: int | None


def estimate(client: OrdersSource, expected_orders: int) -> AuditEstimate:
    # 100 orders per searchOrders page: the most Amazon allows (maxResultsPerPage, Orders
    # API v2026-01-01), which the client always asks for.
    pages = max(1, math.ceil(expected_orders / 100))
    limiter = getattr(client, "rate_limiter", None)
    if limiter is None:
        return AuditEstimate(expected_orders, pages, None, None, None)
    plan = limiter.plan("searchOrders")
    seconds = limiter.estimate_seconds("searchOrders", pages)
    return AuditEstimate(expected_orders, pages, seconds, plan[0] if plan else None, plan[1] if plan else None)


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
    on_estimate: Callable[[AuditEstimate], None] | None = None,
) -> AuditReport:
    """Compare the store with Amazon for orders created in [since, until); see module doc.

    Streaming: each page Amazon returns is compared (and with ``fix`` repaired) before the
    next is asked for, and the store's side is read by keyset pages, so memory stays flat
    whatever the window holds. ``on_estimate`` is told how long the quota makes it take
    before the first call.
    """
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
    report.local_orders = store.audit_count_local(account.name, marketplaces, since, until)
    if on_estimate is not None:
        on_estimate(estimate(client, report.local_orders))
    importer = OrderImporter(store, import_settings or ImportSettings(account=account.name)) if fix else None
    fix_result = ImportResult()
    remaining = 0
    store.audit_begin()
    for page in client.search_orders(
        created_after=since, created_before=until, marketplace_ids=list(marketplaces) or None
    ):
        raws: dict[str, dict] = {}
        for raw in page.orders:
            if isinstance(raw, dict) and isinstance(raw.get("orderId"), str):
                raws[raw["orderId"]] = raw
            else:
                report.unreadable.append(("?", "an order without an orderId"))
        already = store.audit_mark_seen(list(raws))
        fresh = {order_id: raw for order_id, raw in raws.items() if order_id not in already}
        report.amazon_orders += len(fresh)
        parsed: dict[str, AmazonOrder] = {}
        for order_id, raw in fresh.items():
            try:
                parsed[order_id] = parse_order(raw)
            except OrderPayloadError as exc:
                report.unreadable.append((order_id, str(exc)))
        found = _compare_page(store, account.name, marketplaces, since, until, parsed)
        found.merge_into(report)
        if importer is not None:
            to_fix = found.to_fix()
            if to_fix:
                importer.store_page([fresh[i] for i in to_fix], fix_result)
                report.fixed.extend(to_fix)
                found = _compare_page(store, account.name, marketplaces, since, until, parsed)
            remaining += found.count()

    unreadable = _unreadable_ids(report)
    after: tuple[str, int] | None = None
    while True:
        ids, after = store.audit_unseen_local(account.name, marketplaces, since, until, after=after)
        report.extra.extend(i for i in ids if i not in unreadable)
        if after is None:
            break
    report.missing.sort()
    report.extra.sort()
    for mismatches in (report.status_mismatches, report.quantity_mismatches, report.unapplied_actions):
        mismatches.sort(key=lambda m: m.amazon_order_id)  # stable: items keep Amazon's order
    if fix:
        report.fix_result = fix_result
        report.remaining_after_fix = remaining + len(report.extra) + len(report.unreadable)
    return report


@dataclass(slots=True)
class _PageFindings:
    missing: list[str] = field(default_factory=list)
    status_mismatches: list[StatusMismatch] = field(default_factory=list)
    quantity_mismatches: list[QuantityMismatch] = field(default_factory=list)
    unapplied_actions: list[UnappliedAction] = field(default_factory=list)

    def merge_into(self, report: AuditReport) -> None:
        report.missing.extend(self.missing)
        report.status_mismatches.extend(self.status_mismatches)
        report.quantity_mismatches.extend(self.quantity_mismatches)
        report.unapplied_actions.extend(self.unapplied_actions)

    def to_fix(self) -> list[str]:
        """Missing and stale orders, each once: what re-importing Amazon's copy repairs."""
        return list(
            dict.fromkeys(
                [*self.missing]
                + [m.amazon_order_id for m in self.status_mismatches]
                + [m.amazon_order_id for m in self.quantity_mismatches]
            )
        )

    def count(self) -> int:
        return (
            len(self.missing) + len(self.status_mismatches) + len(self.quantity_mismatches)
            + len(self.unapplied_actions)
        )


def _compare_page(
    store: Store,
    account: str,
    marketplaces: tuple[str, ...],
    since: datetime,
    until: datetime | None,
    amazon: dict[str, AmazonOrder],
) -> _PageFindings:
    """One Amazon page against the store: a few queries for the whole page."""
    found = _PageFindings()
    local, outboxes = store.audit_page_facts(list(amazon), account, marketplaces, since, until)
    for order_id in sorted(amazon):
        order, stored = amazon[order_id], local.get(order_id)
        if stored is None:
            found.missing.append(order_id)
            continue
        if not stored.in_window:
            # Stored under another account or outside the window's filters: not missing,
            # not compared either.
            continue
        if order.status != stored.status:
            found.status_mismatches.append(
                StatusMismatch(order_id, order.status, stored.status, order.last_updated_time, stored.last_updated)
            )
        outbox = outboxes.get(order_id, [])
        found.quantity_mismatches.extend(_quantity_mismatches(order, stored.shipped, outbox))
        found.unapplied_actions.extend(_unapplied(order, outbox))
    return found


def _unreadable_ids(report: AuditReport) -> set[str]:
    return {order_id for order_id, _ in report.unreadable}


def _quantity_mismatches(
    order: AmazonOrder, local: dict[str, tuple[str | None, int]], outbox: Iterable[Any]
) -> list[QuantityMismatch]:
    """``local``: units shipped per item as the store has them (the commerce order's, or
    the stored Amazon copy's when there is no commerce order)."""
    in_flight: dict[str, int] = {}
    for row in outbox:
        if row.kind != "confirm_shipment" or row.state not in _IN_FLIGHT_STATES:
            continue
        for item in _package_items(row.payload):
            in_flight[item[0]] = in_flight.get(item[0], 0) + item[1]
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
