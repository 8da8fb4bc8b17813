"""Buyer personal data retention: find orders whose buyer data is due for purging, purge it.

Amazon's Data Protection Policy: buyer personal data is kept no longer than 30 days after
delivery. We never learn the real delivery time, so an order's *retention clock* starts at:

- SHIPPED orders: the later of the promised delivery date (``deliverByWindow.latestDateTime``,
  stored as ``deliver_by``) and the last package's ``shipTime`` in the raw JSON (a package
  shipped after the promise is delivered after it); the order's ``last_updated`` when
  Amazon gave neither. PARTIALLY_SHIPPED orders are not finished and are left alone.
- CANCELLED orders: ``last_updated`` (when Amazon cancelled it).

What a purge removes: buyer name, e-mail and company; the whole shipping address (name,
street, city, postal code, phone); gift messages; the same inside the stored raw JSON, the
search index, and any copy of those strings in the order's history and document comments.

What it keeps, for accounting: order and item ids, SKUs, titles, quantities, prices, taxes,
totals, dates, statuses, shipments and tracking, invoices, credit memos, the buyer's purchase
order number (a business document reference, needed to match B2B payments), and the
destination country and state/region (sales tax / VAT reporting) inside the raw JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from amzorders.store.times import stored_time
from amzorders.store.base import StoreBase, more_entries, pack_raw, raw_items, stored_address, unpack_raw
from amzorders.store.rawjson import pack_entries
from amzorders.store.searchtext import indexed_text

PURGE_HISTORY_COMMENT = "Buyer personal data purged (Amazon data protection policy)"
PURGED_MARK = "[purged]"

# Keys holding personal data wherever they appear in an Order object.
_PERSONAL_KEYS = frozenset(
    k.casefold()
    for k in ("buyerName", "buyerEmail", "buyerCompanyName", "phone", "email", "giftMessage", "addressInstruction",
              "legalName")  # a tax registration's legal name can be a sole trader's own name
)
# Of a buyer's address, only what tax reporting needs survives.
_ADDRESS_KEYS_KEPT = ("countryCode", "stateOrRegion")
# Addresses that are the seller's own (not personal data of the buyer).
_SELLER_ADDRESS_KEYS = frozenset({"shipfromaddress"})
_BUYER_KEYS_KEPT = ("buyerPurchaseOrderNumber",)
# Personal strings shorter than this are not searched for in free text (too many false hits).
_MIN_FREE_TEXT_MATCH = 4
_PURGE_BATCH = 200


def scrub_raw_order(raw: Any) -> Any:
    """A copy of a raw v2026-01-01 Order with the buyer's personal data removed.

    ``buyer`` keeps only the purchase order number; ``recipient`` keeps only the delivery
    address's country and state/region (delivery preferences go); anywhere else, personal
    keys (names, e-mail, phone, gift messages, delivery instructions) are dropped and any
    buyer address is cut to country and state/region.
    """
    if not isinstance(raw, dict):
        return raw
    cleaned = _scrub(raw)
    buyer = raw.get("buyer")
    if isinstance(buyer, dict):
        kept = {k: buyer[k] for k in _BUYER_KEYS_KEPT if buyer.get(k) not in (None, "")}
        if kept:
            cleaned["buyer"] = kept
        else:
            cleaned.pop("buyer", None)
    recipient = raw.get("recipient")
    if isinstance(recipient, dict):
        address = recipient.get("deliveryAddress")
        if isinstance(address, dict) and _cut_address(address):
            cleaned["recipient"] = {"deliveryAddress": _cut_address(address)}
        else:
            cleaned.pop("recipient", None)
    return cleaned


def _cut_address(address: dict) -> dict:
    return {k: address[k] for k in _ADDRESS_KEYS_KEPT if isinstance(address.get(k), str) and address[k]}


def _scrub(value: Any) -> Any:
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        folded = str(key).casefold()
        if folded in _PERSONAL_KEYS:
            continue
        if isinstance(item, dict) and folded.endswith("address") and folded not in _SELLER_ADDRESS_KEYS:
            result[key] = _cut_address(item)
            continue
        result[key] = _scrub(item)
    return result


def _personal_strings(row: Any, gift_messages: Iterable[str | None]) -> set[str]:
    """The buyer's own strings of one order, to hunt down in free text (history comments)."""
    found: set[str | None] = {row["buyer_name"], row["buyer_email"], row["buyer_company"], *gift_messages}
    raw = unpack_raw(row["raw_zlib"], row["raw_json"])
    try:
        address = stored_address(row, raw)
    except (ValueError, TypeError):  # a damaged address column (before migration 10)
        address = None
    if address is not None:
        found.update((address.name, address.company, address.line1, address.line2, address.line3, address.phone,
                      address.postal_code))
    if isinstance(raw, dict):
        for section, keys in (("buyer", ("buyerName", "buyerEmail", "buyerCompanyName")),):
            data = raw.get(section)
            if isinstance(data, dict):
                found.update(v for k, v in data.items() if k in keys and isinstance(v, str))
    return {s.strip() for s in found if isinstance(s, str) and len(s.strip()) >= _MIN_FREE_TEXT_MATCH}


class RetentionRepository(StoreBase):
    def orders_due_for_pii_purge(self, cutoff: datetime) -> list[str]:
        """Amazon order ids, oldest first, whose retention clock (see module doc) started
        at or before ``cutoff`` and whose buyer data is not purged yet."""
        if self.dialect.is_postgres:
            return self._orders_due_for_pii_purge_postgres(cutoff)
        rows = self.conn.execute(
            """WITH clocks AS (
                   SELECT a.amazon_order_id, a.status,
                          a.last_updated AS updated_s,
                          a.deliver_by AS deliver_s,
                          a.last_ship_time AS shipped_s
                     FROM amazon_orders a
                    WHERE a.pii_purged_at IS NULL AND a.status IN ('SHIPPED', 'CANCELLED')
               ), started AS (
                   SELECT amazon_order_id,
                          CASE WHEN status = 'CANCELLED' THEN updated_s
                               ELSE coalesce(max(coalesce(deliver_s, shipped_s), coalesce(shipped_s, deliver_s)),
                                             updated_s)
                          END AS clock_s
                     FROM clocks
               )
               SELECT amazon_order_id FROM started
                WHERE clock_s <= ?
                ORDER BY clock_s, amazon_order_id""",
            (stored_time(cutoff),),
        ).fetchall()
        return [r[0] for r in rows]

    def _orders_due_for_pii_purge_postgres(self, cutoff: datetime) -> list[str]:
        """The same rule for PostgreSQL (greatest, where SQLite's max of NULL is NULL)."""
        rows = self.conn.execute(
            """WITH clocks AS (
                   SELECT a.amazon_order_id, a.status,
                          a.last_updated AS updated_t,
                          a.deliver_by AS deliver_t,
                          a.last_ship_time AS shipped_t
                     FROM amazon_orders a
                    WHERE a.pii_purged_at IS NULL AND a.status IN ('SHIPPED', 'CANCELLED')
               ), started AS (
                   SELECT amazon_order_id,
                          CASE WHEN status = 'CANCELLED' THEN updated_t
                               ELSE coalesce(greatest(deliver_t, shipped_t), updated_t)
                          END AS clock_t
                     FROM clocks
               )
               SELECT amazon_order_id FROM started
                WHERE clock_t <= ?
                ORDER BY clock_t, amazon_order_id""",
            (stored_time(cutoff),),
        ).fetchall()
        return [r[0] for r in rows]

    def purge_order_pii(self, amazon_order_ids: list[str], now: datetime) -> list[str]:
        """Remove the buyer's personal data of these orders (see module doc); returns the
        ids actually purged (already purged or unknown ids are skipped). Runs in batches of
        short transactions so operators and sync are not held up."""
        purged: list[str] = []
        for start in range(0, len(amazon_order_ids), _PURGE_BATCH):
            chunk = amazon_order_ids[start : start + _PURGE_BATCH]
            with self.transaction():
                for amazon_order_id in chunk:
                    if self._purge_one(amazon_order_id, now):
                        purged.append(amazon_order_id)
                if purged and not self.dialect.is_postgres:
                    # FTS5 keeps deleted terms in its index segments until they are merged.
                    self.conn.execute("INSERT INTO order_search (order_search) VALUES ('optimize')")
        return purged

    def _purge_one(self, amazon_order_id: str, now: datetime) -> bool:
        row = self.conn.execute(
            """SELECT id, buyer_name, buyer_email, buyer_company, shipping_address_json, raw_json, raw_zlib,
                      pii_purged_at
                 FROM amazon_orders WHERE amazon_order_id = ? AND pii_purged_at IS NULL""",
            (amazon_order_id,),
        ).fetchone()
        if row is None:
            return False
        item_rows = self.conn.execute(
            "SELECT order_item_id, sku, asin, title, gift_message FROM amazon_order_items WHERE amazon_order_id = ?",
            (amazon_order_id,),
        ).fetchall()
        strings = _personal_strings(row, [r["gift_message"] for r in item_rows])
        # The whole JSON (the product fields put back), scrubbed, packed again against the same rows.
        items = raw_items(item_rows)
        raw = unpack_raw(row["raw_zlib"], row["raw_json"], items)
        # Rewritten compressed, and the old text (rows from before migration 4) emptied:
        # no copy of the buyer's data is left in either column (secure_delete blanks the
        # freed pages).
        self.conn.execute(
            """UPDATE amazon_orders SET buyer_name = NULL, buyer_email = NULL, buyer_company = NULL,
                   shipping_address_json = NULL, raw_json = '', raw_zlib = ?, pii_purged_at = ?, updated_at = ?
                WHERE id = ?""",
            (pack_raw(scrub_raw_order(raw), items), stored_time(now), stored_time(now), row["id"]),
        )
        self.conn.execute("UPDATE amazon_order_items SET gift_message = NULL WHERE amazon_order_id = ?", (amazon_order_id,))
        self._rebuild_search_without_buyer(row["id"], amazon_order_id)
        # Operators' comments and mail errors may quote the buyer: blank those quotes too.
        for text in sorted(strings, key=len, reverse=True):
            self.conn.execute(
                """UPDATE status_history SET comment = replace(comment, ?1, ?2),
                       notify_error = replace(notify_error, ?1, ?2)
                    WHERE amazon_order_id = ?3 AND (instr(comment, ?1) > 0 OR instr(coalesce(notify_error, ''), ?1) > 0)""",
                (text, PURGED_MARK, amazon_order_id),
            )
            for table in ("invoices", "credit_memos"):  # the documents with free-text comments
                self.conn.execute(
                    f"""UPDATE {table} SET comment = replace(comment, ?1, ?2)
                         WHERE instr(coalesce(comment, ''), ?1) > 0 AND order_id IN
                               (SELECT id FROM commerce_orders WHERE amazon_order_id = ?3)""",
                    (text, PURGED_MARK, amazon_order_id),
                )
        self._scrub_more_history(amazon_order_id, strings)
        self.conn.execute(
            """INSERT INTO status_history (amazon_order_id, comment, status, source, entity_type,
                   is_customer_notified, created_at)
               VALUES (?, ?, NULL, 'system', 'order', NULL, ?)""",
            (amazon_order_id, PURGE_HISTORY_COMMENT, stored_time(now)),
        )
        return True

    def _scrub_more_history(self, amazon_order_id: str, strings: set[str]) -> None:
        """The same blanking in the further entries of history rows (migration 9's more_json,
        compressed in more_zlib since migration 10): done on the decoded comments, as
        compression and JSON escaping hide them from replace. Written back compressed."""
        needles = sorted((s for s in strings if s), key=len, reverse=True)
        rows = self.conn.execute(
            """SELECT id, more_json, more_zlib FROM status_history
                WHERE amazon_order_id = ? AND (more_json IS NOT NULL OR more_zlib IS NOT NULL)""",
            (amazon_order_id,),
        ).fetchall()
        for row in rows:
            entries = more_entries(row) or []
            changed = False
            for entry in entries:
                for text in needles:
                    if text in entry[0]:
                        entry[0] = entry[0].replace(text, PURGED_MARK)
                        changed = True
            if changed:
                self.conn.execute(
                    "UPDATE status_history SET more_json = NULL, more_zlib = ? WHERE id = ?",
                    (pack_entries(entries), row["id"]),
                )

    def _rebuild_search_without_buyer(self, order_row_id: int, amazon_order_id: str) -> None:
        head = self.conn.execute(
            """SELECT a.amazon_order_id, c.increment_id, a.seller_order_id
                 FROM amazon_orders a LEFT JOIN commerce_orders c ON c.amazon_order_id = a.amazon_order_id
                WHERE a.id = ?""",
            (order_row_id,),
        ).fetchone()
        parts: list[str | None] = list(head)
        for item in self.conn.execute(
            "SELECT sku, asin, title FROM amazon_order_items WHERE amazon_order_id = ? ORDER BY line", (amazon_order_id,)
        ):
            parts.extend(item)
        text = "\n".join(p for p in parts if p)
        self.conn.execute("DELETE FROM order_search WHERE rowid = ?", (order_row_id,))
        self.conn.execute("INSERT INTO order_search (rowid, text) VALUES (?, ?)", (order_row_id, indexed_text(text)))

    def is_pii_purged(self, amazon_order_id: str) -> bool:
        row = self.conn.execute(
            "SELECT pii_purged_at FROM amazon_orders WHERE amazon_order_id = ?", (amazon_order_id,)
        ).fetchone()
        return row is not None and row[0] is not None

    def compact_after_purge(self) -> str | None:
        """Leave no copy of purged data in free pages or the WAL: VACUUM rewrites the file,
        then a TRUNCATE checkpoint empties the WAL. (secure_delete already zeroes freed
        space.) Returns None when done, else what stopped it (another connection busy)."""
        if self.dialect.is_postgres:
            return self._vacuum_postgres()
        import sqlite3

        try:
            self.conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:
            return (
                f"the store could not be compacted ({exc}); the purged data's old space is zeroed "
                "(secure_delete) and the next purge compacts the file"
            )
        busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            return (
                "another amzorders process was reading the store, so its write-ahead log could not be "
                "emptied; its old pages are overwritten at the next checkpoint"
            )
        return None

    def _vacuum_postgres(self) -> str | None:
        """VACUUM the tables a purge rewrites, so the old row versions holding buyer data
        are removed from the live tables now rather than whenever autovacuum comes by.
        (WAL archives and backups are the operator's: see the README.)"""
        tables = "amazon_orders, amazon_order_items, order_search, status_history, invoices, credit_memos"
        try:
            self.conn.execute(f"VACUUM {tables}")
        except Exception as exc:  # noqa: BLE001 - psycopg's error, reported as text
            return (
                f"the purged rows' old versions could not be vacuumed now ({str(exc).splitlines()[0]}); "
                "autovacuum removes them later, or run VACUUM on the store's tables as their owner"
            )
        return None
