"""The XML order feeds amzorders sends (cancel, refund) and the processing report
Amazon answers with.

Documents follow Amazon's ``amzn-envelope.xsd``. ElementTree does the escaping; money is
written from ``Decimal`` exactly as given (never through float, never rounded).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal

from amzorders.errors import AmazonUnavailableError

XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
ENVELOPE_SCHEMA = "amzn-envelope.xsd"
DOCUMENT_VERSION = "1.01"

# Characters XML 1.0 cannot carry at all, not even escaped.
_XML_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class CancelMessage:
    """One order to cancel: OrderAcknowledgement with StatusCode Failure."""

    message_id: int
    amazon_order_id: str
    merchant_order_id: str | None
    items: list[tuple[str, str]]  # (order item id, cancel reason)


@dataclass(frozen=True)
class PriceComponent:
    """Signed as Amazon reads it: refunded to the buyer positive (Principal, Tax, Shipping,
    ShippingTax, GiftWrap, GiftWrapTax, Goodwill...), kept from the buyer negative
    (RestockingFee, ReturnShipping). In PromotionAdjustments (Principal, Shipping) a
    promotion given goes back negative."""

    type: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class AdjustedItem:
    order_item_id: str
    reason: str
    components: list[PriceComponent]
    promotions: list[PriceComponent] = field(default_factory=list)
    promotion_id: str | None = None  # MerchantPromotionID of the promotions, when Amazon named it
    # Units that will not ship (Seller Central help 200198080, "Refund or Partially Cancel
    # Orders": on a shipped order the units that cannot be fulfilled are refunded with the
    # adjustment feed, giving the quantity cancelled).
    quantity_cancelled: int = 0


@dataclass(frozen=True)
class AdjustmentMessage:
    """One refund: OrderAdjustment, made idempotent by ``merchant_adjustment_id``."""

    message_id: int
    amazon_order_id: str
    merchant_adjustment_id: str
    items: list[AdjustedItem]


@dataclass(frozen=True)
class ReportResult:
    message_id: int
    result_code: str  # Error / Warning
    message_code: str | None
    description: str | None
    amazon_order_id: str | None


@dataclass(frozen=True)
class ProcessingReport:
    status_code: str  # Complete
    processed: int
    successful: int
    with_error: int
    with_warning: int
    results: list[ReportResult] = field(default_factory=list)
    document_transaction_id: str | None = None

    def results_for(self, message_id: int) -> list[ReportResult]:
        return [result for result in self.results if result.message_id == message_id]


class InvalidProcessingReportError(AmazonUnavailableError):
    """Amazon's processing report could not be read (fetching it again may help)."""


# --- building -------------------------------------------------------------------------


def build_order_acknowledgement(merchant_id: str, messages: list[CancelMessage]) -> bytes:
    """A POST_ORDER_ACKNOWLEDGEMENT_DATA document that cancels the given order items."""
    envelope = _envelope(merchant_id, "OrderAcknowledgement", len(messages))
    for message in messages:
        if not message.items:
            raise ValueError(f"cancel message {message.message_id} has no items")
        acknowledgement = _message(envelope, message.message_id, "OrderAcknowledgement")
        _text(acknowledgement, "AmazonOrderID", message.amazon_order_id)
        if message.merchant_order_id:
            _text(acknowledgement, "MerchantOrderID", message.merchant_order_id)
        _text(acknowledgement, "StatusCode", "Failure")
        for order_item_id, cancel_reason in message.items:
            item = ET.SubElement(acknowledgement, "Item")
            _text(item, "AmazonOrderItemCode", order_item_id)
            _text(item, "CancelReason", cancel_reason)
    return _serialize(envelope)


def build_payment_adjustment(merchant_id: str, messages: list[AdjustmentMessage]) -> bytes:
    """A POST_PAYMENT_ADJUSTMENT_DATA document that refunds the given amounts."""
    envelope = _envelope(merchant_id, "OrderAdjustment", len(messages))
    for message in messages:
        if not message.items:
            raise ValueError(f"adjustment message {message.message_id} has no items")
        adjustment = _message(envelope, message.message_id, "OrderAdjustment")
        _text(adjustment, "AmazonOrderID", message.amazon_order_id)
        _text(adjustment, "MerchantAdjustmentID", message.merchant_adjustment_id)
        for adjusted in message.items:
            if not adjusted.components and not adjusted.promotions:
                raise ValueError(
                    f"adjusted item {adjusted.order_item_id} of message {message.message_id}"
                    " has no price components"
                )
            item = ET.SubElement(adjustment, "AdjustedItem")
            _text(item, "AmazonOrderItemCode", adjusted.order_item_id)
            _text(item, "AdjustmentReason", adjusted.reason)
            if adjusted.components:
                prices = ET.SubElement(item, "ItemPriceAdjustments")
                for component in adjusted.components:
                    _component(prices, component)
            if adjusted.promotions:
                promotions = ET.SubElement(item, "PromotionAdjustments")
                if adjusted.promotion_id:
                    _text(promotions, "MerchantPromotionID", adjusted.promotion_id)
                for component in adjusted.promotions:
                    _component(promotions, component)
            if adjusted.quantity_cancelled:
                _text(item, "QuantityCancelled", str(int(adjusted.quantity_cancelled)))
    return _serialize(envelope)


def _component(parent: ET.Element, component: PriceComponent) -> None:
    element = ET.SubElement(parent, "Component")
    _text(element, "Type", component.type)
    amount = _text(element, "Amount", format_amount(component.amount))
    amount.set("currency", _clean(component.currency))


def build_processing_report(report: ProcessingReport, merchant_id: str = "") -> bytes:
    """A processing report document (what Amazon answers; for simulators and tests)."""
    envelope = _envelope(merchant_id, "ProcessingReport", 1)
    body = _message(envelope, 1, "ProcessingReport")
    if report.document_transaction_id is not None:
        _text(body, "DocumentTransactionID", report.document_transaction_id)
    _text(body, "StatusCode", report.status_code)
    summary = ET.SubElement(body, "ProcessingSummary")
    _text(summary, "MessagesProcessed", str(report.processed))
    _text(summary, "MessagesSuccessful", str(report.successful))
    _text(summary, "MessagesWithError", str(report.with_error))
    _text(summary, "MessagesWithWarning", str(report.with_warning))
    for result in report.results:
        element = ET.SubElement(body, "Result")
        _text(element, "MessageID", str(result.message_id))
        _text(element, "ResultCode", result.result_code)
        if result.message_code is not None:
            _text(element, "ResultMessageCode", result.message_code)
        if result.description is not None:
            _text(element, "ResultDescription", result.description)
        if result.amazon_order_id is not None:
            info = ET.SubElement(element, "AdditionalInfo")
            _text(info, "AmazonOrderID", result.amazon_order_id)
    return _serialize(envelope)


def format_amount(amount: Decimal) -> str:
    """``amount`` as a plain decimal string, digit for digit (no exponent, no rounding)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amounts must be Decimal, got {type(amount).__name__} {amount!r}")
    if not amount.is_finite():
        raise ValueError(f"amount must be a finite number, got {amount}")
    return format(amount, "f")


def _envelope(merchant_id: str, message_type: str, message_count: int) -> ET.Element:
    if message_count < 1:
        raise ValueError(f"a {message_type} feed needs at least one message")
    envelope = ET.Element("AmazonEnvelope")
    # Plain attribute names keep the conventional "xsi" prefix without registering a
    # namespace globally in ElementTree.
    envelope.set("xmlns:xsi", XSI_NAMESPACE)
    envelope.set("xsi:noNamespaceSchemaLocation", ENVELOPE_SCHEMA)
    header = ET.SubElement(envelope, "Header")
    _text(header, "DocumentVersion", DOCUMENT_VERSION)
    _text(header, "MerchantIdentifier", merchant_id)
    _text(envelope, "MessageType", message_type)
    return envelope


def _message(envelope: ET.Element, message_id: int, body_tag: str) -> ET.Element:
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 1:
        raise ValueError(f"MessageID must be a positive integer, got {message_id!r}")
    message = ET.SubElement(envelope, "Message")
    _text(message, "MessageID", str(message_id))
    return ET.SubElement(message, body_tag)


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _clean(value)
    return element


def _clean(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"feed values must be text, got {type(value).__name__} {value!r}")
    if _XML_INVALID_CHARS.search(value):
        raise ValueError(f"{value!r} contains characters that XML cannot carry")
    return value


def _serialize(envelope: ET.Element) -> bytes:
    ET.indent(envelope)
    body = ET.tostring(envelope, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


# --- parsing --------------------------------------------------------------------------


def parse_processing_report(data: bytes) -> ProcessingReport:
    """Read a feed processing report; raise ``InvalidProcessingReportError`` if it is not one."""
    root = _parse_xml(data)
    report = root.find("./Message/ProcessingReport")
    if report is None:
        report = root.find(".//ProcessingReport")
    if report is None:
        message_type = root.findtext("MessageType")
        raise _invalid(
            f"it has no ProcessingReport element (root <{root.tag}>, MessageType {message_type!r})"
        )
    summary = report.find("ProcessingSummary")
    if summary is None:
        raise _invalid("it has no ProcessingSummary")
    results = []
    for result in report.findall("Result"):
        results.append(
            ReportResult(
                message_id=_int(result, "MessageID"),
                result_code=_required_text(result, "ResultCode"),
                message_code=_optional_text(result, "ResultMessageCode"),
                description=_optional_text(result, "ResultDescription"),
                amazon_order_id=_optional_text(result, "AdditionalInfo/AmazonOrderID"),
            )
        )
    return ProcessingReport(
        status_code=_required_text(report, "StatusCode"),
        processed=_int(summary, "MessagesProcessed"),
        successful=_int(summary, "MessagesSuccessful"),
        with_error=_int(summary, "MessagesWithError"),
        with_warning=_int(summary, "MessagesWithWarning"),
        results=results,
        document_transaction_id=_optional_text(report, "DocumentTransactionID"),
    )


def parse_order_acknowledgement(data: bytes) -> tuple[str, list[CancelMessage]]:
    """The merchant id and messages of an OrderAcknowledgement feed (the builder's inverse)."""
    root = _parse_feed(data, "OrderAcknowledgement")
    messages = []
    for message in root.findall("Message"):
        body = _required(message, "OrderAcknowledgement")
        messages.append(
            CancelMessage(
                message_id=_int(message, "MessageID", feed=True),
                amazon_order_id=_required_text(body, "AmazonOrderID", feed=True),
                merchant_order_id=_optional_text(body, "MerchantOrderID"),
                items=[
                    (
                        _required_text(item, "AmazonOrderItemCode", feed=True),
                        _required_text(item, "CancelReason", feed=True),
                    )
                    for item in body.findall("Item")
                ],
            )
        )
    return _required_text(root, "Header/MerchantIdentifier", feed=True), messages


def parse_payment_adjustment(data: bytes) -> tuple[str, list[AdjustmentMessage]]:
    """The merchant id and messages of an OrderAdjustment feed (the builder's inverse)."""
    root = _parse_feed(data, "OrderAdjustment")
    messages = []
    for message in root.findall("Message"):
        body = _required(message, "OrderAdjustment")
        items = []
        for item in body.findall("AdjustedItem"):
            items.append(
                AdjustedItem(
                    order_item_id=_required_text(item, "AmazonOrderItemCode", feed=True),
                    reason=_required_text(item, "AdjustmentReason", feed=True),
                    components=_components(item, "ItemPriceAdjustments/Component"),
                    promotions=_components(item, "PromotionAdjustments/Component"),
                    promotion_id=_optional_text(item, "PromotionAdjustments/MerchantPromotionID"),
                    quantity_cancelled=int(_optional_text(item, "QuantityCancelled") or 0),
                )
            )
        messages.append(
            AdjustmentMessage(
                message_id=_int(message, "MessageID", feed=True),
                amazon_order_id=_required_text(body, "AmazonOrderID", feed=True),
                merchant_adjustment_id=_required_text(body, "MerchantAdjustmentID", feed=True),
                items=items,
            )
        )
    return _required_text(root, "Header/MerchantIdentifier", feed=True), messages


def _components(item: ET.Element, path: str) -> list[PriceComponent]:
    components = []
    for component in item.findall(path):
        amount = _required(component, "Amount")
        components.append(
            PriceComponent(
                type=_required_text(component, "Type", feed=True),
                amount=Decimal((amount.text or "").strip()),
                currency=amount.get("currency", ""),
            )
        )
    return components


def _parse_xml(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise _invalid(f"it is not well-formed XML ({exc})") from None


def _parse_feed(data: bytes, message_type: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"the {message_type} feed is not well-formed XML ({exc})") from None
    found = root.findtext("MessageType")
    if found != message_type:
        raise ValueError(f"expected an {message_type} feed, got MessageType {found!r}")
    return root


def _invalid(reason: str) -> InvalidProcessingReportError:
    return InvalidProcessingReportError(
        f"Amazon's feed processing report could not be read: {reason}. "
        "Nothing was recorded; fetch the report again later, and if it stays unreadable "
        "check the feed in Seller Central."
    )


def _required(parent: ET.Element, path: str) -> ET.Element:
    element = parent.find(path)
    if element is None:
        raise ValueError(f"<{parent.tag}> has no <{path}>")
    return element


def _optional_text(parent: ET.Element, path: str) -> str | None:
    """The element's stripped text; None when it is missing or empty."""
    text = parent.findtext(path)
    return text.strip() or None if text is not None else None


def _required_text(parent: ET.Element, path: str, *, feed: bool = False) -> str:
    text = _optional_text(parent, path)
    if text is None:
        if feed:
            raise ValueError(f"<{parent.tag}> has no <{path}>")
        raise _invalid(f"<{parent.tag}> has no <{path}>")
    return text


def _int(parent: ET.Element, path: str, *, feed: bool = False) -> int:
    text = _required_text(parent, path, feed=feed)
    try:
        return int(text)
    except ValueError:
        if feed:
            raise ValueError(f"<{path}> is not a whole number: {text!r}") from None
        raise _invalid(f"<{path}> is not a whole number: {text!r}") from None
