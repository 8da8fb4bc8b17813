"""Order processing use cases: invoice, ship (one package or a CSV of them), refund,
cancel, comment.

Each use case loads the order, asks ``domain.rules`` for a plan (which refuses with a
clear error before anything is written), then writes in ONE store transaction the
order's new quantities/totals (``save_commerce_order``: optimistic version check, so two
operators acting at once cannot double anything), the document, a status history entry
and, for Amazon-bound actions, an outbox row. After the commit: the push of the outbox
rows to Amazon (best effort; what fails stays queued for ``sync``) and, with ``notify``,
what Amazon's rules allow to tell the buyer (``_tell_buyer``): Amazon buyers are never
e-mailed; Amazon itself tells them of shipments and refunds; an invoice goes as the
Messaging API's sendInvoice message with the PDF attached.

Outbox payloads (the delivery code sends exactly these):

- ``confirm_shipment``: the v0 confirmShipment request body; key ``ship:<order>:<package ref>``.
- ``cancel``: {amazon_order_id, marketplace_id, merchant_order_id, items[{order_item_id,
  reason}]}; key ``cancel:<order>``.
- ``refund``: {amazon_order_id, marketplace_id, merchant_adjustment_id, currency,
  total, items[{order_item_id, reason, components[{type, amount}], promotions[{type, amount,
  promotion_id}], parts{money kind: amount}]}; key ``refund:<order>:<credit memo number>``.
  Amounts are signed decimal strings in the currency's minor units (domain.money): refunded
  components positive, the adjustment fee a negative ``RestockingFee``, promotions negative;
  their sum is the credit memo's total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from amzorders.config import AccountConfig, EmailSettings
from amzorders.domain import rules
from amzorders.domain.commerce import CommerceOrder
from amzorders.domain.details import order_details
from amzorders.domain.models import quantize_money, utcnow
from amzorders.domain.timefmt import to_iso
from amzorders.errors import AmzOrdersError, NotAllowedError, UsageError
from amzorders.services.orders import find_amazon_order_id
from amzorders.store import AmazonOrderFacts, Store

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_CSV_ROWS = 50_000  # keeps memory bounded however short the rows
MAX_LISTED_PROBLEMS = 100  # bad rows listed in the error; the count says how many more


@dataclass
class ProcessingContext:
    """What the use cases need from the outside world (built by the CLI from the App)."""

    store: Store
    account: AccountConfig
    number_prefix: str = ""  # orders.order_number_prefix: documents are numbered like orders
    email: EmailSettings | None = None
    client_factory: Callable[[], Any] | None = None  # the SP-API client, built only to push
    push: bool = True
    now: Callable[[], datetime] = utcnow
    shop_name: str | None = None
    business: Any = None  # config.BusinessSettings: seller details, VAT invoice upload switch


@dataclass
class Delivery:
    """What became of one outbox row right after the command."""

    outbox_id: int
    kind: str
    state: str  # pending (queued) / submitted / done / failed
    attempted: bool  # False: not pushed (--no-push, or delivery not available)
    error: str | None = None


@dataclass
class Notification:
    """What --notify did: ``note`` says what happened when nothing needed sending."""

    to: str
    sent: bool
    error: str | None = None
    note: str | None = None


@dataclass
class ActionResult:
    action: str  # invoice / shipment / credit_memo / cancel / comment
    order_number: str  # commerce number (Amazon number when there is none)
    amazon_order_id: str
    document_number: str | None = None
    dry_run: bool = False
    outbox_ids: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    notification: Notification | None = None
    history_id: int | None = None
    outbox_kind: str | None = None
    payload: dict | None = None  # what goes (or would go) to Amazon
    amount: Decimal | None = None
    currency: str | None = None
    order_state: str | None = None
    summary: str = ""  # one line: what was done
    warnings: list[str] = field(default_factory=list)  # what the operator should know (done anyway)


@dataclass
class BulkShipResult:
    shipments: list[ActionResult]
    rows: int
    dry_run: bool = False
    # (line, order, tracking, why): rows whose package is shipped already with this tracking
    skipped: list[tuple[int, str, str, str]] = field(default_factory=list)
    # line -> (order, outcome, shipment number, message) for --report
    outcomes: dict[int, tuple[str, str, str, str]] = field(default_factory=dict)


# ------------------------------------------------------------------ helpers


def _number(ctx: ProcessingContext, value: int) -> str:
    return f"{ctx.number_prefix}{value:09d}"


def _money_text(amount: Decimal, currency: str) -> str:
    return f"{quantize_money(amount, currency):f}"


@dataclass
class _Loaded:
    amazon_order_id: str
    facts: AmazonOrderFacts
    order: CommerceOrder | None


def _load(ctx: ProcessingContext, key: str) -> _Loaded:
    if not key or not key.strip():
        raise UsageError("Give the order: its commerce number (e.g. 000000012) or Amazon order number.")
    amazon_order_id = find_amazon_order_id(ctx.store, key)
    facts = ctx.store.amazon_order_facts(amazon_order_id)
    assert facts is not None
    order = ctx.store.load_commerce_order(amazon_order_id=amazon_order_id)
    return _Loaded(amazon_order_id, facts, order)


def _check_shippable(loaded: _Loaded) -> None:
    """Refuse a shipment the tool cannot prove Amazon allows: only merchant-fulfilled
    orders (fulfilledBy MERCHANT), none for in-store pickup or Ship+ (Amazon rejects
    confirmShipment for FBM_SHIP_PLUS), none with a program this version does not know."""
    number = loaded.facts.increment_id or loaded.amazon_order_id
    if loaded.facts.channel == "AFN":
        raise NotAllowedError(
            f"Order {number} is fulfilled by Amazon (AFN): Amazon ships it, so it cannot be shipped from "
            "here. Its shipments come in with 'amzorders sync'."
        )
    if loaded.facts.channel != "MFN":
        raise NotAllowedError(
            f"Order {number} has a fulfilledBy this version of amzorders does not know "
            f"({loaded.facts.channel}); it is not shipped from here. Check it in Seller Central."
        )
    why = order_details({"programs": list(loaded.facts.programs)}).blocks_shipping()
    if why:
        raise NotAllowedError(f"Order {number} is not shipped from here: {why}.")


def _require_commerce(loaded: _Loaded, action: str) -> CommerceOrder:
    if loaded.order is not None:
        return loaded.order
    status = loaded.facts.status
    if status in rules.PENDING_STATUSES:
        raise NotAllowedError(
            f"Amazon order {loaded.amazon_order_id} is still {status}: Amazon has not released it, so it "
            f"has no commerce order to {action} yet. Wait for a later 'amzorders sync'."
        )
    raise NotAllowedError(
        f"Amazon order {loaded.amazon_order_id} ({status}) has no commerce order, so it cannot be "
        f"{action}d here (commerce orders are created for UNSHIPPED, PARTIALLY_SHIPPED and SHIPPED "
        "orders while 'Import Amazon Orders' is on)."
    )


def _check_cancel_request(loaded: _Loaded, action: str, force: bool) -> str | None:
    """An order whose buyer asked to cancel (an open ``cancellationRequest`` of the Orders
    API v2026-01-01, not yet followed by a ``cancellationExecution``) is neither shipped
    nor invoiced unless the operator insists (--force): the request is answered with
    'cancel --reason BuyerCanceled' (a CancelReason of the acknowledgement feed). Our rule,
    so that nobody ships what the buyer no longer wants; returns the warning when forced."""
    if not loaded.facts.buyer_cancel_requested:
        return None
    number = loaded.facts.increment_id or loaded.amazon_order_id
    reasons = ", ".join(loaded.facts.cancel_request_reasons)
    said = f" ({reasons})" if reasons else ""
    if not force:
        raise NotAllowedError(
            f"The buyer asked to cancel order {number}{said}. Answer the request first: "
            f"amzorders cancel {number} --reason BuyerCanceled (or refund it if it is invoiced); "
            f"add --force to {action} it anyway."
        )
    return f"The buyer asked to cancel order {number}{said}; {action} done anyway (--force)."


# Said instead of a buyer message, where Amazon already tells the buyer itself or no
# Messaging API kind fits (Amazon's communication guidelines; messaging.json).
AMAZON_TELLS_THE_BUYER = {
    "shipment": "Amazon tells the buyer about the shipment itself (its rules forbid sellers' shipping "
                "confirmations); nothing was sent to the buyer.",
    "credit_memo": "Amazon tells the buyer about the refund itself; nothing was sent to the buyer.",
    "comment": "No Amazon message kind fits a free comment and Amazon buyers are not e-mailed, so nothing was "
               "sent to the buyer; to write to them use 'amzorders message ORDER KIND --text ...' "
               "('amzorders message ORDER' lists the kinds Amazon allows).",
}
BUYER_VIA_AMAZON = "the buyer, through Amazon's Messaging API"


def _tell_buyer(ctx: ProcessingContext, result: ActionResult) -> None:
    """--notify, by Amazon's rules: sendInvoice for an invoice, otherwise say why nothing goes."""
    if result.action != "invoice":
        result.notification = Notification(to="", sent=False, note=AMAZON_TELLS_THE_BUYER[result.action])
        return
    from amzorders.services import documents, messaging

    try:
        found = documents.collect_documents(ctx.store, "invoice", [result.amazon_order_id], number=result.document_number)
        from amzorders.config import BusinessSettings

        pdf = documents.render_pdf(found, ctx.business or BusinessSettings()).content
        sent = messaging.send_message(
            ctx, result.amazon_order_id, "invoice",
            attachments=[messaging.Attachment(f"invoice-{result.document_number}.pdf", pdf, "application/pdf")],
            idempotency_key=f"message:{result.amazon_order_id}:invoice:{result.document_number}",
            note=f"Invoice {result.document_number} attached.",
        )
    except AmzOrdersError as exc:
        result.notification = Notification(to=BUYER_VIA_AMAZON, sent=False, error=exc.message)
        return
    delivery = sent.deliveries[0] if sent.deliveries else None
    result.outbox_ids += sent.outbox_ids
    if delivery is not None and delivery.state == "done":
        result.notification = Notification(to=BUYER_VIA_AMAZON, sent=True,
                                           note=f"Invoice {result.document_number} sent to {BUYER_VIA_AMAZON} (sendInvoice).")
    elif delivery is not None and delivery.state == "failed":
        result.notification = Notification(to=BUYER_VIA_AMAZON, sent=False, error=delivery.error)
    else:
        result.notification = Notification(
            to=BUYER_VIA_AMAZON, sent=False,
            note=f"Invoice {result.document_number} queued for {BUYER_VIA_AMAZON}; 'amzorders sync' sends it.")


def _push(ctx: ProcessingContext, results: list[ActionResult]) -> None:
    rows = [(r, oid) for r in results for oid in r.outbox_ids]
    if not rows:
        return

    def queued(error: str | None, attempted: bool) -> None:
        for r, oid in rows:
            r.deliveries.append(Delivery(oid, r.outbox_kind or "", "pending", attempted, error))

    if not ctx.push or ctx.client_factory is None:
        queued(None, False)
        return
    try:
        from amzorders.services.outbox import push_rows
    except ModuleNotFoundError as exc:
        if exc.name != "amzorders.services.outbox":
            raise
        queued("sending to Amazon is not available in this version", False)
        return
    try:
        client = ctx.client_factory()
        records = push_rows(ctx.store, client, ctx.account, [oid for _, oid in rows], now=ctx.now())
    except AmzOrdersError as exc:
        queued(exc.message, True)
        return
    by_id = {rec.id: rec for rec in records}
    for r, oid in rows:
        rec = by_id.get(oid) or ctx.store.outbox_row(oid)
        state = rec.state if rec else "pending"
        r.deliveries.append(Delivery(oid, r.outbox_kind or "", state, True, rec.last_error if rec else None))


def _finish(ctx: ProcessingContext, results: list[ActionResult], notify: bool) -> None:
    _push(ctx, results)
    if notify:
        for result in results:
            _tell_buyer(ctx, result)


def _queue_vat_upload(ctx: ProcessingContext, loaded: _Loaded, document: str, number: str, currency: str,
                      total: Decimal, vat: Decimal, *, send_totals: bool, now: datetime) -> list[int]:
    """The UPLOAD_VAT_INVOICE outbox row of a new invoice / credit memo, where uploads are on."""
    from amzorders.services import vat_invoices

    return vat_invoices.queue(
        ctx.store, account=ctx.account.name, business=ctx.business, amazon_order_id=loaded.amazon_order_id,
        marketplace_id=loaded.facts.marketplace_id, document=document, number=number, currency=currency,
        total=total, vat=vat, send_totals=send_totals, now=now,
    )


def _item_names(order: CommerceOrder, lines: Iterable[tuple[str, int]]) -> list[tuple[str, str, int]]:
    out = []
    for order_item_id, qty in lines:
        item = order.item(order_item_id)
        out.append((item.sku if item else order_item_id, item.name if item else order_item_id, qty))
    return out


def _items_option(order: CommerceOrder, specs: list[str] | None) -> dict[str, int] | None:
    if not specs:
        return None
    return rules.resolve_items(order, rules.parse_item_specs(specs))


# ------------------------------------------------------------------ invoice


def invoice(
    ctx: ProcessingContext,
    order_key: str,
    *,
    items: list[str] | None = None,
    comment: str | None = None,
    notify: bool = False,
    dry_run: bool = False,
    force: bool = False,
) -> ActionResult:
    """Invoice the order (all that is left, or ``items`` 'SKU=QTY'), captured offline."""
    loaded = _load(ctx, order_key)
    order = _require_commerce(loaded, "invoice")
    comment = rules.check_text(comment, "--comment", max_length=2000)
    now = ctx.now()
    plan = rules.plan_invoice(order, _items_option(order, items), now)
    warning = _check_cancel_request(loaded, "invoice", force)  # after the order's own refusals (hold...)
    currency = order.currency
    total = _money_text(plan.grand_total, currency)
    if dry_run:
        return ActionResult(
            "invoice", order.increment_id, loaded.amazon_order_id, dry_run=True, currency=currency,
            amount=plan.grand_total, order_state=plan.order.state,
            summary=f"Order {order.increment_id} would be invoiced ({currency} {total}).",
            warnings=[warning] if warning else [],
        )
    result = ActionResult("invoice", order.increment_id, loaded.amazon_order_id, currency=currency, amount=plan.grand_total,
                          warnings=[warning] if warning else [])
    with ctx.store.transaction():
        number = _number(ctx, ctx.store.next_sequence_value("invoice"))
        ctx.store.insert_invoice(
            order_id=order.id,
            increment_id=number,
            items=[(l.order_item_id, l.qty, l.row_total, l.tax) for l in plan.lines],
            subtotal=plan.subtotal,
            shipping_amount=plan.shipping,
            tax_amount=plan.tax,
            discount_amount=plan.discount,
            grand_total=plan.grand_total,
            source="operator",
            comment=comment,
            now=now,
        )
        ctx.store.save_commerce_order(plan.order)
        text = f"Invoice {number} created: {currency} {total} captured offline (Amazon collected the payment)."
        if comment:
            text += f"\n{comment}"
        result.history_id = ctx.store.add_history(
            loaded.amazon_order_id, text, source="operator", status=plan.order.status,
            entity_type="invoice", is_customer_notified=False, now=now,
        )
        result.outbox_ids += _queue_vat_upload(ctx, loaded, "invoice", number, currency, plan.grand_total, plan.tax,
                                               send_totals=plan.grand_total == order.grand_total, now=now)
    result.document_number = number
    result.order_state = plan.order.state
    result.summary = f"Invoice {number} created for order {order.increment_id} ({currency} {total}, captured offline)."
    _finish(ctx, [result], notify)
    return result


# ------------------------------------------------------------------ ship


def confirm_shipment_body(marketplace_id: str | None, package_reference_id: str, plan: rules.ShipPlan) -> dict:
    detail: dict[str, Any] = {
        "packageReferenceId": package_reference_id,
        "carrierCode": plan.carrier_code,
    }
    if plan.carrier_name:
        detail["carrierName"] = plan.carrier_name
    if plan.shipping_method:
        detail["shippingMethod"] = plan.shipping_method
    detail["trackingNumber"] = plan.tracking_number
    detail["shipDate"] = to_iso(plan.ship_date)
    detail["orderItems"] = [{"orderItemId": oid, "quantity": qty} for oid, _, qty in plan.lines]
    return {"marketplaceId": marketplace_id, "packageDetail": detail}


def _plan_ship(ctx: ProcessingContext, loaded: _Loaded, order: CommerceOrder, request: rules.ShipmentRequest) -> rules.ShipPlan:
    return rules.plan_shipment(
        order,
        amazon_status=loaded.facts.status,
        channel=loaded.facts.channel,
        request=request,
        now=ctx.now(),
        purchase_date=loaded.facts.purchase_date,
    )


def ship(
    ctx: ProcessingContext,
    order_key: str,
    *,
    carrier: str,
    tracking: str,
    carrier_name: str | None = None,
    method: str | None = None,
    ship_date: str | None = None,
    items: list[str] | None = None,
    force: bool = False,
    notify: bool = False,
    dry_run: bool = False,
) -> ActionResult:
    """One package: a shipment with carrier and tracking, confirmed to Amazon."""
    loaded = _load(ctx, order_key)
    _check_shippable(loaded)
    order = _require_commerce(loaded, "ship")
    request = rules.ShipmentRequest(
        carrier=carrier, tracking=tracking, carrier_name=carrier_name, method=method,
        ship_date=ship_date, items=_items_option(order, items), force=force,
    )
    plan = _plan_ship(ctx, loaded, order, request)
    warning = _check_cancel_request(loaded, "ship", force)  # after the order's own refusals (hold...)
    if dry_run:
        ref = _number(ctx, ctx.store.peek_sequence_value("shipment"))
        return ActionResult(
            "shipment", order.increment_id, loaded.amazon_order_id, document_number=ref, dry_run=True,
            outbox_kind="confirm_shipment", payload=confirm_shipment_body(loaded.facts.marketplace_id, ref, plan),
            summary=_ship_summary(ref, order.increment_id, plan, dry_run=True),
            warnings=[warning] if warning else [],
        )
    results = _write_shipments(ctx, [(loaded, plan)])
    if warning:
        results[0].warnings.append(warning)
    _finish(ctx, results, notify)
    return results[0]


def _ship_summary(number: str, order_number: str, plan: rules.ShipPlan, dry_run: bool = False) -> str:
    carrier = plan.carrier_name if plan.carrier_code == "Other" and plan.carrier_name else plan.carrier_code
    units = sum(q for _, _, q in plan.lines)
    verb = "would be created" if dry_run else "created"
    return f"Shipment {number} {verb} for order {order_number} ({carrier} {plan.tracking_number}, {units} unit(s))."


def _write_shipments(ctx: ProcessingContext, plans: list[tuple[_Loaded, rules.ShipPlan]]) -> list[ActionResult]:
    now = ctx.now()
    results: list[ActionResult] = []
    saved: dict[str, CommerceOrder] = {}
    with ctx.store.transaction():
        for loaded, plan in plans:
            order = plan.order
            previous = saved.get(loaded.amazon_order_id)
            if previous is not None:
                # Plans of one order are chained from the same load: carry the version on.
                order.version = previous.version
            number = _number(ctx, ctx.store.next_sequence_value("shipment"))
            ref = number
            body = confirm_shipment_body(loaded.facts.marketplace_id, ref, plan)
            outbox_id = ctx.store.add_outbox_row(
                account=order.account or ctx.account.name,
                amazon_order_id=loaded.amazon_order_id,
                kind="confirm_shipment",
                idempotency_key=f"ship:{loaded.amazon_order_id}:{ref}",
                payload=body,
                now=now,
            )
            ctx.store.insert_shipment(
                order_id=order.id, increment_id=number, package_reference_id=ref,
                items=[(oid, qty) for oid, _, qty in plan.lines], carrier_code=plan.carrier_code,
                carrier_name=plan.carrier_name, shipping_method=plan.shipping_method,
                tracking_number=plan.tracking_number, ship_date=plan.ship_date, source="operator",
                outbox_id=outbox_id, now=now,
            )
            ctx.store.save_commerce_order(order)
            saved[loaded.amazon_order_id] = order
            carrier = plan.carrier_name or plan.carrier_code
            units = sum(q for _, _, q in plan.lines)
            history_id = ctx.store.add_history(
                loaded.amazon_order_id,
                f"Shipment {number} created: {units} unit(s) by {carrier}, tracking {plan.tracking_number}. "
                "Shipment confirmation queued for Amazon.",
                source="operator", status=order.status, entity_type="shipment",
                is_customer_notified=False, now=now,
            )
            results.append(ActionResult(
                "shipment", order.increment_id, loaded.amazon_order_id, document_number=number,
                outbox_ids=[outbox_id], history_id=history_id, outbox_kind="confirm_shipment", payload=body,
                order_state=order.state, summary=_ship_summary(number, order.increment_id, plan),
            ))
    return results


# ------------------------------------------------------------------ bulk shipping from CSV

_CSV_COLUMNS = {
    "order": "order", "order_id": "order", "order_number": "order", "amazon_order_id": "order",
    "carrier": "carrier", "carrier_code": "carrier",
    "tracking": "tracking", "tracking_number": "tracking",
    "sku": "sku",
    "qty": "qty", "quantity": "qty",
    "ship_date": "ship_date", "shipdate": "ship_date",
    "method": "method", "shipping_method": "method",
    "carrier_name": "carrier_name",
}
_REQUIRED_CSV_COLUMNS = ("order", "carrier", "tracking")


@dataclass
class _CsvRow:
    line: int
    values: dict[str, str]


class _LimitedReader(io.RawIOBase):
    """A binary stream that refuses to give more than ``limit`` bytes: the size limit
    applies while reading, so a 1 GB file or /dev/zero never gets into memory."""

    def __init__(self, stream: BinaryIO, limit: int, name: str) -> None:
        self._stream = stream
        self._left = limit
        self._limit = limit
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        wanted = min(len(buffer), self._left + 1)
        data = self._stream.read(wanted)
        if len(data) > self._left:
            raise UsageError(
                f"--from-csv: {self._name} is larger than {self._limit // (1024 * 1024)} MB; "
                "split it into smaller files. Nothing was shipped."
            )
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _open_csv(source: Path | BinaryIO) -> tuple[BinaryIO, str, bool]:
    """The byte stream of ``source`` (a path, or an open stream such as stdin), its name
    for messages, and whether we opened it (and so close it)."""
    if not isinstance(source, Path):
        return source, "stdin", False
    try:
        return source.open("rb"), str(source), True
    except FileNotFoundError:
        raise UsageError(f"--from-csv: no file {source}.") from None
    except IsADirectoryError:
        raise UsageError(f"--from-csv: {source} is a directory; give a CSV file.") from None
    except OSError as exc:
        raise UsageError(f"--from-csv: cannot read {source}: {exc.strerror}.") from None


def _read_csv(source: Path | BinaryIO) -> list[_CsvRow]:
    return read_csv_rows(source, _CSV_COLUMNS, _REQUIRED_CSV_COLUMNS, "ship")


def read_csv_rows(source: Path | BinaryIO, known: dict[str, str], required: tuple[str, ...], action: str) -> list[_CsvRow]:
    """The rows of a CSV file or stream (header names mapped through ``known``), read
    with the size and row limits applied while reading. A path '-' is stdin."""
    if isinstance(source, Path) and str(source) == "-":
        import sys

        source = sys.stdin.buffer
    stream, path, opened = _open_csv(source)
    try:
        return _parse_csv(stream, path, known, required, action)
    finally:
        if opened:
            stream.close()


def _parse_csv(stream: BinaryIO, path: str, known: dict[str, str], required: tuple[str, ...], action: str) -> list[_CsvRow]:
    buffered = io.BufferedReader(_LimitedReader(stream, MAX_CSV_BYTES, path), buffer_size=64 * 1024)
    try:
        sample = buffered.peek(4096)[:4096].decode("utf-8-sig", errors="ignore")
    except OSError as exc:
        raise UsageError(f"--from-csv: cannot read {path}: {exc.strerror}.") from None
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, dialect)
    try:
        return _csv_rows(reader, path, known, required, action)
    except UnicodeDecodeError:
        raise UsageError(
            f"--from-csv: {path} is not UTF-8 text (near line {reader.line_num + 1}); save it as UTF-8 CSV."
        ) from None
    except OSError as exc:
        raise UsageError(f"--from-csv: cannot read {path}: {exc.strerror}.") from None


def _csv_rows(reader, path: str, known: dict[str, str], required: tuple[str, ...], action: str) -> list[_CsvRow]:  # type: ignore[no-untyped-def]
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError(f"--from-csv: {path} is empty; it needs a header row ({','.join(required)},...).") from None
    except csv.Error as exc:
        raise UsageError(f"--from-csv: {path} line 1: {exc}.") from None
    columns: list[str | None] = []
    for name in header:
        key = name.strip().casefold().replace(" ", "_").replace("-", "_")
        column = known.get(key)
        if column is not None and column in columns:
            raise UsageError(f"--from-csv: {path} has the column '{column}' twice in its header.")
        columns.append(column)
    missing = [c for c in required if c not in columns]
    if missing:
        optional = [c for c in dict.fromkeys(known.values()) if c not in required]
        raise UsageError(
            f"--from-csv: {path} header lacks {', '.join(missing)}. The first row must name the columns: "
            f"{', '.join(required)}, and optionally {', '.join(optional)}."
        )
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            values = {}
            for column, cell in zip(columns, cells):
                if column is not None and cell.strip():
                    values[column] = cell.strip()
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                values["__extra__"] = "yes"
            rows.append(_CsvRow(reader.line_num, values))
            if len(rows) > MAX_CSV_ROWS:
                raise UsageError(f"--from-csv: {path} has more than {MAX_CSV_ROWS} rows; split it. Nothing was done.")
    except csv.Error as exc:
        raise UsageError(f"--from-csv: {path} line {reader.line_num}: {exc}; nothing was done.") from None
    if not rows:
        raise UsageError(f"--from-csv: {path} has a header but no rows; nothing to {action}.")
    return rows


@dataclass
class _Group:
    lines: list[int]
    loaded: _Loaded
    first: _CsvRow
    items: dict[str, int] | None


def ship_from_csv(
    ctx: ProcessingContext,
    source: Path | BinaryIO,
    *,
    force: bool = False,
    notify: bool = False,
    dry_run: bool = False,
) -> BulkShipResult:
    """Ship from a carrier export. All rows are checked first, every problem reported
    with its line; one bad row: nothing written.

    Rows of one order with one tracking number form one shipment (one package). A row
    whose order already has a shipment with that tracking number (holding the row's
    items) is skipped, so the same carrier file can be run again.
    """
    rows = _read_csv(source)
    name = str(source) if isinstance(source, Path) and str(source) != "-" else "stdin"
    return ship_rows(ctx, rows, name, force=force, notify=notify, dry_run=dry_run)


def ship_orders(
    ctx: ProcessingContext,
    order_keys: list[str],
    *,
    carrier: str,
    trackings: list[str],
    carrier_name: str | None = None,
    method: str | None = None,
    ship_date: str | None = None,
    force: bool = False,
    notify: bool = False,
    dry_run: bool = False,
) -> BulkShipResult:
    """Ship several orders given on the command line, each whole (what is left of it),
    each its own package with its own tracking number (paired in the order given).

    Why no shared tracking number: Amazon's Seller Central help ("Confirm multiple
    shipments with feeds", UK/EU marketplaces) forbids combining several order numbers
    into one shipment when shipping into the UK or the EU from outside, and this tool
    cannot tell where a package ships from. The rows go through ``ship_rows``, so all
    are checked before any is written, and an order already shipped with its tracking
    number is skipped.
    """
    if len(trackings) != len(order_keys):
        raise UsageError(
            f"{len(order_keys)} orders and {len(trackings)} --tracking number(s): give one --tracking per order, "
            "in the same order (each order is its own package). Packages of several orders or items: --from-csv."
        )
    rows = []
    for index, key in enumerate(order_keys):
        values = {"order": key.strip(), "carrier": carrier, "tracking": trackings[index]}
        for column, value in (("carrier_name", carrier_name), ("method", method), ("ship_date", ship_date)):
            if value:
                values[column] = value
        rows.append(_CsvRow(index + 1, values))
    return ship_rows(ctx, rows, "the orders given", force=force, notify=notify, dry_run=dry_run, unit="order")


def ship_rows(
    ctx: ProcessingContext,
    rows: list[_CsvRow],
    name: str,
    *,
    force: bool = False,
    notify: bool = False,
    dry_run: bool = False,
    unit: str = "line",
) -> BulkShipResult:
    """The checks and writes of ``ship_from_csv`` for rows from anywhere. ``unit`` names
    a row's position in messages: a CSV "line", or the n-th "order" on the command line."""
    now = ctx.now()
    problems: list[tuple[int, str]] = []
    groups: dict[tuple[str, str], _Group] = {}
    loaded_by_key: dict[str, _Loaded] = {}
    shipped_by_order: dict[str, dict[str, dict[str, int]]] = {}
    skipped: list[tuple[int, str, str, str]] = []
    bad_lines: set[int] = set()
    for row in rows:
        v = row.values
        try:
            if v.get("__extra__"):
                raise UsageError("more cells than the header has columns")
            for column in _REQUIRED_CSV_COLUMNS:
                if not v.get(column):
                    raise UsageError(f"the {column} cell is empty")
            key = v["order"]
            loaded = loaded_by_key.get(key)
            if loaded is None:
                loaded = _load(ctx, key)
                loaded_by_key[key] = loaded
            _check_shippable(loaded)
            order = _require_commerce(loaded, "ship")
            _check_cancel_request(loaded, "ship", force)
            shipped = shipped_by_order.get(loaded.amazon_order_id)
            if shipped is None:
                shipped = shipped_by_order[loaded.amazon_order_id] = ctx.store.shipped_items_by_tracking(order.id)
            normalized = v["tracking"].replace(" ", "").upper()
            if normalized in shipped:
                already = shipped[normalized]
                if v.get("sku"):
                    item = rules.find_item(order, v["sku"])
                    wanted = rules.parse_quantity(v["qty"], "qty") if v.get("qty") else 1
                    if already.get(item.order_item_id, 0) < wanted:
                        raise NotAllowedError(
                            f"tracking {v['tracking']} is already used by another shipment of order {key} "
                            f"without {wanted} x SKU {v['sku']}; use a new tracking number for a new package"
                        )
                skipped.append((row.line, key, v["tracking"], f"already shipped with tracking {v['tracking']}"))
                continue
            code, _ = rules.check_carrier(v["carrier"], v.get("carrier_name"))
            tracking = rules.check_text(v["tracking"], "tracking", required=True, max_length=rules.MAX_TRACKING_LENGTH)
            problem = rules.tracking_problem(code, tracking or "")
            if problem and not force:
                raise UsageError(f"{problem} (add --force if it is right)")
            rules.check_text(v.get("method"), "method", max_length=100)
            rules.check_ship_date(v.get("ship_date"), now, loaded.facts.purchase_date)
            item_id: str | None = None
            qty: int | None = None
            if v.get("sku"):
                item_id = rules.find_item(order, v["sku"]).order_item_id
            if v.get("qty"):
                if item_id is None:
                    raise UsageError("a qty needs a sku in the same row")
                qty = rules.parse_quantity(v["qty"], "qty")
            if item_id is not None and qty is None:
                qty = order.item(item_id).qty_to_ship  # all that is left of the item
                if qty == 0:
                    raise NotAllowedError(f"SKU {v['sku']} of order {key} has nothing left to ship")
            group_key = (loaded.amazon_order_id, (tracking or "").replace(" ", "").upper())
            group = groups.get(group_key)
            if group is None:
                group = groups[group_key] = _Group([], loaded, row, {} if item_id else None)
            else:
                first = group.first.values
                for column in ("carrier", "ship_date", "method", "carrier_name"):
                    if (v.get(column) or "").casefold() != (first.get(column) or "").casefold():
                        raise UsageError(
                            f"same order and tracking number as {unit} {group.first.line}, but a different {column}"
                        )
                if (group.items is None) != (item_id is None):
                    raise UsageError(
                        f"same order and tracking number as {unit} {group.first.line}; either every row of a "
                        "package names a sku or none does"
                    )
                if group.items is None:
                    raise UsageError(f"repeats {unit} {group.first.line} (the whole order in the same package)")
            if item_id is not None:
                assert group.items is not None and qty is not None
                group.items[item_id] = group.items.get(item_id, 0) + qty
            group.lines.append(row.line)
        except AmzOrdersError as exc:
            problems.append((row.line, exc.message))
            bad_lines.add(row.line)
    plans: list[tuple[_Loaded, rules.ShipPlan]] = []
    # The packages are planned even when other rows are bad, so that quantity problems
    # show up in the same run as the rest.
    current: dict[str, CommerceOrder] = {}
    planned_lines: dict[int, int] = {}  # first line of a group -> index in plans
    if True:
        for group in groups.values():
            if bad_lines.intersection(group.lines):
                continue
            loaded = group.loaded
            order = current.get(loaded.amazon_order_id) or loaded.order
            assert order is not None
            first = group.first.values
            try:
                plan = _plan_ship(ctx, loaded, order, rules.ShipmentRequest(
                    carrier=first["carrier"], tracking=first["tracking"], carrier_name=first.get("carrier_name"),
                    method=first.get("method"), ship_date=first.get("ship_date"), items=group.items, force=force,
                ))
            except AmzOrdersError as exc:
                where = ", ".join(str(n) for n in group.lines)
                problems.append((group.lines[0], f"{exc.message}" + (f" ({unit}s {where})" if len(group.lines) > 1 else "")))
                continue
            current[loaded.amazon_order_id] = plan.order
            for line in group.lines:
                planned_lines[line] = len(plans)
            plans.append((loaded, plan))
    outcomes: dict[int, tuple[str, str, str, str]] = {}
    for line, key, _tracking, why in skipped:
        outcomes[line] = (key, "skipped", "", why)
    if problems:
        messages = {line: message for line, message in problems}
        for row in rows:
            if row.line in messages:
                outcomes[row.line] = (row.values.get("order", ""), "error", "", messages[row.line])
            elif row.line not in outcomes:
                outcomes[row.line] = (row.values.get("order", ""), "not written", "", "other rows have problems")
        shown = sorted(problems)[:MAX_LISTED_PROBLEMS]
        listing = "\n".join(f"  {unit} {line}: {message}" for line, message in shown)
        if len(problems) > len(shown):
            listing += f"\n  ... and {len(problems) - len(shown)} more bad row(s) after {unit} {shown[-1][0]}"
        noun = "row(s)" if unit == "line" else "order(s)"
        error = UsageError(
            f"{name} have {len(problems)} bad {noun}; nothing was shipped. Fix them and run it again:\n{listing}"
            if unit != "line" else
            f"{name} has {len(problems)} bad row(s); nothing was shipped. Fix them and run it again:\n{listing}",
            multiline=True,
        )
        error.outcomes = outcomes  # type: ignore[attr-defined]
        raise error
    if dry_run:
        results = []
        next_number = ctx.store.peek_sequence_value("shipment")
        for offset, (loaded, plan) in enumerate(plans):
            ref = _number(ctx, next_number + offset)
            results.append(ActionResult(
                "shipment", plan.order.increment_id, loaded.amazon_order_id, document_number=ref, dry_run=True,
                outbox_kind="confirm_shipment", payload=confirm_shipment_body(loaded.facts.marketplace_id, ref, plan),
                summary=_ship_summary(ref, plan.order.increment_id, plan, dry_run=True),
            ))
        for line, index in planned_lines.items():
            outcomes[line] = (rows_by_line(rows)[line], "would ship", results[index].document_number or "", results[index].summary)
        return BulkShipResult(results, len(rows), dry_run=True, skipped=skipped, outcomes=outcomes)
    results = _write_shipments(ctx, plans) if plans else []
    _finish(ctx, results, notify)
    for line, index in planned_lines.items():
        outcomes[line] = (rows_by_line(rows)[line], "shipped", results[index].document_number or "", results[index].summary)
    return BulkShipResult(results, len(rows), skipped=skipped, outcomes=outcomes)


def rows_by_line(rows: list[_CsvRow]) -> dict[int, str]:
    return {row.line: row.values.get("order", "") for row in rows}


# ------------------------------------------------------------------ refund


def refund_payload(facts: AmazonOrderFacts, memo_number: str, currency: str, plan: rules.RefundPlan) -> dict:
    """The refund action: the feed's signed components per item (``promotions`` go to
    PromotionAdjustments) and ``parts``, our ledger of what each money kind refunded."""
    parts = dict(plan.parts)
    cancelled = dict(plan.quantity_cancelled)
    items = []
    for order_item_id, components in plan.components:
        entry: dict[str, Any] = {
            "order_item_id": order_item_id,
            "reason": plan.reason,
            "components": [{"type": c.type, "amount": _exact_text(c.amount, currency)} for c in components if not c.promotion],
            "parts": {kind: _exact_text(amount, currency) for kind, amount in parts.get(order_item_id, ())},
        }
        if cancelled.get(order_item_id):
            entry["quantity_cancelled"] = cancelled[order_item_id]
        promotions = [c for c in components if c.promotion]
        if promotions:
            entry["promotions"] = [
                {"type": c.type, "amount": _exact_text(c.amount, currency), "promotion_id": c.promotion_id}
                for c in promotions
            ]
        items.append(entry)
    return {
        "amazon_order_id": facts.amazon_order_id,
        "marketplace_id": facts.marketplace_id,
        "merchant_adjustment_id": memo_number,
        "currency": currency,
        "total": _exact_text(plan.grand_total, currency),
        "items": items,
    }


def cancellation_payload(facts: AmazonOrderFacts, order: CommerceOrder, memo_number: str, plan: rules.RefundPlan) -> dict:
    """The cancel action of a credit memo on an order Amazon has not charged: its items,
    each with the memo's reason as a CancelReason (codes.CANCEL_REASON_OF_ADJUSTMENT)."""
    from amzorders.domain.codes import CANCEL_REASON_OF_ADJUSTMENT

    reason = CANCEL_REASON_OF_ADJUSTMENT.get(plan.reason, "GeneralAdjustment")
    parts = dict(plan.parts)
    currency = order.currency
    return {
        "amazon_order_id": facts.amazon_order_id,
        "marketplace_id": facts.marketplace_id,
        "merchant_order_id": order.increment_id,
        # ``parts``: the credit memo's ledger (as in a refund action), so later credit memos
        # of the order know what this one took; not sent to Amazon.
        "items": [{"order_item_id": oid, "reason": reason,
                   "parts": {kind: _exact_text(amount, currency) for kind, amount in parts.get(oid, ())}}
                  for oid in plan.cancels],
        "credit_memo": memo_number,
    }


def _exact_text(amount: Decimal, currency: str) -> str:
    """An amount already in the currency's minor units, written digit for digit."""
    from amzorders.domain.money import minor_floor

    if minor_floor(amount, currency) != amount:
        raise ValueError(f"{amount} has more digits than {currency} uses")
    return _money_text(amount, currency)


def refund(
    ctx: ProcessingContext,
    order_key: str,
    *,
    reason: str,
    items: list[str] | None = None,
    shipping: Decimal | None = None,
    adjustment_refund: Decimal | None = None,
    adjustment_fee: Decimal | None = None,
    comment: str | None = None,
    notify: bool = False,
    dry_run: bool = False,
) -> ActionResult:
    """A credit memo, sent to Amazon as a payment adjustment."""
    reason_checked = rules.canonical_choice(reason or "", _adjustment_reasons(), "--reason")
    loaded = _load(ctx, order_key)
    order = _require_commerce(loaded, "refund")
    comment = rules.check_text(comment, "--comment", max_length=2000)
    now = ctx.now()
    plan = rules.plan_refund(
        order,
        rules.RefundRequest(
            reason=reason_checked, items=_items_option(order, items), shipping=shipping,
            adjustment_refund=adjustment_refund or Decimal(0), adjustment_fee=adjustment_fee or Decimal(0),
        ),
        shipping_refunded=ctx.store.shipping_refunded(order.id),
        prior_components=ctx.store.refunded_components(loaded.amazon_order_id),
        now=now,
        amazon_charged=rules.amazon_has_charged(order, loaded.facts.status),
    )
    currency = order.currency
    total = _money_text(plan.grand_total, currency)
    # Amazon canceled the order itself and nothing shipped: nothing was charged and there is
    # nothing left for Amazon to do; the credit memo only balances the local invoice.
    amazon_done = plan.is_cancellation and loaded.facts.status == "CANCELLED"
    kind = "cancel" if plan.is_cancellation else "refund"
    as_cancel = (" Nothing has shipped, so Amazon has not charged the buyer: it goes to Amazon as a cancellation "
                 "of the items.") if plan.is_cancellation and not amazon_done else ""

    def build_payload(number: str) -> dict:
        if plan.is_cancellation:
            return cancellation_payload(loaded.facts, order, number, plan)
        return refund_payload(loaded.facts, number, currency, plan)

    if dry_run:
        number = _number(ctx, ctx.store.peek_sequence_value("creditmemo"))
        return ActionResult(
            "credit_memo", order.increment_id, loaded.amazon_order_id, document_number=number, dry_run=True,
            outbox_kind=None if amazon_done else kind, payload=None if amazon_done else build_payload(number),
            amount=plan.grand_total, currency=currency, order_state=plan.order.state,
            summary=f"Credit memo {number} would refund {currency} {total} on order {order.increment_id}.{as_cancel}",
        )
    result = ActionResult("credit_memo", order.increment_id, loaded.amazon_order_id, outbox_kind=kind,
                          amount=plan.grand_total, currency=currency)
    with ctx.store.transaction():
        number = _number(ctx, ctx.store.next_sequence_value("creditmemo"))
        payload = build_payload(number)
        outbox_id = None
        # every amount below the currency's minor unit, or Amazon canceled it: nothing for Amazon
        if payload["items"] and not amazon_done:
            outbox_id = ctx.store.add_outbox_row(
                account=order.account or ctx.account.name, amazon_order_id=loaded.amazon_order_id, kind=kind,
                idempotency_key=f"{kind}:{loaded.amazon_order_id}:{number}", payload=payload, now=now,
            )
        ctx.store.insert_credit_memo(
            order_id=order.id, increment_id=number, reason=plan.reason,
            items=[(l.order_item_id, l.qty, l.principal, l.tax) for l in plan.lines],
            subtotal=plan.subtotal, shipping_refund=plan.shipping_refund, tax_refund=plan.tax_refund,
            adjustment_refund=plan.adjustment_refund, adjustment_fee=plan.adjustment_fee,
            grand_total=plan.grand_total, comment=comment, outbox_id=outbox_id, now=now,
        )
        ctx.store.save_commerce_order(plan.order)
        if amazon_done:
            sent = " Amazon canceled the order and charged nothing; nothing goes to Amazon."
        elif plan.is_cancellation:
            sent = (" Nothing has shipped, so Amazon has not charged the buyer: cancellation of the items queued for "
                    "Amazon.")
        else:
            sent = " Refund queued for Amazon."
            if plan.quantity_cancelled:
                sent += (" Units that will not ship are cancelled with it: "
                         + ", ".join(f"{order.item(oid).sku if order.item(oid) else oid} x {n}"
                                     for oid, n in plan.quantity_cancelled) + ".")
        text = f"Credit memo {number} created: {currency} {total} refunded ({plan.reason}).{sent}"
        if plan.order.state == "closed":
            text += " The order is closed."
        if comment:
            text += f"\n{comment}"
        result.history_id = ctx.store.add_history(
            loaded.amazon_order_id, text, source="operator", status=plan.order.status,
            entity_type="creditmemo", is_customer_notified=False, now=now,
        )
        vat_rows = _queue_vat_upload(ctx, loaded, "credit-memo", number, currency, plan.grand_total, plan.tax_refund,
                                     send_totals=True, now=now)
    result.document_number = number
    result.outbox_ids = ([outbox_id] if outbox_id is not None else []) + vat_rows
    result.payload = payload
    result.order_state = plan.order.state
    result.summary = f"Credit memo {number} created for order {order.increment_id} ({currency} {total} refunded).{as_cancel}"
    if plan.order.state == "closed":
        result.summary += " The order is closed."
    _finish(ctx, [result], notify)
    return result


def _adjustment_reasons() -> tuple[str, ...]:
    from amzorders.domain.codes import ADJUSTMENT_REASONS

    return ADJUSTMENT_REASONS


# ------------------------------------------------------------------ cancel


def cancel_payload(facts: AmazonOrderFacts, order: CommerceOrder, plan: rules.CancelPlan) -> dict:
    return {
        "amazon_order_id": facts.amazon_order_id,
        "marketplace_id": facts.marketplace_id,
        "merchant_order_id": order.increment_id,
        "items": [{"order_item_id": oid, "reason": plan.reason} for oid in plan.amazon_item_ids],
        # What the cancel changed here (not sent): taken back if Amazon refuses it (services.refusals).
        "canceled_units": {oid: qty for oid, _, qty in plan.lines},
        "canceled_amount": _money_text(plan.canceled_amount, order.currency),
    }


def cancel(
    ctx: ProcessingContext,
    order_key: str,
    *,
    reason: str,
    comment: str | None = None,
    dry_run: bool = False,
) -> ActionResult:
    """Cancel an unshipped order here and at Amazon (order acknowledgement feed)."""
    from amzorders.domain.codes import CANCEL_REASONS

    reason_checked = rules.canonical_choice(reason or "", CANCEL_REASONS, "--reason")
    loaded = _load(ctx, order_key)
    if loaded.order is None and loaded.facts.status in rules.PENDING_STATUSES:
        raise rules.pending_cancel_refusal(loaded.amazon_order_id, loaded.facts.status)
    order = _require_commerce(loaded, "cancel")
    comment = rules.check_text(comment, "--comment", max_length=2000)
    now = ctx.now()
    plan = rules.plan_cancel(order, amazon_status=loaded.facts.status, reason=reason_checked, now=now)
    payload = cancel_payload(loaded.facts, order, plan)
    if dry_run:
        return ActionResult(
            "cancel", order.increment_id, loaded.amazon_order_id, dry_run=True, outbox_kind="cancel",
            payload=payload, order_state=plan.order.state,
            summary=f"Order {order.increment_id} would be canceled ({plan.reason}).",
        )
    result = ActionResult("cancel", order.increment_id, loaded.amazon_order_id, outbox_kind="cancel",
                          payload=payload, amount=plan.canceled_amount, currency=order.currency)
    with ctx.store.transaction():
        outbox_id = ctx.store.add_outbox_row(
            account=order.account or ctx.account.name, amazon_order_id=loaded.amazon_order_id, kind="cancel",
            idempotency_key=f"cancel:{loaded.amazon_order_id}", payload=payload, now=now,
        )
        ctx.store.save_commerce_order(plan.order)
        text = f"Order canceled ({plan.reason}). Cancellation queued for Amazon."
        if comment:
            text += f"\n{comment}"
        result.history_id = ctx.store.add_history(
            loaded.amazon_order_id, text, source="operator", status=plan.order.status,
            entity_type="order", is_customer_notified=False, now=now,
        )
    result.outbox_ids = [outbox_id]
    result.order_state = plan.order.state
    result.summary = f"Order {order.increment_id} canceled ({plan.reason})."
    _finish(ctx, [result], False)
    return result


# ------------------------------------------------------------------ comment


def comment(ctx: ProcessingContext, order_key: str, text: str, *, notify: bool = False) -> ActionResult:
    """A status history comment (``notify``: says why no buyer message goes with it)."""
    body = rules.check_text(text, "The comment", required=True, max_length=5000) if "\n" not in (text or "") else _multiline(text)
    loaded = _load(ctx, order_key)
    number = loaded.order.increment_id if loaded.order else loaded.amazon_order_id
    now = ctx.now()
    result = ActionResult("comment", number, loaded.amazon_order_id)
    with ctx.store.transaction():
        result.history_id = ctx.store.add_history(
            loaded.amazon_order_id, body, source="operator",
            status=loaded.order.status if loaded.order else None, entity_type="order",
            is_customer_notified=False, now=now,
        )
    result.summary = f"Comment added to order {number}."
    _finish(ctx, [result], notify)
    return result


def _multiline(text: str) -> str:
    lines = [rules.check_text(line, "The comment", max_length=5000) or "" for line in text.splitlines()]
    body = "\n".join(lines).strip()
    if not body:
        raise UsageError("The comment is empty; give the text to add.")
    if len(body) > 5000:
        raise UsageError(f"The comment is too long ({len(body)} characters, at most 5000).")
    return body


__all__ = [
    "ActionResult",
    "BulkShipResult",
    "Delivery",
    "Notification",
    "ProcessingContext",
    "cancel",
    "comment",
    "invoice",
    "refund",
    "ship",
    "ship_from_csv",
]
