"""Feed documents the simulator understands (order acknowledgement = cancel, payment
adjustment = refund) and the XML processing report it answers with."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

CANCEL_FEED = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
REFUND_FEED = "POST_PAYMENT_ADJUSTMENT_DATA"
FEED_TYPES: dict[str, str] = {CANCEL_FEED: "OrderAcknowledgement", REFUND_FEED: "OrderAdjustment"}

# ResultMessageCodes used in processing reports.
CODE_BAD_MESSAGE = "5000"  # the message is missing a required element
CODE_ORDER = "18028"  # order unknown or in a state that forbids the action
CODE_ITEM = "18029"  # item unknown, or reason/component not accepted
CODE_AMOUNT = "18030"  # amount malformed, wrong currency, or more than was charged
CODE_DUPLICATE = "18031"  # MerchantAdjustmentID already applied
CODE_SIMULATED = "99001"  # injected fault


class FeedFatal(Exception):
    """The whole document cannot be processed; the feed ends FATAL."""


@dataclass
class Component:
    type: str
    amount: str
    currency: str | None


@dataclass
class FeedItem:
    order_item_id: str
    reason: str
    components: list[Component] = field(default_factory=list)
    promotions: list[Component] = field(default_factory=list)  # PromotionAdjustments
    quantity_cancelled: str | None = None  # QuantityCancelled as written (checked when applied)


@dataclass
class FeedMessage:
    message_id: str
    order_id: str
    merchant_reference: str | None  # MerchantOrderID (cancel) / MerchantAdjustmentID (refund)
    status_code: str | None
    items: list[FeedItem]
    problem: str | None = None  # set when the message itself is malformed

    def payload(self, kind: str) -> dict[str, object]:
        body: dict[str, object] = {"message_id": self.message_id, "amazon_order_id": self.order_id}
        if kind == "cancel":
            body["merchant_order_id"] = self.merchant_reference
            body["status_code"] = self.status_code
            body["items"] = [{"order_item_id": i.order_item_id, "cancel_reason": i.reason} for i in self.items]
        else:
            body["merchant_adjustment_id"] = self.merchant_reference
            body["items"] = [
                {"order_item_id": i.order_item_id, "adjustment_reason": i.reason,
                 "components": [{"type": c.type, "amount": c.amount, "currency": c.currency} for c in i.components],
                 "promotions": [{"type": c.type, "amount": c.amount, "currency": c.currency} for c in i.promotions],
                 **({"quantity_cancelled": i.quantity_cancelled} if i.quantity_cancelled is not None else {})}
                for i in self.items
            ]
        return body


def _text(element: ET.Element | None, tag: str) -> str | None:
    if element is None:
        return None
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _components(adjusted: ET.Element, path: str) -> list[Component]:
    components = []
    for component in adjusted.findall(path):
        amount = component.find("Amount")
        components.append(Component(
            _text(component, "Type") or "",
            (amount.text or "").strip() if amount is not None else "",
            amount.get("currency") if amount is not None else None,
        ))
    return components


def parse_feed(feed_type: str, data: bytes) -> list[FeedMessage]:
    """The messages of a feed document; FeedFatal when the document as a whole is unusable."""
    if not data:
        raise FeedFatal("The feed document is empty: upload the document before creating the feed.")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FeedFatal(f"The feed document is not well-formed XML: {exc}") from None
    if root.tag != "AmazonEnvelope":
        raise FeedFatal(f"The root element must be AmazonEnvelope, not {root.tag}.")
    expected = FEED_TYPES[feed_type]
    message_type = _text(root, "MessageType")
    if message_type != expected:
        raise FeedFatal(f"MessageType must be {expected} for {feed_type}, not {message_type!r}.")
    if root.find("Header") is None or _text(root.find("Header"), "MerchantIdentifier") is None:
        raise FeedFatal("The Header with a MerchantIdentifier is missing.")
    messages = root.findall("Message")
    if not messages:
        raise FeedFatal("The feed document contains no Message.")
    parsed = []
    for position, message in enumerate(messages, start=1):
        message_id = _text(message, "MessageID") or str(position)
        body = message.find(expected)
        if body is None:
            parsed.append(FeedMessage(message_id, "", None, None, [], problem=f"The message has no {expected} element."))
            continue
        order_id = _text(body, "AmazonOrderID") or ""
        if expected == "OrderAcknowledgement":
            items = [FeedItem(_text(i, "AmazonOrderItemCode") or "", _text(i, "CancelReason") or "")
                     for i in body.findall("Item")]
            parsed_message = FeedMessage(message_id, order_id, _text(body, "MerchantOrderID"),
                                         _text(body, "StatusCode"), items)
        else:
            items = []
            for adjusted in body.findall("AdjustedItem"):
                items.append(FeedItem(_text(adjusted, "AmazonOrderItemCode") or "",
                                      _text(adjusted, "AdjustmentReason") or "",
                                      _components(adjusted, "ItemPriceAdjustments/Component"),
                                      _components(adjusted, "PromotionAdjustments/Component"),
                                      _text(adjusted, "QuantityCancelled")))
            parsed_message = FeedMessage(message_id, order_id, _text(body, "MerchantAdjustmentID"), None, items)
        if not order_id:
            parsed_message.problem = "AmazonOrderID is missing."
        elif not items:
            parsed_message.problem = "The message lists no items."
        parsed.append(parsed_message)
    return parsed


@dataclass
class MessageResult:
    message_id: str
    order_id: str
    code: str
    description: str


def processing_report(feed_id: str, processed: int, errors: list[MessageResult],
                      fatal: str | None = None) -> bytes:
    """Amazon's ProcessingReport XML for one feed."""
    results = []
    for error in errors:
        results.append(
            "<Result>"
            f"<MessageID>{escape(error.message_id)}</MessageID>"
            "<ResultCode>Error</ResultCode>"
            f"<ResultMessageCode>{error.code}</ResultMessageCode>"
            f"<ResultDescription>{escape(error.description)}</ResultDescription>"
            f"<AdditionalInfo><AmazonOrderID>{escape(error.order_id)}</AmazonOrderID></AdditionalInfo>"
            "</Result>"
        )
    if fatal is not None:
        results.append(
            "<Result><MessageID>0</MessageID><ResultCode>Error</ResultCode>"
            "<ResultMessageCode>5001</ResultMessageCode>"
            f"<ResultDescription>{escape(fatal)}</ResultDescription></Result>"
        )
    failed = len({e.message_id for e in errors})
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<AmazonEnvelope><Header><DocumentVersion>1.02</DocumentVersion>"
        "<MerchantIdentifier>SIMULATED_MERCHANT</MerchantIdentifier></Header>"
        "<MessageType>ProcessingReport</MessageType><Message><MessageID>1</MessageID><ProcessingReport>"
        f"<DocumentTransactionID>{escape(feed_id)}</DocumentTransactionID>"
        "<StatusCode>Complete</StatusCode><ProcessingSummary>"
        f"<MessagesProcessed>{processed}</MessagesProcessed>"
        f"<MessagesSuccessful>{processed - failed}</MessagesSuccessful>"
        f"<MessagesWithError>{failed if fatal is None else max(failed, 1)}</MessagesWithError>"
        "<MessagesWithWarning>0</MessagesWithWarning></ProcessingSummary>"
        + "".join(results)
        + "</ProcessingReport></Message></AmazonEnvelope>"
    )
    return xml.encode("utf-8")
