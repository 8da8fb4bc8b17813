"""listen: orders in seconds, from Amazon's notifications in an SQS queue.

Amazon publishes ORDER_CHANGE (OrderStatusChange, BuyerRequestedChange) and
FEED_PROCESSING_FINISHED notifications to the queue of the seller's destination; the
notification JSON is the SQS message body. Nothing in Amazon's documents promises
exactly-once or ordered delivery, nor a notification for every new order, so:

- each NotificationId is handled once (kept in the store, ``notifications_seen``, in the
  transaction of what it changed);
- an ORDER_CHANGE whose change time (``OrderChangeTrigger.TimeOfOrderChange``, else the
  ``EventTime``) is not newer than the stored order's ``lastUpdatedTime`` changes nothing
  and costs no getOrder (late and out-of-order deliveries);
- otherwise one getOrder (its own usage plan, 0.5/s burst 30, shared with every process
  on the store through the store's rate buckets) and the importer's upsert, which never
  lets older data overwrite newer;
- a message is deleted from the queue only after the store committed; a process killed in
  between leaves it to be delivered again, which the NotificationId then makes a no-op;
- a message that is not a notification in Amazon's documented shape, or keeps failing
  (SQS ``ApproximateReceiveCount`` reaching ``max_receives``), is set aside in the store
  (``notifications_poison``) and deleted from the queue: reported, never lost silently;
- ``sync`` stays the sweep that catches what notifications missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from amzorders.domain.models import utcnow
from amzorders.domain.notification_schema import Envelope, NotificationInvalid, envelope
from amzorders.domain.timefmt import parse_iso
from amzorders.errors import (
    AmazonBadResponseError,
    AmazonError,
    AmazonRejectedError,
    AmazonUnavailableError,
    AuthError,
    QueueReceiptExpired,
)
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.services.outbox import DeliveryReport, deliver_outbox, follow_finished_feed

_log = logging.getLogger("amzorders.listen")


class Queue(Protocol):
    """What the listener needs of the queue (amazon.sqs.NotificationQueue)."""

    def receive(self, *, max_messages: int = 10, wait_seconds: int = 20,
                visibility_timeout: int | None = None) -> list[Any]: ...

    def delete(self, receipt_handle: str) -> None: ...


@dataclass(slots=True)
class ListenReport:
    received: int = 0
    imported: int = 0  # orders read with getOrder and stored
    already_current: int = 0  # the store already had this change: no getOrder
    duplicates: int = 0  # a NotificationId handled before
    feeds_followed: int = 0
    get_order_calls: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # set aside: (message id, why)
    gave_up: list[tuple[str, str]] = field(default_factory=list)  # set aside after max_receives
    retry_later: list[tuple[str, str]] = field(default_factory=list)  # left in the queue
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    auth_error: AuthError | None = None

    def summary(self) -> str:
        text = (f"{self.received} notifications: {self.imported} orders imported, {self.already_current} already "
                f"current, {self.duplicates} duplicates, {self.feeds_followed} feeds followed; "
                f"{self.get_order_calls} getOrder calls")
        set_aside = len(self.invalid) + len(self.gave_up)
        if set_aside:
            text += f"; {set_aside} set aside"
        if self.retry_later:
            text += f"; {len(self.retry_later)} left in the queue for a retry"
        return text

    def merge(self, other: ListenReport) -> None:
        for name in ("received", "imported", "already_current", "duplicates", "feeds_followed", "get_order_calls"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.invalid += other.invalid
        self.gave_up += other.gave_up
        self.retry_later += other.retry_later
        self.delivery.merge(other.delivery)
        self.auth_error = self.auth_error or other.auth_error

    def raise_for_problems(self) -> None:
        """The exit of `listen --once` (README exit codes): 3 credentials, 9 a message that is
        not a documented notification was set aside, 4 one was set aside after failing again
        and again, 5 one waits in the queue for a retry."""
        if self.auth_error is not None:
            raise self.auth_error
        if self.delivery.auth_error is not None:
            raise self.delivery.auth_error
        advice = "see 'amzorders notifications status'; the next sync sweep reads the orders anyway."
        if self.invalid:
            raise AmazonBadResponseError(
                f"{len(self.invalid)} queue message(s) were not notifications in Amazon's documented shape and were "
                f"set aside (first: {self.invalid[0][1]}); " + advice)
        if self.gave_up:
            raise AmazonRejectedError(
                f"{len(self.gave_up)} notification(s) kept failing and were set aside (first: {self.gave_up[0][1]}); "
                + advice)
        if self.retry_later:
            raise AmazonUnavailableError(
                f"{len(self.retry_later)} notification(s) could not be handled now (first: {self.retry_later[0][1]}); "
                "they stay in the queue and come back after the visibility timeout - nothing was lost.")


class _Unusable(Exception):
    """Amazon's order could not be stored (the importer refused it)."""


class Listener:
    """Handles the messages of one queue for one seller account."""

    def __init__(
        self,
        store,
        client,
        queue: Queue,
        account,
        import_settings: ImportSettings,
        *,
        max_receives: int = 5,
        visibility_timeout: int | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.client = client
        self.queue = queue
        self.account = account
        self.importer = OrderImporter(store, import_settings, now)
        self.max_receives = max_receives
        self.visibility_timeout = visibility_timeout
        self.now = now

    def poll(self, wait_seconds: int) -> ListenReport:
        """One long poll (at most 10 messages) and the handling of what came."""
        report = ListenReport()
        for message in self.queue.receive(max_messages=10, wait_seconds=wait_seconds,
                                          visibility_timeout=self.visibility_timeout):
            report.received += 1
            self.handle(message, report)
            if report.auth_error is not None:
                break
        return report

    def run(
        self,
        wait_seconds: int,
        on_report: Callable[[ListenReport], None],
        on_trouble: Callable[[AmazonError], None],
        sleep: Callable[[float], None],
    ) -> None:
        """`listen`: poll until stopped (SIGTERM/SIGINT arrive as exceptions from the signal
        handlers and end the loop between two store commits, or in the middle of a long poll);
        the outbox is delivered after every poll, so actions queued meanwhile go out within
        one long poll. A queue or Amazon that cannot be reached is retried with a growing
        pause (at most a minute); refused credentials end the run."""
        troubles = 0
        while True:
            try:
                report = self.poll(wait_seconds)
            except AmazonUnavailableError as error:
                troubles += 1
                on_trouble(error)
                sleep(min(60.0, 2.0 ** troubles))
                continue
            troubles = 0
            if report.auth_error is not None:
                raise report.auth_error
            report.delivery.merge(deliver_outbox(self.store, self.client, self.account))
            if report.delivery.auth_error is not None:
                raise report.delivery.auth_error
            on_report(report)

    def drain(self, wait_seconds: int = 1) -> ListenReport:
        """`listen --once`: poll until a long poll comes back empty, then deliver the outbox."""
        total = ListenReport()
        while True:
            report = self.poll(wait_seconds)
            total.merge(report)
            if report.auth_error is not None or report.received == 0:
                break
        if total.auth_error is None:
            total.delivery.merge(deliver_outbox(self.store, self.client, self.account))
        return total

    # -- one message -------------------------------------------------------------------

    def handle(self, message: Any, report: ListenReport) -> None:
        try:
            note = envelope(message.body)
        except NotificationInvalid as problem:
            self._set_aside(message, None, str(problem), report.invalid)
            return
        seller = _seller_of(note)
        merchant = getattr(self.account, "merchant_id", None)
        if merchant and seller and seller != merchant:
            self._set_aside(message, note.notification_id,
                            f"the notification is for seller {seller}, not this account's {merchant}", report.invalid)
            return
        if self.store.notification_seen(note.notification_id):
            report.duplicates += 1
            self._delete(message)
            return
        try:
            if note.notification_type == "ORDER_CHANGE":
                self._order_change(note, report)
            else:
                self._feed_finished(note, report)
        except AuthError as error:
            report.auth_error = error  # the message stays; credentials need a person
            return
        except (AmazonError, _Unusable) as error:
            why = f"{note.notification_type} {note.notification_id}: {error}"
            if message.receive_count >= self.max_receives:
                self._set_aside(message, note.notification_id,
                                f"failed {message.receive_count} deliveries; last: {error}", report.gave_up)
            else:
                report.retry_later.append((message.message_id, why))
                _log.warning("notification left for a retry (delivery %d of %d): %s",
                             message.receive_count, self.max_receives, why)
            return
        self._delete(message)

    def _order_change(self, note: Envelope, report: ListenReport) -> None:
        change = note.payload["OrderChangeNotification"]
        order_id = change["AmazonOrderId"]
        changed_at = _time(change["OrderChangeTrigger"].get("TimeOfOrderChange")) or _time(note.event_time)
        stored = self.store.stored_order_states([order_id]).get(order_id)
        if stored is not None and changed_at is not None and stored.last_updated >= changed_at:
            with self.store.transaction():
                self._record(note, order_id, "already_current")
            report.already_current += 1
            return
        raw = self.client.get_order(order_id)
        report.get_order_calls += 1
        result = ImportResult()

        def record() -> None:
            if not result.rejected:
                self._record(note, order_id, "imported")

        self.importer.store_page([raw], result, with_page=record)
        if result.rejected:
            raise _Unusable(f"Amazon's order {order_id} could not be stored: {result.rejected[0][1]}")
        report.imported += 1

    def _feed_finished(self, note: Envelope, report: ListenReport) -> None:
        finished = note.payload["feedProcessingFinishedNotification"]
        feed_id = finished["feedId"]
        outcome = follow_finished_feed(self.store, self.client, self.account, feed_id,
                                       finished["processingStatus"], finished.get("resultFeedDocumentId"))
        if outcome is not None:
            report.delivery.merge(outcome)
            if outcome.auth_error is not None:
                raise outcome.auth_error
            report.feeds_followed += 1
        with self.store.transaction():
            self._record(note, feed_id, "feed_followed" if outcome is not None else "feed_unknown")

    # -- store and queue ---------------------------------------------------------------

    def _record(self, note: Envelope, subject: str, outcome: str) -> None:
        self.store.record_notification(
            note.notification_id, account=self.account.name, notification_type=note.notification_type,
            subject=subject, event_time=note.event_time, outcome=outcome, now=self.now(),
        )

    def _set_aside(self, message: Any, notification_id: str | None, reason: str, bucket: list[tuple[str, str]]) -> None:
        with self.store.transaction():
            self.store.set_aside_message(
                account=self.account.name, message_id=message.message_id, notification_id=notification_id,
                body=message.body, reason=reason[:1000], receive_count=message.receive_count, now=self.now(),
            )
        bucket.append((message.message_id, reason))
        _log.warning("queue message %s set aside: %s", message.message_id, reason)
        self._delete(message)

    def _delete(self, message: Any) -> None:
        try:
            self.queue.delete(message.receipt_handle)
        except QueueReceiptExpired:
            # Received again elsewhere since: that delivery is a duplicate now (handled id).
            _log.info("queue message %s was received again before its delete; the next delivery is a no-op",
                      message.message_id)


def _seller_of(note: Envelope) -> str | None:
    if note.notification_type == "ORDER_CHANGE":
        return note.payload["OrderChangeNotification"].get("SellerId")
    return note.payload["feedProcessingFinishedNotification"].get("sellerId")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
