"""Order processing documents the other repositories lack: credit memos, the Amazon
facts the processing rules need, and what was already refunded."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import msgspec

from amzorders.store.times import read_time, stored_time
from amzorders.store.base import StoreBase, dec, money_text, unpack_raw
from amzorders.store.dialect import sequence_object


class AmazonOrderFacts(msgspec.Struct, frozen=True):
    """What Amazon says about an order, as far as processing needs it."""

    amazon_order_id: str
    account: str
    status: str
    channel: str  # MFN / AFN
    marketplace_id: str | None
    purchase_date: datetime
    buyer_name: str | None
    buyer_email: str | None
    currency: str | None
    increment_id: str | None  # the commerce order number, None when there is none
    programs: tuple[str, ...] = ()  # Order.programs (PRIME, FBM_SHIP_PLUS, IN_STORE_PICK_UP...)
    buyer_cancel_requested: bool = False  # an open buyer cancellation request (AmazonOrder.buyer_cancel_requested)
    cancel_request_reasons: tuple[str, ...] = ()  # the buyer's reasons, as Amazon gave them


def _programs(raw_zlib: bytes | None, raw_json: str | None) -> tuple[str, ...]:
    programs = unpack_raw(raw_zlib, raw_json).get("programs")
    return tuple(str(p) for p in programs) if isinstance(programs, list) else ()


class DocumentsRepository(StoreBase):
    def amazon_order_facts(self, amazon_order_id: str) -> AmazonOrderFacts | None:
        row = self.conn.execute(
            """SELECT a.amazon_order_id, a.account, a.status, a.channel, a.marketplace_id,
                      a.purchase_date, a.buyer_name, a.buyer_email, a.currency, c.increment_id,
                      a.raw_json, a.raw_zlib, a.buyer_cancel_requested
               FROM amazon_orders a LEFT JOIN commerce_orders c
                 ON c.amazon_order_id = a.amazon_order_id
               WHERE a.amazon_order_id = ?""",
            (amazon_order_id,),
        ).fetchone()
        if row is None:
            return None
        return AmazonOrderFacts(
            amazon_order_id=row["amazon_order_id"],
            account=row["account"],
            status=row["status"],
            channel=row["channel"],
            marketplace_id=row["marketplace_id"],
            purchase_date=read_time(row["purchase_date"]),
            buyer_name=row["buyer_name"],
            buyer_email=row["buyer_email"],
            currency=row["currency"],
            increment_id=row["increment_id"],
            programs=_programs(row["raw_zlib"], row["raw_json"]),
            buyer_cancel_requested=bool(row["buyer_cancel_requested"]),
            cancel_request_reasons=self._cancel_request_reasons(amazon_order_id) if row["buyer_cancel_requested"] else (),
        )

    def _cancel_request_reasons(self, amazon_order_id: str) -> tuple[str, ...]:
        rows = self.conn.execute(
            "SELECT DISTINCT cancel_reason FROM amazon_order_items WHERE amazon_order_id = ? AND cancel_requested_by = 'BUYER'"
            " AND cancel_reason IS NOT NULL ORDER BY cancel_reason",
            (amazon_order_id,),
        )
        return tuple(str(r[0]) for r in rows)

    def peek_sequence_value(self, name: str) -> int:
        """The value ``next_sequence_value(name)`` would return now (for --dry-run)."""
        if self.dialect.is_postgres:
            last, called = self.conn.execute(f"SELECT last_value, is_called FROM {sequence_object(name)}").fetchone()
            return int(last) + 1 if called else int(last)
        row = self.conn.execute("SELECT value FROM sequences WHERE name = ?", (name,)).fetchone()
        return int(row[0]) + 1 if row else 1

    def insert_credit_memo(
        self,
        *,
        order_id: int,
        increment_id: str,
        reason: str,
        items: list[tuple[str, int, Decimal, Decimal]],  # order_item_id, qty, row_total, tax
        subtotal: Decimal,
        shipping_refund: Decimal,
        tax_refund: Decimal,
        adjustment_refund: Decimal,
        adjustment_fee: Decimal,
        grand_total: Decimal,
        comment: str | None,
        outbox_id: int | None,
        now: datetime,
    ) -> int:
        row = self.conn.execute(
            """INSERT INTO credit_memos (increment_id, order_id, reason, subtotal, shipping_refund,
                   tax_refund, adjustment_refund, adjustment_fee, grand_total, comment, outbox_id,
                   created_at)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id""",
            (
                increment_id,
                order_id,
                reason,
                money_text(subtotal),
                money_text(shipping_refund),
                money_text(tax_refund),
                money_text(adjustment_refund),
                money_text(adjustment_fee),
                money_text(grand_total),
                comment,
                outbox_id,
                stored_time(now),
            ),
        ).fetchone()
        self.conn.executemany(
            """INSERT INTO credit_memo_items (credit_memo_id, order_item_id, qty, row_total, tax_amount)
               VALUES (?,?,?,?,?)""",
            [(row[0], oid, qty, money_text(total), money_text(tax)) for oid, qty, total, tax in items],
        )
        return int(row[0])

    def shipping_refunded(self, order_id: int) -> Decimal:
        """Shipping refunded by all credit memos of a commerce order."""
        total = Decimal(0)
        for (value,) in self.conn.execute(
            "SELECT shipping_refund FROM credit_memos WHERE order_id = ?", (order_id,)
        ):
            total += dec(value)
        return total

    def refunded_components(self, amazon_order_id: str) -> dict[tuple[str, str], Decimal]:
        """(order_item_id, money kind) -> amount refunded by the order's refund actions
        (their ``parts`` ledger; actions queued before it are read from their components)."""
        legacy = {"Principal": "ITEM", "Tax": "ITEM_TAX", "Shipping": "SHIPPING", "ShippingTax": "SHIPPING_TAX",
                  "GiftWrap": "GIFT_WRAP", "GiftWrapTax": "GIFT_WRAP_TAX"}
        totals: dict[tuple[str, str], Decimal] = {}
        for (payload_json,) in self.conn.execute(
            # A credit memo's cancellation (kind cancel) carries the memo's ledger too.
            "SELECT payload_json FROM outbox WHERE amazon_order_id = ? AND kind IN ('refund', 'cancel')"
            " AND json_extract(coalesce(result_json, '{}'), '$.voided_at') IS NULL",
            (amazon_order_id,),
        ):
            payload = json.loads(payload_json)
            for item in payload.get("items", []):
                order_item_id = item.get("order_item_id")
                if "parts" in item:
                    entries = [(kind, amount) for kind, amount in item["parts"].items()]
                else:
                    entries = [(legacy[c.get("type")], c.get("amount", "0"))
                               for c in item.get("components", []) if c.get("type") in legacy]
                for kind, amount in entries:
                    key = (order_item_id, kind)
                    totals[key] = totals.get(key, Decimal(0)) + Decimal(str(amount))
        return totals

    def credit_memo_of_outbox_row(self, outbox_id: int) -> tuple[str, Decimal, list[tuple[str, int]]] | None:
        """(number, grand total, [(order item id, qty)]) of the credit memo an outbox row carries."""
        row = self.conn.execute(
            "SELECT id, increment_id, grand_total FROM credit_memos WHERE outbox_id = ?", (outbox_id,)
        ).fetchone()
        if row is None:
            return None
        items = [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT order_item_id, qty FROM credit_memo_items WHERE credit_memo_id = ? ORDER BY id", (row[0],))]
        return str(row[1]), dec(row[2]), items

    def shipment_of_outbox_row(self, outbox_id: int) -> tuple[str, str | None, list[tuple[str, int]]] | None:
        """(number, tracking number, [(order item id, qty)]) of the shipment an outbox row confirms."""
        row = self.conn.execute(
            "SELECT id, increment_id, tracking_number FROM shipments WHERE outbox_id = ?", (outbox_id,)
        ).fetchone()
        if row is None:
            return None
        items = [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT order_item_id, qty FROM shipment_items WHERE shipment_id = ? ORDER BY id", (row[0],))]
        return str(row[1]), row[2], items

    def note_outbox_row(self, row_id: int, patch: dict, now: datetime, *, expect_state: str) -> bool:
        """Merge ``patch`` into a row's result JSON (None deletes a key) while it is in
        ``expect_state``; the row's state is left as it is."""
        cursor = self.conn.execute(
            """UPDATE outbox SET updated_at = ?, result_json = json_patch(coalesce(result_json, '{}'), ?)
               WHERE id = ? AND state = ?""",
            (stored_time(now), json.dumps(patch, ensure_ascii=False), row_id, expect_state),
        )
        return cursor.rowcount == 1

    def history_entry_notified(self, history_id: int) -> tuple[bool | None, str | None]:
        row = self.conn.execute(
            "SELECT is_customer_notified, notify_error FROM status_history WHERE id = ?", (history_id,)
        ).fetchone()
        if row is None:
            return None, None
        return (None if row[0] is None else bool(row[0])), row[1]
