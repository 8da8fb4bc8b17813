"""What listen keeps: the NotificationIds handled, and the messages set aside."""

from __future__ import annotations

from datetime import datetime

import msgspec

from amzorders.domain.timefmt import parse_iso_or_none
from amzorders.store.times import read_time_iso, stored_time, stored_time_or_none
from amzorders.store.base import StoreBase


class PoisonMessage(msgspec.Struct, frozen=True):
    id: int
    account: str
    message_id: str
    notification_id: str | None
    reason: str
    receive_count: int
    set_aside_at: str  # ISO text


class NotificationsRepository(StoreBase):
    def notification_seen(self, notification_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM notifications_seen WHERE notification_id = ?", (notification_id,)
        ).fetchone()
        return row is not None

    def record_notification(
        self, notification_id: str, *, account: str, notification_type: str, subject: str | None,
        event_time: str | None, outcome: str, now: datetime,
    ) -> bool:
        """Remember a handled notification (call in the transaction of what it changed).
        False: another process recorded it first (the caller's work is then a repeat).
        ``event_time``: Amazon's EventTime text, kept to the second (NULL if it is no time)."""
        cursor = self.conn.execute(
            """INSERT INTO notifications_seen (notification_id, account, notification_type, subject, event_time,
                                               outcome, handled_at)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING""",
            (notification_id, account, notification_type, subject,
             stored_time_or_none(parse_iso_or_none(event_time)), outcome, stored_time(now)),
        )
        return cursor.rowcount == 1

    def notification_outcomes(self, account: str) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT outcome, count(*) FROM notifications_seen WHERE account = ? GROUP BY outcome", (account,)
        )
        return {r[0]: int(r[1]) for r in rows}

    def set_aside_message(
        self, *, account: str, message_id: str, notification_id: str | None, body: str, reason: str,
        receive_count: int, now: datetime,
    ) -> None:
        """Keep a poison message (once per SQS message id)."""
        self.conn.execute(
            """INSERT INTO notifications_poison (account, message_id, notification_id, body, reason, receive_count,
                                                 set_aside_at)
               VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING""",
            (account, message_id, notification_id, body, reason, receive_count, stored_time(now)),
        )

    def poison_messages(self, account: str, *, include_dismissed: bool = False) -> list[PoisonMessage]:
        where = "" if include_dismissed else " AND dismissed_at IS NULL"
        rows = self.conn.execute(
            f"""SELECT id, account, message_id, notification_id, reason, receive_count, set_aside_at
                  FROM notifications_poison WHERE account = ?{where} ORDER BY id""",
            (account,),
        )
        return [PoisonMessage(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), read_time_iso(r[6])) for r in rows]

    def poison_body(self, poison_id: int) -> str | None:
        row = self.conn.execute("SELECT body FROM notifications_poison WHERE id = ?", (poison_id,)).fetchone()
        return None if row is None else row[0]

    def dismiss_poison(self, account: str, poison_id: int, now: datetime) -> bool:
        cursor = self.conn.execute(
            "UPDATE notifications_poison SET dismissed_at = ? WHERE id = ? AND account = ? AND dismissed_at IS NULL",
            (stored_time(now), poison_id, account),
        )
        return cursor.rowcount == 1

    def scrub_poison_bodies(self, cutoff: datetime, amazon_order_ids: list[str]) -> int:
        """Blank the bodies of set-aside messages that may hold buyer data past its retention.

        An ORDER_CHANGE payload carries the buyer's DestinationPostalCode
        (notifications/OrderChangeNotification.json), and a message that is not in
        Amazon's shape may carry anything, so a body is blanked when it names an order
        whose buyer data was just purged, or when it was set aside before the retention
        cutoff. The row itself (id, reason, dates) stays: the operator still sees that a
        message was set aside. Returns how many bodies were blanked."""
        with self.transaction():
            blanked = self.conn.execute(
                "UPDATE notifications_poison SET body = '' WHERE body <> '' AND set_aside_at <= ?",
                (stored_time(cutoff),),
            ).rowcount
            for amazon_order_id in amazon_order_ids:
                blanked += self.conn.execute(
                    "UPDATE notifications_poison SET body = '' WHERE body <> '' AND instr(body, ?) > 0",
                    (amazon_order_id,),
                ).rowcount
        return blanked
