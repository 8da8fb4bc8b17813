"""Helpers for the order processing tests: order payloads, a seeded store, table dumps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from amzorders.config import AccountConfig
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.services.processing import ProcessingContext
from amzorders.store import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=("ATVPDKIKX0DER",), merchant_id="A1MERCHANT")
DOCUMENT_TABLES = (
    "commerce_orders",
    "commerce_order_items",
    "invoices",
    "invoice_items",
    "shipments",
    "shipment_items",
    "credit_memos",
    "credit_memo_items",
    "status_history",
    "outbox",
    "sequences",
)

UNSHIPPED = "111-0000001-0000001"
AFN = "111-0000002-0000002"
PENDING = "111-0000003-0000003"
SECOND = "111-0000004-0000004"


def make_order(order_id=UNSHIPPED, status="UNSHIPPED", updated="2026-11-20T10:00:00Z", fulfilled_by="MERCHANT",
               shipped=0, items=None, tax="0.00", email="jane@marketplace.amazon.com"):
    """A v2026-01-01 order: SKU-A 2 x 19.99 and SKU-B 1 x 5.00 by default, 1.50 shipping per item."""
    items = items or [("10000000000001", "SKU-A", 2, "19.99"), ("10000000000002", "SKU-B", 1, "5.00")]
    order_items = []
    for item_id, sku, qty, price in items:
        line = Decimal(price) * qty
        breakdowns = [
            {"type": "ITEM", "subtotal": {"amount": str(line), "currencyCode": "USD"}},
            {"type": "SHIPPING", "subtotal": {"amount": "1.50", "currencyCode": "USD"}},
        ]
        if Decimal(tax):
            breakdowns.append({"type": "TAX", "subtotal": {"amount": tax, "currencyCode": "USD"}})
        order_items.append({
            "orderItemId": item_id,
            "quantityOrdered": qty,
            "product": {"asin": "B0TEST" + sku[-1] * 4, "title": f"Widget {sku}", "sellerSku": sku,
                        "price": {"unitPrice": {"amount": price, "currencyCode": "USD"}}},
            "proceeds": {
                "proceedsTotal": {"amount": str(line + Decimal("1.50") + Decimal(tax)), "currencyCode": "USD"},
                "breakdowns": breakdowns,
            },
            "fulfillment": {"quantityFulfilled": min(shipped, qty), "quantityUnfulfilled": qty - min(shipped, qty)},
        })
    total = sum(Decimal(p) * q + Decimal("1.50") + Decimal(tax) for _, _, q, p in items)
    buyer = {"buyerName": "Jane Buyer"}
    if email:
        buyer["buyerEmail"] = email
    return {
        "orderId": order_id,
        "createdTime": "2026-11-20T09:00:00Z",
        "lastUpdatedTime": updated,
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER", "marketplaceName": "Amazon.com"},
        "buyer": buyer,
        "recipient": {"deliveryAddress": {"name": "Jane Buyer", "addressLine1": "1 Main St", "city": "Seattle",
                                          "stateOrRegion": "WA", "postalCode": "98101", "countryCode": "US"}},
        "proceeds": {"grandTotal": {"amount": str(total), "currencyCode": "USD"}},
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": fulfilled_by,
                        "shipByWindow": {"latestDateTime": "2026-11-22T23:59:59Z"}},
        "orderItems": order_items,
    }


def default_orders() -> list[dict]:
    return [
        make_order(UNSHIPPED),  # commerce 000000001
        make_order(AFN, status="SHIPPED", fulfilled_by="AMAZON", shipped=2),  # 000000002, complete
        make_order(PENDING, status="PENDING"),  # no commerce order
        make_order(SECOND),  # 000000003
    ]


def seed(store: Store, orders: list[dict] | None = None) -> None:
    importer = OrderImporter(store, ImportSettings(account="main"), now=lambda: NOW)
    importer.store_page(orders if orders is not None else default_orders(), ImportResult())


def seeded_store_file(path: Path) -> Path:
    """A store file at ``path`` holding the default orders, closed (the WAL checkpointed)."""
    store = Store.open(path)
    seed(store)
    store.close()
    return path


def context(store: Store, **kwargs) -> ProcessingContext:
    kwargs.setdefault("push", False)
    kwargs.setdefault("now", lambda: NOW)
    return ProcessingContext(store=store, account=ACCOUNT, **kwargs)


def dump(store: Store) -> dict[str, list[tuple]]:
    return {t: [tuple(r) for r in store.conn.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in DOCUMENT_TABLES}


def dump_file(path: Path) -> dict[str, list[tuple]]:
    store = Store.open(path)
    try:
        return dump(store)
    finally:
        store.close()


@contextmanager
def store_at_schema(path: Path, monkeypatch, version: int) -> Iterator[Store]:
    """A store at ``path`` made by migrations 1..``version`` only and, while open, written
    as that schema wrote rows (``version`` 9 or 10); closed, it migrates on its next open.
    For tests that upgrade an old store in place."""
    from amzorders.store import base as store_base
    from amzorders.store.migrations import MIGRATIONS

    writers = {9: write_as_schema_9, 10: write_as_schema_10, 12: lambda patch: None, 13: lambda patch: None}
    with monkeypatch.context() as patch:
        patch.setattr(store_base, "MIGRATIONS", MIGRATIONS[:version])
        writers[version](patch)
        if version < 13:
            write_as_schema_12(patch)
        write_as_schema_13(patch)
        with Store.open(path) as store:
            assert store.schema_version() == version
            yield store


def write_as_schema_13(patch) -> None:
    """Make the store write search rows as every schema before 14 did (``patch``: a pytest
    monkeypatch context): the folded text whole, buyer e-mails with their relay domain."""
    from amzorders.domain.textfold import fold_text
    from amzorders.store import orders as store_orders
    from amzorders.store import retention as store_retention

    for module in (store_orders, store_retention):
        patch.setattr(module, "indexed_text", fold_text)


def write_as_schema_12(patch) -> None:
    """Make the store write and read times as ISO text 'YYYY-MM-DDTHH:MM:SSZ', as every schema
    before 13 did (``patch``: a pytest monkeypatch context): store/times.py's functions
    swapped for timefmt's in every store module that uses them. For tests of migration 13
    (and of older migrations, whose TEXT time columns would keep an integer as its digits)."""
    import sys

    from amzorders.domain import timefmt
    from amzorders.store import times

    as_text = {
        "stored_time": timefmt.to_iso,
        "stored_time_or_none": timefmt.to_iso_or_none,
        "read_time": timefmt.parse_iso,
        "read_time_or_none": lambda value: timefmt.parse_iso(value) if value else None,
        "read_time_iso": lambda value: value,
    }
    for name, module in list(sys.modules.items()):
        if name.startswith("amzorders.store") and module is not times:
            for attr, replacement in as_text.items():
                if getattr(module, attr, None) is getattr(times, attr):
                    patch.setattr(module, attr, replacement)


def write_as_schema_10(patch) -> None:
    """Make the store's writers write rows as schema 10 did (``patch``: a pytest monkeypatch
    context): every commerce item with its own sku, name and asin (migration 11 stores NULL
    where they are the Amazon item's), the raw JSON with its items' product fields (migration
    11 leaves out those the item rows hold), Amazon's invoices with their comment (NULL since
    11). For tests of migration 11 on old stores."""
    from amzorders.store import items as store_items
    from amzorders.store import orders as store_orders

    from amzorders.store import base as store_base
    from amzorders.store import retention as store_retention

    patch.setattr(store_items, "stored", lambda values, amazon: tuple(values))
    patch.setattr(store_orders, "_stored_invoice_comment", lambda source, comment: comment)
    for module in (store_orders, store_retention):  # the raw JSON whole, without item rows
        patch.setattr(module, "pack_raw", lambda raw, items=None: store_base.pack_raw(raw))
    patch.setattr(store_orders.OrdersRepository, "_product_fields_kept", lambda self, ids, new_items: [])


def write_as_schema_9(patch) -> None:
    """Make the store's writers write rows as schema 9 did (``patch``: a pytest
    monkeypatch context): history entries after a row's first as JSON text (more_json), the
    delivery address also in shipping_address_json, Amazon's items with their own rowid
    (no line), the raw JSON with dictionary 1, every commerce item's components as JSON. For tests of migration 10 on old stores."""
    import json as json_module

    from amzorders.store import orders as store_orders
    from amzorders.store import rawjson

    def history_as_json(self, rows):
        groups = []
        for *head, more, created_at in store_orders._history_groups(rows):
            text = None if more is None else json_module.dumps(rawjson.unpack_entries(more), ensure_ascii=False,
                                                               separators=(",", ":"))
            groups.append((*head, text, created_at))
        self.conn.executemany(
            """INSERT INTO status_history (amazon_order_id, comment, status, source, entity_type, more_json, created_at)
               VALUES (?,?,?,?,?,?,?)""",
            groups,
        )

    new_order_row = store_orders._amazon_order_row
    columns = [c.strip() for c in store_orders._AMAZON_ORDER_UPSERT.split("(", 1)[1].split(")", 1)[0].split(",")]
    at = columns.index("shipping_address_json")

    def order_row_with_address(account, order, now, items):
        row = list(new_order_row(account, order, now, items))
        address = order.shipping_address
        row[at] = json_module.dumps(
            {k: v for k in address.__slots__ if (v := getattr(address, k)) is not None},
            ensure_ascii=False, separators=(",", ":"),
        ) if address else None
        return tuple(row)

    def money_as_json(item):
        if not item.components and not item.promotion_ids:
            return None
        data = {"components": store_orders.components_to_json(item.components)}
        if item.promotion_ids:
            data["promotion_ids"] = list(item.promotion_ids)
        return json_module.dumps(data, sort_keys=True, separators=(",", ":"))

    new_item_rows = store_orders._amazon_item_rows
    patch.setattr(store_orders, "_money_json", money_as_json)
    patch.setattr(store_orders.OrdersRepository, "add_history_rows", history_as_json)
    patch.setattr(store_orders, "_amazon_order_row", order_row_with_address)
    patch.setattr(store_orders, "_amazon_item_rows", lambda order: [r[:2] + r[3:] for r in new_item_rows(order)])
    patch.setattr(store_orders, "_AMAZON_ITEM_INSERT", store_orders._AMAZON_ITEM_INSERT.replace(" line,", "")
                  .replace("VALUES (?,", "VALUES ("))
    patch.setattr(rawjson, "_CURRENT", rawjson._DICTIONARY_1)
    write_as_schema_10(patch)
