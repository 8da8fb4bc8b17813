"""Undo what Amazon refused: the local change behind an action Amazon will not apply.

An outbox row that ends ``failed`` (Amazon rejected it: a processing-report error, the
FATAL limit, confirmShipment or createFeed refusing it) stands for a local change Amazon
does not have. So that the store never shows money or states Amazon does not have, the
change is reversed in one transaction with a history entry saying what happened:

- a refund (credit memo) or a credit memo's cancellation: the credit memo is voided, its
  units and amount no longer count as refunded (the refund ledger skips it: ``voided_at``);
- an order cancellation: the order is reopened (its canceled units open again);
- a shipment confirmation: the shipment is marked not confirmed and its units are to ship
  again (``reversed_at``; a carrier file naming it is not skipped any more).

A rejection that may only be Amazon refusing an earlier submission a second time
(``maybe_sent``: an answer was lost) or whose outcome is unknown (``outcome_unknown``:
Amazon forgot the feed) is not reversed on a guess: it is marked with a history entry, and
reversed when the operator dismisses it ('outbox dismiss' accepts the rejection).
``outbox retry`` of a reversed row applies the change again, when the order still allows
it, before the row is sent again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from amzorders.domain import rules
from amzorders.domain.timefmt import to_iso
from amzorders.domain.views import OutboxRecord
from amzorders.errors import ConcurrentChangeError, NotAllowedError, NotFoundError

UNDONE_KINDS = ("confirm_shipment", "cancel", "refund")


def _reversed(record: OutboxRecord) -> bool:
    result = record.result or {}
    return bool(result.get("reversed_at") or result.get("voided_at"))


def _uncertain(record: OutboxRecord) -> bool:
    result = record.result or {}
    return bool(result.get("maybe_sent") or result.get("outcome_unknown"))


def reverse_refused(store, account: str, now: datetime) -> list[int]:
    """Reverse (or mark) the local change of every failed action of ``account`` not yet
    handled. Returns the ids of the rows reversed. Safe to run again: each row is handled once."""
    done = []
    for record in store.failed_outbox_rows(account, include_dismissed=True):
        if record.kind not in UNDONE_KINDS or _reversed(record) or (record.result or {}).get("refusal_noted_at"):
            continue
        dismissed = bool((record.result or {}).get("dismissed_at"))
        try:
            if _uncertain(record) and not dismissed:
                _note_uncertain(store, record, now)
            elif reverse_row(store, record, now, dismissed=dismissed):
                done.append(record.id)
        except ConcurrentChangeError:
            continue  # an operator changed the order meanwhile: the next run handles it
    return done


def _note_uncertain(store, record: OutboxRecord, now: datetime) -> None:
    with store.transaction():
        if not store.note_outbox_row(record.id, {"refusal_noted_at": to_iso(now)}, now, expect_state="failed"):
            return
        store.add_history(
            record.amazon_order_id,
            f"Amazon rejected the {_what(record)} (outbox #{record.id}), but an earlier submission may have been "
            "applied, so the local change is kept. Check the order in Seller Central: 'amzorders outbox dismiss "
            f"{record.id}' takes the change back, 'amzorders outbox retry {record.id}' sends it again.",
            source="amazon", entity_type="order", now=now,
        )


def _what(record: OutboxRecord) -> str:
    if record.kind == "confirm_shipment":
        return "shipment confirmation"
    if record.kind == "cancel" and record.payload.get("credit_memo"):
        return f"cancellation of credit memo {record.payload['credit_memo']}"
    return {"cancel": "cancellation", "refund": "refund"}[record.kind]


def reverse_row(store, record: OutboxRecord, now: datetime, *, dismissed: bool = False) -> bool:
    """Take back the local change of one failed row (one transaction). False: nothing to
    take back (no commerce order, or another process did it first)."""
    why = (record.last_error or "no reason recorded").splitlines()[0]
    cause = "dismissed by the operator" if dismissed else f"Amazon refused it: {why}"
    with store.transaction():
        order = store.load_commerce_order(amazon_order_id=record.amazon_order_id)
        if order is None:
            return False
        memo = store.credit_memo_of_outbox_row(record.id) if record.kind in ("refund", "cancel") else None
        if memo is not None:
            number, total, items = memo
            updated = rules.reverse_credit_memo(order, items, total, now)
            meta = {"voided_at": to_iso(now), "reversed_at": to_iso(now)}
            text = (f"Credit memo {number} voided ({cause}). {order.currency} {total:f} is no longer counted as "
                    f"refunded; the order is {updated.status}.")
        elif record.kind == "confirm_shipment":
            shipment = store.shipment_of_outbox_row(record.id)
            if shipment is None:
                return False
            number, tracking, items = shipment
            updated = rules.reverse_shipment(order, items, now)
            meta = {"reversed_at": to_iso(now)}
            text = (f"Shipment {number} (tracking {tracking}) marked not confirmed ({cause}); its units are to ship "
                    f"again and the order is {updated.status}.")
        elif record.kind == "cancel":
            units = {str(k): int(v) for k, v in (record.payload.get("canceled_units") or {}).items()}
            if not units:
                return False  # queued by an older version: what it canceled here is not recorded
            amount = Decimal(str(record.payload.get("canceled_amount") or "0"))
            updated = rules.reverse_cancel(order, units, amount, now)
            meta = {"reversed_at": to_iso(now)}
            text = f"Order reopened: the cancellation was not applied ({cause}); the order is {updated.status}."
        else:
            return False
        if not store.note_outbox_row(record.id, meta, now, expect_state="failed"):
            return False
        store.save_commerce_order(updated)
        store.add_history(record.amazon_order_id, text, source="amazon" if not dismissed else "operator",
                          status=updated.status, entity_type="order", now=now)
    return True


def dismiss(store, row_id: int, now: datetime) -> OutboxRecord:
    """'outbox dismiss': accept Amazon's rejection; the local change is taken back."""
    record = store.outbox_row(row_id)
    if record is None:
        raise NotFoundError(f"No outbox action #{row_id}; 'amzorders outbox list --all' shows them.")
    if record.state != "failed" or not store.dismiss_outbox_row(row_id, now):
        raise NotAllowedError(
            f"#{row_id} is {record.state}, not rejected; only actions Amazon rejected can be dismissed."
        )
    record = store.outbox_row(row_id)
    if record is not None and record.kind in UNDONE_KINDS and not _reversed(record):
        reverse_row(store, record, now, dismissed=True)
    return store.outbox_row(row_id)  # type: ignore[return-value]


def retry(store, row_id: int, now: datetime) -> OutboxRecord:
    """'outbox retry': send a rejected row again; a reversed change is applied again first
    (refused when the order no longer allows it)."""
    record = store.outbox_row(row_id)
    if record is None:
        raise NotFoundError(f"No outbox action #{row_id}; 'amzorders outbox list --all' shows them.")
    if record.state != "failed":
        raise NotAllowedError(f"#{row_id} is {record.state}, not rejected; only actions Amazon rejected can be retried.")
    with store.transaction():
        if record.kind in UNDONE_KINDS and _reversed(record):
            _reapply(store, record, now)
        if not store.retry_outbox_row(row_id, now):
            raise NotAllowedError(f"#{row_id} changed meanwhile; look at it with 'amzorders outbox show {row_id}'.")
    return store.outbox_row(row_id)  # type: ignore[return-value]


def _reapply(store, record: OutboxRecord, now: datetime) -> None:
    order = store.load_commerce_order(amazon_order_id=record.amazon_order_id)
    if order is None:
        raise NotAllowedError(f"Order {record.amazon_order_id} has no commerce order any more; nothing to send.")
    memo = store.credit_memo_of_outbox_row(record.id) if record.kind in ("refund", "cancel") else None
    if memo is not None:
        number, total, items = memo
        updated = rules.reapply_credit_memo(order, items, total, now)
        text = f"Credit memo {number} restored: sent to Amazon again ('outbox retry')."
    elif record.kind == "confirm_shipment":
        shipment = store.shipment_of_outbox_row(record.id)
        if shipment is None:
            raise NotAllowedError(f"The shipment of #{record.id} is gone; ship again with 'amzorders ship'.")
        number, _, items = shipment
        updated = rules.reapply_shipment(order, items, now)
        text = f"Shipment {number} confirmed to Amazon again ('outbox retry')."
    else:
        units = {str(k): int(v) for k, v in (record.payload.get("canceled_units") or {}).items()}
        amount = Decimal(str(record.payload.get("canceled_amount") or "0"))
        updated = rules.reapply_cancel(order, units, amount, now)
        text = "Order canceled again: the cancellation is sent to Amazon again ('outbox retry')."
    store.save_commerce_order(updated)
    store.note_outbox_row(record.id, {"voided_at": None, "reversed_at": None, "refusal_noted_at": None}, now,
                          expect_state="failed")
    store.add_history(record.amazon_order_id, text, source="operator", status=updated.status, entity_type="order", now=now)
