"""EU VAT invoices uploaded with UPLOAD_VAT_INVOICE, through the outbox, exactly once."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader

from amzorders.simulator import account_config_toml
from amzorders.store import Store

DE = "A1PA6795UKMFR9"
BUSINESS = """
[business]
name = "Nordlicht Handel GmbH"
address = ["Hafenstraße 12", "20457 Hamburg"]
vat_id = "DE811234567"
vat_invoice_upload = ["DE"]
"""


@pytest.fixture
def eu(amzorders_home, tmp_path):
    from amzorders.simulator import Simulator

    with Simulator(tmp_path / "marketplace.json", seed=5, orders=20, rate_limits=False) as sim:
        amzorders_home.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = amzorders_home / "config.toml"
        text = account_config_toml(sim.base_url, sim.token_url, marketplace_ids=(DE,)).replace('region = "na"', 'region = "eu"')
        config.write_text(text + BUSINESS)
        config.chmod(0o600)
        yield sim


def _rows(home, kind):
    store = Store.open(home / "amzorders.db")
    try:
        return [store.outbox_row(r[0]) for r in store.conn.execute("SELECT id FROM outbox WHERE kind = ? ORDER BY id", (kind,))]
    finally:
        store.close()


def test_an_invoice_and_a_credit_memo_go_up_once_each(cli, eu, amzorders_home):
    [order_id] = eu.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=DE, items=[1, 2])
    assert cli("import", "--order", order_id).exit_code == 0
    invoiced = cli("invoice", order_id)
    assert invoiced.exit_code == 0, invoiced.output
    assert "feed submitted" in invoiced.stdout
    [row] = _rows(amzorders_home, "vat_invoice")
    assert row.state == "submitted"
    eu.advance(minutes=3)
    assert cli("sync").exit_code == 0
    assert cli("sync").exit_code == 0
    [received] = eu.received_vat_invoices(order_id)
    assert received["accepted"], received["error"]
    assert received["document_type"] == "Invoice" and received["marketplace_ids"] == [DE]
    amazon = eu.order(order_id)["proceeds"]["grandTotal"]["amount"]
    assert Decimal(received["total_amount"]) == Decimal(amazon)
    [row] = _rows(amzorders_home, "vat_invoice")
    assert row.state == "done" and row.payload["number"] == received["invoice_number"]

    shipped = cli("ship", order_id, "--carrier", "DHL", "--tracking", "1234567890")
    assert shipped.exit_code == 0, shipped.output
    refund = cli("refund", order_id, "--reason", "CustomerReturn")
    assert refund.exit_code == 0, refund.output
    eu.advance(minutes=3)
    assert cli("sync").exit_code == 0
    credit = [r for r in eu.received_vat_invoices(order_id) if r["document_type"] == "CreditNote"]
    assert len(credit) == 1 and credit[0]["accepted"], credit[0]["error"]
    assert len(eu.received_vat_invoices(order_id)) == 2
    assert all(r.state == "done" for r in _rows(amzorders_home, "vat_invoice"))


def test_the_uploaded_pdf_is_the_invoice(cli, eu):
    [order_id] = eu.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=DE)
    assert cli("import", "--order", order_id).exit_code == 0
    assert cli("invoice", order_id).exit_code == 0
    feed = [f for f in eu._store.data["feeds"].values() if f["feedType"] == "UPLOAD_VAT_INVOICE"][0]
    pdf = eu.download_document(feed["inputFeedDocumentId"])[0]
    text = PdfReader(BytesIO(pdf)).pages[0].extract_text()
    assert feed["feedOptions"]["metadata:InvoiceNumber"] in text and "Rechnung" in text
    assert feed["feedOptions"]["metadata:OrderId"] == order_id


def test_a_lost_answer_is_sent_again_and_received_once(cli, eu, amzorders_home):
    from datetime import timedelta

    from amzorders.app import App
    from amzorders.config import load_settings
    from amzorders.domain.models import utcnow
    from amzorders.services.outbox import deliver_outbox, follow_feeds

    [order_id] = eu.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=DE)
    assert cli("import", "--order", order_id).exit_code == 0
    eu.inject("reset", count=1, operation="createFeed")
    assert cli("invoice", order_id).exit_code == 0
    [row] = _rows(amzorders_home, "vat_invoice")
    assert row.state == "pending" and row.result.get("maybe_sent")
    settings = load_settings()
    with App(settings, settings.resolve_account()) as app:
        later = utcnow() + timedelta(hours=2)
        report = deliver_outbox(app.store(), app.amazon(), app.account, now=later)
        assert report.submitted == [row.id]
        eu.advance(minutes=3)
        assert follow_feeds(app.store(), app.amazon(), app.account, now=later).done == [row.id]
    [received] = eu.received_vat_invoices(order_id)
    assert received["accepted"]


def test_no_upload_where_the_switch_is_off(cli, eu, amzorders_home):
    config = amzorders_home / "config.toml"
    config.write_text(config.read_text().replace('vat_invoice_upload = ["DE"]', ""))
    [order_id] = eu.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=DE)
    assert cli("import", "--order", order_id).exit_code == 0
    assert cli("invoice", order_id).exit_code == 0
    assert _rows(amzorders_home, "vat_invoice") == []


def test_the_switch_only_takes_marketplaces_amazon_offers_it_in(cli, eu, amzorders_home):
    config = amzorders_home / "config.toml"
    config.write_text(config.read_text().replace('vat_invoice_upload = ["DE"]', 'vat_invoice_upload = ["US"]'))
    result = cli("list")
    assert result.exit_code == 3 and "Amazon takes VAT invoice uploads only in" in result.stderr
