"""What the seller alerts ask of the store, and which alert was mailed in which form."""

from __future__ import annotations

from datetime import datetime

from amzorders.store.times import read_time_iso, stored_time
from amzorders.store.base import StoreBase


class AlertsRepository(StoreBase):
    def alert_cancel_requests(self, account: str) -> list[str]:
        """Unshipped orders whose buyer asked to cancel, not canceled here yet."""
        rows = self.conn.execute(
            """SELECT a.amazon_order_id FROM amazon_orders a
                 LEFT JOIN commerce_orders c ON c.amazon_order_id = a.amazon_order_id
                WHERE a.account = ? AND a.buyer_cancel_requested = 1
                  AND a.status IN ('UNSHIPPED', 'PARTIALLY_SHIPPED')
                  AND (c.id IS NULL OR c.state <> 'canceled')
                ORDER BY a.purchase_date""",
            (account,),
        )
        return [r[0] for r in rows]

    def alert_due_orders(self, account: str, ship_by_before: datetime) -> list[tuple[str, str]]:
        """Unshipped merchant orders to ship before ``ship_by_before`` (late ones too)."""
        rows = self.conn.execute(
            """SELECT amazon_order_id, ship_by FROM amazon_orders
                WHERE account = ? AND channel = 'MFN' AND status IN ('UNSHIPPED', 'PARTIALLY_SHIPPED')
                  AND ship_by IS NOT NULL AND ship_by < ?
                ORDER BY ship_by""",
            (account, stored_time(ship_by_before)),
        )
        return [(r[0], read_time_iso(r[1])) for r in rows]

    def alert_stuck_feeds(self, account: str, submitted_before: datetime) -> list[tuple[int, str]]:
        rows = self.conn.execute(
            """SELECT id, feed_id FROM outbox
                WHERE account = ? AND state = 'submitted' AND sent_at IS NOT NULL AND sent_at < ?
                ORDER BY id""",
            (account, stored_time(submitted_before)),
        )
        return [(r[0], r[1] or "") for r in rows]

    def alert_fingerprints(self, account: str) -> dict[str, str]:
        rows = self.conn.execute("SELECT condition, fingerprint FROM alert_state WHERE account = ?", (account,))
        return {r[0]: r[1] for r in rows}

    def record_alert(self, account: str, condition: str, fingerprint: str, now: datetime) -> None:
        self.conn.execute(
            """INSERT INTO alert_state (account, condition, fingerprint, mailed_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (account, condition) DO UPDATE SET fingerprint = excluded.fingerprint,
                   mailed_at = excluded.mailed_at""",
            (account, condition, fingerprint, stored_time(now)),
        )

    def forget_alert(self, account: str, condition: str) -> None:
        self.conn.execute("DELETE FROM alert_state WHERE account = ? AND condition = ?", (account, condition))
