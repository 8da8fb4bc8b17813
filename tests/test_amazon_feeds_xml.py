"""The XML order feeds: builders, parsers, and the processing report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amzorders.amazon.feeds_xml import (
    AdjustedItem,
    AdjustmentMessage,
    CancelMessage,
    InvalidProcessingReportError,
    PriceComponent,
    ProcessingReport,
    ReportResult,
    build_order_acknowledgement,
    build_payment_adjustment,
    build_processing_report,
    parse_order_acknowledgement,
    parse_payment_adjustment,
    parse_processing_report,
)
from amzorders.errors import AmazonUnavailableError, ExitCode

XSI = "http://www.w3.org/2001/XMLSchema-instance"


def children(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def test_order_acknowledgement_has_amazons_shape() -> None:
    data = build_order_acknowledgement(
        "A1MERCHANT",
        [
            CancelMessage(1, "113-1111111-1111111", "100000042", [("11111111111111", "NoInventory")]),
            CancelMessage(2, "113-2222222-2222222", None,
                          [("22222222222221", "BuyerCanceled"), ("22222222222222", "BuyerCanceled")]),
        ],
    )
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(data)
    assert root.tag == "AmazonEnvelope"
    assert root.get(f"{{{XSI}}}noNamespaceSchemaLocation") == "amzn-envelope.xsd"
    assert b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' in data
    assert children(root) == ["Header", "MessageType", "Message", "Message"]
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == "A1MERCHANT"
    assert root.findtext("MessageType") == "OrderAcknowledgement"
    first, second = root.findall("Message")
    assert first.findtext("MessageID") == "1"
    ack = first.find("OrderAcknowledgement")
    assert ack is not None
    assert children(ack) == ["AmazonOrderID", "MerchantOrderID", "StatusCode", "Item"]
    assert ack.findtext("StatusCode") == "Failure"
    assert ack.findtext("Item/AmazonOrderItemCode") == "11111111111111"
    assert ack.findtext("Item/CancelReason") == "NoInventory"
    second_ack = second.find("OrderAcknowledgement")
    assert second_ack is not None
    assert children(second_ack) == ["AmazonOrderID", "StatusCode", "Item", "Item"]


def test_payment_adjustment_has_amazons_shape_and_exact_amounts() -> None:
    data = build_payment_adjustment(
        "A1MERCHANT",
        [
            AdjustmentMessage(7, "113-1111111-1111111", "cm-000000123", [
                AdjustedItem("11111111111111", "CustomerReturn", [
                    PriceComponent("Principal", Decimal("10.00"), "USD"),
                    PriceComponent("Shipping", Decimal("4.5"), "USD"),
                    PriceComponent("Tax", Decimal("0.10"), "USD"),
                ]),
            ]),
        ],
    )
    root = ET.fromstring(data)
    assert root.findtext("MessageType") == "OrderAdjustment"
    adjustment = root.find("Message/OrderAdjustment")
    assert adjustment is not None
    assert children(adjustment) == ["AmazonOrderID", "MerchantAdjustmentID", "AdjustedItem"]
    assert adjustment.findtext("MerchantAdjustmentID") == "cm-000000123"
    item = adjustment.find("AdjustedItem")
    assert item is not None
    assert children(item) == ["AmazonOrderItemCode", "AdjustmentReason", "ItemPriceAdjustments"]
    components = item.findall("ItemPriceAdjustments/Component")
    assert [(c.findtext("Type"), c.findtext("Amount"), c.find("Amount").get("currency")) for c in components] == [  # type: ignore[union-attr]
        ("Principal", "10.00", "USD"),
        ("Shipping", "4.5", "USD"),
        ("Tax", "0.10", "USD"),
    ]
    assert b'<Amount currency="USD">10.00</Amount>' in data


def test_amounts_are_never_rounded_or_written_with_exponents() -> None:
    message = AdjustmentMessage(1, "o", "m", [AdjustedItem("i", "Other", [
        PriceComponent("Principal", Decimal("1E+3"), "JPY"),
        PriceComponent("Tax", Decimal("0.000001"), "EUR"),
    ])])
    amounts = [c.text for c in ET.fromstring(build_payment_adjustment("M", [message])).iter("Amount")]
    assert amounts == ["1000", "0.000001"]


@pytest.mark.parametrize("amount", [10.0, "10.00", Decimal("NaN"), Decimal("Infinity")])
def test_non_decimal_or_non_finite_amounts_are_refused(amount: object) -> None:
    message = AdjustmentMessage(1, "o", "m", [AdjustedItem("i", "Other", [PriceComponent("Principal", amount, "USD")])])  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        build_payment_adjustment("M", [message])


def test_text_is_escaped() -> None:
    tricky = 'A&B <C> "D" \'E\' ]]>'
    data = build_order_acknowledgement("M&<>", [CancelMessage(1, "113-1", tricky, [("1", "NoInventory")])])
    assert b"&amp;" in data and b"&lt;" in data
    root = ET.fromstring(data)
    assert root.findtext("Header/MerchantIdentifier") == "M&<>"
    assert root.findtext("Message/OrderAcknowledgement/MerchantOrderID") == tricky


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_order_acknowledgement("M", []),
        lambda: build_order_acknowledgement("M", [CancelMessage(1, "o", None, [])]),
        lambda: build_order_acknowledgement("M", [CancelMessage(0, "o", None, [("i", "NoInventory")])]),
        lambda: build_order_acknowledgement("M", [CancelMessage(1, "o\x00", None, [("i", "NoInventory")])]),
        lambda: build_payment_adjustment("M", [AdjustmentMessage(1, "o", "m", [AdjustedItem("i", "Other", [])])]),
    ],
)
def test_documents_amazon_would_refuse_are_not_built(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"), min_size=1, max_size=30).map(
    str.strip
).filter(bool)
amounts = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6)


@settings(max_examples=40)
@given(
    merchant=text,
    order_ids=st.lists(text, min_size=1, max_size=4),
    merchant_order=st.none() | text,
    reason=st.sampled_from(["NoInventory", "BuyerCanceled", "GeneralAdjustment"]),
)
def test_order_acknowledgement_round_trip(merchant: str, order_ids: list[str], merchant_order: str | None,
                                          reason: str) -> None:
    messages = [CancelMessage(n, order_id, merchant_order, [(f"{n}00", reason), (f"{n}01", reason)])
                for n, order_id in enumerate(order_ids, start=1)]
    assert parse_order_acknowledgement(build_order_acknowledgement(merchant, messages)) == (merchant, messages)


@settings(max_examples=40)
@given(merchant=text, adjustment_id=text, values=st.lists(amounts, min_size=1, max_size=5))
def test_payment_adjustment_round_trip(merchant: str, adjustment_id: str, values: list[Decimal]) -> None:
    components = [PriceComponent("Principal", value, "EUR") for value in values]
    messages = [AdjustmentMessage(1, "028-1234567-8901234", adjustment_id,
                                  [AdjustedItem("17198765432109", "CustomerReturn", components)])]
    merchant_back, messages_back = parse_payment_adjustment(build_payment_adjustment(merchant, messages))
    assert (merchant_back, messages_back) == (merchant, messages)
    # Exactly the same digits, not just equal values.
    back = [str(c.amount) for c in messages_back[0].items[0].components]
    assert back == [format(v, "f") for v in values]


AMAZON_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
  <Header><DocumentVersion>1.02</DocumentVersion><MerchantIdentifier>A1MERCHANT</MerchantIdentifier></Header>
  <MessageType>ProcessingReport</MessageType>
  <Message>
    <MessageID>1</MessageID>
    <ProcessingReport>
      <DocumentTransactionID>50001</DocumentTransactionID>
      <StatusCode>Complete</StatusCode>
      <ProcessingSummary>
        <MessagesProcessed>3</MessagesProcessed>
        <MessagesSuccessful>1</MessagesSuccessful>
        <MessagesWithError>1</MessagesWithError>
        <MessagesWithWarning>1</MessagesWithWarning>
      </ProcessingSummary>
      <Result>
        <MessageID>2</MessageID>
        <ResultCode>Error</ResultCode>
        <ResultMessageCode>18028</ResultMessageCode>
        <ResultDescription>The order &amp; item could not be canceled: already shipped.</ResultDescription>
        <AdditionalInfo><AmazonOrderID>113-2222222-2222222</AmazonOrderID></AdditionalInfo>
      </Result>
      <Result>
        <MessageID>3</MessageID>
        <ResultCode>Warning</ResultCode>
        <ResultMessageCode>5000</ResultMessageCode>
        <ResultDescription>Adjustment amount rounded.</ResultDescription>
      </Result>
    </ProcessingReport>
  </Message>
</AmazonEnvelope>
"""


def test_processing_report_is_parsed() -> None:
    report = parse_processing_report(AMAZON_REPORT)
    assert (report.status_code, report.processed, report.successful, report.with_error, report.with_warning) == (
        "Complete", 3, 1, 1, 1
    )
    assert report.document_transaction_id == "50001"
    assert report.results == [
        ReportResult(2, "Error", "18028", "The order & item could not be canceled: already shipped.",
                     "113-2222222-2222222"),
        ReportResult(3, "Warning", "5000", "Adjustment amount rounded.", None),
    ]
    assert report.results_for(2)[0].result_code == "Error"
    assert report.results_for(1) == []


def test_processing_report_round_trip() -> None:
    report = ProcessingReport(
        status_code="Complete", processed=2, successful=1, with_error=1, with_warning=0,
        results=[ReportResult(1, "Error", "25", "Bad <reason> & more", "113-1")],
        document_transaction_id="777",
    )
    assert parse_processing_report(build_processing_report(report, "A1MERCHANT")) == report


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not well-formed"),
        (b"<AmazonEnvelope><Message>", "not well-formed"),
        (b"%PDF-1.4 binary", "not well-formed"),
        (b"<AmazonEnvelope><MessageType>OrderAcknowledgement</MessageType></AmazonEnvelope>", "no ProcessingReport"),
        (b"<AmazonEnvelope><Message><ProcessingReport><StatusCode>Complete</StatusCode></ProcessingReport>"
         b"</Message></AmazonEnvelope>", "no ProcessingSummary"),
        (b"<AmazonEnvelope><Message><ProcessingReport><StatusCode>Complete</StatusCode><ProcessingSummary>"
         b"<MessagesProcessed>many</MessagesProcessed></ProcessingSummary></ProcessingReport></Message>"
         b"</AmazonEnvelope>", "not a whole number"),
    ],
)
def test_unreadable_report_raises_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidProcessingReportError) as caught:
        parse_processing_report(data)
    assert reason in str(caught.value)
    assert "processing report could not be read" in str(caught.value)
    assert isinstance(caught.value, AmazonUnavailableError)
    assert caught.value.exit_code == ExitCode.AMAZON_UNAVAILABLE
