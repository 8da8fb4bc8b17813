"""Terminal output: rich tables and panels. The machine forms of the same data (JSON,
CSV, TSV, JSON lines) live apart, in ``amzorders.serialize`` and ``cli/output.py``, so a
``--json`` or ``--csv`` run never imports rich (tests/test_startup_imports.py checks).

Text from Amazon, CSV files and the store is data: it reaches rich only as plain
``Text`` (never parsed as markup or emoji codes) after ``textsafe.safe_text`` has
neutralised control characters, C1 controls and bidi overrides. Table cells go through
``add_row``, ``fitted_table`` or ``_pairs``, which turn every plain string into such a ``Text``.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from rich.console import Group
from rich.text import Text

from amzorders.domain.codes import MARKETPLACES
from amzorders.domain.models import quantize_money
from amzorders.domain.views import OrderSummary
from amzorders.textsafe import safe_text

if TYPE_CHECKING:
    from rich.panel import Panel
    from rich.table import Table

    from amzorders.domain.orderview import OrderView


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


def when(moment: datetime | None, *, date_only: bool = False, zone: tzinfo | None = None) -> str:
    """A time as shown: in ``zone`` (the display timezone; UTC when None), with its name."""
    if moment is None:
        return ""
    if zone is None or zone is timezone.utc:
        return moment.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M UTC")
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M %Z")


def marketplace_label(marketplace_id: str | None) -> str:
    market = MARKETPLACES.get(marketplace_id or "")
    return market.country if market else clean(marketplace_id)


# -- tables that fit ------------------------------------------------------------------------


class Column(msgspec.Struct, frozen=True):
    """One column of a fitted table.

    ``give_way``: the order in which columns make room on a narrow terminal (lowest
    first); None keeps the column always. A column with ``min_width`` first shrinks
    (its values ellipsised) down to that width before it is dropped.
    """

    key: str
    header: str
    give_way: int | None = None
    justify: str = "left"
    min_width: int | None = None
    droppable: bool = True  # False: shrinks to min_width but stays


COLUMN_GAP = 2  # between columns: box.SIMPLE_HEAD's divider and one space of padding


def fit_columns(
    columns: list[Column], rows: list[dict[str, Any]], width: int | None
) -> list[tuple[Column, int]]:
    """The columns to show and their widths so that every line is at most ``width``.

    Columns give way in their ``give_way`` order: a shrinkable one is first narrowed to
    its ``min_width``, then dropped; the next one follows. ``width`` None: all columns
    at their natural width (output to a file or a pipe).
    """
    from rich.cells import cell_len

    def natural(column: Column) -> int:
        cells = [cell_len(_plain(row.get(column.key))) for row in rows]
        return max([cell_len(column.header), *cells])

    widths = {c.key: natural(c) for c in columns}
    shown = list(columns)

    def total() -> int:
        return sum(widths[c.key] + COLUMN_GAP for c in shown) - COLUMN_GAP

    if width is not None:
        for column in sorted((c for c in columns if c.give_way is not None), key=lambda c: c.give_way):
            excess = total() - width
            if excess <= 0:
                break
            if column.min_width is not None and widths[column.key] - excess >= column.min_width:
                widths[column.key] -= excess
                break
            if column.droppable:
                shown.remove(column)
            elif column.min_width is not None:
                widths[column.key] = min(widths[column.key], column.min_width)
        # Room left after a column went: the shrunk ones take it back.
        for column in shown:
            spare = width - total()
            if spare <= 0:
                break
            widths[column.key] = min(natural(column), widths[column.key] + spare)
    return [(c, widths[c.key]) for c in shown]


def fitted_table(
    columns: list[Column], rows: list[dict[str, Any]], width: int | None, title: str | None = None
) -> FittedTable:
    """A table of ``rows`` (dicts keyed by column key) at most ``width`` cells wide:
    values never wrap onto a second line, long ones end in an ellipsis."""
    layout = fit_columns(columns, rows, width)
    cells = [[_fitted_cell(row.get(column.key)) for column, _ in layout] for row in rows]
    # What gave way, so that a narrow terminal does not hide columns silently.
    kept = {column.key for column, _ in layout}
    return FittedTable(layout, cells, title, [c.header for c in columns if c.key not in kept])


class FittedTable:
    """A table whose column widths ``fit_columns`` chose, drawn line by line.

    It looks as rich's ``Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False,
    padding=(0, 1, 0, 0), header_style="bold")`` with no-wrap, ellipsis columns of those
    widths drew it (the header, a rule, one line per row; ``COLUMN_GAP`` between columns;
    a cell of several lines makes its row that tall), but without rich measuring and
    wrapping every cell again to find widths already known: that was ~13 ms of
    ``list``'s 20 rows, about a tenth of its start-up (issue 15). Cells stay ``Text``
    (their styles kept); rich still does the terminal's part (colour, cropping).
    """

    def __init__(self, layout: list[tuple[Column, int]], cells: list[list[Text]], title: str | None,
                 hidden_columns: list[str]) -> None:
        self.layout = layout
        self.cells = cells
        self.title = title
        self.hidden_columns = hidden_columns
        self.width = sum(w for _, w in layout) + COLUMN_GAP * (len(layout) - 1) if layout else 0

    def _text(self) -> Text:
        header = self._line([Text(column.header, style="bold") for column, _ in self.layout])
        display = [*header, [Text("\u2500" * self.width)]]
        for row in self.cells:
            display.extend(self._line(row))
        # Between columns: the cell's right padding (bold in the header, as rich draws
        # header_style over the padding) and the box's divider.
        header_gap = Text.assemble((" ", "bold"), " " * (COLUMN_GAP - 1))
        gap = Text(" " * COLUMN_GAP)
        out = Text(no_wrap=True, overflow="crop")
        for number, parts in enumerate(display):
            if number:
                out.append("\n")
            for column_number, part in enumerate(parts):
                if column_number:
                    out.append_text(header_gap if number < len(header) else gap)
                out.append_text(part)
        return out

    def _rich_table(self) -> Table:
        """The same table as rich's ``Table``, for a space narrower than the layout (a
        very narrow terminal where even the columns' minimum widths do not fit): rich
        then squeezes every column, as the table always did there."""
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
        for column, width in self.layout:
            table.add_column(column.header, justify=column.justify, no_wrap=True, overflow="ellipsis",  # type: ignore[arg-type]
                             width=width, max_width=width)
        for row in self.cells:
            table.add_row(*row)
        return table

    def _line(self, row: list[Text]) -> list[list[Text]]:
        """The display lines of one row: each cell cut and padded to its column."""
        split = [cell.split("\n") if "\n" in cell.plain else [cell] for cell in row]
        height = max((len(lines) for lines in split), default=1)
        out = []
        for n in range(height):
            parts = []
            for (column, width), lines in zip(self.layout, split):
                part = lines[n].copy() if n < len(lines) else Text()
                part.truncate(width, overflow="ellipsis")
                part.align(column.justify, width)  # type: ignore[arg-type]
                parts.append(part)
            out.append(parts)
        return out

    def __rich_console__(self, console, options):  # type: ignore[no-untyped-def]
        yield self._text() if self.width <= options.max_width else self._rich_table()

    def __rich_measure__(self, console, options):  # type: ignore[no-untyped-def]
        from rich.measure import Measurement

        return Measurement(self.width, self.width)


def _plain(value: Any) -> str:
    """The longest line of a cell (cells may hold several: SKU and ASIN)."""
    text = value.plain if isinstance(value, Text) else ("" if value is None else str(value))
    return max(text.split("\n"), key=len) if "\n" in text else text


def _fitted_cell(value: Any) -> Any:
    if isinstance(value, Text):
        return value
    # Text, not str: a value from Amazon is never read as rich markup, and neutralised.
    return Text(safe_text("" if value is None else str(value), keep_newlines=True))


def choose_columns(columns: list[Column], wanted: str | None, aliases: dict[str, str] | None = None) -> list[Column]:
    """``--columns a,b,c``: those columns in that order (still giving way when too wide)."""
    if not wanted:
        return columns
    from amzorders.errors import UsageError

    by_key = {c.key: c for c in columns}
    chosen: list[Column] = []
    for name in (part.strip().lower() for part in wanted.split(",")):
        if not name:
            continue
        key = (aliases or {}).get(name, name)
        if key not in by_key:
            raise UsageError(f"--columns: unknown column '{name}'. Use some of: {', '.join(by_key)}.")
        chosen.append(by_key[key])
    if not chosen:
        raise UsageError("--columns needs at least one column name.")
    return chosen


# -- recent orders table -----------------------------------------------------------------

# Keys are the JSON/CSV field names. give_way: the buyer's name makes room first (it
# shrinks, then goes), ship-by (with the late flag) last; the Amazon order number stays.
ORDER_COLUMNS = [
    Column("amazon_order_id", "Amazon order"),
    Column("increment_id", "Order #", give_way=7),
    Column("purchase_date", "Purchased", give_way=5),
    Column("amazon_status", "Amazon status", give_way=9),
    Column("commerce_status", "Status", give_way=6),
    Column("channel", "Ch", give_way=3),
    Column("marketplace_id", "Mkt", give_way=2),
    Column("buyer_name", "Buyer", give_way=1, min_width=8),
    Column("item_count", "Qty", give_way=4, justify="right"),
    Column("grand_total", "Total", give_way=8, justify="right"),
    Column("ship_by", "Ship by", give_way=10),
]
ORDER_COLUMN_ALIASES = {
    "order": "amazon_order_id",
    "number": "increment_id",
    "purchased": "purchase_date",
    "status": "commerce_status",
    "marketplace": "marketplace_id",
    "buyer": "buyer_name",
    "qty": "item_count",
    "total": "grand_total",
}


def orders_table(
    rows: list[OrderSummary],
    now: datetime,
    title: str | None = None,
    *,
    width: int | None = None,
    columns: list[Column] | None = None,
    zone: tzinfo | None = None,
) -> FittedTable:
    cells = []
    for row in rows:
        late = row.is_late(now)
        ship_by = Text(when(row.ship_by, date_only=True, zone=zone), style="bold red" if late else "")
        if late:
            ship_by.append(" late", style="bold red")
        status = Text(clean(_SHORT_STATUS.get(row.amazon_status, row.amazon_status)), style=_status_style(row.amazon_status))
        if row.buyer_cancel_requested:
            status.append(" cancel req.", style="yellow")
        commerce = Text(clean(row.commerce_status)) if row.commerce_status else Text("-", style="dim")
        if row.held:
            commerce = Text("on hold", style="bold magenta")
        cells.append(
            {
                "amazon_order_id": clean(row.amazon_order_id),
                "increment_id": clean(row.increment_id) or Text("-", style="dim"),
                "purchase_date": when(row.purchase_date, date_only=True, zone=zone),
                "amazon_status": status,
                "commerce_status": commerce,
                "channel": row.channel,
                "marketplace_id": marketplace_label(row.marketplace_id),
                "buyer_name": clean(row.buyer_name),
                "item_count": str(row.item_count),
                "grand_total": money(row.grand_total, row.currency),
                "ship_by": ship_by,
            }
        )
    return fitted_table(columns or ORDER_COLUMNS, cells, width, title)


PICK_COLUMNS = [
    Column("amazon_order_id", "Amazon order"),
    Column("increment_id", "Order #", give_way=4),
    Column("sku", "SKU", give_way=7, min_width=10),
    Column("asin", "ASIN", give_way=3),
    Column("title", "Title", give_way=1, min_width=12),
    Column("quantity", "Qty", justify="right"),
    Column("ship_by", "Ship by", give_way=6),
    Column("ship_to_name", "Ship to", give_way=2, min_width=8),
    Column("ship_to_country", "Ctry", give_way=5),
]


def pick_list_table(lines: list[Any], *, width: int | None, columns: list[Column] | None = None, title: str | None = None, zone: tzinfo | None = None) -> FittedTable:
    cells = [
        {
            "amazon_order_id": clean(line.amazon_order_id),
            "increment_id": clean(line.increment_id) or Text("-", style="dim"),
            "sku": clean(line.sku),
            "asin": clean(line.asin),
            "title": clean(line.title),
            "quantity": str(line.quantity - line.quantity_shipped),
            "ship_by": when(line.ship_by, date_only=True, zone=zone),
            "ship_to_name": clean(line.ship_to_name),
            "ship_to_country": clean(line.ship_to_country),
        }
        for line in lines
    ]
    return fitted_table(columns or PICK_COLUMNS, cells, width, title)


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


def _pairs(rows: list[tuple[str, Any]]) -> Pairs:
    return Pairs([(clean(label), value if isinstance(value, Text) else Text(clean(value)))
                  for label, value in rows if value not in (None, "")])


class Pairs:
    """Label / value lines (the order view's panels): a bold label column, two spaces, the
    value; a value of several lines keeps its label on the first. Drawn as rich's
    ``Table.grid(padding=(0, 2))`` with a bold first column drew it, written line by line
    when every value fits beside the labels (rich measured and wrapped each cell again: ~4 ms
    of ``show``, issue 15); where one does not, rich's grid wraps it as it always did."""

    def __init__(self, rows: list[tuple[str, Text]]) -> None:
        from rich.cells import cell_len

        self.rows = rows
        self.label_width = max((cell_len(label) for label, _ in rows), default=0)
        lines = [line for _, value in rows for line in value.plain.split("\n")]
        self.width = self.label_width + 2 + max((cell_len(line) for line in lines), default=0) if rows else 0

    def _text(self) -> Text:
        from rich.cells import cell_len

        out = Text()
        pad = " " * self.label_width
        for number, (label, value) in enumerate(self.rows):
            for line_number, line in enumerate(value.split("\n") if "\n" in value.plain else [value]):
                if number or line_number:
                    out.append("\n")
                # The label column is bold over its width and its padding, as rich draws a
                # column style (in the runs rich writes: the label and the padding apart on
                # a label's line, one run below it).
                if line_number == 0:
                    out.append(label + " " * (self.label_width - cell_len(label)), "bold")
                    out.append("  ", "bold")
                else:
                    out.append(pad + "  ", "bold")
                # Padded to the column's width within the value (its own style), as rich pads a cell.
                cell = line.copy()
                cell.pad_right(self.width - self.label_width - 2 - cell_len(line.plain))
                out.append_text(cell)
        return out

    def _grid(self) -> Table:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for label, value in self.rows:
            grid.add_row(Text(label), value)
        return grid

    def __rich_console__(self, console, options):  # type: ignore[no-untyped-def]
        if not self.rows:
            return
        yield self._text() if self.width <= options.max_width else self._grid()

    def __rich_measure__(self, console, options):  # type: ignore[no-untyped-def]
        from rich.measure import Measurement

        return Measurement(self.width, self.width) if self.width <= options.max_width else Measurement.get(
            console, options, self._grid())


# The SKU and the numbers stay whole; the product name makes room first.
ITEM_COLUMNS = [
    Column("product", "Product", give_way=1, min_width=14, droppable=False),
    Column("sku", "SKU / ASIN"),
    Column("price", "Price", give_way=4, justify="right"),
    Column("qty", "Qty"),
    Column("subtotal", "Subtotal", give_way=5, justify="right"),
    Column("tax", "Tax", give_way=3, justify="right"),
    Column("discount", "Discount", give_way=2, justify="right"),
]


def order_view(view: OrderView, actions: list[str], now: datetime, *, width: int | None = None, zone: tzinfo | None = None) -> Group:
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
            ("Order date", when(s.purchase_date, zone=zone)),
            ("Order status", f"{c.state} / {c.status}" if c else "no commerce order (Amazon has not released it, or import is off)"),
            ("Purchased from", f"{view.marketplace_name or (market.name if market else s.marketplace_id)} ({s.account})"),
            ("Amazon status", s.amazon_status),
            ("Last update", when(s.last_updated, zone=zone)),
            (
                "On hold",
                Text(f"since {when(s.held_at, zone=zone)}" + (f": {clean(s.hold_reason)}" if s.hold_reason else "") + " (amzorders unhold to release)", style="bold magenta")
                if s.held
                else None,
            ),
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
            ("Personal data", f"purged {when(view.pii_purged_at, zone=zone)} (Amazon data retention)" if view.pii_purged_at else None),
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
                    ("Ship by", Text(when(s.ship_by, zone=zone), style="bold red" if s.is_late(now) else "")),
                    ("Deliver by", when(view.deliver_by, zone=zone)),
                    ("Actions", action_text),
                ]
            ),
        )
    )

    item_rows: list[dict[str, Any]] = []
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
            item_rows.append(
                {
                    "product": product,
                    "sku": f"{clean(item.sku)}\n{clean(item.asin)}",
                    "price": money(item.price, currency),
                    "qty": qty,
                    "subtotal": money(item.row_total, currency),
                    "tax": money(item.tax_amount, currency),
                    "discount": money(item.discount_amount, currency),
                }
            )
    else:
        for item in view.amazon_items:
            item_rows.append(
                {
                    "product": clean(item.title),
                    "sku": f"{clean(item.sku)}\n{clean(item.asin)}",
                    "price": money(item.unit_price, currency),
                    "qty": f"Ordered {item.quantity_ordered}" + (f"\nShipped {item.quantity_shipped}" if item.quantity_shipped else ""),
                    "subtotal": money(item.item_price, currency),
                    "tax": money(item.tax, currency),
                    "discount": money(item.discount, currency),
                }
            )
    # Inside a panel: two border and two padding cells.
    items = fitted_table(ITEM_COLUMNS, item_rows, None if width is None else max(20, width - 4))
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

    parts.append(_section("Invoices", _documents_table(view, "invoices", currency, zone)))
    parts.append(_section("Shipments", _documents_table(view, "shipments", currency, zone)))
    parts.append(_section("Credit Memos", _documents_table(view, "credit_memos", currency, zone)))
    parts.append(_section("Comments History", _history_table(view, zone)))
    parts.append(_section("Waiting for Amazon", _outbox_table(view, zone)))
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
    from rich import box
    from rich.panel import Panel  # only the order view draws panels: list's tables do without

    return Panel(body, title=Text(title, style="bold"), title_align="left", box=box.ROUNDED, padding=(0, 1))


def _simple_table() -> Table:
    """The order view's tables of documents, history and the outbox (rich's Table: their
    cells wrap inside the panel; rich.table is imported only here, list's tables do without)."""
    from rich import box
    from rich.table import Table

    return Table(box=box.SIMPLE, header_style="bold", pad_edge=False)


def _documents_table(view: OrderView, kind: str, currency: str | None, zone: tzinfo | None = None) -> Any:
    docs = getattr(view, kind)
    if not docs:
        return Text("none", style="dim")
    table = _simple_table()
    if kind == "invoices":
        for col in ("Invoice #", "Date", "Items", "Total", "Note"):
            table.add_column(col)
        for d in docs:
            add_row(table, d.increment_id, when(d.created_at, zone=zone), _doc_items(d.items), money(d.grand_total, currency), clean(d.comment))
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
            add_row(table, d.increment_id, when(d.ship_date, date_only=True, zone=zone), clean(carrier), clean(d.tracking_number), _doc_items(d.items), amazon_state)
    else:
        delivery = {o.id: o for o in view.outbox}
        for col in ("Memo #", "Date", "Reason", "Items", "Refunded", "Amazon"):
            table.add_column(col)
        for d in docs:
            amazon_state = _outbox_state_label(delivery[d.outbox_id]) if d.outbox_id in delivery else ""
            add_row(table, d.increment_id, when(d.created_at, zone=zone), clean(d.reason), _doc_items(d.items), money(d.grand_total, currency), amazon_state)
    return table


def _doc_items(items: tuple) -> str:
    return "\n".join(f"{clean(i.sku)} x {i.qty}" for i in items)


def _outbox_state_label(record: Any) -> str:
    result = record.result or {}
    if record.state == "failed" and result.get("voided_at"):
        return "REFUSED by Amazon: voided"
    if record.state == "done" and result.get("tracking_missing_at") and not result.get("package_seen_at"):
        return "accepted, but NOT on Amazon's order"
    if record.state == "failed" and result.get("reversed_at"):
        return "REFUSED by Amazon: " + ("not confirmed" if record.kind == "confirm_shipment" else "taken back")
    labels = {
        "pending": "waiting to send",
        "submitted": "sent, Amazon processing",
        "done": "accepted by Amazon",
        "failed": "REJECTED by Amazon",
    }
    return labels.get(record.state, record.state)


def _history_table(view: OrderView, zone: tzinfo | None = None) -> Any:
    if not view.history:
        return Text("none", style="dim")
    table = _simple_table()
    for col in ("When", "Comment", "Status", "Notified"):
        table.add_column(col)
    for h in reversed(view.history):
        notified = {None: "", True: "yes", False: "no"}[h.is_customer_notified]
        if h.notify_error:
            notified = f"failed: {clean(h.notify_error)}"
        comment = clean(h.comment)
        if h.source == "operator":
            comment = f"{comment}"
        add_row(table, when(h.created_at, zone=zone), comment, clean(h.status), notified)
    return table


def _outbox_table(view: OrderView, zone: tzinfo | None = None) -> Any:
    pending = [o for o in view.outbox if o.state != "done"]
    if not pending:
        return Text("nothing waiting", style="dim")
    table = _simple_table()
    for col in ("Id", "Action", "State", "Attempts", "Next try", "Last error"):
        table.add_column(col)
    for o in pending:
        add_row(table, str(o.id), o.kind, _outbox_state_label(o), str(o.attempts), when(o.next_attempt_at, zone=zone), clean(o.last_error))
    return table
