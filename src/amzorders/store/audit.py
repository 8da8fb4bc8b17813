"""Reads for ``audit``, shaped so that memory stays flat at any store size.

The audit walks Amazon's pages one at a time; for each page it looks the page's orders up
here in a few set-based queries (``audit_page_facts``) and marks them seen in a temporary
table (``audit_mark_seen``). The store's side of the window is never loaded whole: it is
counted (``audit_count_local``) and, at the end, its orders Amazon did not list are read by
keyset pagination on (purchase_date, id) (``audit_unseen_local``), never by OFFSET, which
re-reads every skipped row and made the audit quadratic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from amzorders.store.times import read_time, stored_time
from amzorders.store.base import StoreBase, id_chunks
from amzorders.store.items import ITEMS_FROM, SKU
from amzorders.store.outbox import _record

# SQLite's default limit of host parameters is 32,766 (3.32+); pages are 100 orders.
_CHUNK = 500


class AuditLocalOrder(msgspec.Struct, frozen=True):
    """What the audit compares of one stored order."""

    amazon_order_id: str
    in_window: bool  # this account, these marketplaces, purchased in the window
    status: str
    last_updated: datetime
    shipped: dict[str, tuple[str | None, int]]  # order_item_id -> (sku, units shipped here)


class AuditRepository(StoreBase):
    def audit_begin(self) -> None:
        """An empty per-connection set of the order ids Amazon listed so far (a TEMP
        table: on disk in SQLite's temp file, not in this process's memory; a temporary
        table of the session on PostgreSQL). Unqualified names find it first on both."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS audit_seen (amazon_order_id TEXT PRIMARY KEY)")
        self.conn.execute("DELETE FROM audit_seen")

    def audit_mark_seen(self, amazon_order_ids: Sequence[str]) -> set[str]:
        """Record ``amazon_order_ids`` as listed by Amazon; return those already recorded
        (Amazon may list an order on two pages when it changes during the walk)."""
        already: set[str] = set()
        for chunk, marks in id_chunks(amazon_order_ids, _CHUNK):
            already.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT amazon_order_id FROM audit_seen WHERE amazon_order_id IN ({marks})", chunk
                )
            )
        # One deferred transaction that writes only the temp schema: no lock on the store
        # itself (a running sync is never held up), one journal commit per page.
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(
                "INSERT INTO audit_seen (amazon_order_id) VALUES (?) ON CONFLICT DO NOTHING",
                [(i,) for i in amazon_order_ids],
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return already

    def audit_page_facts(
        self,
        amazon_order_ids: Sequence[str],
        account: str,
        marketplace_ids: Sequence[str],
        since: datetime,
        until: datetime | None,
    ) -> tuple[dict[str, AuditLocalOrder], dict[str, list]]:
        """The stored orders among ``amazon_order_ids`` and their outbox rows, in a few
        queries per chunk (orders; commerce items; Amazon items of orders without a
        commerce order; outbox)."""
        orders: dict[str, AuditLocalOrder] = {}
        outbox: dict[str, list] = {}
        since_s, until_s = stored_time(since), stored_time(until) if until else None
        markets = set(marketplace_ids)
        for chunk, marks in id_chunks(amazon_order_ids, _CHUNK):
            rows = self.conn.execute(
                f"""SELECT a.amazon_order_id, a.account, a.marketplace_id, a.purchase_date, a.status,
                           a.last_updated, c.id
                    FROM amazon_orders a LEFT JOIN commerce_orders c ON c.amazon_order_id = a.amazon_order_id
                    WHERE a.amazon_order_id IN ({marks})""",
                chunk,
            ).fetchall()
            shipped: dict[str, dict[str, tuple[str | None, int]]] = {r[0]: {} for r in rows}
            with_commerce = [r[6] for r in rows if r[6] is not None]
            without = [r[0] for r in rows if r[6] is None]
            if with_commerce:
                for oid, item_id, sku, qty in self.conn.execute(
                    f"""SELECT ic.amazon_order_id, i.order_item_id, {SKU}, i.qty_shipped
                        FROM {ITEMS_FROM}
                        WHERE i.order_id IN ({','.join('?' * len(with_commerce))})""",
                    with_commerce,
                ):
                    shipped[oid][item_id] = (sku, int(qty))
            if without:
                for oid, item_id, sku, qty in self.conn.execute(
                    f"""SELECT amazon_order_id, order_item_id, sku, quantity_shipped FROM amazon_order_items
                        WHERE amazon_order_id IN ({','.join('?' * len(without))})""",
                    without,
                ):
                    shipped[oid][item_id] = (sku, int(qty))
            for oid, acct, market, purchased, status, updated, _commerce in rows:
                in_window = (
                    acct == account
                    and (not markets or market in markets)
                    and purchased >= since_s
                    and (until_s is None or purchased < until_s)
                )
                orders[oid] = AuditLocalOrder(oid, in_window, status, read_time(updated), shipped[oid])
            for row in self.conn.execute(
                f"SELECT * FROM outbox WHERE amazon_order_id IN ({marks}) ORDER BY id", chunk
            ):
                outbox.setdefault(row["amazon_order_id"], []).append(_record(row))
        return orders, outbox

    def _window_sql(
        self, account: str, marketplace_ids: Sequence[str], since: datetime, until: datetime | None
    ) -> tuple[str, list[object]]:
        where = ["a.account = ?", "a.purchase_date >= ?"]
        params: list[object] = [account, stored_time(since)]
        if until is not None:
            where.append("a.purchase_date < ?")
            params.append(stored_time(until))
        if marketplace_ids:
            where.append(f"a.marketplace_id IN ({','.join('?' * len(marketplace_ids))})")
            params.extend(marketplace_ids)
        return " AND ".join(where), params

    def audit_count_local(
        self, account: str, marketplace_ids: Sequence[str], since: datetime, until: datetime | None
    ) -> int:
        """Stored orders of the window (served by the account/purchase_date index)."""
        where, params = self._window_sql(account, marketplace_ids, since, until)
        return int(self.conn.execute(f"SELECT count(*) FROM amazon_orders a WHERE {where}", params).fetchone()[0])

    def audit_unseen_local(
        self,
        account: str,
        marketplace_ids: Sequence[str],
        since: datetime,
        until: datetime | None,
        after: tuple[int, int] | None = None,
        limit: int = 1000,
    ) -> tuple[list[str], tuple[int, int] | None]:
        """One keyset page of the window's stored orders Amazon did not list: their ids
        and the key to pass as ``after`` for the next page (None: no more)."""
        where, params = self._window_sql(account, marketplace_ids, since, until)
        if after is not None:
            where += " AND (a.purchase_date > ? OR (a.purchase_date = ? AND a.id > ?))"
            params += [after[0], after[0], after[1]]
        rows = self.conn.execute(
            f"""SELECT a.purchase_date, a.id, a.amazon_order_id FROM amazon_orders a
                WHERE {where} AND NOT EXISTS
                      (SELECT 1 FROM audit_seen s WHERE s.amazon_order_id = a.amazon_order_id)
                ORDER BY a.purchase_date, a.id LIMIT ?""",
            [*params, limit],
        ).fetchall()
        key = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
        return [r[2] for r in rows], key

