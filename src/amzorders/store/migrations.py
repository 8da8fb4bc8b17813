"""Numbered schema migrations. Each runs in its own transaction and is recorded in
``schema_migrations``; never edit a released migration, add the next number.

Conventions: times are UNIXTIME, whole Unix seconds UTC (since migration 13; SQLite: INTEGER
with a CHECK that it is one, PostgreSQL: BIGINT; store/times.py converts); money is MONEY (SQLite:
TEXT holding an exact decimal string; PostgreSQL: NUMERIC; both read back as that text and
turned into Decimal); booleans are INTEGER 0/1. The scripts are written once, in SQLite's
DDL, and rendered for each engine by store/dialect.py: render_ddl (identity keys, NUMERIC,
DOUBLE PRECISION, the trigram search table). See docs/architecture.md, "SQL for both engines".
"""

from __future__ import annotations

import json
from decimal import Decimal


MIGRATION_1 = """
CREATE TABLE amazon_orders (
    id                    INTEGER PRIMARY KEY,
    account               TEXT NOT NULL,
    amazon_order_id       TEXT NOT NULL UNIQUE,
    marketplace_id        TEXT,
    status                TEXT NOT NULL,
    fulfilled_by          TEXT,
    channel               TEXT NOT NULL,          -- MFN / AFN
    service_level         TEXT,
    purchase_date         TEXT NOT NULL,
    last_updated          TEXT NOT NULL,
    ship_by               TEXT,
    deliver_by            TEXT,
    is_prime              INTEGER NOT NULL DEFAULT 0,
    is_business           INTEGER NOT NULL DEFAULT 0,
    is_gift               INTEGER NOT NULL DEFAULT 0,
    buyer_cancel_requested INTEGER NOT NULL DEFAULT 0,
    buyer_name            TEXT,
    buyer_email           TEXT,
    buyer_company         TEXT,
    buyer_po_number       TEXT,
    seller_order_id       TEXT,
    shipping_address_json TEXT,
    currency              TEXT,
    grand_total           MONEY,
    item_count            INTEGER NOT NULL DEFAULT 0,
    raw_json              TEXT NOT NULL,
    import_warnings       TEXT,
    imported_at           TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    pii_purged_at         TEXT
);
CREATE INDEX amazon_orders_purchase ON amazon_orders (purchase_date DESC, id DESC);
CREATE INDEX amazon_orders_status_purchase ON amazon_orders (status, purchase_date DESC);
CREATE INDEX amazon_orders_late ON amazon_orders (ship_by) WHERE status IN ('UNSHIPPED', 'PARTIALLY_SHIPPED');
CREATE INDEX amazon_orders_marketplace ON amazon_orders (marketplace_id, purchase_date DESC);
CREATE INDEX amazon_orders_account ON amazon_orders (account, purchase_date DESC);
CREATE INDEX amazon_orders_updated ON amazon_orders (last_updated);

CREATE TABLE amazon_order_items (
    id               INTEGER PRIMARY KEY,
    amazon_order_id  TEXT NOT NULL REFERENCES amazon_orders (amazon_order_id) ON DELETE CASCADE,
    order_item_id    TEXT NOT NULL,
    sku              TEXT,
    asin             TEXT,
    title            TEXT,
    quantity_ordered INTEGER NOT NULL,
    quantity_shipped INTEGER NOT NULL DEFAULT 0,
    unit_price       MONEY,
    item_price       MONEY,
    shipping_price   MONEY,
    tax              MONEY,
    discount         MONEY,
    currency         TEXT,
    is_gift          INTEGER NOT NULL DEFAULT 0,
    gift_message     TEXT,
    cancel_requested_by TEXT,
    cancel_reason    TEXT,
    UNIQUE (amazon_order_id, order_item_id)
);

-- Substring search over order numbers, buyer, SKU, ASIN and title (trigram: any 3+
-- characters use the index). rowid = amazon_orders.id.
CREATE VIRTUAL TABLE order_search USING fts5 (text, tokenize = 'trigram');

CREATE TABLE commerce_orders (
    id               INTEGER PRIMARY KEY,
    increment_id     TEXT NOT NULL UNIQUE,
    amazon_order_id  TEXT NOT NULL UNIQUE REFERENCES amazon_orders (amazon_order_id) ON DELETE CASCADE,
    account          TEXT NOT NULL,
    state            TEXT NOT NULL,
    status           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    subtotal         MONEY NOT NULL,
    shipping_amount  MONEY NOT NULL,
    tax_amount       MONEY NOT NULL,
    discount_amount  MONEY NOT NULL,
    grand_total      MONEY NOT NULL,
    total_invoiced   MONEY NOT NULL DEFAULT '0',
    total_paid       MONEY NOT NULL DEFAULT '0',
    total_refunded   MONEY NOT NULL DEFAULT '0',
    total_canceled   MONEY NOT NULL DEFAULT '0',
    version          INTEGER NOT NULL DEFAULT 0,   -- optimistic lock: bumped by every change
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX commerce_orders_state ON commerce_orders (state);

CREATE TABLE commerce_order_items (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
    order_item_id   TEXT NOT NULL,
    sku             TEXT NOT NULL,
    name            TEXT NOT NULL,
    asin            TEXT,
    price           MONEY NOT NULL,
    row_total       MONEY NOT NULL,
    tax_amount      MONEY NOT NULL DEFAULT '0',
    discount_amount MONEY NOT NULL DEFAULT '0',
    shipping_amount MONEY NOT NULL DEFAULT '0',
    qty_ordered     INTEGER NOT NULL,
    qty_invoiced    INTEGER NOT NULL DEFAULT 0,
    qty_shipped     INTEGER NOT NULL DEFAULT 0,
    qty_refunded    INTEGER NOT NULL DEFAULT 0,
    qty_canceled    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (order_id, order_item_id),
    CHECK (qty_invoiced >= 0 AND qty_shipped >= 0 AND qty_refunded >= 0 AND qty_canceled >= 0),
    CHECK (qty_invoiced + qty_canceled <= qty_ordered),
    CHECK (qty_shipped + qty_canceled <= qty_ordered),
    CHECK (qty_refunded <= qty_invoiced)
);

-- Amazon-bound actions, written in the same transaction as the change that caused them
-- (before the tables that refer to it: PostgreSQL needs referenced tables to exist).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    account         TEXT NOT NULL,
    amazon_order_id TEXT NOT NULL REFERENCES amazon_orders (amazon_order_id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,            -- confirm_shipment / cancel / refund
    idempotency_key TEXT NOT NULL UNIQUE,
    payload_json    TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',  -- pending / submitted / done / failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    request_id      TEXT,
    feed_id         TEXT,
    feed_document_id TEXT,
    result_json     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    completed_at    TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_order ON outbox (amazon_order_id);

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    increment_id    TEXT NOT NULL UNIQUE,
    order_id        INTEGER NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'paid',
    capture         TEXT NOT NULL DEFAULT 'offline',
    subtotal        MONEY NOT NULL,
    shipping_amount MONEY NOT NULL,
    tax_amount      MONEY NOT NULL,
    discount_amount MONEY NOT NULL,
    grand_total     MONEY NOT NULL,
    source          TEXT NOT NULL DEFAULT 'operator',  -- operator / amazon
    comment         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX invoices_order ON invoices (order_id);
CREATE TABLE invoice_items (
    id            INTEGER PRIMARY KEY,
    invoice_id    INTEGER NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    order_item_id TEXT NOT NULL,
    qty           INTEGER NOT NULL CHECK (qty > 0),
    row_total     MONEY NOT NULL,
    tax_amount    MONEY NOT NULL DEFAULT '0'
);

CREATE TABLE shipments (
    id                   INTEGER PRIMARY KEY,
    increment_id         TEXT NOT NULL UNIQUE,
    order_id             INTEGER NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
    package_reference_id TEXT NOT NULL,
    carrier_code         TEXT,
    carrier_name         TEXT,
    shipping_method      TEXT,
    tracking_number      TEXT,
    ship_date            TEXT NOT NULL,
    source               TEXT NOT NULL DEFAULT 'operator',  -- operator / amazon
    outbox_id            INTEGER REFERENCES outbox (id),
    created_at           TEXT NOT NULL,
    UNIQUE (order_id, package_reference_id)
);
CREATE TABLE shipment_items (
    id            INTEGER PRIMARY KEY,
    shipment_id   INTEGER NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    order_item_id TEXT NOT NULL,
    qty           INTEGER NOT NULL CHECK (qty > 0)
);

CREATE TABLE credit_memos (
    id                INTEGER PRIMARY KEY,
    increment_id      TEXT NOT NULL UNIQUE,
    order_id          INTEGER NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
    reason            TEXT NOT NULL,
    subtotal          MONEY NOT NULL,
    shipping_refund   MONEY NOT NULL DEFAULT '0',
    tax_refund        MONEY NOT NULL DEFAULT '0',
    adjustment_refund MONEY NOT NULL DEFAULT '0',
    adjustment_fee    MONEY NOT NULL DEFAULT '0',
    grand_total       MONEY NOT NULL,
    comment           TEXT,
    outbox_id         INTEGER REFERENCES outbox (id),
    created_at        TEXT NOT NULL
);
CREATE TABLE credit_memo_items (
    id             INTEGER PRIMARY KEY,
    credit_memo_id INTEGER NOT NULL REFERENCES credit_memos (id) ON DELETE CASCADE,
    order_item_id  TEXT NOT NULL,
    qty            INTEGER NOT NULL CHECK (qty >= 0),
    row_total      MONEY NOT NULL,
    tax_amount     MONEY NOT NULL DEFAULT '0'
);

-- Status history: comments and automatic entries, on the commerce order when there is
-- one; Amazon-only (pending) orders keep theirs by Amazon order id.
CREATE TABLE status_history (
    id                   INTEGER PRIMARY KEY,
    amazon_order_id      TEXT NOT NULL REFERENCES amazon_orders (amazon_order_id) ON DELETE CASCADE,
    comment              TEXT NOT NULL,
    status               TEXT,
    source               TEXT NOT NULL,   -- amazon / operator / system
    entity_type          TEXT,            -- order / invoice / shipment / creditmemo
    is_customer_notified INTEGER,         -- NULL: not applicable; 0/1
    notify_error         TEXT,
    created_at           TEXT NOT NULL
);
CREATE INDEX status_history_order ON status_history (amazon_order_id, id);


CREATE TABLE sync_state (
    account             TEXT PRIMARY KEY,
    watermark           TEXT,      -- lastUpdatedBefore of the last fully stored run
    last_started_at     TEXT,
    last_finished_at    TEXT,
    last_result         TEXT
);

-- Increment numbers for commerce documents (order, invoice, shipment, creditmemo).
CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Per-operation token buckets shared by every process using this store.
CREATE TABLE rate_buckets (
    bucket     TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at REAL NOT NULL,
    rate       REAL NOT NULL,
    burst      INTEGER NOT NULL
);

-- Cached LWA access tokens (never the refresh token or client secret), keyed by a hash.
CREATE TABLE token_cache (
    cache_key  TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""


# The money model (issue 9): every proceeds component of an item, Amazon's full precision
# ({"components": {kind: amount}, "promotion_ids": [...]}), and the order's warning when
# its parts do not add up to Amazon's grand total.
MIGRATION_2 = """
ALTER TABLE commerce_order_items ADD COLUMN money_json TEXT;
ALTER TABLE commerce_orders ADD COLUMN money_warning TEXT;
"""


# Where an interrupted searchOrders stands (store/checkpoints.py): Amazon keeps a
# pagination token 24 h, valid with the same parameters, so a backfill resumes at its
# next page. One row per account and kind of search, written with each stored page.
MIGRATION_3 = """
CREATE TABLE read_checkpoints (
    account     TEXT NOT NULL,
    kind        TEXT NOT NULL,      -- sync (lastUpdated window) / import (created window)
    params      TEXT NOT NULL,      -- JSON: the search parameters of the first page
    next_token  TEXT NOT NULL,
    pages       INTEGER NOT NULL,
    orders      INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    saved_at    TEXT NOT NULL,
    PRIMARY KEY (account, kind)
);
"""


# Issue 15 (storage per order): Amazon's JSON compressed in raw_zlib (new rows write
# raw_json = ''); the latest package shipTime kept in a column, so the buyer-data purge
# finds its retention clocks without parsing every order's JSON; the search index without
# positions (detail=none: half the size; trigram LIKE still answered by the index, then
# checked against the text); two indexes no query uses dropped.
MIGRATION_4 = """
DROP INDEX amazon_orders_updated;
DROP INDEX commerce_orders_state;
ALTER TABLE amazon_orders ADD COLUMN raw_zlib BLOB;
ALTER TABLE amazon_orders ADD COLUMN last_ship_time TEXT;
-- sqlite only
CREATE VIRTUAL TABLE order_search_v2 USING fts5 (text, tokenize = 'trigram', detail = none);
INSERT INTO order_search_v2 (rowid, text) SELECT rowid, text FROM order_search;
DROP TABLE order_search;
ALTER TABLE order_search_v2 RENAME TO order_search;
UPDATE amazon_orders SET last_ship_time = (
    SELECT json_extract(p.value, '$.shipTime') FROM json_each(amazon_orders.raw_json, '$.packages') AS p
     WHERE p.type = 'object' AND julianday(json_extract(p.value, '$.shipTime')) IS NOT NULL
     ORDER BY julianday(json_extract(p.value, '$.shipTime')) DESC LIMIT 1)
 WHERE json_valid(raw_json);
-- end sqlite only
-- postgres: UPDATE amazon_orders SET last_ship_time = (
-- postgres:     SELECT p ->> 'shipTime' FROM jsonb_array_elements(
-- postgres:            CASE WHEN jsonb_typeof(amazon_orders.raw_json::jsonb -> 'packages') = 'array'
-- postgres:                 THEN amazon_orders.raw_json::jsonb -> 'packages' ELSE '[]'::jsonb END) AS p
-- postgres:      WHERE jsonb_typeof(p) = 'object' AND p ? 'shipTime'
-- postgres:      ORDER BY (p ->> 'shipTime')::timestamptz DESC LIMIT 1)
-- postgres:  WHERE amazon_orders.raw_json <> '';
"""


MIGRATION_5 = """
-- Hold / unhold (as in Magento): state and status become 'holded' and the ones before
-- are kept to restore on release. A held order is neither invoiced, shipped, refunded
-- nor canceled (domain.rules). held_at NULL: not held.
ALTER TABLE commerce_orders ADD COLUMN held_at TEXT;
ALTER TABLE commerce_orders ADD COLUMN hold_reason TEXT;
ALTER TABLE commerce_orders ADD COLUMN hold_before_state TEXT;
ALTER TABLE commerce_orders ADD COLUMN hold_before_status TEXT;

-- Search is case- and accent-insensitive: the index keeps folded text (amz_fold is
-- amzorders.domain.textfold.fold_text, registered on every connection).
UPDATE order_search SET text = amz_fold(text);
"""


MIGRATION_6 = """
-- Seller alerts ([alerts]): which condition was mailed in which form, so that each is
-- mailed once until it changes (services/alerts.py).
CREATE TABLE alert_state (
    account     TEXT NOT NULL,
    condition   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    mailed_at   TEXT NOT NULL,
    PRIMARY KEY (account, condition)
);
"""


MIGRATION_7 = """
-- Search rows written before folding existed, folded again with fold_text itself: on
-- PostgreSQL migration 5 could only lower-case them (amz_fold is lower() there), so
-- 'lopez' did not find an old 'López'. The work is the Python step refold_search_text.
"""


def refold_search_text(conn) -> None:  # type: ignore[no-untyped-def]
    """Fold every search row with ``domain.textfold.fold_text`` (the function every row
    is written with since), in rowid batches; only rows that change are written. Folding
    folded text changes nothing, so this is safe on any store, and the same on both engines."""
    from amzorders.domain.textfold import fold_text

    last = -1
    while True:
        rows = conn.execute(
            "SELECT rowid, text FROM order_search WHERE rowid > ? ORDER BY rowid LIMIT 2000", (last,)
        ).fetchall()
        if not rows:
            return
        changed = [(folded, rowid) for rowid, text in rows if (folded := fold_text(text or "")) != text]
        if changed:
            conn.executemany("UPDATE order_search SET text = ? WHERE rowid = ?", changed)
        last = rows[-1][0]




MIGRATION_8 = """
-- Notifications (listen): each NotificationId handled once, whatever SQS redelivers
-- (standard queues deliver at least once, and Amazon may send a notification twice).
CREATE TABLE notifications_seen (
    notification_id   TEXT PRIMARY KEY,
    account           TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    subject           TEXT,                -- Amazon order id, or feed id
    event_time        TEXT,
    outcome           TEXT NOT NULL,       -- imported / already_current / feed_followed / feed_unknown
    handled_at        TEXT NOT NULL
);
CREATE INDEX notifications_seen_handled ON notifications_seen (handled_at);

-- Messages set aside: not a notification in Amazon's documented shape, or failing again
-- and again. Kept (never dropped silently) until an operator dismisses them.
CREATE TABLE notifications_poison (
    id              INTEGER PRIMARY KEY,
    account         TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    notification_id TEXT,
    body            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    receive_count   INTEGER NOT NULL,
    set_aside_at    TEXT NOT NULL,
    dismissed_at    TEXT
);
"""


MIGRATION_9 = """
-- Issue 15 (storage per order): the entries one change writes for one order at one moment
-- (the importer's four or five per new order) kept in one row: the first in the row's
-- columns, the others in more_json, a JSON list of [comment, status, source, entity_type]
-- (never notified). Rows written before keep one entry each; the history reads both.
ALTER TABLE status_history ADD COLUMN more_json TEXT;
"""


MIGRATION_10 = """
-- Issue 15 (storage per order), see the Python step compact_order_rows for the data:
-- * history entries after a row's first are kept compressed (more_zlib, store/rawjson.py
--   pack_entries: ~350 B of JSON -> ~65 B); more_json is read for rows not converted;
-- * the delivery address is read from Amazon's stored JSON, which holds it anyway, instead
--   of a second copy in shipping_address_json (NULL from now on, ~200 B per order);
-- * Amazon's JSON is packed with dictionary 2 (store/rawjson.py, ~65 B less per order);
-- * a commerce item's money_json is '' where its components are exactly those its money
--   columns give (store/orders.py DERIVED_COMPONENTS, ~34 B less per such item).
ALTER TABLE status_history ADD COLUMN more_zlib BLOB;
-- Lookups that scanned: show by seller order id (an unknown key read every order; most
-- orders have none, so the partial index costs them nothing) and the document lines of a
-- document and the credit memos of an order (foreign keys no index covered).
-- Amazon's items keyed by what identifies them (amazon_order_id, order_item_id): one
-- b-tree instead of a rowid table and a unique index on that key (~80 B per order on
-- SQLite; PostgreSQL gets the same table with that primary key). line keeps Amazon's item
-- order (reads sort by it; copied rows keep their old id as line, which sorts the same).
CREATE TABLE amazon_order_items_v10 (
    amazon_order_id  TEXT NOT NULL REFERENCES amazon_orders (amazon_order_id) ON DELETE CASCADE,
    order_item_id    TEXT NOT NULL,
    line             INTEGER NOT NULL,
    sku              TEXT,
    asin             TEXT,
    title            TEXT,
    quantity_ordered INTEGER NOT NULL,
    quantity_shipped INTEGER NOT NULL DEFAULT 0,
    unit_price       MONEY,
    item_price       MONEY,
    shipping_price   MONEY,
    tax              MONEY,
    discount         MONEY,
    currency         TEXT,
    is_gift          INTEGER NOT NULL DEFAULT 0,
    gift_message     TEXT,
    cancel_requested_by TEXT,
    cancel_reason    TEXT,
    PRIMARY KEY (amazon_order_id, order_item_id)
) WITHOUT ROWID;
INSERT INTO amazon_order_items_v10 (amazon_order_id, order_item_id, line, sku, asin, title, quantity_ordered,
       quantity_shipped, unit_price, item_price, shipping_price, tax, discount, currency, is_gift, gift_message,
       cancel_requested_by, cancel_reason)
SELECT amazon_order_id, order_item_id, id, sku, asin, title, quantity_ordered, quantity_shipped, unit_price,
       item_price, shipping_price, tax, discount, currency, is_gift, gift_message, cancel_requested_by, cancel_reason
  FROM amazon_order_items;
DROP TABLE amazon_order_items;
ALTER TABLE amazon_order_items_v10 RENAME TO amazon_order_items;
CREATE INDEX amazon_orders_seller_order ON amazon_orders (seller_order_id) WHERE seller_order_id IS NOT NULL;
CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id);
CREATE INDEX shipment_items_shipment ON shipment_items (shipment_id);
CREATE INDEX credit_memo_items_memo ON credit_memo_items (credit_memo_id);
CREATE INDEX credit_memos_order ON credit_memos (order_id);
"""


def compact_order_rows(conn) -> None:  # type: ignore[no-untyped-def]
    """Migration 10's data, in id batches, alike on both engines: history rows' more_json
    compressed into more_zlib; each order's raw JSON re-packed with the current dictionary;
    its shipping_address_json emptied where the stored JSON gives the same address back (a
    row whose JSON does not, e.g. unreadable, keeps its column, which is read first)."""
    from amzorders.store import rawjson

    last = -1
    while True:
        rows = conn.execute(
            "SELECT id, more_json FROM status_history WHERE id > ? AND more_json IS NOT NULL ORDER BY id LIMIT 2000",
            (last,),
        ).fetchall()
        if not rows:
            break
        conn.executemany(
            "UPDATE status_history SET more_zlib = ?, more_json = NULL WHERE id = ?",
            [(rawjson.pack_entries(json.loads(more)), row_id) for row_id, more in rows],
        )
        last = rows[-1][0]

    from amzorders.store.orders import DERIVED_COMPONENTS, _derived_components

    last = -1
    while True:
        rows = conn.execute(
            """SELECT id, money_json, row_total, tax_amount, discount_amount, shipping_amount FROM commerce_order_items
                WHERE id > ? AND money_json IS NOT NULL AND money_json <> '' ORDER BY id LIMIT 2000""",
            (last,),
        ).fetchall()
        if not rows:
            break
        derivable = []
        for row_id, text, *amounts in rows:
            data = json.loads(text)
            if not data.get("promotion_ids") and sorted((data.get("components") or {}).items()) == list(
                    _derived_components(*(Decimal(a) if a not in (None, "") else Decimal(0) for a in amounts)).items()):
                derivable.append((DERIVED_COMPONENTS, row_id))
        if derivable:
            conn.executemany("UPDATE commerce_order_items SET money_json = ? WHERE id = ?", derivable)
        last = rows[-1][0]

    last = -1
    while True:
        rows = conn.execute(
            """SELECT id, raw_zlib, raw_json, shipping_address_json FROM amazon_orders
                WHERE id > ? ORDER BY id LIMIT 2000""",
            (last,),
        ).fetchall()
        if not rows:
            return
        # (here, not above: a new store has no rows, and 'list' on a missing file makes one
        # in memory; the mapping is no import of list's own)
        from amzorders.domain.mapping import delivery_address
        from amzorders.domain.models import Address

        changes = []
        for row_id, packed, text, address_json in rows:
            raw = None
            repacked = None
            if packed is not None and not rawjson.is_current(bytes(packed)):
                try:
                    raw = rawjson.unpack(bytes(packed))
                except ValueError:  # damaged: left as it is (reads give {})
                    raw = None
                else:
                    repacked = rawjson.pack(raw)
            keep_address = address_json
            if address_json:
                try:
                    if raw is None:
                        raw = rawjson.unpack(bytes(packed)) if packed is not None else json.loads(text or "{}")
                    if Address(**json.loads(address_json)) == delivery_address(raw):
                        keep_address = None
                except (ValueError, TypeError):
                    pass
            if repacked is not None or keep_address != address_json:
                changes.append((repacked if repacked is not None else packed, keep_address, row_id))
        if changes:
            conn.executemany("UPDATE amazon_orders SET raw_zlib = ?, shipping_address_json = ? WHERE id = ?", changes)
        last = rows[-1][0]


MIGRATION_11 = """
-- Issue 15 (storage per order): a commerce item's sku, name and asin are NULL where they
-- are its Amazon item's sku, title and asin (nearly always: the item is made from it), and
-- read back from there (store/items.py: the read, and '' for an asin the Amazon item has
-- and the commerce item does not). ~115 B less per order (10,000 real-shaped orders:
-- 3,097 -> 2,984). SQLite cannot drop a NOT NULL: the table is made anew (same columns,
-- keys and checks; ids kept) and its rows copied.
-- The raw JSON's copies of the same fields are left out too: the Python step
-- pack_without_item_fields (store/rawjson.py, ~100 B less per order).
-- sqlite only
CREATE TABLE commerce_order_items_v11 (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES commerce_orders (id) ON DELETE CASCADE,
    order_item_id   TEXT NOT NULL,
    sku             TEXT,
    name            TEXT,
    asin            TEXT,
    price           MONEY NOT NULL,
    row_total       MONEY NOT NULL,
    tax_amount      MONEY NOT NULL DEFAULT '0',
    discount_amount MONEY NOT NULL DEFAULT '0',
    shipping_amount MONEY NOT NULL DEFAULT '0',
    qty_ordered     INTEGER NOT NULL,
    qty_invoiced    INTEGER NOT NULL DEFAULT 0,
    qty_shipped     INTEGER NOT NULL DEFAULT 0,
    qty_refunded    INTEGER NOT NULL DEFAULT 0,
    qty_canceled    INTEGER NOT NULL DEFAULT 0,
    money_json      TEXT,
    UNIQUE (order_id, order_item_id),
    CHECK (qty_invoiced >= 0 AND qty_shipped >= 0 AND qty_refunded >= 0 AND qty_canceled >= 0),
    CHECK (qty_invoiced + qty_canceled <= qty_ordered),
    CHECK (qty_shipped + qty_canceled <= qty_ordered),
    CHECK (qty_refunded <= qty_invoiced)
);
INSERT INTO commerce_order_items_v11 (id, order_id, order_item_id, sku, name, asin, price, row_total, tax_amount,
       discount_amount, shipping_amount, qty_ordered, qty_invoiced, qty_shipped, qty_refunded, qty_canceled, money_json)
SELECT i.id, i.order_id, i.order_item_id,
       CASE WHEN i.sku = ai.sku THEN NULL ELSE i.sku END,
       CASE WHEN i.name = ai.title THEN NULL ELSE i.name END,
       CASE WHEN ai.order_item_id IS NULL THEN i.asin WHEN i.asin IS ai.asin THEN NULL WHEN i.asin IS NULL THEN '' ELSE i.asin END,
       i.price, i.row_total, i.tax_amount, i.discount_amount, i.shipping_amount, i.qty_ordered, i.qty_invoiced,
       i.qty_shipped, i.qty_refunded, i.qty_canceled, i.money_json
  FROM commerce_order_items i
  JOIN commerce_orders c ON c.id = i.order_id
  LEFT JOIN amazon_order_items ai ON ai.amazon_order_id = c.amazon_order_id AND ai.order_item_id = i.order_item_id;
DROP TABLE commerce_order_items;
ALTER TABLE commerce_order_items_v11 RENAME TO commerce_order_items;
-- end sqlite only
-- postgres: ALTER TABLE commerce_order_items ALTER COLUMN sku DROP NOT NULL, ALTER COLUMN name DROP NOT NULL;
-- postgres: UPDATE commerce_order_items i SET
-- postgres:        sku = CASE WHEN i.sku = ai.sku THEN NULL ELSE i.sku END,
-- postgres:        name = CASE WHEN i.name = ai.title THEN NULL ELSE i.name END,
-- postgres:        asin = CASE WHEN i.asin IS NOT DISTINCT FROM ai.asin THEN NULL WHEN i.asin IS NULL THEN '' ELSE i.asin END
-- postgres:   FROM commerce_orders c, amazon_order_items ai
-- postgres:  WHERE c.id = i.order_id AND ai.amazon_order_id = c.amazon_order_id AND ai.order_item_id = i.order_item_id;
-- The comment every invoice of Amazon's capture has (store/orders.py AMAZON_INVOICE_COMMENT)
-- is NULL, and read back as that text ('': such an invoice without one). ~25 B per order.
UPDATE invoices SET comment = CASE WHEN comment IS NULL THEN '' ELSE NULL END
 WHERE source = 'amazon' AND (comment IS NULL OR comment = 'Captured by Amazon (offline).');
"""


def pack_without_item_fields(conn) -> None:  # type: ignore[no-untyped-def]
    """Migration 11's data, in id batches, alike on both engines: each order's raw JSON packed
    again with its items' product fields left out where its amazon_order_items rows hold
    them (store/rawjson.py, ~100 B per order). A blob that does not read (damaged) or holds
    nothing to leave out is kept as it is; rows from before migration 4 (raw_json text) too."""
    from amzorders.store import rawjson

    last = -1
    while True:
        rows = conn.execute(
            "SELECT id, amazon_order_id, raw_zlib FROM amazon_orders WHERE id > ? AND raw_zlib IS NOT NULL"
            " ORDER BY id LIMIT 2000",
            (last,),
        ).fetchall()
        if not rows:
            return
        items: dict[str, dict[str, tuple]] = {row[1]: {} for row in rows}
        marks = ",".join("?" * len(rows))
        for order_id, item_id, sku, title, asin in conn.execute(
            f"SELECT amazon_order_id, order_item_id, sku, title, asin FROM amazon_order_items"
            f" WHERE amazon_order_id IN ({marks})",
            [row[1] for row in rows],
        ):
            items[order_id][item_id] = (sku, title, asin)
        changes = []
        for row_id, order_id, packed in rows:
            packed = bytes(packed)
            try:
                raw = rawjson.unpack(packed, items[order_id])
            except ValueError:  # damaged: left as it is (reads give {})
                continue
            repacked = rawjson.pack(raw, items[order_id])
            if repacked != packed:
                changes.append((repacked, row_id))
        if changes:
            conn.executemany("UPDATE amazon_orders SET raw_zlib = ? WHERE id = ?", changes)
        last = rows[-1][0]


MIGRATION_12 = """
-- Issue 15 (storage per order): the purchase-date indexes ascending. Orders arrive in
-- about purchase-date order (sync reads Amazon's pages oldest change first), so in a
-- DESC index each new entry goes in at the b-tree's left edge and the pages split there
-- stay about half empty: 45-48 % of these four indexes' pages were unused after a sync of
-- 10,000 orders (benchmarks/store_size.py), against 12 % for the same keys ascending
-- (appended at the right edge). Both engines read an index backwards, so ORDER BY
-- purchase_date DESC, id DESC is still served by the index without a sort (on SQLite the
-- rowid, which is id, is every index's last key, in the same direction as the rest now).
DROP INDEX amazon_orders_purchase;
CREATE INDEX amazon_orders_purchase ON amazon_orders (purchase_date, id);
DROP INDEX amazon_orders_status_purchase;
CREATE INDEX amazon_orders_status_purchase ON amazon_orders (status, purchase_date);
DROP INDEX amazon_orders_marketplace;
CREATE INDEX amazon_orders_marketplace ON amazon_orders (marketplace_id, purchase_date);
DROP INDEX amazon_orders_account;
CREATE INDEX amazon_orders_account ON amazon_orders (account, purchase_date);
"""

MIGRATION_13 = """
-- Issue 15 (storage per order): every time column holds whole Unix seconds (UTC) as an
-- integer instead of the ISO text 'YYYY-MM-DDTHH:MM:SSZ' (store/times.py, the one
-- conversion). SQLite keeps such a value in 4 bytes instead of 20: 248 B of row data per
-- real-shaped order and the purchase_date / ship_by keys of five indexes, ~260 B in all.
-- Integers sort as the instants they are, so every comparison and ORDER BY stays as it
-- was. The work is the Python step times_as_integers: SQLite decides a column's affinity
-- by its declared type (a TEXT column would turn the integer back into text), so each
-- table is made anew with its time columns declared UNIXTIME (INTEGER with a CHECK that the
-- value is one: a write that missed the conversion fails instead of mixing text and
-- integers in one column, which would sort wrongly without an error); PostgreSQL changes
-- the columns' type to BIGINT in place. rate_buckets.updated_at already holds Unix seconds
-- (REAL: the token refill needs the fraction); schema_migrations keeps its text (written
-- before any migration, read by every version).
"""

# Migration 13's time columns, by table (never change: a released migration).
TIME_COLUMNS_13: dict[str, tuple[str, ...]] = {
    "amazon_orders": ("purchase_date", "last_updated", "ship_by", "deliver_by", "imported_at", "updated_at",
                      "pii_purged_at", "last_ship_time"),
    "commerce_orders": ("created_at", "updated_at", "held_at"),
    "outbox": ("next_attempt_at", "created_at", "updated_at", "sent_at", "completed_at"),
    "invoices": ("created_at",),
    "shipments": ("ship_date", "created_at"),
    "credit_memos": ("created_at",),
    "status_history": ("created_at",),
    "sync_state": ("watermark", "last_started_at", "last_finished_at"),
    "token_cache": ("expires_at",),
    "read_checkpoints": ("started_at", "saved_at"),
    "alert_state": ("mailed_at",),
    "notifications_seen": ("event_time", "handled_at"),
    "notifications_poison": ("set_aside_at", "dismissed_at"),
}
# Amazon's EventTime as the listener got it, read by nothing: a text that is no time becomes
# NULL. Any other column's text that is no time stops the migration (the CHECK refuses it):
# amzorders wrote them all with to_iso, so such a value is damage to look at, not to guess.
_NULL_IF_NO_TIME_13 = {("notifications_seen", "event_time")}


def _sqlite_seconds_or_null(column: str) -> str:
    # The fraction of a second cut off first (token_cache kept microseconds): strftime
    # rounds to milliseconds, so .9995 would count as the next second; to_iso truncates.
    # NULL for a text that is no time.
    return (f"CAST(strftime('%s', substr({column}, 1, 19) || ltrim(substr({column}, 20), '.0123456789'))"
            " AS INTEGER)")


def _sqlite_seconds(column: str) -> str:
    # '' is NULL (nothing to read); a text that is no time stays text, which the CHECK refuses.
    return (f"CASE WHEN {column} IS NULL OR {column} = '' THEN NULL "
            f"ELSE coalesce({_sqlite_seconds_or_null(column)}, {column}) END")


def times_as_integers(conn) -> None:  # type: ignore[no-untyped-def]
    """Migration 13's work (see its script). SQLite: each table made anew from its own
    CREATE TABLE text (so every column, key, default and check stays as it is) with the
    time columns' TEXT declared UNIXTIME, its rows copied with ids kept (the search index's
    rowid is amazon_orders.id), its indexes made again; Store.migrate runs this migration
    with foreign keys off (dropping a table others refer to would cascade) and checks them
    before the commit. PostgreSQL: ALTER COLUMN ... TYPE BIGINT, converted in place."""
    import re
    import sqlite3

    from amzorders.store.dialect import SQLITE, render_ddl

    if not isinstance(conn, sqlite3.Connection):
        for table, columns in TIME_COLUMNS_13.items():
            changes = ", ".join(
                f"ALTER COLUMN {c} TYPE BIGINT USING floor(extract(epoch FROM nullif({c}, '')::timestamptz))::bigint"
                for c in columns
            )
            conn.execute(f"ALTER TABLE {table} {changes}")
        return
    for table, columns in TIME_COLUMNS_13.items():
        create = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
        indexes = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            (table,))]
        new = re.sub(r'^CREATE TABLE (?:"?\w+"?)', f"CREATE TABLE {table}_v13", create)
        for column in columns:
            new, found = re.subn(rf"(?<![\w\"]){column}(\s+)TEXT\b", rf"{column}\1UNIXTIME", new)
            if found != 1:
                raise RuntimeError(f"migration 13: {table}.{column} is not one TEXT column in {create!r}")
        conn.execute(render_ddl(new, SQLITE))
        names = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
        values = []
        for name in names:
            if name not in columns:
                values.append(name)
            elif (table, name) in _NULL_IF_NO_TIME_13:
                values.append(_sqlite_seconds_or_null(name))
            else:
                values.append(_sqlite_seconds(name))
        conn.execute(f"INSERT INTO {table}_v13 ({', '.join(names)}) SELECT {', '.join(values)} FROM {table}"
                     " ORDER BY rowid")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_v13 RENAME TO {table}")
        for index in indexes:
            conn.execute(index)


MIGRATION_14 = """
-- Issue 15 (storage per order): the search text keeps the relay domain of buyer e-mails
-- ('@marketplace.amazon.' of 'xxxx@marketplace.amazon.de') as one character, char(31)
-- (store/searchtext.py MARK and indexed_text; a typed term becomes the patterns that find
-- the same orders): ~18 characters and their trigrams less per order. A char(31) of the
-- text's own becomes a space first, so the mark always stands for the domain. SQLite: the
-- index made anew from the changed texts (a bulk load; an UPDATE per row took 3x as long),
-- as migration 4 did; PostgreSQL: the rows changed in place.
-- sqlite only
CREATE VIRTUAL TABLE order_search_v14 USING fts5 (text, tokenize = 'trigram', detail = none);
INSERT INTO order_search_v14 (rowid, text)
SELECT rowid, replace(replace(text, char(31), ' '), '@marketplace.amazon.', char(31)) FROM order_search ORDER BY rowid;
DROP TABLE order_search;
ALTER TABLE order_search_v14 RENAME TO order_search;
-- end sqlite only
-- postgres: UPDATE order_search SET text = replace(replace(text, chr(31), ' '), '@marketplace.amazon.', chr(31))
-- postgres:  WHERE strpos(text, '@marketplace.amazon.') > 0 OR strpos(text, chr(31)) > 0;
"""


# (number, description, SQL script). Applied in order by Store.migrate().
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", MIGRATION_1),
    (2, "money components per item", MIGRATION_2),
    (3, "searchOrders checkpoints for resumable backfills", MIGRATION_3),
    (4, "compressed raw order JSON, last package ship time", MIGRATION_4),
    (5, "order holds, folded search text", MIGRATION_5),
    (6, "seller alert state", MIGRATION_6),
    (7, "search text of old rows folded (PostgreSQL)", MIGRATION_7),
    (8, "notifications: handled ids, set-aside messages", MIGRATION_8),
    (9, "history entries of one moment in one row", MIGRATION_9),
    (10, "smaller rows per order (history, address, raw JSON); lookup indexes", MIGRATION_10),
    (11, "item product fields kept once (commerce items, raw JSON), the Amazon invoice comment", MIGRATION_11),
    (12, "purchase-date indexes ascending (fuller pages)", MIGRATION_12),
    (13, "times as integer Unix seconds", MIGRATION_13),
    (14, "search text without the relay domain of buyer e-mails", MIGRATION_14),
]

# Migrations that rewrite most of an existing store's rows: on SQLite the file is compacted
# (VACUUM) after them, else the old rows' space stays in the file as free pages (a 100,000-
# order store grew 8 % through migration 10 and shrank 25 % with the VACUUM).
COMPACT_AFTER = frozenset({10, 11, 13, 14})

# Python steps run after a migration's script, in its transaction: what SQL cannot do
# the same way on both engines.
PYTHON_STEPS = {7: refold_search_text, 10: compact_order_rows, 11: pack_without_item_fields, 13: times_as_integers}

# Migrations that make anew tables other tables refer to: SQLite runs them with foreign keys
# off (DROP TABLE of a referenced table would delete the rows referring to it, ON DELETE
# CASCADE) and checks every reference before the commit (Store.migrate).
FOREIGN_KEYS_OFF = frozenset({13})
