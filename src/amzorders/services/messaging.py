"""Buyer messages and review requests through Amazon (Messaging and Solicitations APIs).

Use cases:
- ``message_options``: the kinds Amazon allows for an order now, and the buyer's language;
- ``send_message``: one message, its text checked against Amazon's rules before anything
  is written, queued as a ``send_message`` outbox row with a history entry, then pushed;
- ``request_reviews``: productReviewAndSellerFeedback solicitations, only where Amazon
  lists the action for the order now, each order at most once (outbox idempotency key
  ``review:<order>``, a UNIQUE column).

Delivery (``deliver``, called by services.outbox for these kinds): attachments go up
through the Uploads API right before each send. Amazon does not deduplicate messages or
solicitations (nothing in messaging.json / solicitations.json says so), so a send whose
answer was lost is never resent on a guess: the row is failed with a note, for a person
to check Buyer-Seller Messages in Seller Central and then 'outbox retry' or 'dismiss'.
Transient failures before anything reached Amazon (upload, 429, refused connections)
back off and are retried like every outbox row.
"""

from __future__ import annotations

import base64
import mimetypes
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from amzorders.domain.messaging import MESSAGE_KINDS, MAX_ATTACHMENTS, MessageKind, check_message_text, language_of, resolve_kind
from amzorders.errors import AmazonError, AmazonRejectedError, AmazonUnavailableError, AuthError, ConfigError, NotAllowedError, UsageError
from amzorders.services.processing import ActionResult, ProcessingContext, _load, _push

MESSAGE_KIND = "send_message"
REVIEW_KIND = "review_request"
OUTBOX_KINDS = (MESSAGE_KIND, REVIEW_KIND)
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAYBE_SENT_NOTE = (
    "Amazon's answer was lost, so the message may have reached the buyer; Amazon does not deduplicate "
    "messages, so it is not resent on its own. Check Buyer-Seller Messages in Seller Central, then "
    "'amzorders outbox retry ID' to send it again or 'amzorders outbox dismiss ID'."
)


@dataclass
class MessageOptions:
    order_number: str
    amazon_order_id: str
    marketplace_id: str
    locale: str | None
    language: str
    kinds: list[MessageKind]
    other_actions: list[str] = field(default_factory=list)  # listed by Amazon, unknown to amzorders


@dataclass
class Attachment:
    file_name: str
    content: bytes
    content_type: str = "application/pdf"


def _marketplace(loaded) -> str:
    marketplace_id = loaded.facts.marketplace_id
    if not marketplace_id:
        raise NotAllowedError(
            f"Order {loaded.amazon_order_id} has no marketplace id in the store; run 'amzorders import --order "
            f"{loaded.amazon_order_id}' to read it again from Amazon."
        )
    return marketplace_id


def message_options(ctx: ProcessingContext, order_key: str) -> MessageOptions:
    """Ask Amazon which message kinds the order allows now and the buyer's language."""
    from amzorders.amazon import messaging as api

    loaded = _load(ctx, order_key)
    marketplace_id = _marketplace(loaded)
    client = _client(ctx)
    names = api.get_messaging_actions(client, loaded.amazon_order_id, marketplace_id)
    locale = api.get_attributes(client, loaded.amazon_order_id, marketplace_id) if "attributes" in names or names else None
    kinds = [MESSAGE_KINDS[n] for n in names if n in MESSAGE_KINDS]
    others = [n for n in names if n not in MESSAGE_KINDS and n != "attributes"]
    return MessageOptions(
        order_number=loaded.facts.increment_id or loaded.amazon_order_id,
        amazon_order_id=loaded.amazon_order_id,
        marketplace_id=marketplace_id,
        locale=locale,
        language=language_of(locale),
        kinds=kinds,
        other_actions=others,
    )


def read_attachment(path: Path) -> Attachment:
    try:
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            raise UsageError(f"{path} has {size} bytes; attachments are limited to {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.")
        content = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"No file {path}: give the path of the file to attach.") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; --attach takes a file.") from None
    except PermissionError:
        raise UsageError(f"{path} cannot be read (permission denied).") from None
    if not content:
        raise UsageError(f"{path} is empty; there is nothing to attach.")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Attachment(path.name, content, content_type)


def send_message(
    ctx: ProcessingContext,
    order_key: str,
    kind_text: str,
    *,
    text: str | None = None,
    attachments: list[Attachment] | None = None,
    idempotency_key: str | None = None,
    check_allowed: bool = True,
    note: str | None = None,
) -> ActionResult:
    """Queue one buyer message (outbox + history in one transaction), then push it."""
    kind = resolve_kind(kind_text)
    text = check_message_text(kind, text)
    attachments = list(attachments or [])
    if kind.attachments == "none" and attachments:
        raise UsageError(f"A {kind.name} message takes no attachments (Amazon's {kind.operation}); leave out --attach.")
    if kind.attachments == "required" and not attachments:
        raise UsageError(f"A {kind.name} message needs at least one attachment: give --attach FILE.")
    if len(attachments) > MAX_ATTACHMENTS:
        raise UsageError(f"Amazon takes at most {MAX_ATTACHMENTS} attachments in one message; {len(attachments)} were given.")
    loaded = _load(ctx, order_key)
    marketplace_id = _marketplace(loaded)
    number = loaded.facts.increment_id or loaded.amazon_order_id
    if check_allowed:
        from amzorders.amazon import messaging as api

        allowed = api.get_messaging_actions(_client(ctx), loaded.amazon_order_id, marketplace_id)
        if kind.name not in allowed:
            listed = ", ".join(n for n in allowed if n in MESSAGE_KINDS) or "none"
            raise NotAllowedError(
                f"Amazon does not allow a {kind.name} message for order {number} now (allowed: {listed}); nothing was sent."
            )
    payload: dict[str, Any] = {
        "marketplace_id": marketplace_id,
        "kind": kind.name,
        "operation": kind.operation,
        "text": text,
        "attachments": [
            {"file_name": a.file_name, "content_type": a.content_type, "data": base64.b64encode(a.content).decode()}
            for a in attachments
        ],
    }
    now = ctx.now()
    result = ActionResult("message", number, loaded.amazon_order_id, outbox_kind=MESSAGE_KIND)
    key = idempotency_key or f"message:{loaded.amazon_order_id}:{kind.name}:{secrets.token_hex(6)}"
    files = ", ".join(a.file_name for a in attachments)
    with ctx.store.transaction():
        history = f"{kind.label.capitalize()} message to the buyer queued for Amazon's Messaging API"
        history += f" (attached: {files})." if files else "."
        if note:
            history += f" {note}"
        result.history_id = ctx.store.add_history(
            loaded.amazon_order_id, history, source="operator", entity_type="message", is_customer_notified=False, now=now,
        )
        payload["history_id"] = result.history_id
        result.outbox_ids.append(ctx.store.add_outbox_row(
            account=ctx.account.name, amazon_order_id=loaded.amazon_order_id, kind=MESSAGE_KIND,
            idempotency_key=key, payload=payload, now=now,
        ))
    result.payload = {k: v for k, v in payload.items() if k != "attachments"} | {
        "attachments": [a.file_name for a in attachments]}
    result.summary = f"{kind.label.capitalize()} message for order {number} queued."
    _push(ctx, [result])
    return result


@dataclass
class ReviewOutcome:
    order_number: str
    amazon_order_id: str
    state: str  # sent / queued / failed / not_allowed / already
    detail: str
    outbox_id: int | None = None


def request_reviews(ctx: ProcessingContext, order_keys: list[str]) -> list[ReviewOutcome]:
    """One productReviewAndSellerFeedback solicitation per order that Amazon allows now."""
    from amzorders.amazon import messaging as api

    outcomes: list[ReviewOutcome] = []
    client = _client(ctx)
    for key in order_keys:
        loaded = _load(ctx, key)
        number = loaded.facts.increment_id or loaded.amazon_order_id
        existing = [r for r in ctx.store.outbox_for_order(loaded.amazon_order_id) if r.kind == REVIEW_KIND]
        if existing:
            outcomes.append(ReviewOutcome(number, loaded.amazon_order_id, "already",
                                          f"a review was already requested (outbox #{existing[0].id}, {existing[0].state})",
                                          existing[0].id))
            continue
        marketplace_id = _marketplace(loaded)
        allowed = api.get_solicitation_actions(client, loaded.amazon_order_id, marketplace_id)
        if api.REVIEW_SOLICITATION not in allowed:
            outcomes.append(ReviewOutcome(number, loaded.amazon_order_id, "not_allowed",
                                          "Amazon does not offer a review request for it now (5-30 days after delivery, once)"))
            continue
        now = ctx.now()
        result = ActionResult("review_request", number, loaded.amazon_order_id, outbox_kind=REVIEW_KIND)
        with ctx.store.transaction():
            result.history_id = ctx.store.add_history(
                loaded.amazon_order_id, "Review request (product review and seller feedback) queued for Amazon.",
                source="operator", entity_type="review_request", is_customer_notified=False, now=now,
            )
            result.outbox_ids.append(ctx.store.add_outbox_row(
                account=ctx.account.name, amazon_order_id=loaded.amazon_order_id, kind=REVIEW_KIND,
                idempotency_key=f"review:{loaded.amazon_order_id}",
                payload={"marketplace_id": marketplace_id, "history_id": result.history_id}, now=now,
            ))
        _push(ctx, [result])
        delivery = result.deliveries[0] if result.deliveries else None
        state = {"done": "sent", "failed": "failed"}.get(delivery.state if delivery else "", "queued")
        outcomes.append(ReviewOutcome(number, loaded.amazon_order_id, state,
                                      (delivery.error if delivery and delivery.error else "") or
                                      {"sent": "review requested", "queued": "queued; 'amzorders sync' sends it"}.get(state, ""),
                                      result.outbox_ids[0]))
    return outcomes


def eligible_review_orders(ctx: ProcessingContext, limit: int = 200) -> list[str]:
    """Orders worth asking Amazon about: shipped, recent, no review request yet."""
    return ctx.store.review_request_candidates(ctx.account.name, limit=limit)


def _client(ctx: ProcessingContext):
    if ctx.client_factory is None:
        raise ConfigError("Talking to Amazon is not available here (no SP-API client configured).")
    return ctx.client_factory()


# --- delivery (called by services.outbox) ----------------------------------------------


def deliver(store, client, account, now: datetime, row_ids: list[int] | None, report) -> None:
    """Send the due message and review-request rows of ``account`` (or of ``row_ids``)."""
    from amzorders.services import outbox as box

    due = [r for r in store.due_outbox_rows(account.name, now, kinds=OUTBOX_KINDS)
           if row_ids is None or r.id in set(row_ids)]
    for record in due:
        if report.auth_error is not None:
            return
        claim, claimed = store.claim_outbox_rows(account.name, now, now + box.CLAIM_LEASE, row_ids=[record.id], kinds=OUTBOX_KINDS)
        if not claimed:
            continue
        record = claimed[0]
        try:
            request_id = _send(client, record)
        except (AuthError, ConfigError) as error:
            box._release_for_person(store, record, claim, now, error, report)
        except AmazonRejectedError as error:
            report.sent.append(record.id)
            why = box._fail_rejected(store, record, claim, now, error, report)
            if why is not None:
                _note_history(store, record, False, why)
        except AmazonUnavailableError as error:
            if getattr(error, "maybe_delivered", True):
                report.sent.append(record.id)
                why = f"{box._describe(error)} {MAYBE_SENT_NOTE}"
                if store.finish_outbox_row(record.id, now=now, state="failed", claim=claim, attempts_increment=1,
                                           last_error=why, request_id=error.request_id, sent=True,
                                           meta={"report": box._error_meta(error), "maybe_sent": True}):
                    report.failed.append((record.id, why))
                    _note_history(store, record, False, why)
            else:
                box._back_off(store, record, claim, now, error, report, maybe_sent=False)
        except AmazonError as error:  # any other Amazon trouble: nothing was sent
            box._back_off(store, record, claim, now, error, report, maybe_sent=False)
        except BaseException:
            store.release_outbox_claim(record.id, claim, now, now)
            raise
        else:
            report.sent.append(record.id)
            box._mark_done(store, record, now, report, claim=claim, request_id=request_id, sent=True)
            _note_history(store, record, True, None)


def _send(client, record) -> str | None:
    from amzorders.amazon import messaging as api

    payload = record.payload
    marketplace_id = str(payload["marketplace_id"])
    if record.kind == REVIEW_KIND:
        return api.create_review_solicitation(client, record.amazon_order_id, marketplace_id)
    kind = MESSAGE_KINDS[str(payload["kind"])]
    body: dict[str, Any] = {}
    if payload.get("text"):
        body["text"] = payload["text"]
    resource = f"messaging/v1/orders/{record.amazon_order_id}/messages/{kind.name}"
    uploaded = []
    for attachment in payload.get("attachments") or []:
        content = base64.b64decode(attachment["data"])
        done = api.upload_attachment(client, resource, marketplace_id, content, attachment["file_name"], attachment["content_type"])
        uploaded.append({"uploadDestinationId": done.upload_destination_id, "fileName": done.file_name})
    if uploaded:
        body["attachments"] = uploaded
    return api.send_message(client, record.amazon_order_id, marketplace_id, kind.name, kind.operation, body)


def _note_history(store, record, sent: bool, error: str | None) -> None:
    history_id = record.payload.get("history_id")
    if history_id is None:
        return
    with store.transaction():
        store.set_history_notification(int(history_id), sent, error)
