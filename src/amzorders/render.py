"""Terminal output: rich tables and panels, and the JSON / CSV forms of the same data.

Text from Amazon, CSV files and the store is data: it reaches rich only as plain
``Text`` (never parsed as markup or emoji codes) after ``textsafe.safe_text`` has
neutralised control characters, C1 controls and bidi overrides. Table cells go through
``add_row``, which turns every plain string into such a ``Text``. JSON keeps the exact
text, with those characters written as JSON escapes (``textsafe.json_text``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from amzorders.domain.codes import MARKETPLACES
from amzorders.domain.models import quantize_money
from amzorders.domain.views import OrderSummary, OrderView
from amzorders.textsafe import json_text, safe_text

def clean(value: object) -> str:
    """Text safe for a terminal (see ``amzorders.textsafe``)."""
    return safe_text(value)


def plain(value: object, style: str = "", *, keep_newlines: bool = False) -> Text:
    """Untrusted text as a rich ``Text``: neutralised, never markup."""
    return Text(safe_text(value, keep_newlines=keep_newlines), style=style)


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return Text(safe_text(value, keep_newlines=True))
    return value


def add_row(table: Table, *cells: Any) -> None:
    """``table.add_row`` with every string cell as plain, neutralised ``Text``."""
    table.add_row(*(_cell(c) for c in cells))


def money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return ""
    if currency:
        return f"{quantize_money(amount, currency):,f} {currency}"
    return f"{amount:,f}"


def when(moment: datetime | None, *, date_only: bool = False) -> str:
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M UTC")


def marketplace_label(marketplace_id: str | None) -> str:
    market = MARKETPLACES.get(marketplace_id or "")
    return market.country if market else clean(marketplace_id)


# -- machine-readable forms -----------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Stable JSON: snake_case keys, ISO-8601 UTC times, money as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "raw"}
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json_text(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


SUMMARY_CSV_FIELDS = (
    "amazon_order_id",
    "increment_id",
    "account",
    "purchase_date",
    "amazon_status",
    "commerce_status",
    "channel",
    "marketplace_id",
    "buyer_name",
    "buyer_email",
    "item_count",
    "grand_total",
    "currency",
    "ship_by",
    "last_updated",
)


def summaries_csv(rows: list[OrderSummary]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_CSV_FIELDS)
    for row in rows:
        data = jsonable(row)
        writer.writerow([_csv_safe(data[name]) for name in SUMMARY_CSV_FIELDS])
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to spreadsheet programs.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _looks_numeric(value):
        return "'" + value
    return "" if value is None else value


def _looks_numeric(value: str) -> bool:
    try:
        Decimal(value)
        return True
    except ArithmeticError:
        return False


# -- recent orders table -----------------------------------------------------------------


def orders_table(rows: list[OrderSummary], now: datetime, title: str | None = None) -> Table:
    # Every column but Buyer keeps its width; the buyer's name gives way on a narrow
    # terminal (it is the one column an operator can read cut short).
    table = Table(title=title, box=box.SIMPLE_HEAVY, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("Amazon order", no_wrap=True, min_width=19)
    table.add_column("Order #", no_wrap=True, min_width=9)
    table.add_column("Purchased", no_wrap=True, min_width=10)
    table.add_column("Amazon status", no_wrap=True, min_width=13)
    table.add_column("Status", no_wrap=True, min_width=9)
    table.add_column("Ch", no_wrap=True, min_width=3)
    table.add_column("Mkt", no_wrap=True, min_width=3)
    table.add_column("Buyer", no_wrap=True, overflow="ellipsis", min_width=6, max_width=22, ratio=1)
    table.add_column("Qty", justify="right", no_wrap=True, min_width=3)
    table.add_column("Total", justify="right", no_wrap=True, min_width=12)
    table.add_column("Ship by", no_wrap=True, min_width=10)
    for row in rows:
        late = row.is_late(now)
        ship_by = Text(when(row.ship_by, date_only=True), style="bold red" if late else "")
        if late:
            ship_by.append(" late", style="bold red")
        status = Text(clean(_SHORT_STATUS.get(row.amazon_status, row.amazon_status)), style=_status_style(row.amazon_status))
        if row.buyer_cancel_requested:
            status.append(" cancel req.", style="yellow")
        add_row(
            table,
            clean(row.amazon_order_id),
            clean(row.increment_id) or Text("-", style="dim"),
            row.purchase_date.strftime("%Y-%m-%d"),
            status,
            clean(row.commerce_status) or Text("-", style="dim"),
            row.channel,
            marketplace_label(row.marketplace_id),
            clean(row.buyer_name),
            str(row.item_count),
            money(row.grand_total, row.currency),
            ship_by,
        )
    return table


# The table's only over-long status; JSON, CSV and `show` keep Amazon's full word.
_SHORT_STATUS = {"PENDING_AVAILABILITY": "PENDING_AVAIL."}


def _status_style(status: str) -> str:
    return {
        "PENDING": "dim",
        "PENDING_AVAILABILITY": "dim",
        "UNSHIPPED": "yellow",
        "PARTIALLY_SHIPPED": "cyan",
        "SHIPPED": "green",
        "CANCELLED": "red",
        "UNFULFILLABLE": "red",
    }.get(status, "")


# -- order view ---------------------------------------------------------------------------


def _pairs(rows: list[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        if value in (None, ""):
            continue
        add_row(grid, label, value if isinstance(value, Text) else clean(value))
    return grid


def order_view(view: OrderView, actions: list[str], now: datetime) -> Group:
    s = view.summary
    c = view.commerce
    currency = s.currency
    parts: list[Any] = []
    heading = Text()
    heading.append(f"Order # {c.increment_id}" if c else "Amazon order (no commerce order yet)", style="bold")
    heading.append(f"   Amazon {clean(s.amazon_order_id)}   ")
    heading.append(clean(s.amazon_status), style=_status_style(s.amazon_status))
    if c:
        heading.append(f"   {clean(c.status)}", style="bold")
    parts.append(heading)

    market = MARKETPLACES.get(s.marketplace_id or "")
    info = _pairs(
        [
            ("Order date", when(s.purchase_date)),
            ("Order status", f"{c.state} / {c.status}" if c else "no commerce order (Amazon has not released it, or import is off)"),
            ("Purchased from", f"{view.marketplace_name or (market.name if market else s.marketplace_id)} ({s.account})"),
            ("Amazon status", s.amazon_status),
            ("Last update", when(s.last_updated)),
        ]
    )
    details = view.details
    flags = [name for name, on in (("Prime", s.is_prime), ("Business", s.is_business), ("Gift", view.is_gift)) if on]
    if details is not None:
        flags += [p for p in details.programs if p not in ("PRIME", "AMAZON_BUSINESS")]
    account = _pairs(
        [
            ("Customer", s.buyer_name),
            ("Email", s.buyer_email),
            ("Company", view.buyer_company),
            ("PO number", view.buyer_po_number),
            ("Programs", ", ".join(flags)),
            ("Personal data", f"purged {when(view.pii_purged_at)} (Amazon data retention)" if view.pii_purged_at else None),
        ]
    )
    parts.append(_section("Order & Account Information", Group(info, Text(""), account)))

    address = Text("\n".join(clean(line) for line in view.shipping_address.lines())) if view.shipping_address else Text(
        "purged" if view.pii_purged_at else "not provided by Amazon", style="dim"
    )
    phone = view.shipping_address.phone if view.shipping_address else None
    parts.append(
        _section(
            "Address Information",
            _pairs([("Shipping address", address), ("Phone", phone)]),
        )
    )

    action_text = Text("\n".join(clean(a) for a in actions) if actions else "none: nothing can be done to this order now")
    parts.append(
        _section(
            "Payment & Shipping Method",
            _pairs(
                [
                    ("Payment", "Amazon Pay: collected by Amazon, captured offline"),
                    ("Amazon order #", s.amazon_order_id),
                    ("Seller order id", view.seller_order_id),
                    ("Fulfillment", _fulfillment_label(s.channel)),
                    ("Shipping service", view.service_level),
                    ("Ship by", Text(when(s.ship_by), style="bold red" if s.is_late(now) else "")),
                    ("Deliver by", when(view.deliver_by)),
                    ("Actions", action_text),
                ]
            ),
        )
    )

    items = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    for name, justify in (
        ("Product", "left"),
        ("SKU / ASIN", "left"),
        ("Price", "right"),
        ("Qty", "left"),
        ("Subtotal", "right"),
        ("Tax", "right"),
        ("Discount", "right"),
    ):
        items.add_column(name, justify=justify)  # type: ignore[arg-type]
    amazon_items = {i.order_item_id: i for i in view.amazon_items}
    if c:
        for item in c.items:
            amazon = amazon_items.get(item.order_item_id)
            qty = f"Ordered {item.qty_ordered}"
            for label, count in (
                ("Invoiced", item.qty_invoiced),
                ("Shipped", item.qty_shipped),
                ("Refunded", item.qty_refunded),
                ("Canceled", item.qty_canceled),
            ):
                if count:
                    qty += f"\n{label} {count}"
            product = clean(item.name)
            if amazon and amazon.gift_message:
                product += f"\nGift message: {clean(amazon.gift_message)}"
            add_row(
            items,
                product,
                f"{clean(item.sku)}\n{clean(item.asin)}",
                money(item.price, currency),
                qty,
                money(item.row_total, currency),
                money(item.tax_amount, currency),
                money(item.discount_amount, currency),
            )
    else:
        for item in view.amazon_items:
            add_row(
            items,
                clean(item.title),
                f"{clean(item.sku)}\n{clean(item.asin)}",
                money(item.unit_price, currency),
                f"Ordered {item.quantity_ordered}" + (f"\nShipped {item.quantity_shipped}" if item.quantity_shipped else ""),
                money(item.item_price, currency),
                money(item.tax, currency),
                money(item.discount, currency),
            )
    parts.append(_section("Items Ordered", items))
    if details is not None:
        amazon_rows = _details_rows(details)
        if amazon_rows:
            parts.append(_section("Amazon Details", _pairs(amazon_rows)))

    if c:
        totals = [
            ("Subtotal", money(c.subtotal, currency)),
            ("Shipping & Handling", money(c.shipping_amount, currency)),
            ("Tax", money(c.tax_amount, currency)),
            ("Discount", money(-c.discount_amount, currency) if c.discount_amount else None),
            ("Grand Total", Text(money(c.grand_total, currency), style="bold")),
            ("Total Paid", money(c.total_paid, currency)),
            ("Total Refunded", money(c.total_refunded, currency)),
            ("Total Canceled", money(c.total_canceled, currency) if c.total_canceled else None),
            ("Total Due", money(c.total_due, currency)),
        ]
    else:
        totals = [("Grand Total (Amazon)", money(s.grand_total, currency))]
    parts.append(_section("Order Totals", _pairs(totals)))

    parts.append(_section("Invoices", _documents_table(view, "invoices", currency)))
    parts.append(_section("Shipments", _documents_table(view, "shipments", currency)))
    parts.append(_section("Credit Memos", _documents_table(view, "credit_memos", currency)))
    parts.append(_section("Comments History", _history_table(view)))
    parts.append(_section("Waiting for Amazon", _outbox_table(view)))
    if view.import_warnings:
        parts.append(_section("Import warnings", Text("\n".join(clean(w) for w in view.import_warnings), style="yellow")))
    return Group(*parts)


def _fulfillment_label(channel: str) -> Any:
    if channel == "AFN":
        return "Amazon (AFN)"
    if channel == "MFN":
        return "Merchant (MFN)"
    return plain(f"unknown: fulfilledBy {channel} (nothing is shipped from here)", "yellow")


def _window(window: Any) -> str | None:
    if window is None or (window.earliest is None and window.latest is None):
        return None
    if window.earliest and window.latest:
        return f"{when(window.earliest)} - {when(window.latest)}"
    return when(window.earliest or window.latest)


def _details_rows(d: Any) -> list[tuple[str, Any]]:
    """What the order view shows of domain.details.AmazonOrderDetails (all of it)."""
    rows: list[tuple[str, Any]] = [
        ("Programs", ", ".join(clean(p) for p in d.programs)),
        ("Sales channel", d.channel_name if d.channel_name not in (None, "AMAZON") else None),
        ("Ship-by window", _window(d.ship_by)),
        ("Deliver-by window", _window(d.deliver_by)),
        ("Label printing", _window(d.label_printing)),
    ]
    for label, registrations in (("Buyer tax id", d.buyer_tax_registrations), ("Marketplace tax id", d.marketplace_tax_registrations)):
        for r in registrations:
            text = " ".join(clean(x) for x in (r.registration_type, r.number) if x)
            extra = [clean(r.legal_name)] if r.legal_name else []
            extra += [f"{clean(k)} {clean(v)}" for k, v in r.attributes]
            if r.entity_type not in (None, "BUYER", "MARKETPLACE"):
                extra.append(clean(r.entity_type))
            rows.append((label, text + (f" ({'; '.join(extra)})" if extra else "")))
    rows.append(("Invoice preference", d.buyer_invoice_preference))
    rows.append(("Invoice status", d.invoice_status))
    for a in d.associated_orders:
        kind = {"REPLACEMENT_ORIGINAL_ID": "replacement of", "EXCHANGE_ORIGINAL_ID": "exchange for"}.get(
            a.association_type or "", clean(a.association_type) or "associated with")
        rows.append(("Associated order", f"{kind} {clean(a.order_id)}"))
    from amzorders.domain.details import SHIPPING_CONSTRAINTS

    for c in d.constraints:
        words = SHIPPING_CONSTRAINTS.get(c.constraint, c.constraint)
        rows.append(("Constraint", plain(f"{words} ({clean(c.level) or 'stated'}), item {c.order_item_id}", "bold")))
    for p in d.points:
        rows.append(("Points", f"item {clean(p.order_item_id)}: {p.points if p.points is not None else '?'} points"
                     + (f" ({clean(p.value)})" if p.value else "")))
    for p in d.packages:
        status = clean(p.status) or "status unknown"
        if p.detailed_status:
            status += f" / {clean(p.detailed_status)}"
        where = " ".join(clean(x) for x in (p.carrier, p.tracking_number) if x)
        rows.append(("Package", f"{clean(p.package_reference_id)}: {status}" + (f", {where}" if where else "")
                     + (f", shipped {when(p.ship_time)}" if p.ship_time else "")))
    return rows


def _section(title: str, body: Any) -> Panel:
    return Panel(body, title=Text(title, style="bold"), title_align="left", box=box.ROUNDED, padding=(0, 1))


def _documents_table(view: OrderView, kind: str, currency: str | None) -> Any:
    docs = getattr(view, kind)
    if not docs:
        return Text("none", style="dim")
    table = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    if kind == "invoices":
        for col in ("Invoice #", "Date", "Items", "Total", "Note"):
            table.add_column(col)
        for d in docs:
            add_row(table, d.increment_id, when(d.created_at), _doc_items(d.items), money(d.grand_total, currency), clean(d.comment))
    elif kind == "shipments":
        delivery = {o.id: o for o in view.outbox}
        for col in ("Shipment #", "Ship date", "Carrier", "Tracking", "Items", "Amazon"):
            table.add_column(col)
        for d in docs:
            carrier = d.carrier_name or d.carrier_code or ""
            if d.shipping_method:
                carrier += f" ({d.shipping_method})"
            if d.source == "amazon":
                amazon_state = "reported by Amazon"
            elif d.outbox_id in delivery:
                amazon_state = _outbox_state_label(delivery[d.outbox_id])
            else:
                amazon_state = ""
            add_row(table, d.increment_id, when(d.ship_date, date_only=True), clean(carrier), clean(d.tracking_number), _doc_items(d.items), amazon_state)
    else:
        delivery = {o.id: o for o in view.outbox}
        for col in ("Memo #", "Date", "Reason", "Items", "Refunded", "Amazon"):
            table.add_column(col)
        for d in docs:
            amazon_state = _outbox_state_label(delivery[d.outbox_id]) if d.outbox_id in delivery else ""
            add_row(table, d.increment_id, when(d.created_at), clean(d.reason), _doc_items(d.items), money(d.grand_total, currency), amazon_state)
    return table


def _doc_items(items: tuple) -> str:
    return "\n".join(f"{clean(i.sku)} x {i.qty}" for i in items)


def _outbox_state_label(record: Any) -> str:
    labels = {
        "pending": "waiting to send",
        "submitted": "sent, Amazon processing",
        "done": "accepted by Amazon",
        "failed": "REJECTED by Amazon",
    }
    return labels.get(record.state, record.state)


def _history_table(view: OrderView) -> Any:
    if not view.history:
        return Text("none", style="dim")
    table = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    for col in ("When", "Comment", "Status", "Notified"):
        table.add_column(col)
    for h in reversed(view.history):
        notified = {None: "", True: "yes", False: "no"}[h.is_customer_notified]
        if h.notify_error:
            notified = f"failed: {clean(h.notify_error)}"
        comment = clean(h.comment)
        if h.source == "operator":
            comment = f"{comment}"
        add_row(table, when(h.created_at), comment, clean(h.status), notified)
    return table


def _outbox_table(view: OrderView) -> Any:
    pending = [o for o in view.outbox if o.state != "done"]
    if not pending:
        return Text("nothing waiting", style="dim")
    table = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    for col in ("Id", "Action", "State", "Attempts", "Next try", "Last error"):
        table.add_column(col)
    for o in pending:
        add_row(table, str(o.id), o.kind, _outbox_state_label(o), str(o.attempts), when(o.next_attempt_at), clean(o.last_error))
    return table
