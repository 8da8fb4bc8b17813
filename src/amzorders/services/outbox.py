"""Deliver the outbox: send Amazon-bound actions exactly once and follow them to the end.

- ``confirm_shipment`` rows: one Orders API v0 confirmShipment call each; 204 -> done.
- ``cancel`` / ``refund`` rows: all due rows of one kind and marketplace go into ONE feed
  document (POST_ORDER_ACKNOWLEDGEMENT_DATA / POST_PAYMENT_ADJUSTMENT_DATA; MessageID =
  position, remembered on each row), createFeed -> submitted. ``follow_feeds`` later reads
  getFeed and the processing report: success -> done, a per-message error -> failed with
  Amazon's ResultDescription.

Exactly once:
- a row is claimed (re-read and leased in one write transaction) right before it is sent,
  so two pushers (an operator's command and a cron sync) never send it both;
- outcomes are recorded in short conditional updates: a row another pusher already moved on
  is left alone, and ``done`` always wins;
- a row Amazon accepted (done) is never sent again; a row not yet accepted is never dropped:
  transient failures leave it pending with exponential backoff and jitter (capped at 1 h);
- when an earlier attempt may have reached Amazon (its answer was lost), a later rejection
  is checked against Amazon's order (package already there, order already canceled) and a
  refund reported as a duplicate MerchantAdjustmentID counts as applied.

Feed outcomes, decided:
- DONE: per message, an Error result -> failed (Amazon's code and description); Warning or
  no result -> done.
- FATAL: Amazon processed nothing; the rows go back to pending with backoff and are sent in
  a new feed, up to ``MAX_FATAL_FEEDS`` times, then they are failed with the report's
  description (a document Amazon keeps refusing needs a person).
- CANCELLED: someone cancelled the feed (cancelFeed) before processing; nothing was applied
  and the rows are failed, so a person decides ('outbox retry ID' sends them again).

Nothing here raises for Amazon or network trouble: it is recorded on the rows and in the
returned ``DeliveryReport`` (``auth_error`` set when the credentials need a person).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from amzorders.domain.models import utcnow
from amzorders.domain.timefmt import parse_iso, to_iso
from amzorders.domain.views import OutboxRecord
from amzorders.errors import (
    AmazonError,
    AmazonRejectedError,
    AmazonUnavailableError,
    AmzOrdersError,
    AuthError,
    ConfigError,
)

CANCEL_FEED_TYPE = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
REFUND_FEED_TYPE = "POST_PAYMENT_ADJUSTMENT_DATA"
FEED_TYPES = {"cancel": CANCEL_FEED_TYPE, "refund": REFUND_FEED_TYPE}
FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"
KIND_LABELS = {"confirm_shipment": "ship", "cancel": "cancel", "refund": "refund", "send_message": "message",
               "review_request": "review request", "vat_invoice": "VAT invoice"}

# A claim lasts longer than the slowest send can take (retries, createFeed's 2-minute
# rate limit): if the process dies, the row is due again after it.
CLAIM_LEASE = timedelta(minutes=15)
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_CAP_SECONDS = 3600.0
MAX_MESSAGES_PER_FEED = 500
MAX_FATAL_FEEDS = 3
# Said on a rejected row whose earlier submission lost its answer: that feed may have
# applied it, and the rejection may only be Amazon refusing it a second time.
MAYBE_APPLIED_NOTE = (
    "An earlier submission of this action got no answer and may have been applied: check the "
    "order in Seller Central before 'amzorders outbox retry'."
)
# Processing-report codes that mean "this MerchantAdjustmentID was already applied".
DUPLICATE_ADJUSTMENT_CODES = frozenset({"18031"})
# Amazon does not promise to deduplicate adjustment feeds (a resubmitted refund is a second
# refund), so a refund that may already be at Amazon is settled by its financial events
# (Finances API listFinancialEventsByOrderId, RefundEventList), which "might not include
# orders of the last 48 hours": the row waits, visibly, that long before it is sent again.
FINANCES_SETTLE = timedelta(hours=48)
CHECK_INTERVAL = timedelta(hours=1)
# Feeds API: "feeds can take up to 8 hours"; past that a feed is reported as stuck.
FEED_MAX_PROCESSING = timedelta(hours=8)
CHECKING_NOTE = "Checking with Amazon whether an earlier submission was applied"
FINISHED_FEED_STATUSES = ("DONE", "FATAL", "CANCELLED")

_random = random.Random()


class OutboxClient(Protocol):
    """What delivery needs of amazon.client.SpApiClient."""

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> None: ...

    def submit_feed(self, feed_type: str, marketplace_ids: list[str], content: bytes, content_type: str = ...) -> Any: ...

    def get_feed(self, feed_id: str) -> dict[str, Any]: ...

    def get_feed_result(self, feed: dict[str, Any]) -> bytes: ...

    def get_order(self, order_id: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class DeliveryReport:
    """What one delivery run did. Lists hold outbox row ids."""

    sent: list[int] = field(default_factory=list)  # rows sent to Amazon this run
    done: list[int] = field(default_factory=list)  # rows Amazon accepted/applied
    submitted: list[int] = field(default_factory=list)  # rows now in a feed being processed
    failed: list[tuple[int, str]] = field(default_factory=list)  # (row id, why) rejected for good
    pending: list[int] = field(default_factory=list)  # rows left waiting for a retry
    errors: list[str] = field(default_factory=list)  # transient trouble, for the log/summary
    feeds: list[str] = field(default_factory=list)  # feed ids created
    auth_error: AuthError | ConfigError | None = None  # credentials/config need a person
    stuck: list[tuple[int, str]] = field(default_factory=list)  # (row id, why): feed not DONE after 8 h
    checking: list[int] = field(default_factory=list)  # rows waiting for Amazon's financial events
    reversed: list[int] = field(default_factory=list)  # refused rows whose local change was taken back

    def merge(self, other: DeliveryReport) -> DeliveryReport:
        self.sent.extend(other.sent)
        self.done.extend(other.done)
        self.submitted.extend(other.submitted)
        self.failed.extend(other.failed)
        self.pending.extend(other.pending)
        self.errors.extend(other.errors)
        self.feeds.extend(other.feeds)
        self.stuck.extend(other.stuck)
        self.checking.extend(other.checking)
        self.reversed.extend(other.reversed)
        self.auth_error = self.auth_error or other.auth_error
        return self

    def summary(self) -> str:
        text = (
            f"{len(self.sent)} actions sent to Amazon: {len(self.done)} accepted, "
            f"{len(self.submitted)} in feeds being processed, {len(self.failed)} rejected, "
            f"{len(set(self.pending))} waiting to retry"
        )
        if self.checking:
            text += f"; {len(set(self.checking))} being checked with Amazon before any resend"
        if self.reversed:
            text += f"; {len(self.reversed)} refused change(s) taken back locally"
        if self.stuck:
            text += f"; {len(self.stuck)} in feeds not finished after 8 hours"
        if self.errors:
            text += f"; {len(self.errors)} delivery problems (last: {self.errors[-1]})"
        return text

    def stuck_message(self) -> str | None:
        """The sync error for feeds Amazon has not finished within its 8 hours (exit 5)."""
        if not self.stuck:
            return None
        shown = "; ".join(f"#{row_id} ({why})" for row_id, why in self.stuck[:5])
        more = f"; and {len(self.stuck) - 5} more" if len(self.stuck) > 5 else ""
        return (
            f"{len(self.stuck)} queued action(s) are in feeds Amazon has not finished within its documented 8 hours: "
            f"{shown}{more}. They stay submitted (nothing is sent again); check the feeds in Seller Central "
            "and see 'amzorders outbox list'."
        )


# --- entry points ----------------------------------------------------------------------


def push_rows(store, client: OutboxClient, account, row_ids: list[int], now: datetime | None = None) -> list[OutboxRecord]:
    """Send the given rows now (right after the command that wrote them committed).

    Never raises for Amazon/network errors: they are recorded on the rows. Returns the
    rows as they are afterwards (a row someone else is sending is returned unchanged).
    """
    _deliver(store, client, account, now or utcnow(), row_ids=list(row_ids))
    return [record for record in (store.outbox_row(row_id) for row_id in row_ids) if record is not None]


def push_rows_with_report(
    store, client: OutboxClient, account, row_ids: list[int], now: datetime | None = None
) -> DeliveryReport:
    """Like ``push_rows`` but returns the run's report (for commands that print it)."""
    return _deliver(store, client, account, now or utcnow(), row_ids=list(row_ids))


def deliver_outbox(store, client: OutboxClient, account, now: datetime | None = None) -> DeliveryReport:
    """Send every due pending row of ``account`` (used by sync)."""
    return _deliver(store, client, account, now or utcnow(), row_ids=None)


def follow_feeds(store, client: OutboxClient, account, now: datetime | None = None) -> DeliveryReport:
    """getFeed for each submitted feed of ``account``; map finished reports back to rows.
    What Amazon refused for good is then taken back locally (services.refusals)."""
    now = now or utcnow()
    report = _follow_feeds(store, client, account, now)
    _undo_refused(store, account, now, report, always=True)  # also what an earlier run could not finish
    return report


def _undo_refused(store, account, now: datetime, report: DeliveryReport, *, always: bool = False) -> None:
    if not report.failed and not always:
        return
    from amzorders.services.refusals import reverse_refused

    report.reversed.extend(reverse_refused(store, account.name, now))


def _follow_feeds(store, client: OutboxClient, account, now: datetime) -> DeliveryReport:
    report = DeliveryReport()
    by_feed: dict[str, list[OutboxRecord]] = {}
    for record in store.submitted_outbox_rows(account.name):
        by_feed.setdefault(record.feed_id or "", []).append(record)
    for feed_id, records in by_feed.items():
        if not feed_id:  # cannot happen through this module; keep such a row visible
            for record in records:
                _fail_submitted(store, record, now, "The row is marked submitted but has no feed id.", report, feed_id=None)
            continue
        try:
            feed = client.get_feed(feed_id)
            status = str(feed.get("processingStatus") or "")
            if status not in FINISHED_FEED_STATUSES:
                _note_if_stuck(store, feed_id, status, records, now, report)
                continue  # IN_QUEUE / IN_PROGRESS: ask again next time
            document = client.get_feed_result(feed) if feed.get("resultFeedDocumentId") else None
        except AuthError as error:
            report.auth_error = error
            report.errors.append(_describe(error))
            return report
        except AmazonRejectedError as error:
            if error.status == 404:
                why = (
                    f"Amazon no longer knows feed {feed_id} ({_amazon_said(error)}); whether it was applied is "
                    "unknown: check the order in Seller Central, then 'outbox retry' or 'outbox dismiss'."
                )
                for record in records:
                    _fail_submitted(store, record, now, why, report, feed_id=feed_id, meta={"outcome_unknown": True})
            else:
                report.errors.append(_describe(error))
            continue
        except (AmazonError, ConfigError) as error:
            report.errors.append(_describe(error))
            continue
        _apply_feed_outcome(store, client, feed_id, status, document, records, now, report)
    return report


def follow_finished_feed(
    store, client: OutboxClient, account, feed_id: str, status: str, result_document_id: str | None,
    now: datetime | None = None,
) -> DeliveryReport | None:
    """A FEED_PROCESSING_FINISHED notification for ``feed_id``: map its processing report
    back to the rows, without asking getFeed (the notification carries processingStatus
    and resultFeedDocumentId: FeedProcessingFinishedNotification.json). None when no
    submitted row of ``account`` waits for this feed (another tool's feed, or done already)."""
    now = now or utcnow()
    records = [r for r in store.submitted_outbox_rows(account.name) if r.feed_id == feed_id]
    if not records:
        return None
    report = DeliveryReport()
    if status not in FINISHED_FEED_STATUSES:
        return report
    try:
        feed = {"feedId": feed_id, "processingStatus": status, "resultFeedDocumentId": result_document_id}
        document = client.get_feed_result(feed) if result_document_id else None
    except AuthError as error:
        report.auth_error = error
        report.errors.append(_describe(error))
        return report
    except (AmazonError, ConfigError) as error:
        report.errors.append(_describe(error))  # the next sync's follow_feeds asks getFeed
        return report
    _apply_feed_outcome(store, client, feed_id, status, document, records, now, report)
    _undo_refused(store, account, now, report)  # what Amazon refused in it is taken back at once
    return report


def _note_if_stuck(store, feed_id: str, status: str, records: list[OutboxRecord], now: datetime,
                   report: DeliveryReport) -> None:
    for record in records:
        submitted = ((record.result or {}).get("feed") or {}).get("submitted_at")
        since = parse_iso(submitted) if submitted else record.sent_at
        if since is None or now - since < FEED_MAX_PROCESSING:
            continue
        hours = int((now - since).total_seconds() // 3600)
        why = (f"feed {feed_id} is still {status or 'unfinished'} {hours} h after it was submitted; Amazon "
               "documents up to 8 hours")
        report.stuck.append((record.id, why))
        if not (record.result or {}).get("stuck_since"):
            store.finish_outbox_row(
                record.id, now=now, state="submitted", expect_state="submitted", feed_id=feed_id,
                last_error=why[0].upper() + why[1:] + ". Nothing is sent again; check it in Seller Central.",
                meta={"stuck_since": to_iso(now)},
            )


def rejected_rows_message(records: list[OutboxRecord]) -> str:
    """The sync error for rows Amazon rejected (exit code 4)."""
    shown = []
    for record in records[:5]:
        why = (record.last_error or "no reason recorded").splitlines()[0]
        if len(why) > 200:
            why = why[:197] + "..."
        shown.append(f"#{record.id} {KIND_LABELS.get(record.kind, record.kind)} {record.amazon_order_id} ({why})")
    more = f"; and {len(records) - 5} more" if len(records) > 5 else ""
    count = len(records)
    noun = "action was" if count == 1 else "actions were"
    return (
        f"{count} {noun} rejected by Amazon: {'; '.join(shown)}{more}. See 'amzorders outbox list'; fix and "
        "'amzorders outbox retry ID', or 'amzorders outbox dismiss ID'."
    )


# --- delivery --------------------------------------------------------------------------


def _deliver(store, client: OutboxClient, account, now: datetime, row_ids: list[int] | None) -> DeliveryReport:
    report = _deliver_due(store, client, account, now, row_ids)
    _undo_refused(store, account, now, report)
    return report


def _deliver_due(store, client: OutboxClient, account, now: datetime, row_ids: list[int] | None) -> DeliveryReport:
    report = DeliveryReport()
    due = store.due_outbox_rows(account.name, now)
    if row_ids is not None:
        wanted = set(row_ids)
        due = [record for record in due if record.id in wanted]
    shipments = [r for r in due if r.kind == "confirm_shipment"]
    for record in shipments:
        if report.auth_error is not None:
            break
        if _waits_for_earlier(store, record):
            continue
        _send_shipment(store, client, account, record.id, now, report)
    for kind in ("cancel", "refund"):
        groups: dict[str, list[int]] = {}
        for record in due:
            if record.kind == kind and not _waits_for_earlier(store, record):
                groups.setdefault(str(record.payload.get("marketplace_id") or ""), []).append(record.id)
        for marketplace_id, ids in groups.items():
            for start in range(0, len(ids), MAX_MESSAGES_PER_FEED):
                if report.auth_error is not None:
                    return report
                _send_feed(store, client, account, kind, marketplace_id, ids[start : start + MAX_MESSAGES_PER_FEED], now, report)
    # Buyer messages, review requests and VAT invoice uploads have their own senders.
    from amzorders.services import messaging, vat_invoices

    for deliver_more in (messaging.deliver, vat_invoices.deliver):
        if report.auth_error is not None:
            return report
        deliver_more(store, client, account, now, row_ids, report)
    return report


ORDERED_KINDS = ("confirm_shipment", "cancel", "refund")


def _waits_for_earlier(store, record: OutboxRecord) -> bool:
    """Actions of one order go to Amazon in the order the operator made them: a row waits
    while an earlier shipment, cancel or refund of its order is not finished (pending, or in
    a feed not yet processed), so a refund queued before a cancel is applied before it."""
    if record.kind not in ORDERED_KINDS:
        return False
    for other in store.outbox_for_order(record.amazon_order_id):
        if other.id >= record.id:
            return False
        if other.kind in ORDERED_KINDS and other.state in ("pending", "submitted"):
            return True
    return False


def _send_shipment(store, client: OutboxClient, account, row_id: int, now: datetime, report: DeliveryReport) -> None:
    claim, claimed = store.claim_outbox_rows(account.name, now, now + CLAIM_LEASE, row_ids=[row_id], kinds=("confirm_shipment",))
    if not claimed:
        return  # another pusher has it, or it is no longer due
    record = claimed[0]
    try:
        client.confirm_shipment(record.amazon_order_id, record.payload)
    except AuthError as error:
        _release_for_person(store, record, claim, now, error, report)
    except ConfigError as error:
        _release_for_person(store, record, claim, now, error, report)
    except AmazonRejectedError as error:
        report.sent.append(record.id)
        if (record.result or {}).get("maybe_sent"):
            there = _package_already_there(client, record)
            if there:
                _mark_done(store, record, now, report, claim=claim, request_id=error.request_id,
                           meta={"report": {"note": "Amazon already had this package from an earlier attempt."}})
                return
            if there is None:
                # An earlier attempt may have worked and Amazon cannot be asked now: never
                # fail on a guess; try again later.
                _back_off(store, record, claim, now, error, report, maybe_sent=True)
                return
        _fail_rejected(store, record, claim, now, error, report)
    except AmazonUnavailableError as error:
        report.sent.append(record.id)
        _back_off(store, record, claim, now, error, report, maybe_sent=bool(getattr(error, "maybe_delivered", True)))
    except BaseException:
        # A bug or Ctrl-C: give the row back so the next run sends it.
        store.release_outbox_claim(record.id, claim, now, now)
        raise
    else:
        report.sent.append(record.id)
        _mark_done(store, record, now, report, claim=claim, sent=True)


def _send_feed(
    store, client: OutboxClient, account, kind: str, marketplace_id: str, row_ids: list[int], now: datetime, report: DeliveryReport
) -> None:
    claim, claimed = store.claim_outbox_rows(account.name, now, now + CLAIM_LEASE, row_ids=row_ids, kinds=(kind,))
    if not claimed:
        return
    batch: list[OutboxRecord] = []
    try:
        claimed = [r for r in claimed if not _in_doubt(r) or _settle_doubt(store, client, r, claim, now, report)]
        if not claimed:
            return
        merchant_id = _merchant_id(account)
        messages, unusable = _feed_messages(kind, claimed)
        for record, why in unusable:
            if store.finish_outbox_row(record.id, now=now, state="failed", claim=claim, last_error=why):
                report.failed.append((record.id, why))
        batch = [record for record, _ in messages]
        if not batch:
            return
        content = _build_document(kind, merchant_id, [message for _, message in messages])

        def about_to_create(document_id: str) -> None:
            # From here a feed may exist even if no answer comes: say so on the rows first.
            store.note_outbox_claimed_rows([r.id for r in batch], claim, {
                "sending": {"claim": claim, "feed_document_id": document_id, "at": to_iso(now)}}, now)

        submitted = client.submit_feed(FEED_TYPES[kind], [marketplace_id], content, FEED_CONTENT_TYPE,
                                       before_create=about_to_create)
    except (AuthError, ConfigError) as error:
        for record in claimed:
            _release_for_person(store, record, claim, now, error, report)
        return
    except AmazonRejectedError as error:
        # createFeed refused the request itself (not a message): for every row of the batch.
        for record in batch:
            report.sent.append(record.id)
            _fail_rejected(store, record, claim, now, error, report)
        return
    except AmazonUnavailableError as error:
        maybe_sent = bool(getattr(error, "maybe_delivered", True))
        for record in batch:
            report.sent.append(record.id)
            _back_off(store, record, claim, now, error, report, maybe_sent=maybe_sent)
        return
    except BaseException:
        for record in claimed:
            store.release_outbox_claim(record.id, claim, now, now)
        raise
    report.feeds.append(submitted.feed_id)
    for message_id, record in enumerate(batch, start=1):
        report.sent.append(record.id)
        meta = {
            "feed": {
                "feed_id": submitted.feed_id,
                "feed_document_id": submitted.feed_document_id,
                "message_id": message_id,
                "feed_type": FEED_TYPES[kind],
                "submitted_at": to_iso(now),
            },
            # the doubt is over: this feed is the one to follow
            "sending": None, "maybe_sent": None, "maybe_sent_at": None, "checking": None,
        }
        _mark_submitted(store, record, claim, now, submitted, meta, report)


def _fail_rejected(store, record: OutboxRecord, claim: str, now: datetime, error: AmazonRejectedError,
                   report: DeliveryReport) -> str | None:
    """Amazon refused the request of this row for good: the row fails, if our claim still
    holds. Returns the reason when it was written (None: someone else has the row)."""
    why = _rejection_text(error)
    if store.finish_outbox_row(
        record.id, now=now, state="failed", claim=claim, attempts_increment=1, last_error=why,
        request_id=error.request_id, sent=True, meta={"report": _error_meta(error)},
    ):
        report.failed.append((record.id, why))
        return why
    return None


def _mark_submitted(store, record: OutboxRecord, claim: str, now: datetime, submitted, meta: dict,
                    report: DeliveryReport) -> None:
    """The row's feed is out: it is followed from now on."""
    if store.finish_outbox_row(
        record.id, now=now, state="submitted", claim=claim, attempts_increment=1, last_error=None,
        new_feed_id=submitted.feed_id, feed_document_id=submitted.feed_document_id, sent=True, meta=meta,
    ) or store.finish_outbox_row(
        # our lease ran out and someone re-claimed it: the feed is out, so it wins over a retry
        record.id, now=now, state="submitted", attempts_increment=1, last_error=None,
        new_feed_id=submitted.feed_id, feed_document_id=submitted.feed_document_id, sent=True, meta=meta,
    ):
        report.submitted.append(record.id)


# --- feed outcomes ---------------------------------------------------------------------


def _apply_feed_outcome(
    store, client: OutboxClient, feed_id: str, status: str, document: bytes | None,
    records: list[OutboxRecord], now: datetime, report: DeliveryReport,
) -> None:
    from amzorders.amazon.feeds_xml import InvalidProcessingReportError, parse_processing_report

    parsed = None
    if document is not None:
        try:
            parsed = parse_processing_report(document)
        except InvalidProcessingReportError as error:
            if status == "DONE":
                report.errors.append(_describe(error))
                return  # keep the rows submitted; the report is fetched again next time
    if status == "CANCELLED":
        why = (
            f"Feed {feed_id} was cancelled before Amazon processed it; nothing was applied. "
            "Send it again with 'amzorders outbox retry ID' or drop it with 'outbox dismiss ID'."
        )
        for record in records:
            _fail_submitted(store, record, now, why, report, feed_id=feed_id, meta={"report": {"feed_id": feed_id, "processing_status": status}})
        return
    if status == "DONE" and parsed is None:
        # Amazon always answers DONE with a report; without one the outcome is unknown, and
        # sending again could apply it twice: keep the rows submitted and say so.
        report.errors.append(f"feed {feed_id} is DONE but has no processing report yet")
        return
    if status == "FATAL" or parsed is None:
        said = _fatal_description(parsed) or "no processing report"
        for record in records:
            fatal_count = int((record.result or {}).get("fatal_count") or 0) + 1
            meta = {"fatal_count": fatal_count, "report": {"feed_id": feed_id, "processing_status": status, "description": said}}
            # The limit holds in every path. A row whose earlier submission lost its answer
            # keeps that doubt: its next send is preceded by a check of Amazon's financial
            # events (refunds) or the order (cancels), and a failure says it may be applied.
            if fatal_count >= MAX_FATAL_FEEDS:
                why = (
                    f"Amazon could not process feed {feed_id} (FATAL, {fatal_count} feeds in a row): {said}. "
                    "This feed applied nothing."
                )
                if (record.result or {}).get("maybe_sent"):
                    why += f" {MAYBE_APPLIED_NOTE}"
                _fail_submitted(store, record, now, why, report, feed_id=feed_id, meta=meta)
                continue
            delay = _backoff_delay(record.attempts)
            if store.finish_outbox_row(
                record.id, now=now, state="pending", expect_state="submitted", feed_id=feed_id,
                next_attempt_at=now + delay, meta=meta,
                last_error=f"Feed {feed_id} ended FATAL ({said}); nothing was applied, it will be sent again.",
            ):
                report.pending.append(record.id)
                report.errors.append(f"feed {feed_id} FATAL: {said}")
        return
    for record in records:
        message_id = int(((record.result or {}).get("feed") or {}).get("message_id") or 0)
        results = parsed.results_for(message_id) if message_id else []
        errors = [r for r in results if r.result_code.casefold() == "error"]
        warnings = [r for r in results if r.result_code.casefold() != "error"]
        outcome = {
            "feed_id": feed_id,
            "processing_status": status,
            "message_id": message_id,
            "results": [
                {"result_code": r.result_code, "code": r.message_code, "description": r.description} for r in results
            ],
        }
        if not errors:
            note = "; ".join(f"{w.message_code}: {w.description}" for w in warnings) or None
            _mark_done(store, record, now, report, expect_state="submitted", feed_id=feed_id,
                       meta={"report": outcome}, last_error=note)
            continue
        first = errors[0]
        applied = _already_applied(client, record, first)
        if applied is None:
            # Amazon could not be asked whether it already applied this: decide on the
            # next run (the row stays submitted and its report is read again).
            report.errors.append(f"feed {feed_id}: could not check order {record.amazon_order_id} with Amazon; will check again")
            continue
        if applied:
            outcome["note"] = "Amazon reports it as already applied by an earlier feed."
            _mark_done(store, record, now, report, expect_state="submitted", feed_id=feed_id, meta={"report": outcome})
            continue
        why = "; ".join(f"{e.message_code or 'Error'}: {e.description or 'no description'}" for e in errors)
        why = f"Amazon rejected it in feed {feed_id}: {why}"
        if (record.result or {}).get("maybe_sent"):
            why += f" {MAYBE_APPLIED_NOTE}"
        _fail_submitted(store, record, now, why, report, feed_id=feed_id, meta={"report": outcome})


def _in_doubt(record: OutboxRecord) -> bool:
    """An earlier attempt may have reached Amazon: its answer was lost, or its sender was
    stopped after createFeed was called and before the outcome was recorded."""
    result = record.result or {}
    return bool(result.get("maybe_sent") or result.get("sending"))


def _doubt_since(record: OutboxRecord, now: datetime) -> datetime:
    result = record.result or {}
    for value in (result.get("maybe_sent_at"), (result.get("sending") or {}).get("at")):
        if value:
            return parse_iso(value)
    return record.sent_at or record.updated_at or now


def _settle_doubt(store, client: OutboxClient, record: OutboxRecord, claim: str, now: datetime,
                  report: DeliveryReport) -> bool:
    """Before anything that might be a second submission, ask Amazon what it applied.

    True: send (Amazon has not applied it, and long enough has passed for its records to
    show it). False: the row was settled (done) or waits in 'checking with Amazon'."""
    if record.kind == "refund":
        applied = _refund_applied(store, client, record)
    else:  # cancel: getOrder says whether its items are canceled, whichever feed did it
        order = _fetch_order(client, record)
        applied = None if order is None else cancel_applied(order, record.payload)
    if applied:
        note = ("Amazon's financial events show this refund applied by an earlier submission; not sent again."
                if record.kind == "refund" else "Amazon shows the order canceled by an earlier submission; not sent again.")
        _mark_done(store, record, now, report, claim=claim, last_error=None,
                   meta={"report": {"note": note}, "checking": None, "sending": None})
        return False
    since = _doubt_since(record, now)
    if applied is False and (record.kind != "refund" or now - since >= FINANCES_SETTLE):
        return True  # Amazon's records would show it by now: it was not applied
    until = since + FINANCES_SETTLE if record.kind == "refund" else now + CHECK_INTERVAL
    why = (
        f"{CHECKING_NOTE} (an earlier attempt got no answer on {to_iso(since)}); Amazon's financial events can "
        f"lag up to 48 hours, so it is not sent again before {to_iso(until)} unless they show it applied."
        if applied is False else f"{CHECKING_NOTE}; Amazon could not be asked right now, it is asked again later."
    )
    if store.finish_outbox_row(
        record.id, now=now, state="pending", claim=claim, next_attempt_at=min(until, now + CHECK_INTERVAL),
        last_error=why, meta={"checking": {"since": to_iso(since), "until": to_iso(until)}},
    ):
        report.checking.append(record.id)
        report.pending.append(record.id)
    return False


def _refund_signature(payload: dict) -> frozenset:
    """What one refund action asks Amazon, as {(item, charge type, signed amount)}."""
    from amzorders.domain.codes import FINANCE_CHARGE_TYPES

    totals: dict[tuple[str, str], Decimal] = {}
    for item in payload.get("items") or ():
        item_id = str(item.get("order_item_id"))
        for component in item.get("components") or ():
            key = (item_id, FINANCE_CHARGE_TYPES.get(str(component["type"]), str(component["type"])))
            totals[key] = totals.get(key, Decimal(0)) + Decimal(str(component["amount"]))
        for component in item.get("promotions") or ():
            key = (item_id, "Promotion" + str(component["type"]))
            totals[key] = totals.get(key, Decimal(0)) + Decimal(str(component["amount"]))
    return frozenset((k[0], k[1], v) for k, v in totals.items() if v)


def _event_signature(event: dict) -> frozenset:
    """A RefundEventList entry in the same terms. Financial events are the seller's side:
    a refund to the buyer is a negative charge, a promotion reversed a positive amount."""
    totals: dict[tuple[str, str], Decimal] = {}
    for item in event.get("ShipmentItemAdjustmentList") or ():
        item_id = str(item.get("OrderItemId"))
        for charge in item.get("ItemChargeAdjustmentList") or ():
            amount = Decimal(str((charge.get("ChargeAmount") or {}).get("CurrencyAmount", 0)))
            key = (item_id, str(charge.get("ChargeType")))
            totals[key] = totals.get(key, Decimal(0)) - amount
        for promotion in item.get("PromotionAdjustmentList") or ():
            amount = Decimal(str((promotion.get("PromotionAmount") or {}).get("CurrencyAmount", 0)))
            key = (item_id, "Promotion" + str(promotion.get("PromotionType")))
            totals[key] = totals.get(key, Decimal(0)) - amount
    return frozenset((k[0], k[1], v) for k, v in totals.items() if v)


def _refund_applied(store, client: OutboxClient, record: OutboxRecord) -> bool | None:
    """Whether Amazon's financial events hold this refund: more events of its exact shape
    than our other refunds of that shape account for. None: Amazon could not be asked."""
    lister = getattr(client, "list_refund_events", None)
    if lister is None:
        return None
    try:
        events = lister(record.amazon_order_id)
    except AmzOrdersError:
        return None
    wanted = _refund_signature(record.payload)
    matching = sum(1 for event in events if _event_signature(event) == wanted)
    if not matching:
        return False
    others = 0
    for other in store.outbox_for_order(record.amazon_order_id):
        if other.id == record.id or other.kind != "refund" or _refund_signature(other.payload) != wanted:
            continue
        if other.state in ("done", "submitted") or (other.state == "pending" and other.id < record.id):
            others += 1
    return matching > others


def _fatal_description(parsed) -> str | None:
    if parsed is None:
        return None
    said = [f"{r.message_code}: {r.description}" if r.message_code else (r.description or "") for r in parsed.results]
    return "; ".join(s for s in said if s) or None


def _already_applied(client: OutboxClient, record: OutboxRecord, error) -> bool | None:
    """Whether a reported error only says the action already took effect (an earlier send
    whose answer was lost, or an earlier feed). None: Amazon could not be asked right now,
    so the row must neither be failed nor marked done yet."""
    if record.kind == "refund" and error.message_code in DUPLICATE_ADJUSTMENT_CODES:
        return True
    if record.kind == "vat_invoice":
        from amzorders.services.vat_invoices import already_uploaded

        return already_uploaded(error)
    if record.kind == "cancel":
        # The cancel's purpose is its items cancelled at Amazon, whichever feed did it.
        order = _fetch_order(client, record)
        if order is None:
            return None
        return cancel_applied(order, record.payload)
    return False


def cancel_applied(order: dict, payload: dict) -> bool:
    """Whether Amazon's order (getOrder, v2026-01-01) shows the cancel done: the order
    CANCELLED, or every item the cancel names carrying a ``cancellationExecution`` (a
    credit memo's cancellation names only its items)."""
    if ((order.get("fulfillment") or {}).get("fulfillmentStatus")) == "CANCELLED":
        return True
    wanted = {str(i.get("order_item_id")) for i in payload.get("items") or ()}
    executed = {
        str(item.get("orderItemId")) for item in order.get("orderItems") or ()
        if ((item.get("cancellation") or {}).get("cancellationExecution"))
    }
    return bool(wanted) and wanted <= executed


def _package_already_there(client: OutboxClient, record: OutboxRecord) -> bool | None:
    reference = (record.payload.get("packageDetail") or {}).get("packageReferenceId")
    order = _fetch_order(client, record)
    if order is None:
        return None
    return any(str(p.get("packageReferenceId")) == str(reference) for p in order.get("packages") or [])


def _fetch_order(client: OutboxClient, record: OutboxRecord) -> dict | None:
    try:
        return client.get_order(record.amazon_order_id)
    except AmzOrdersError:
        return None


# --- building feed documents -----------------------------------------------------------


def _merchant_id(account) -> str:
    if account.merchant_id:
        return str(account.merchant_id)
    if getattr(account, "is_simulator", False):
        return "SIMULATED_MERCHANT"
    raise ConfigError(
        f"Account '{account.name}' has no merchant_id, which Amazon needs in cancel and refund feeds. "
        "Add merchant_id = \"<your Merchant Token>\" (Seller Central > Settings > Account Info) to "
        f"[accounts.{account.name}] in the config; the actions stay queued until then."
    )


def _feed_messages(kind: str, records: list[OutboxRecord]) -> tuple[list[tuple[OutboxRecord, Any]], list[tuple[OutboxRecord, str]]]:
    """Feed messages (MessageID = position among the usable rows), and rows that cannot be sent."""
    usable: list[tuple[OutboxRecord, Any]] = []
    unusable: list[tuple[OutboxRecord, str]] = []
    for record in records:
        try:
            message = feed_message(kind, len(usable) + 1, record.payload, record.amazon_order_id)
            # Validate now so that one bad row cannot make the whole document unbuildable.
            _build_document(kind, "check", [message])
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            unusable.append((record, f"The queued {kind} cannot be turned into a feed message ({exc}); it was not sent."))
            continue
        usable.append((record, message))
    return usable, unusable


def feed_message(kind: str, message_id: int, payload: dict, amazon_order_id: str) -> Any:
    """One outbox payload (cancel or refund) as a feed message; raises on a malformed payload."""
    from amzorders.amazon.feeds_xml import AdjustedItem, AdjustmentMessage, CancelMessage, PriceComponent

    if kind == "cancel":
        message: Any = CancelMessage(
            message_id=message_id,
            amazon_order_id=str(payload.get("amazon_order_id") or amazon_order_id),
            merchant_order_id=payload.get("merchant_order_id") or None,
            items=[(str(i["order_item_id"]), str(i["reason"])) for i in payload["items"]],
        )
        if not message.items:
            raise ValueError("it lists no items")
        return message
    currency = str(payload["currency"])
    message = AdjustmentMessage(
        message_id=message_id,
        amazon_order_id=str(payload.get("amazon_order_id") or amazon_order_id),
        merchant_adjustment_id=str(payload["merchant_adjustment_id"]),
        items=[
            AdjustedItem(
                order_item_id=str(item["order_item_id"]),
                reason=str(item["reason"]),
                components=[
                    PriceComponent(type=str(c["type"]), amount=Decimal(str(c["amount"])), currency=currency)
                    for c in item["components"]
                ],
                promotions=[
                    PriceComponent(type=str(c["type"]), amount=Decimal(str(c["amount"])), currency=currency)
                    for c in item.get("promotions") or ()
                ],
                promotion_id=next((str(c["promotion_id"]) for c in item.get("promotions") or () if c.get("promotion_id")), None),
                quantity_cancelled=int(item.get("quantity_cancelled") or 0),
            )
            for item in payload["items"]
        ],
    )
    if not message.items or any(not item.components and not item.promotions for item in message.items):
        raise ValueError("it lists no items or an item without amounts")
    _check_minor_units(message, currency)
    return message


def _check_minor_units(message: Any, currency: str) -> None:
    """Amazon takes amounts in the currency's minor units; a queued refund with more digits
    (written by an older version) is refused here rather than rounded up by Amazon."""
    from amzorders.domain.money import has_sub_unit_digits

    for item in message.items:
        for component in [*item.components, *item.promotions]:
            if has_sub_unit_digits(component.amount, currency):
                raise ValueError(f"{component.type} {component.amount} has more decimals than {currency} uses")


def preview_feed_document(kind: str, payload: dict, amazon_order_id: str, account) -> tuple[str, bytes]:
    """The feed type and the exact document one queued action would be sent in (--dry-run).

    Without a configured merchant_id the document shows MERCHANT_ID in its place."""
    try:
        merchant_id = _merchant_id(account)
    except ConfigError:
        merchant_id = "MERCHANT_ID"
    return FEED_TYPES[kind], _build_document(kind, merchant_id, [feed_message(kind, 1, payload, amazon_order_id)])


def _build_document(kind: str, merchant_id: str, messages: list[Any]) -> bytes:
    from amzorders.amazon.feeds_xml import build_order_acknowledgement, build_payment_adjustment

    if kind == "cancel":
        return build_order_acknowledgement(merchant_id, messages)
    return build_payment_adjustment(merchant_id, messages)


# --- row updates -----------------------------------------------------------------------


def _mark_done(
    store, record: OutboxRecord, now: datetime, report: DeliveryReport, *, claim: str | None = None,
    expect_state: str = "pending", feed_id: str | None = None, request_id: str | None = None,
    meta: dict | None = None, sent: bool = False, last_error: str | None = None,
) -> None:
    # done wins over any concurrent retry bookkeeping: try with our claim, then without.
    for use_claim in ((claim, None) if claim is not None else (None,)):
        if store.finish_outbox_row(
            record.id, now=now, state="done", expect_state=expect_state, claim=use_claim, feed_id=feed_id,
            attempts_increment=1 if sent else 0, last_error=last_error, request_id=request_id,
            meta=meta, sent=sent, completed=True,
        ):
            report.done.append(record.id)
            return


def _fail_submitted(
    store, record: OutboxRecord, now: datetime, why: str, report: DeliveryReport, *, feed_id: str | None, meta: dict | None = None
) -> None:
    if store.finish_outbox_row(
        record.id, now=now, state="failed", expect_state="submitted", feed_id=feed_id, last_error=why, meta=meta,
    ):
        report.failed.append((record.id, why))


def _back_off(
    store, record: OutboxRecord, claim: str, now: datetime, error: AmazonError, report: DeliveryReport, *, maybe_sent: bool
) -> None:
    delay = _backoff_delay(record.attempts + 1)
    meta: dict[str, Any] = {"report": _error_meta(error), "sending": None}
    if maybe_sent:
        meta["maybe_sent"] = True
        meta["maybe_sent_at"] = (record.result or {}).get("maybe_sent_at") or to_iso(now)
    if store.finish_outbox_row(
        record.id, now=now, state="pending", claim=claim, attempts_increment=1, next_attempt_at=now + delay,
        last_error=_describe(error), request_id=error.request_id, meta=meta,
    ):
        report.pending.append(record.id)
    report.errors.append(_describe(error))


def _release_for_person(store, record: OutboxRecord, claim: str, now: datetime, error: AmzOrdersError, report: DeliveryReport) -> None:
    """Credentials or config trouble: the row stays pending, due again at once, the error surfaced."""
    store.finish_outbox_row(
        record.id, now=now, state="pending", claim=claim, next_attempt_at=now, last_error=_describe(error),
    )
    report.pending.append(record.id)
    if report.auth_error is None:
        report.auth_error = error  # type: ignore[assignment]
        report.errors.append(_describe(error))


def _backoff_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: half the step fixed, half random; capped at 1 hour."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=step / 2 + _random.uniform(0, step / 2))


# --- messages --------------------------------------------------------------------------


def _amazon_said(error: AmazonError) -> str:
    said = ": ".join(p for p in (error.code, error.amazon_message) if p)
    return said or error.message


def _rejection_text(error: AmazonError) -> str:
    said = _amazon_said(error)
    details = getattr(error, "details", None)
    if details and details not in said:
        said += f" ({details})"
    return f"{said} (HTTP {error.status}, request id {error.request_id})"


def _describe(error: AmzOrdersError) -> str:
    return error.message


def _error_meta(error: AmazonError) -> dict[str, Any]:
    return {
        "status": error.status,
        "code": error.code,
        "message": error.amazon_message,
        "request_id": error.request_id,
        "operation": error.operation,
    }


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


__all__ = [
    "DeliveryReport",
    "deliver_outbox",
    "follow_feeds",
    "kind_label",
    "push_rows",
    "push_rows_with_report",
    "rejected_rows_message",
]
