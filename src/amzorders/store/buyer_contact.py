"""Queries for buyer messages, review requests and printed documents (plain portable SQL)."""

from __future__ import annotations

from typing import Any

from amzorders.store.base import StoreBase


class BuyerContactRepository(StoreBase):
    def review_request_candidates(self, account: str, *, limit: int = 200) -> list[str]:
        """Shipped orders of ``account`` without a review request row yet, newest first.

        Only a pre-filter: Amazon decides (getSolicitationActionsForOrder) whether each one
        is inside its window now."""
        rows = self.conn.execute(
            """SELECT a.amazon_order_id FROM amazon_orders a
               WHERE a.account = ? AND a.status = 'SHIPPED'
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.amazon_order_id = a.amazon_order_id
                                   AND o.kind = 'review_request')
               ORDER BY a.purchase_date DESC, a.id DESC LIMIT ?""",
            (account, limit),
        ).fetchall()
        return [row[0] for row in rows]

    def amazon_order_document(self, amazon_order_id: str) -> dict[str, Any] | None:
        """The order as Amazon last sent it (raw JSON), for what only it holds (tax ids)."""
        return self.raw_order(amazon_order_id)  # store/orders.py: kept compressed
