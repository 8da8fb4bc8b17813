"""print invoice / credit-memo / packing-slip: one PDF for many orders, read back with pypdf."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader

from amzorders.config import BusinessSettings
from amzorders.services.documents import DocumentLine, PrintedDocument, buyer_tax_id, money_text, render_pdf

US = "ATVPDKIKX0DER"
BUSINESS = """
[business]
name = "Nordlicht Handel GmbH"
address = ["Hafenstraße 12", "20457 Hamburg", "Deutschland"]
vat_id = "DE811234567"
"""


def pages_text(path_or_bytes) -> list[str]:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return [page.extract_text() for page in PdfReader(BytesIO(data)).pages]


@pytest.fixture
def three_orders(cli, simulated_account):
    """Three invoiced US orders in the store, and a config with a [business] table."""
    from conftest import write_account_config

    write_account_config(simulated_account.config_path.parent, simulated_account.sim, extra=BUSINESS)
    ids = simulated_account.sim.add_orders(3, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US, items=[2, 1])
    args = ["import"] + [x for order_id in ids for x in ("--order", order_id)]
    assert cli(*args).exit_code == 0
    for order_id in ids:
        result = cli("invoice", order_id)
        assert result.exit_code == 0, result.output
    return ids


def test_invoices_of_three_orders_in_one_pdf(cli, simulated_account, three_orders, tmp_path):
    import json

    out = tmp_path / "invoices.pdf"
    result = cli("print", "invoice", *three_orders, "-o", out)
    assert result.exit_code == 0, result.output
    assert "3 invoice(s) of 3 order(s), 3 page(s)" in result.stderr
    texts = pages_text(out)
    assert len(texts) == 3
    for order_id, text in zip(three_orders, texts):
        view = json.loads(cli("show", order_id, "--json").stdout)
        [invoice] = view["invoices"]
        assert "Nordlicht Handel GmbH" in text and "Hafenstraße 12" in text and "VAT ID: DE811234567" in text
        assert f"Invoice {invoice['increment_id']}" in text
        assert view["commerce"]["increment_id"] in text and order_id in text
        for item in view["commerce"]["items"]:
            assert item["sku"] in text
        assert f"{Decimal(invoice['grand_total']):,.2f} USD" in text
        assert "Paid through Amazon." in text


def test_packing_slips_have_no_prices(cli, three_orders, tmp_path):
    out = tmp_path / "slips.pdf"
    result = cli("print", "packing-slip", *three_orders, "-o", out)
    assert result.exit_code == 0, result.output
    texts = pages_text(out)
    assert len(texts) == 3
    for text in texts:
        assert "Packing slip" in text
        assert "USD" not in text and not re.search(r"\d+\.\d\d", text)


def test_credit_memo_prints_after_a_refund(cli, three_orders, tmp_path):
    order = three_orders[0]
    refund = cli("refund", order, "--reason", "CustomerReturn", "--no-push")
    assert refund.exit_code == 0, refund.output
    out = tmp_path / "memo.pdf"
    assert cli("print", "credit-memo", order, "-o", out).exit_code == 0
    [text] = pages_text(out)
    assert "Credit memo CM-" in text and "Reason: CustomerReturn" in text


def test_bad_requests_say_what_to_do(cli, three_orders, tmp_path):
    unknown = cli("print", "receipt", three_orders[0], "-o", tmp_path / "x.pdf")
    assert unknown.exit_code == 2 and "Unknown document 'receipt'" in unknown.stderr
    no_memo = cli("print", "credit-memo", three_orders[0], "-o", tmp_path / "x.pdf")
    assert no_memo.exit_code == 1 and "has no credit memo" in no_memo.stderr
    missing_dir = cli("print", "invoice", three_orders[0], "-o", tmp_path / "nope" / "x.pdf")
    assert missing_dir.exit_code == 2 and "does not exist" in missing_dir.stderr
    assert not (tmp_path / "x.pdf").exists()


def _document(**overrides) -> PrintedDocument:
    values = dict(
        doc_type="invoice", number="000000007", order_number="000000003", amazon_order_id="250-1234567-7654321",
        marketplace_id="A1VC38T7YXB528", language="en", currency="JPY",
        order_date=datetime(2026, 11, 2, tzinfo=UTC), document_date=datetime(2026, 11, 3, tzinfo=UTC),
        ship_to=["Haruto Sato", "1-2 Jingumae", "150-0001 Shibuya-ku"], buyer_tax_id=None, po_number=None,
        lines=[DocumentLine("SKU-1", "Mug", 2, Decimal("1500"), Decimal("3000"))],
        totals=[("subtotal", Decimal("3000")), ("tax", Decimal("300")), ("grand_total", Decimal("3300"))],
    )
    values.update(overrides)
    return PrintedDocument(**values)


def test_amounts_use_the_currencys_own_decimals():
    assert money_text(Decimal("3300"), "JPY") == "3,300 JPY"
    assert money_text(Decimal("12.5"), "EUR") == "12.50 EUR"
    [text] = pages_text(render_pdf([_document()], BusinessSettings(name="Shop")).content)
    assert "3,300 JPY" in text and "1,500 JPY" in text and "3,300.00" not in text


def test_latin_greek_cyrillic_print_and_a_missing_script_is_reported():
    document = _document(ship_to=["Ελένη Παπαδοπούλου", "Дмитрий Иванов", "Ærøskøbing", "東京都渋谷区"])
    result = render_pdf([document], BusinessSettings(name="Shop"))
    [text] = pages_text(result.content)
    assert "Ελένη Παπαδοπούλου" in text and "Дмитрий Иванов" in text and "Ærøskøbing" in text
    assert "東京" not in text and "?????" in text
    [warning] = result.warnings
    assert "CJK" in warning and "[business] fonts" in warning


def test_labels_follow_the_marketplace_language_and_b2b_invoices_show_the_buyer_tax_id():
    document = _document(language="de", currency="EUR", buyer_tax_id="DE999888777",
                         lines=[DocumentLine("SKU-1", "Becher", 1, Decimal("9.99"), Decimal("9.99"))],
                         totals=[("grand_total", Decimal("9.99"))])
    [text] = pages_text(render_pdf([document], BusinessSettings(name="Shop")).content)
    assert "Rechnung 000000007" in text and "Gesamtbetrag" in text and "9.99 EUR" in text
    assert "USt-IdNr. des Käufers: DE999888777" in text
    japanese = render_pdf([_document(language="ja")], BusinessSettings(name="Shop"))
    assert "Invoice 000000007" in pages_text(japanese.content)[0]  # no CJK font: English labels, said so
    assert any("labels are printed in English" in w for w in japanese.warnings)


def test_buyer_tax_id_comes_from_amazons_tax_registrations():
    raw = {"tax": {"taxRegistrations": [
        {"entityType": "MARKETPLACE", "taxRegistrationNumber": "LU20260743"},
        {"entityType": "BUYER", "taxRegistrationType": "VAT", "taxRegistrationNumber": "FR40303265045"},
    ]}}
    assert buyer_tax_id(raw) == "FR40303265045"
    assert buyer_tax_id({}) is None


def test_a_b2b_invoice_shows_the_buyer_vat_id_amazon_sent(cli, simulated_account, tmp_path):
    sim = simulated_account.sim
    na = {"ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"}
    business = [o for o in sim.order_ids()
                if sim.order(o).get("tax") and sim.order(o)["salesChannel"]["marketplaceId"] in na
                and sim.order(o)["fulfillment"]["fulfillmentStatus"] in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED")]
    assert business, "the seeded marketplace has Amazon Business orders"
    order_id = business[0]
    [registration] = sim.order(order_id)["tax"]["taxRegistrations"]
    assert cli("import", "--order", order_id).exit_code == 0
    cli("invoice", order_id)  # may already be invoiced (orders imported as shipped are)
    out = tmp_path / "b2b.pdf"
    result = cli("print", "invoice", order_id, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"Buyer tax ID: {registration['taxRegistrationNumber']}" in pages_text(out)[0]
