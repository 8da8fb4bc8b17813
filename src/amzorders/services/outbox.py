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
from amzorders.domain.timefmt import to_iso
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

    def merge(self, other: DeliveryReport) -> DeliveryReport:
        self.sent.extend(other.sent)
        self.done.extend(other.done)
        self.submitted.extend(other.submitted)
        self.failed.extend(other.failed)
        self.pending.extend(other.pending)
        self.errors.extend(other.errors)
        self.feeds.extend(other.feeds)
        self.auth_error = self.auth_error or other.auth_error
        return self

    def summary(self) -> str:
        text = (
            f"{len(self.sent)} actions sent to Amazon: {len(self.done)} accepted, "
            f"{len(self.submitted)} in feeds being processed, {len(self.failed)} rejected, "
            f"{len(set(self.pending))} waiting to retry"
        )
        if self.errors:
            text += f"; {len(self.errors)} delivery problems (last: {self.errors[-1]})"
        return text


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
    """getFeed for each submitted feed of ``account``; map finished reports back to rows."""
    now = now or utcnow()
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
                    _fail_submitted(store, record, now, why, report, feed_id=feed_id)
            else:
                report.errors.append(_describe(error))
            continue
        except (AmazonError, ConfigError) as error:
            report.errors.append(_describe(error))
            continue
        _apply_feed_outcome(store, client, feed_id, status, document, records, now, report)
    return report


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
    report = DeliveryReport()
    due = store.due_outbox_rows(account.name, now)
    if row_ids is not None:
        wanted = set(row_ids)
        due = [record for record in due if record.id in wanted]
    shipments = [r for r in due if r.kind == "confirm_shipment"]
    for record in shipments:
        if report.auth_error is not None:
            break
        _send_shipment(store, client, account, record.id, now, report)
    for kind in ("cancel", "refund"):
        groups: dict[str, list[int]] = {}
        for record in due:
            if record.kind == kind:
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
        why = _rejection_text(error)
        if store.finish_outbox_row(
            record.id, now=now, state="failed", claim=claim, attempts_increment=1, last_error=why,
            request_id=error.request_id, sent=True, meta={"report": _error_meta(error)},
        ):
            report.failed.append((record.id, why))
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
        merchant_id = _merchant_id(account)
        messages, unusable = _feed_messages(kind, claimed)
        for record, why in unusable:
            if store.finish_outbox_row(record.id, now=now, state="failed", claim=claim, last_error=why):
                report.failed.append((record.id, why))
        batch = [record for record, _ in messages]
        if not batch:
            return
        content = _build_document(kind, merchant_id, [message for _, message in messages])
        submitted = client.submit_feed(FEED_TYPES[kind], [marketplace_id], content, FEED_CONTENT_TYPE)
    except (AuthError, ConfigError) as error:
        for record in claimed:
            _release_for_person(store, record, claim, now, error, report)
        return
    except AmazonRejectedError as error:
        # createFeed refused the request itself (not a message): for every row of the batch.
        why = _rejection_text(error)
        for record in batch:
            report.sent.append(record.id)
            if store.finish_outbox_row(
                record.id, now=now, state="failed", claim=claim, attempts_increment=1, last_error=why,
                request_id=error.request_id, sent=True, meta={"report": _error_meta(error)},
            ):
                report.failed.append((record.id, why))
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
            }
        }
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
            # A row whose earlier submission lost its answer may already be applied by that
            # feed: failing it would be a false "nothing was applied". Resending is harmless
            # (Amazon dedups MerchantAdjustmentID; a canceled order is checked), so it keeps
            # being retried with backoff until a report settles it.
            if fatal_count >= MAX_FATAL_FEEDS and not (record.result or {}).get("maybe_sent"):
                why = (
                    f"Amazon could not process feed {feed_id} (FATAL, {fatal_count} feeds in a row): {said}. "
                    "Nothing was applied."
                )
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
    if record.kind == "cancel":
        # The cancel's purpose is an order Amazon shows as CANCELLED, whichever feed did it.
        order = _fetch_order(client, record)
        if order is None:
            return None
        return ((order.get("fulfillment") or {}).get("fulfillmentStatus")) == "CANCELLED"
    return False


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
    meta: dict[str, Any] = {"report": _error_meta(error)}
    if maybe_sent:
        meta["maybe_sent"] = True
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
