"""Amazon orders, commerce orders, their documents and history: reads and writes."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING

import msgspec
from msgspec.structs import replace

from amzorders.domain.commerce import CommerceItem, CommerceOrder
from amzorders.domain.models import Address, AmazonOrder
from amzorders.domain.money import components_from_json, components_to_json, legacy_components
from amzorders.domain.textfold import fold_text
from amzorders.store.times import read_time, read_time_iso, read_time_or_none, stored_time, stored_time_or_none
# The order view's records and details are imported where used: list does not build them.
from amzorders.domain.views import OrderQuery, OrderSummary, PickLine
from amzorders.store.base import (
    ConcurrentChangeError,
    StoreBase,
    dec,
    dec_or_none,
    id_chunks,
    money_text,
    more_entries,
    pack_raw,
    raw_items,
    stored_address,
    unpack_raw,
)
from amzorders.store.dialect import sequence_object
from amzorders.store import items as product_fields
from amzorders.store.rawjson import pack_entries
from amzorders.store.searchtext import indexed_text, search_patterns
from amzorders.store.retention import scrub_raw_order

if TYPE_CHECKING:
    from amzorders.domain.orderview import CreditMemoRecord, DocumentItem, HistoryEntry, InvoiceRecord, OrderView, ShipmentRecord


class StoredOrderState(msgspec.Struct, frozen=True):
    """What the importer needs to know about an order it already has."""

    amazon_order_id: str
    last_updated: datetime
    status: str
    buyer_cancel_requested: bool
    commerce_id: int | None
    increment_id: str | None = None  # the commerce order's number
    pii_purged: bool = False  # buyer data purged: a new copy is stored scrubbed too


# The comment of every invoice the importer records for Amazon's capture (source 'amazon').
# Stored as NULL since migration 11 (~25 B per order) and read back as this text; such an
# invoice without a comment stores '' (none is written so: the importer always gives this one).
AMAZON_INVOICE_COMMENT = "Captured by Amazon (offline)."


def _stored_invoice_comment(source: str, comment: str | None) -> str | None:
    if source != "amazon":
        return comment
    return None if comment == AMAZON_INVOICE_COMMENT else ("" if comment is None else comment)


def _read_invoice_comment(source: str, stored: str | None) -> str | None:
    if source != "amazon":
        return stored
    return AMAZON_INVOICE_COMMENT if stored is None else (None if stored == "" else stored)


class PendingInvoice(msgspec.Struct):
    """An invoice of a commerce order created in this page (numbered before the write)."""

    commerce: CommerceOrder
    items: list[tuple[str, int, Decimal, Decimal]]  # order_item_id, qty, row_total, tax
    subtotal: Decimal
    shipping_amount: Decimal
    tax_amount: Decimal
    discount_amount: Decimal
    grand_total: Decimal
    source: str
    comment: str | None
    now: datetime
    increment_id: str | None = None


class PendingShipment(msgspec.Struct):
    """A shipment of a commerce order created in this page (numbered before the write)."""

    commerce: CommerceOrder
    package_reference_id: str
    items: list[tuple[str, int]]
    carrier_code: str | None
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str | None
    ship_date: datetime
    source: str
    now: datetime
    outbox_id: int | None = None
    increment_id: str | None = None


class PageWrites(msgspec.Struct):
    """What one page of imported orders writes, gathered in memory by the importer and
    written by ``OrdersRepository.write_page`` with one ``executemany`` per table (one
    statement per row was ~13 statements per order, most of the import's time).

    ``orders``: (Amazon order, its stored state or None, import time). ``commerce``: the
    commerce orders created in this page, in their final state (their invoices and
    shipments below); ``holds``: id(commerce) -> (held_at, reason, state, status before)."""

    account: str
    orders: list[tuple[AmazonOrder, StoredOrderState | None, datetime]] = msgspec.field(default_factory=list)
    commerce: list[CommerceOrder] = msgspec.field(default_factory=list)
    holds: dict[int, tuple[datetime, str | None, str, str]] = msgspec.field(default_factory=dict)
    invoices: list[PendingInvoice] = msgspec.field(default_factory=list)
    shipments: list[PendingShipment] = msgspec.field(default_factory=list)
    _created: set[int] = msgspec.field(default_factory=set)

    def add_commerce(self, commerce: CommerceOrder) -> None:
        self.commerce.append(commerce)
        self._created.add(id(commerce))

    def created(self, commerce: CommerceOrder) -> bool:
        """Whether ``commerce`` is created in this page (not in the store yet)."""
        return id(commerce) in self._created


def _money(amount) -> str | None:
    return None if amount is None else money_text(amount.amount)


# The order tables every read joins: an Amazon order and (once created) its commerce order.
_ORDERS_FROM = "amazon_orders a"
_COMMERCE_JOIN = "LEFT JOIN commerce_orders c ON c.amazon_order_id = a.amazon_order_id"

_SUMMARY_COLUMNS = """
    a.amazon_order_id, c.increment_id, a.account, a.purchase_date, a.last_updated, a.status,
    c.status AS commerce_status, a.channel, a.marketplace_id, a.buyer_name, a.buyer_email,
    a.item_count, a.grand_total, a.currency, a.ship_by, a.is_prime, a.is_business,
    a.buyer_cancel_requested, c.held_at, c.hold_reason
"""


# money_json '' (migration 10): the item's components are exactly those its four money
# columns give (domain.money.legacy_components, in the order the JSON would read back), as
# for ~70 % of items (the item and its tax, shipping or a promotion): ~34 B less per item.
# NULL stays "no components" (items stored before migration 2).
DERIVED_COMPONENTS = ""


def _money_json(item: CommerceItem) -> str | None:
    if not item.components and not item.promotion_ids:
        return None
    # Compact, and no empty promotion list (the reader defaults it): ~30 B less per item.
    components = components_to_json(item.components)
    if not item.promotion_ids and sorted(components.items()) == list(_derived_components(
        *(dec(money_text(v)) for v in (item.row_total, item.tax_amount, item.discount_amount, item.shipping_amount))
    ).items()):
        return DERIVED_COMPONENTS
    data: dict = {"components": components}
    if item.promotion_ids:
        data["promotion_ids"] = list(item.promotion_ids)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _derived_components(row_total: Decimal, tax: Decimal, discount: Decimal, shipping: Decimal) -> dict[str, str]:
    return components_to_json(legacy_components(row_total, tax, discount, shipping))


def _money_fields(row) -> dict:
    """An item's components and promotion ids from its commerce_order_items row."""
    text = row["money_json"]
    if text == DERIVED_COMPONENTS:
        derived = _derived_components(*(dec(row[c]) for c in ("row_total", "tax_amount", "discount_amount",
                                                               "shipping_amount")))
        return {"components": components_from_json(derived), "promotion_ids": ()}
    if not text:
        return {}
    data = json.loads(text)
    return {
        "components": components_from_json(data.get("components") or {}),
        "promotion_ids": tuple(data.get("promotion_ids") or ()),
    }


@functools.lru_cache(maxsize=64)
def _copied_fields(cls: type, columns: tuple[str, ...]) -> tuple[str, ...]:
    names = set(columns)
    return tuple(name for name in cls.__struct_fields__ if name in names)


def _from_row(cls: type, row, /, **given):
    """The one row-to-record mapper of the reads: ``cls`` with every field that has a
    column of the same name in ``row`` taken as stored, and the rest (conversions: times,
    money, 0/1 flags; renamed columns) ``given``."""
    copied = _copied_fields(cls, tuple(row.keys()))
    return cls(**{name: row[name] for name in copied if name not in given}, **given)


def _decimals(row, *columns: str) -> dict[str, Decimal]:
    """Money columns of ``row`` as Decimal (a missing amount as 0)."""
    return {column: dec(row[column]) for column in columns}


def _summary(row) -> OrderSummary:
    return _from_row(
        OrderSummary,
        row,
        purchase_date=read_time(row["purchase_date"]),
        last_updated=read_time(row["last_updated"]),
        amazon_status=row["status"],
        grand_total=dec_or_none(row["grand_total"]),
        ship_by=read_time_or_none(row["ship_by"]),
        is_prime=bool(row["is_prime"]),
        is_business=bool(row["is_business"]),
        buyer_cancel_requested=bool(row["buyer_cancel_requested"]),
        held_at=read_time_or_none(row["held_at"]),
    )


def _last_ship_time(order: AmazonOrder) -> int | None:
    """The latest package shipTime (the buyer-data retention clock of a shipped order)."""
    times = [p.ship_time for p in order.packages if p.ship_time is not None]
    return stored_time(max(times)) if times else None


def search_text(order: AmazonOrder, increment_id: str | None) -> str:
    parts = [order.order_id, increment_id, order.seller_order_id, order.buyer_name, order.buyer_email]
    for item in order.items:
        parts.extend((item.sku, item.asin, item.title))
    return "\n".join(p for p in parts if p)


def _scrubbed(order: AmazonOrder) -> AmazonOrder:
    """The order without buyer data (its stored copy was purged, store/retention.py)."""
    return replace(
        order,
        buyer_name=None,
        buyer_email=None,
        shipping_address=None,
        items=tuple(replace(i, gift_message=None) for i in order.items),
        raw=scrub_raw_order(order.raw),
    )


_AMAZON_ORDER_UPSERT = """INSERT INTO amazon_orders (
       account, amazon_order_id, marketplace_id, status, fulfilled_by, channel,
       service_level, purchase_date, last_updated, ship_by, deliver_by, is_prime,
       is_business, is_gift, buyer_cancel_requested, buyer_name, buyer_email,
       buyer_company, buyer_po_number, seller_order_id, shipping_address_json,
       currency, grand_total, item_count, raw_json, raw_zlib, last_ship_time,
       import_warnings, imported_at, updated_at)
   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
   ON CONFLICT (amazon_order_id) DO UPDATE SET
       marketplace_id = excluded.marketplace_id, status = excluded.status,
       fulfilled_by = excluded.fulfilled_by, channel = excluded.channel,
       service_level = excluded.service_level, last_updated = excluded.last_updated,
       ship_by = excluded.ship_by, deliver_by = excluded.deliver_by,
       is_prime = excluded.is_prime, is_business = excluded.is_business,
       is_gift = excluded.is_gift,
       buyer_cancel_requested = excluded.buyer_cancel_requested,
       buyer_name = CASE WHEN amazon_orders.pii_purged_at IS NULL THEN excluded.buyer_name END,
       buyer_email = CASE WHEN amazon_orders.pii_purged_at IS NULL THEN excluded.buyer_email END,
       buyer_company = CASE WHEN amazon_orders.pii_purged_at IS NULL THEN excluded.buyer_company END,
       buyer_po_number = excluded.buyer_po_number,
       seller_order_id = excluded.seller_order_id,
       shipping_address_json = CASE WHEN amazon_orders.pii_purged_at IS NULL
           THEN excluded.shipping_address_json END,
       currency = excluded.currency, grand_total = excluded.grand_total,
       item_count = excluded.item_count, raw_json = excluded.raw_json,
       raw_zlib = excluded.raw_zlib, last_ship_time = excluded.last_ship_time,
       import_warnings = excluded.import_warnings, updated_at = excluded.updated_at"""

_AMAZON_ITEM_INSERT = """INSERT INTO amazon_order_items (
       amazon_order_id, order_item_id, line, sku, asin, title, quantity_ordered,
       quantity_shipped, unit_price, item_price, shipping_price, tax, discount,
       currency, is_gift, gift_message, cancel_requested_by, cancel_reason)
   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""

_COMMERCE_INSERT = """INSERT INTO commerce_orders (
       increment_id, amazon_order_id, account, state, status, currency, subtotal,
       shipping_amount, tax_amount, discount_amount, grand_total, total_invoiced,
       total_paid, total_refunded, total_canceled, version, created_at, updated_at,
       money_warning, held_at, hold_reason, hold_before_state, hold_before_status)
   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?)"""

_COMMERCE_ITEM_INSERT = """INSERT INTO commerce_order_items (
       order_id, order_item_id, sku, name, asin, price, row_total, tax_amount,
       discount_amount, shipping_amount, qty_ordered, qty_invoiced, qty_shipped,
       qty_refunded, qty_canceled, money_json)
   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""

_INVOICE_INSERT = """INSERT INTO invoices (increment_id, order_id, subtotal, shipping_amount,
       tax_amount, discount_amount, grand_total, source, comment, created_at)
   VALUES (?,?,?,?,?,?,?,?,?,?)"""

_INVOICE_ITEM_INSERT = "INSERT INTO invoice_items (invoice_id, order_item_id, qty, row_total, tax_amount) VALUES (?,?,?,?,?)"

_SHIPMENT_INSERT = """INSERT INTO shipments (increment_id, order_id, package_reference_id, carrier_code,
       carrier_name, shipping_method, tracking_number, ship_date, source, outbox_id,
       created_at)
   VALUES (?,?,?,?,?,?,?,?,?,?,?)"""

_SHIPMENT_ITEM_INSERT = "INSERT INTO shipment_items (shipment_id, order_item_id, qty) VALUES (?,?,?)"


def _item_product_fields(order: AmazonOrder) -> dict[str, tuple]:
    """(sku, title, asin) of each of the order's item rows, by order item id: what the raw
    JSON leaves out (rawjson.ItemRows) and what a commerce item's fields are compared with
    (store/items.py)."""
    return {i.order_item_id: (i.sku, i.title, i.asin) for i in order.items}


def _amazon_order_row(account: str, order: AmazonOrder, now: datetime, items: dict[str, tuple]) -> tuple:
    """``items``: the product fields of the item rows written with it (``_item_product_fields``),
    which its stored JSON leaves out (migration 11)."""
    stamp = stored_time(now)
    return (
        account,
        order.order_id,
        order.marketplace_id,
        order.status,
        order.fulfilled_by,
        order.channel,
        order.service_level,
        stored_time(order.created_time),
        stored_time(order.last_updated_time),
        stored_time_or_none(order.ship_by),
        stored_time_or_none(order.deliver_by),
        int(order.is_prime),
        int(order.is_business),
        int(order.is_gift),
        int(order.buyer_cancel_requested),
        order.buyer_name,
        order.buyer_email,
        order.buyer_company,
        order.buyer_po_number,
        order.seller_order_id,
        # shipping_address_json stays NULL (migration 10): the address is read from the
        # stored raw JSON (stored_address), which holds it anyway; ~200 B less per order.
        None,
        order.currency,
        _money(order.grand_total),
        order.item_count,
        "",  # raw_json: only rows from before migration 4 keep their text there
        pack_raw(order.raw, items),
        _last_ship_time(order),
        "\n".join(order.warnings) or None,
        stamp,
        stamp,
    )


def _amazon_item_rows(order: AmazonOrder) -> list[tuple]:
    rows = []
    for line, i in enumerate(order.items, 1):
        priced = i.total or i.unit_price or i.item_price
        rows.append((
            order.order_id,
            i.order_item_id,
            line,
            i.sku,
            i.asin,
            i.title,
            i.quantity_ordered,
            i.quantity_shipped,
            _money(i.unit_price),
            _money(i.item_price),
            _money(i.shipping_price),
            _money(i.tax),
            _money(i.discount),
            priced.currency if priced else order.currency,
            int(i.is_gift),
            i.gift_message,
            i.cancel_requested_by,
            i.cancel_reason,
        ))
    return rows


def _commerce_row(order: CommerceOrder, hold: tuple[datetime, str | None, str, str] | None) -> tuple:
    held_at, reason, before_state, before_status = hold if hold else (None, None, None, None)
    return (
        order.increment_id,
        order.amazon_order_id,
        order.account,
        order.state,
        order.status,
        order.currency,
        money_text(order.subtotal),
        money_text(order.shipping_amount),
        money_text(order.tax_amount),
        money_text(order.discount_amount),
        money_text(order.grand_total),
        money_text(order.total_invoiced),
        money_text(order.total_paid),
        money_text(order.total_refunded),
        money_text(order.total_canceled),
        stored_time(order.created_at),
        stored_time(order.updated_at),
        order.money_warning,
        stored_time_or_none(held_at),
        reason,
        before_state,
        before_status,
    )


def _commerce_item_row(order_id: int, i: CommerceItem, amazon: tuple | None) -> tuple:
    """``amazon``: the Amazon item's (sku, title, asin), or None: the product fields are
    stored NULL where they are its values (store/items.py, migration 11)."""
    return (
        order_id,
        i.order_item_id,
        *product_fields.stored((i.sku, i.name, i.asin), amazon),
        money_text(i.price),
        money_text(i.row_total),
        money_text(i.tax_amount),
        money_text(i.discount_amount),
        money_text(i.shipping_amount),
        i.qty_ordered,
        i.qty_invoiced,
        i.qty_shipped,
        i.qty_refunded,
        i.qty_canceled,
        _money_json(i),
    )


def _invoice_row(order_id: int, d) -> tuple:
    """``d``: a PendingInvoice or anything with its fields."""
    return (
        d.increment_id,
        order_id,
        money_text(d.subtotal),
        money_text(d.shipping_amount),
        money_text(d.tax_amount),
        money_text(d.discount_amount),
        money_text(d.grand_total),
        d.source,
        _stored_invoice_comment(d.source, d.comment),
        stored_time(d.now),
    )


def _invoice_item_row(invoice_id: int, line: tuple[str, int, Decimal, Decimal]) -> tuple:
    order_item_id, qty, total, tax = line
    return (invoice_id, order_item_id, qty, money_text(total), money_text(tax))


def _shipment_row(order_id: int, d) -> tuple:
    """``d``: a PendingShipment or anything with its fields."""
    return (
        d.increment_id,
        order_id,
        d.package_reference_id,
        d.carrier_code,
        d.carrier_name,
        d.shipping_method,
        d.tracking_number,
        stored_time(d.ship_date),
        d.source,
        d.outbox_id,
        stored_time(d.now),
    )


class OrdersRepository(StoreBase):
    # -- import side ---------------------------------------------------------------

    def stored_order_states(self, amazon_order_ids: list[str]) -> dict[str, StoredOrderState]:
        result: dict[str, StoredOrderState] = {}
        for chunk, marks in id_chunks(amazon_order_ids):
            rows = self.conn.execute(
                f"""SELECT a.amazon_order_id, a.last_updated, a.status, a.buyer_cancel_requested,
                           c.id AS commerce_id, c.increment_id, a.pii_purged_at IS NOT NULL
                    FROM {_ORDERS_FROM} {_COMMERCE_JOIN}
                    WHERE a.amazon_order_id IN ({marks})""",
                chunk,
            )
            for row in rows:
                result[row[0]] = StoredOrderState(
                    amazon_order_id=row[0],
                    last_updated=read_time(row[1]),
                    status=row[2],
                    buyer_cancel_requested=bool(row[3]),
                    commerce_id=row[4],
                    increment_id=row[5],
                    pii_purged=bool(row[6]),
                )
        return result

    def write_page(self, page: PageWrites) -> None:
        """Write one page of imported orders: one ``executemany`` per table (Amazon orders,
        their items, the search index, commerce orders, their items, invoices, shipments
        and their items), plus one id read-back per table whose rows others refer to.

        Keyed by Amazon order id: writing the same order twice stores it once. An order
        whose buyer data was purged stays purged: Amazon's copy is stored scrubbed
        (store/retention.py), without buyer data in columns, items or search text. Call it
        inside the page's transaction (the importer's): a crash leaves nothing of it.
        """
        conn = self.conn
        numbers = {c.amazon_order_id: c.increment_id for c in page.commerce}
        order_rows, item_rows, replaced, search = [], [], [], []
        amazon_items: dict[tuple[str, str], tuple] = {}  # (order id, item id): (sku, title, asin) as written
        for order, stored, now in page.orders:
            if stored is not None:
                replaced.append((order.order_id,))
                if stored.pii_purged:
                    order = _scrubbed(order)
            fields_by_item = _item_product_fields(order)
            order_rows.append(_amazon_order_row(page.account, order, now, fields_by_item))
            item_rows.extend(_amazon_item_rows(order))
            amazon_items.update(((order.order_id, item_id), fields) for item_id, fields in fields_by_item.items())
            number = numbers.get(order.order_id) or (stored.increment_id if stored else None)
            search.append((order.order_id, indexed_text(search_text(order, number))))
        if order_rows:
            conn.executemany(_AMAZON_ORDER_UPSERT, order_rows)
            if replaced:
                kept = self._product_fields_kept([key for key, in replaced], amazon_items)
                conn.executemany("DELETE FROM amazon_order_items WHERE amazon_order_id = ?", replaced)
                if kept:
                    conn.executemany("UPDATE commerce_order_items SET sku = ?, name = ?, asin = ? WHERE id = ?", kept)
            conn.executemany(_AMAZON_ITEM_INSERT, item_rows)
            row_ids = self._ids_by("amazon_orders", "amazon_order_id", [key for key, _ in search])
            # The search row shares the order's id; a stale one (an id SQLite reused)
            # would make the insert fail, so it goes first.
            conn.executemany("DELETE FROM order_search WHERE rowid = ?", [(row_ids[key],) for key, _ in search])
            conn.executemany(
                "INSERT INTO order_search (rowid, text) VALUES (?, ?)", [(row_ids[key], text) for key, text in search]
            )
        if page.commerce:
            conn.executemany(_COMMERCE_INSERT, [_commerce_row(c, page.holds.get(id(c))) for c in page.commerce])
            commerce_ids = self._ids_by("commerce_orders", "amazon_order_id", [c.amazon_order_id for c in page.commerce])
            for commerce in page.commerce:
                commerce.id = commerce_ids[commerce.amazon_order_id]
            conn.executemany(
                _COMMERCE_ITEM_INSERT,
                [_commerce_item_row(c.id, i, amazon_items.get((c.amazon_order_id, i.order_item_id)))
                 for c in page.commerce for i in c.items],
            )
        if page.invoices:
            conn.executemany(_INVOICE_INSERT, [_invoice_row(d.commerce.id, d) for d in page.invoices])
            invoice_ids = self._ids_by("invoices", "increment_id", [d.increment_id for d in page.invoices])
            conn.executemany(
                _INVOICE_ITEM_INSERT,
                [_invoice_item_row(invoice_ids[d.increment_id], line) for d in page.invoices for line in d.items],
            )
        if page.shipments:
            conn.executemany(_SHIPMENT_INSERT, [_shipment_row(d.commerce.id, d) for d in page.shipments])
            shipment_ids = self._ids_by("shipments", "increment_id", [d.increment_id for d in page.shipments])
            conn.executemany(
                _SHIPMENT_ITEM_INSERT,
                [(shipment_ids[d.increment_id], oid, qty) for d in page.shipments for oid, qty in d.items],
            )

    def _product_fields_kept(self, amazon_order_ids: list[str], new_items: dict[tuple[str, str], tuple]) -> list[tuple]:
        """Before these orders' Amazon items are replaced by ``new_items``: (sku, name, asin,
        id) for each commerce item whose product fields read from the Amazon item (NULL,
        store/items.py) and would read differently from the new one (Amazon renamed the
        product, the item is gone): the values it has, stored as they must be from now on.
        Usually none (a re-import brings the same product fields)."""
        kept = []
        for chunk, marks in id_chunks(amazon_order_ids):
            rows = self.conn.execute(
                f"""SELECT i.id, ic.amazon_order_id, i.order_item_id, i.sku, i.name, i.asin, ai.sku, ai.title, ai.asin,
                           ai.order_item_id IS NOT NULL
                      FROM {product_fields.ITEMS_FROM}
                     WHERE ic.amazon_order_id IN ({marks}) AND (i.sku IS NULL OR i.name IS NULL OR i.asin IS NULL)""",
                chunk,
            )
            for row_id, order_id, item_id, *values in rows:
                old = tuple(values[3:6]) if values[6] else None
                current = tuple(values[:3])
                now = product_fields.stored(product_fields.filled(current, old), new_items.get((order_id, item_id)))
                if now != current:
                    kept.append((*now, row_id))
        return kept

    def _ids_by(self, table: str, key: str, values: list[str]) -> dict[str, int]:
        """{key value: id} of the rows just written (``table`` and ``key``: constants)."""
        ids: dict[str, int] = {}
        for chunk, marks in id_chunks(values):
            ids.update(
                (row[1], int(row[0]))
                for row in self.conn.execute(f"SELECT id, {key} FROM {table} WHERE {key} IN ({marks})", chunk)
            )
        return ids

    def existing_increment_ids(self, candidates: list[str]) -> set[str]:
        """Which of these commerce numbers are taken already."""
        taken: set[str] = set()
        for chunk, marks in id_chunks(candidates):
            taken.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT increment_id FROM commerce_orders WHERE increment_id IN ({marks})", chunk
                )
            )
        return taken

    # -- sequences -----------------------------------------------------------------

    def next_sequence_value(self, name: str) -> int:
        if self.dialect.is_postgres:
            # A real sequence: hosts never wait on one another for a number (a counter row
            # would stay locked until commit and could deadlock with order updates).
            return int(self.conn.execute(f"SELECT nextval('{sequence_object(name)}')").fetchone()[0])
        row = self.conn.execute(
            """INSERT INTO sequences (name, value) VALUES (?, 1)
               ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value""",
            (name,),
        ).fetchone()
        return int(row[0])

    def reserve_sequence_values(self, name: str, count: int) -> list[int]:
        """``count`` numbers of sequence ``name`` in one statement (a page's invoices...)."""
        if count <= 0:
            return []
        if self.dialect.is_postgres:
            rows = self.conn.execute(
                f"SELECT nextval('{sequence_object(name)}') FROM generate_series(1, ?)", (count,)
            ).fetchall()
            return sorted(int(r[0]) for r in rows)
        # Inside the write transaction (BEGIN IMMEDIATE) nobody else moves the counter:
        # the numbers are the ``count`` below the new value, without gaps.
        row = self.conn.execute(
            """INSERT INTO sequences (name, value) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET value = sequences.value + excluded.value RETURNING value""",
            (name, count),
        ).fetchone()
        last = int(row[0])
        return list(range(last - count + 1, last + 1))

    # -- commerce orders -----------------------------------------------------------

    def load_commerce_order(
        self, *, amazon_order_id: str | None = None, commerce_id: int | None = None
    ) -> CommerceOrder | None:
        with self.read_snapshot():  # the order row and its items of one moment
            if commerce_id is not None:
                row = self.conn.execute("SELECT * FROM commerce_orders WHERE id = ?", (commerce_id,)).fetchone()
            else:
                row = self.conn.execute(
                    "SELECT * FROM commerce_orders WHERE amazon_order_id = ?", (amazon_order_id,)
                ).fetchone()
            if row is None:
                return None
            item_rows = self.conn.execute(
                f"""SELECT {product_fields.ITEM_COLUMNS} FROM {product_fields.ITEMS_FROM}
                     WHERE i.order_id = ? ORDER BY i.id""",
                (row["id"],),
            ).fetchall()
        return _commerce_order(row, item_rows)

    def save_commerce_order(self, order: CommerceOrder) -> None:
        """Write states, totals and item quantities back, guarded by ``order.version``.

        Raises ConcurrentChangeError when another writer changed the order since it was
        loaded: the caller's transaction then rolls back and nothing is doubled.
        """
        cursor = self.conn.execute(
            """UPDATE commerce_orders SET state = ?, status = ?, total_invoiced = ?,
                   total_paid = ?, total_refunded = ?, total_canceled = ?, updated_at = ?,
                   version = version + 1
               WHERE id = ? AND version = ?""",
            (
                order.state,
                order.status,
                money_text(order.total_invoiced),
                money_text(order.total_paid),
                money_text(order.total_refunded),
                money_text(order.total_canceled),
                stored_time(order.updated_at),
                order.id,
                order.version,
            ),
        )
        if cursor.rowcount != 1:
            raise ConcurrentChangeError(
                f"Order {order.increment_id} was changed by someone else while this command "
                "ran; nothing was saved. Look at it with 'amzorders show' and try again."
            )
        order.version += 1
        self.conn.executemany(
            """UPDATE commerce_order_items SET qty_invoiced = ?, qty_shipped = ?,
                   qty_refunded = ?, qty_canceled = ? WHERE id = ?""",
            [(i.qty_invoiced, i.qty_shipped, i.qty_refunded, i.qty_canceled, i.id) for i in order.items],
        )

    # -- holds ---------------------------------------------------------------------

    def set_hold(self, order_id: int, *, held_at: datetime, reason: str | None, before_state: str, before_status: str) -> None:
        self.conn.execute(
            """UPDATE commerce_orders SET held_at = ?, hold_reason = ?, hold_before_state = ?,
                   hold_before_status = ? WHERE id = ?""",
            (stored_time(held_at), reason, before_state, before_status, order_id),
        )

    def hold_before(self, order_id: int) -> tuple[str | None, str | None]:
        row = self.conn.execute(
            "SELECT hold_before_state, hold_before_status FROM commerce_orders WHERE id = ?", (order_id,)
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def clear_hold(self, order_id: int) -> None:
        self.conn.execute(
            """UPDATE commerce_orders SET held_at = NULL, hold_reason = NULL, hold_before_state = NULL,
                   hold_before_status = NULL WHERE id = ?""",
            (order_id,),
        )

    # -- documents -----------------------------------------------------------------

    def insert_invoice(
        self,
        *,
        order_id: int,
        increment_id: str,
        items: list[tuple[str, int, Decimal, Decimal]],  # order_item_id, qty, row_total, tax
        subtotal: Decimal,
        shipping_amount: Decimal,
        tax_amount: Decimal,
        discount_amount: Decimal,
        grand_total: Decimal,
        source: str,
        comment: str | None,
        now: datetime,
    ) -> int:
        invoice = SimpleNamespace(
            increment_id=increment_id, subtotal=subtotal, shipping_amount=shipping_amount, tax_amount=tax_amount,
            discount_amount=discount_amount, grand_total=grand_total, source=source, comment=comment, now=now,
        )
        row = self.conn.execute(_INVOICE_INSERT + " RETURNING id", _invoice_row(order_id, invoice)).fetchone()
        self.conn.executemany(_INVOICE_ITEM_INSERT, [_invoice_item_row(row[0], line) for line in items])
        return int(row[0])

    def insert_shipment(
        self,
        *,
        order_id: int,
        increment_id: str,
        package_reference_id: str,
        items: list[tuple[str, int]],
        carrier_code: str | None,
        carrier_name: str | None,
        shipping_method: str | None,
        tracking_number: str | None,
        ship_date: datetime,
        source: str,
        outbox_id: int | None,
        now: datetime,
    ) -> int:
        shipment = SimpleNamespace(
            increment_id=increment_id, package_reference_id=package_reference_id, carrier_code=carrier_code,
            carrier_name=carrier_name, shipping_method=shipping_method, tracking_number=tracking_number,
            ship_date=ship_date, source=source, outbox_id=outbox_id, now=now,
        )
        row = self.conn.execute(_SHIPMENT_INSERT + " RETURNING id", _shipment_row(order_id, shipment)).fetchone()
        self.conn.executemany(_SHIPMENT_ITEM_INSERT, [(row[0], oid, qty) for oid, qty in items])
        return int(row[0])

    def shipped_items_by_tracking(self, order_id: int) -> dict[str, dict[str, int]]:
        """Tracking number (spaces removed, upper case) -> {order item id: units} over the
        order's shipments: what a re-run of a carrier file finds done already."""
        shipped: dict[str, dict[str, int]] = {}
        for row in self.conn.execute(
            # A shipment Amazon refused (reversed: not confirmed) is not one a re-run should skip.
            """SELECT s.tracking_number, i.order_item_id, i.qty FROM shipments s
               JOIN shipment_items i ON i.shipment_id = s.id
               LEFT JOIN outbox o ON o.id = s.outbox_id
               WHERE s.order_id = ? AND s.tracking_number IS NOT NULL
                 AND json_extract(coalesce(o.result_json, '{}'), '$.reversed_at') IS NULL""",
            (order_id,),
        ):
            key = row[0].replace(" ", "").upper()
            items = shipped.setdefault(key, {})
            items[row[1]] = items.get(row[1], 0) + row[2]
        return shipped

    def shipment_package_refs(self, order_id: int) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT package_reference_id FROM shipments WHERE order_id = ?", (order_id,)
            )
        }

    def add_history(
        self,
        amazon_order_id: str,
        comment: str,
        *,
        source: str,
        now: datetime,
        status: str | None = None,
        entity_type: str | None = None,
        is_customer_notified: bool | None = None,
        notify_error: str | None = None,
    ) -> int:
        row = self.conn.execute(
            """INSERT INTO status_history (amazon_order_id, comment, status, source, entity_type,
                   is_customer_notified, notify_error, created_at)
               VALUES (?,?,?,?,?,?,?,?) RETURNING id""",
            (
                amazon_order_id,
                comment,
                status,
                source,
                entity_type,
                None if is_customer_notified is None else int(is_customer_notified),
                notify_error,
                stored_time(now),
            ),
        ).fetchone()
        return int(row[0])

    def add_history_rows(self, rows: list[tuple[str, str, str | None, str, str | None, str]]) -> None:
        """Many automatic history entries in one statement, in list order (the importer's
        ~5 per new order): (amazon_order_id, comment, status, source, entity_type, created_at datetime).
        Consecutive entries of one order and moment share a row (migration 9: ~300 B less
        per imported order than a row each)."""
        self.conn.executemany(
            """INSERT INTO status_history (amazon_order_id, comment, status, source, entity_type, more_zlib, created_at)
               VALUES (?,?,?,?,?,?,?)""",
            _history_groups(rows),
        )

    def set_history_notification(self, history_id: int, notified: bool, error: str | None) -> None:
        self.conn.execute(
            "UPDATE status_history SET is_customer_notified = ?, notify_error = ? WHERE id = ?",
            (int(notified), error, history_id),
        )

    # -- sync state ----------------------------------------------------------------

    def get_watermark(self, account: str) -> datetime | None:
        row = self.conn.execute("SELECT watermark FROM sync_state WHERE account = ?", (account,)).fetchone()
        return read_time_or_none(row[0]) if row else None

    def set_watermark(self, account: str, watermark: datetime | None) -> None:
        self.conn.execute(
            """INSERT INTO sync_state (account, watermark) VALUES (?, ?)
               ON CONFLICT (account) DO UPDATE SET watermark = excluded.watermark""",
            (account, stored_time_or_none(watermark)),
        )

    def record_sync_run(self, account: str, started: datetime, finished: datetime, result: str) -> None:
        self.conn.execute(
            """INSERT INTO sync_state (account, last_started_at, last_finished_at, last_result)
               VALUES (?, ?, ?, ?)
               ON CONFLICT (account) DO UPDATE SET last_started_at = excluded.last_started_at,
                   last_finished_at = excluded.last_finished_at, last_result = excluded.last_result""",
            (account, stored_time(started), stored_time(finished), result),
        )

    def sync_states(self) -> list[dict]:
        times = ("watermark", "last_started_at", "last_finished_at")  # as ISO text, as they were kept before
        return [{k: read_time_iso(r[k]) if k in times else r[k] for k in r.keys()}
                for r in self.conn.execute("SELECT * FROM sync_state ORDER BY account")]

    # -- reads for list and show ---------------------------------------------------

    def list_orders(self, query: OrderQuery) -> list[OrderSummary]:
        sql, params = _order_query_sql(query, self.dialect.like, _SUMMARY_COLUMNS)
        return [_summary(r) for r in self.conn.execute(sql, params)]

    def pick_lines(self, amazon_order_ids: list[str]) -> list[PickLine]:
        """The items of these orders, in the order given, with where each goes."""
        position = {order_id: index for index, order_id in enumerate(amazon_order_ids)}
        lines: list[PickLine] = []
        for chunk, marks in id_chunks(amazon_order_ids):
            rows = self.conn.execute(
                f"""SELECT a.amazon_order_id, c.increment_id, i.sku, i.asin, i.title, i.quantity_ordered,
                           i.quantity_shipped, a.ship_by, a.shipping_address_json, a.raw_zlib, a.raw_json,
                           a.pii_purged_at
                      FROM amazon_order_items i JOIN {_ORDERS_FROM}
                        ON a.amazon_order_id = i.amazon_order_id {_COMMERCE_JOIN}
                     WHERE a.amazon_order_id IN ({marks}) ORDER BY i.amazon_order_id, i.line""",
                chunk,
            )
            addresses: dict[str, Address | None] = {}
            for row in rows:
                if row["amazon_order_id"] not in addresses:
                    addresses[row["amazon_order_id"]] = stored_address(row)
                address = addresses[row["amazon_order_id"]]
                lines.append(
                    _from_row(
                        PickLine,
                        row,
                        quantity=row["quantity_ordered"],
                        ship_by=read_time_or_none(row["ship_by"]),
                        ship_to_name=address.name if address else None,
                        ship_to_city=address.city if address else None,
                        ship_to_postal_code=address.postal_code if address else None,
                        ship_to_country=address.country_code if address else None,
                    )
                )
        lines.sort(key=lambda line: position[line.amazon_order_id])
        return lines

    def count_matching_orders(self, query: OrderQuery) -> int:
        """How many orders match ``query``'s filters (limit and offset aside)."""
        sql, params = _order_query_sql(query, self.dialect.like, "count(*)", count=True)
        return int(self.conn.execute(sql, params).fetchone()[0])

    def count_orders(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM amazon_orders").fetchone()[0])

    def resolve_order_key(self, key: str) -> str | None:
        """The Amazon order id for an Amazon order number, commerce number or seller order id."""
        key = key.strip()
        row = self.conn.execute(
            "SELECT amazon_order_id FROM amazon_orders WHERE amazon_order_id = ?", (key,)
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT amazon_order_id FROM commerce_orders WHERE increment_id = ?", (key,)
            ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT amazon_order_id FROM amazon_orders WHERE seller_order_id = ? LIMIT 1", (key,)
            ).fetchone()
        return row[0] if row else None

    def raw_order(self, amazon_order_id: str) -> dict | None:
        """Amazon's JSON of the order as last stored (scrubbed once its buyer data is
        purged); None for an unknown order."""
        with self.read_snapshot():  # the JSON and the item rows of one moment
            row = self.conn.execute(
                "SELECT raw_zlib, raw_json FROM amazon_orders WHERE amazon_order_id = ?", (amazon_order_id,)
            ).fetchone()
            if row is None:
                return None
            items = raw_items(self.conn.execute(
                "SELECT order_item_id, sku, asin, title FROM amazon_order_items WHERE amazon_order_id = ?",
                (amazon_order_id,),
            ))
        return unpack_raw(row[0], row[1], items)

    def order_view(self, amazon_order_id: str) -> OrderView | None:
        """Everything ``show`` prints of one order, all of it as of one moment (a
        concurrent invoice or sync is seen whole or not at all)."""
        with self.read_snapshot():
            return self._order_view(amazon_order_id)

    def _order_view(self, amazon_order_id: str) -> OrderView | None:
        """Everything ``show`` prints of one order. Its reads depend on nothing but the
        order id (the commerce order's by a subquery on it), so they are sent together:
        one round trip on PostgreSQL (pipeline), the same statements one by one on SQLite;
        a second one for the lines of the documents there are (most orders have none, and
        a table a fresh server session has not read yet costs its catalog look-up)."""
        from amzorders.domain.details import order_details
        from amzorders.domain.orderview import AmazonItemView, OrderView

        commerce_id = "(SELECT id FROM commerce_orders WHERE amazon_order_id = ?)"
        key = (amazon_order_id,)
        rows, item_rows, commerce_rows, commerce_item_rows, history_rows, invoice_rows, shipment_rows, memo_rows = (
            self._read_batch(
                [
                    (
                        f"""SELECT {_SUMMARY_COLUMNS}, a.service_level, a.deliver_by, a.buyer_company,
                                   a.buyer_po_number, a.seller_order_id, a.is_gift, a.shipping_address_json,
                                   a.pii_purged_at, a.imported_at, a.import_warnings, a.raw_json, a.raw_zlib
                            FROM {_ORDERS_FROM} {_COMMERCE_JOIN}
                            WHERE a.amazon_order_id = ?""",
                        key,
                    ),
                    ("SELECT * FROM amazon_order_items WHERE amazon_order_id = ? ORDER BY line", key),
                    ("SELECT * FROM commerce_orders WHERE amazon_order_id = ?", key),
                    (f"""SELECT {product_fields.ITEM_COLUMNS} FROM {product_fields.ITEMS_FROM}
                          WHERE i.order_id = {commerce_id} ORDER BY i.id""", key),
                    ("SELECT * FROM status_history WHERE amazon_order_id = ? ORDER BY id", key),
                    (f"SELECT * FROM invoices WHERE order_id = {commerce_id} ORDER BY id", key),
                    (f"SELECT * FROM shipments WHERE order_id = {commerce_id} ORDER BY id", key),
                    (f"SELECT * FROM credit_memos WHERE order_id = {commerce_id} ORDER BY id", key),
                ]
            )
        )
        lines: list[tuple[str, list]] = [
            (table, [r["id"] for r in documents])
            for table, documents in (
                ("invoice_items", invoice_rows), ("shipment_items", shipment_rows), ("credit_memo_items", memo_rows)
            )
            if documents
        ]
        statements = []
        for table, ids in lines:
            statements.extend(
                (f"SELECT * FROM {table} WHERE {_LINE_KEYS[table]} IN ({marks}) ORDER BY id", chunk)
                for chunk, marks in id_chunks(ids)
            )
        line_rows: dict[str, list] = {table: [] for table in _LINE_KEYS}
        if statements:
            results = iter(self._read_batch(statements))
            for table, ids in lines:
                for _ in id_chunks(ids):
                    line_rows[table].extend(next(results))
        if not rows:
            return None
        row = rows[0]
        raw = unpack_raw(row["raw_zlib"], row["raw_json"], raw_items(item_rows))
        address = stored_address(row, raw)
        sales_channel = raw.get("salesChannel")
        marketplace_name = sales_channel.get("marketplaceName") if isinstance(sales_channel, dict) else None
        items = tuple(
            _from_row(
                AmazonItemView,
                r,
                **{money: dec_or_none(r[money]) for money in ("unit_price", "item_price", "shipping_price", "tax", "discount")},
                is_gift=bool(r["is_gift"]),
            )
            for r in item_rows
        )
        commerce = _commerce_order(commerce_rows[0], commerce_item_rows) if commerce_rows else None
        view = _from_row(
            OrderView,
            row,
            summary=_summary(row),
            deliver_by=read_time_or_none(row["deliver_by"]),
            marketplace_name=marketplace_name,
            is_gift=bool(row["is_gift"]),
            shipping_address=address,
            pii_purged_at=read_time_or_none(row["pii_purged_at"]),
            imported_at=read_time(row["imported_at"]),
            import_warnings=tuple((row["import_warnings"] or "").splitlines()),
            amazon_items=items,
            commerce=commerce,
            details=order_details(raw),
        )
        view.history = _history_entries(history_rows)
        if commerce is not None:
            skus = {i.order_item_id: i.sku for i in commerce.items}
            view.invoices = [
                _invoice_record(r, _document_items(line_rows["invoice_items"], "invoice_id", r["id"], skus))
                for r in invoice_rows
            ]
            view.shipments = [
                _shipment_record(r, _document_items(line_rows["shipment_items"], "shipment_id", r["id"], skus))
                for r in shipment_rows
            ]
            view.credit_memos = [
                _credit_memo_record(r, _document_items(line_rows["credit_memo_items"], "credit_memo_id", r["id"], skus))
                for r in memo_rows
            ]
        return view

    def _read_batch(self, statements: list[tuple[str, tuple]]) -> list[list]:
        """Each statement's rows; PostgreSQL sends them all in one round trip."""
        if self.dialect.is_postgres:
            return self.conn.fetch_batch(statements)
        return [self.conn.execute(sql, params).fetchall() for sql, params in statements]

    def history(self, amazon_order_id: str) -> list[HistoryEntry]:
        return _history_entries(
            self.conn.execute("SELECT * FROM status_history WHERE amazon_order_id = ? ORDER BY id", (amazon_order_id,))
        )


# A document's line table -> the column naming its document.
_LINE_KEYS = {"invoice_items": "invoice_id", "shipment_items": "shipment_id", "credit_memo_items": "credit_memo_id"}


def _commerce_order(row, item_rows) -> CommerceOrder:
    items = [
        _from_row(
            CommerceItem,
            r,
            price=dec(r["price"]),
            row_total=dec(r["row_total"]),
            tax_amount=dec(r["tax_amount"]),
            discount_amount=dec(r["discount_amount"]),
            shipping_amount=dec(r["shipping_amount"]),
            **_money_fields(r),
        )
        for r in item_rows
    ]
    return _from_row(
        CommerceOrder,
        row,
        items=items,
        created_at=read_time(row["created_at"]),
        updated_at=read_time(row["updated_at"]),
        **_decimals(row, "subtotal", "shipping_amount", "tax_amount", "discount_amount", "grand_total",
                    "total_invoiced", "total_paid", "total_refunded", "total_canceled"),
    )


def _history_groups(rows: list[tuple]) -> list[tuple]:
    """History rows from entries: consecutive ones of the same order and moment in one row,
    the first in the columns, the others in more_zlib (compressed, migration 10)."""
    grouped: list[tuple] = []
    stamps = [stored_time(r[5]) for r in rows]  # one moment: the same stored second
    i = 0
    while i < len(rows):
        order_id, comment, status, source, entity_type, _ = rows[i]
        j = i + 1
        while j < len(rows) and rows[j][0] == order_id and stamps[j] == stamps[i]:
            j += 1
        more = pack_entries([list(r[1:5]) for r in rows[i + 1 : j]]) if j > i + 1 else None
        grouped.append((order_id, comment, status, source, entity_type, more, stamps[i]))
        i = j
    return grouped


def _history_entries(rows) -> list[HistoryEntry]:
    """The entries of status_history rows in id order (a row may hold several: migration 9)."""
    from amzorders.domain.orderview import HistoryEntry

    entries = []
    for r in rows:
        created_at = read_time(r["created_at"])
        entries.append(
            _from_row(
                HistoryEntry,
                r,
                created_at=created_at,
                is_customer_notified=None if r["is_customer_notified"] is None else bool(r["is_customer_notified"]),
            )
        )
        more = more_entries(r)
        if more:
            for comment, status, source, entity_type in more:
                entries.append(HistoryEntry(
                    created_at=created_at, comment=comment, status=status, source=source,
                    entity_type=entity_type, is_customer_notified=None, notify_error=None,
                ))
    return entries


def _document_items(rows, key: str, doc_id: int, skus: dict[str, str]) -> tuple[DocumentItem, ...]:
    """The lines of document ``doc_id`` among ``rows`` (the lines of the order's documents
    of one kind, in id order); shipment lines carry no row total."""
    from amzorders.domain.orderview import DocumentItem

    return tuple(
        DocumentItem(
            order_item_id=r["order_item_id"],
            sku=skus.get(r["order_item_id"], r["order_item_id"]),
            qty=r["qty"],
            row_total=dec(r["row_total"]) if key != "shipment_id" else Decimal(0),
        )
        for r in rows
        if r[key] == doc_id
    )


def _invoice_record(r, items: tuple[DocumentItem, ...]) -> InvoiceRecord:
    from amzorders.domain.orderview import InvoiceRecord

    return _from_row(
        InvoiceRecord,
        r,
        created_at=read_time(r["created_at"]),
        **_decimals(r, "grand_total", "subtotal", "shipping_amount", "tax_amount", "discount_amount"),
        comment=_read_invoice_comment(r["source"], r["comment"]),
        items=items,
    )


def _shipment_record(r, items: tuple[DocumentItem, ...]) -> ShipmentRecord:
    from amzorders.domain.orderview import ShipmentRecord

    return _from_row(
        ShipmentRecord,
        r,
        created_at=read_time(r["created_at"]),
        ship_date=read_time(r["ship_date"]),
        items=items,
    )


def _credit_memo_record(r, items: tuple[DocumentItem, ...]) -> CreditMemoRecord:
    from amzorders.domain.orderview import CreditMemoRecord

    return _from_row(
        CreditMemoRecord,
        r,
        created_at=read_time(r["created_at"]),
        **_decimals(r, "subtotal", "shipping_refund", "tax_refund", "adjustment_refund", "adjustment_fee",
                    "grand_total"),
        items=items,
    )


# --sort keys (the JSON field names) -> SQL; ties broken by the newest import.
SORT_COLUMNS = {
    "purchase_date": "a.purchase_date",
    "last_updated": "a.last_updated",
    "ship_by": "a.ship_by",
    "grand_total": "CAST(a.grand_total AS REAL)",
    "amazon_order_id": "a.amazon_order_id",
    "increment_id": "c.increment_id",
    "buyer_name": "lower(a.buyer_name)",
    "amazon_status": "a.status",
    "commerce_status": "c.status",
}


# Columns that are never NULL (NOT NULL in migration 1): no 'IS NULL' sort key, so that
# the default listing walks the index amazon_orders_purchase (purchase_date, id; backwards
# for the newest first) and reads 20 rows instead of sorting every order (both engines).
_NEVER_NULL_SORTS = {"purchase_date", "last_updated", "amazon_order_id", "amazon_status"}
_COMMERCE_SORTS = {"increment_id", "commerce_status"}  # keys read from the commerce order (alias c)


def _order_by(sort: str) -> str:
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    column = SORT_COLUMNS[field]
    direction = "DESC" if descending else "ASC"
    if field in _NEVER_NULL_SORTS:
        return f"{column} {direction}, a.id {direction}"
    # Orders without the value (no ship-by yet) go last either way.
    return f"{column} IS NULL, {column} {direction}, a.id {direction}"


def _order_query_sql(query: OrderQuery, like_operator: str, columns: str, *, count: bool = False) -> tuple[str, list[object]]:
    """The one builder of the order listing's SQL: ``columns`` of the orders ``query``
    matches, sorted and paged; ``count``: the number matching (no order, no paging, and
    no commerce join unless a filter needs it: the join cannot change the count, as an
    Amazon order has at most one commerce order)."""
    where, params, needs_commerce = _order_filter(query, like_operator)
    condition = (" WHERE " + " AND ".join(where)) if where else ""
    if count:
        joined = f"{_ORDERS_FROM} {_COMMERCE_JOIN}" if needs_commerce else _ORDERS_FROM
        return f"SELECT {columns} FROM {joined}{condition}", params
    order_by = _order_by(query.sort)
    params.extend((query.limit, query.offset))
    if needs_commerce or query.sort.lstrip("-") in _COMMERCE_SORTS:
        return f"SELECT {columns} FROM {_ORDERS_FROM} {_COMMERCE_JOIN}{condition} ORDER BY {order_by} LIMIT ? OFFSET ?", params
    # Page the Amazon orders first, then join the commerce order of the page's rows only:
    # a search matching 1,000 orders joins 20, not 1,000 (both engines).
    page = f"SELECT a.* FROM {_ORDERS_FROM}{condition} ORDER BY {order_by} LIMIT ? OFFSET ?"
    return f"SELECT {columns} FROM ({page}) a {_COMMERCE_JOIN} ORDER BY {order_by}", params


def _order_filter(query: OrderQuery, like_operator: str = "LIKE") -> tuple[list[str], list[object], bool]:
    """WHERE terms and their parameters for ``query``'s filters, and whether a term reads
    the commerce order (alias c)."""
    where: list[str] = []
    params: list[object] = []
    if query.statuses:
        where.append(f"a.status IN ({','.join('?' * len(query.statuses))})")
        params.extend(query.statuses)
    if query.since:
        where.append("a.purchase_date >= ?")
        params.append(stored_time(query.since))
    if query.until:
        where.append("a.purchase_date < ?")
        params.append(stored_time(query.until))
    if query.marketplace_ids:
        where.append(f"a.marketplace_id IN ({','.join('?' * len(query.marketplace_ids))})")
        params.extend(query.marketplace_ids)
    if query.channel:
        where.append("a.channel = ?")
        params.append(query.channel)
    if query.account:
        where.append("a.account = ?")
        params.append(query.account)
    if query.late_before:
        # Matches the partial index amazon_orders_late.
        where.append("a.status IN ('UNSHIPPED', 'PARTIALLY_SHIPPED') AND a.ship_by < ?")
        params.append(stored_time(query.late_before))
    if query.commerce_statuses:
        where.append(f"c.status IN ({','.join('?' * len(query.commerce_statuses))})")
        params.extend(query.commerce_statuses)
    for column, wanted in (
        ("a.is_prime", query.prime),
        ("a.is_business", query.business),
        ("a.buyer_cancel_requested", query.cancel_requested),
    ):
        if wanted is not None:
            where.append(f"{column} = ?")
            params.append(1 if wanted else 0)
    if query.held is not None:
        where.append("c.state = 'holded'" if query.held else "(c.id IS NULL OR c.state <> 'holded')")
    if query.ship_by_from:
        where.append("a.ship_by >= ?")
        params.append(stored_time(query.ship_by_from))
    if query.ship_by_until:
        where.append("a.ship_by < ?")
        params.append(stored_time(query.ship_by_until))
    if query.search:
        # The index keeps the relay domain of buyer e-mails as one character (store/searchtext.py):
        # the term becomes the patterns that find the same orders (one, unless it overlaps it).
        selects = []
        for pattern in search_patterns(fold_text(query.search.strip())):
            if len(pattern) >= 3 and not any(ch in pattern for ch in "%_\\"):
                # Plain LIKE lets the trigram index answer (10x faster at 100k orders);
                # SQLite does not hand LIKE ... ESCAPE to the FTS5 index.
                selects.append(f"SELECT rowid FROM order_search WHERE text {like_operator} ?")
                params.append(f"%{pattern}%")
            else:
                like = "%" + pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                selects.append(f"SELECT rowid FROM order_search WHERE text {like_operator} ? ESCAPE '\\'")
                params.append(like)
        where.append(f"a.id IN ({' UNION ALL '.join(selects)})")
    needs_commerce = bool(query.commerce_statuses) or query.held is not None
    return where, params, needs_commerce
