"""Buyer messages through Amazon's Messaging API, and review requests (Solicitations API),
end to end against the simulator: what the simulator received proves each went once."""

from __future__ import annotations

import json

import pytest

from amzorders.domain.messaging import MESSAGE_KINDS, check_message_text, resolve_kind
from amzorders.errors import UsageError
from amzorders.store import Store

US = "ATVPDKIKX0DER"


# --- the text rules (messaging.json) ----------------------------------------------------


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Hello <b>there</b>", "contains HTML"),
        ("Tom &amp; Jerry", "HTML entity"),
        ("Write to me at seller@example.com", "e-mail address"),
        ("Write to seller (at) example.com", "e-mail address"),
        ("See https://example.com/track", "contains a link"),
        ("See www.example.com", "contains a link"),
        ("See example.com/track", "contains a link"),
        ("x" * 2001, "at most 2000"),
        ("bell \x07 here", "control or invisible character"),
        ("zero\u200bwidth", "control or invisible character"),
        ("   ", "needs its text"),
    ],
)
def test_text_breaking_amazons_rules_is_refused(text, problem):
    with pytest.raises(UsageError, match=problem):
        check_message_text(MESSAGE_KINDS["unexpectedProblem"], text)


def test_text_within_the_rules_is_kept_and_limits_follow_the_model():
    kind = MESSAGE_KINDS["unexpectedProblem"]
    assert check_message_text(kind, "  Leider ist die blaue Tasse ausverkauft.\nSollen wir die rote senden?  ") == (
        "Leider ist die blaue Tasse ausverkauft.\nSollen wir die rote senden?"
    )
    assert check_message_text(kind, "y" * 2000) == "y" * 2000
    with pytest.raises(UsageError, match="at most 800"):
        check_message_text(MESSAGE_KINDS["confirmCustomizationDetails"], "y" * 801)
    with pytest.raises(UsageError, match="at most 400"):
        check_message_text(MESSAGE_KINDS["digitalAccessKey"], "y" * 401)
    with pytest.raises(UsageError, match="carries no text"):
        check_message_text(MESSAGE_KINDS["invoice"], "see attached")
    assert resolve_kind("unexpected-problem").name == "unexpectedProblem"
    assert resolve_kind("INVOICE").name == "invoice"
    with pytest.raises(UsageError, match="Unknown message kind"):
        resolve_kind("shippingConfirmation")


# --- end to end -------------------------------------------------------------------------


@pytest.fixture
def order(cli, simulated_account):
    """One seller-fulfilled US order, UNSHIPPED, imported into the store."""
    sim = simulated_account.sim
    [order_id] = sim.add_orders(1, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US, items=[2, 1])
    result = cli("import", "--order", order_id)
    assert result.exit_code == 0, result.output
    return order_id


def _outbox(db_path, kind):
    store = Store.open(db_path)
    try:
        rows = store.conn.execute("SELECT id FROM outbox WHERE kind = ? ORDER BY id", (kind,)).fetchall()
        return [store.outbox_row(r[0]) for r in rows]
    finally:
        store.close()


def test_list_kinds_and_language_then_send_one_exactly_once(cli, simulated_account, order):
    sim = simulated_account.sim
    listed = cli("message", order)
    assert listed.exit_code == 0, listed.output
    assert "Buyer's language: en-US (en)" in listed.stdout
    assert "unexpectedProblem" in listed.stdout and "confirmOrderDetails" in listed.stdout
    data = json.loads(cli("message", order, "--json").stdout)
    assert data["buyer_locale"] == "en-US"
    assert {k["name"] for k in data["kinds"]} >= {"unexpectedProblem", "confirmDeliveryDetails", "invoice"}

    text = "The blue mug is out of stock until Friday. Shall we send the red one instead?"
    sent = cli("message", order, "unexpectedProblem", "--text", text)
    assert sent.exit_code == 0, sent.output
    assert "Sent to Amazon." in sent.stdout
    received = sim.received_messages(order)
    assert [(m["kind"], m["text"], m["accepted"]) for m in received] == [("unexpectedProblem", text, True)]

    # sync delivers the outbox again: the message is done and never goes a second time
    assert cli("sync").exit_code == 0
    assert len(sim.received_messages(order)) == 1
    [row] = _outbox(simulated_account.db_path, "send_message")
    assert row.state == "done" and row.attempts == 1
    view = json.loads(cli("show", order, "--json").stdout)
    [entry] = [h for h in view["history"] if h["entity_type"] == "message"]
    assert entry["is_customer_notified"] is True


def test_text_against_the_rules_sends_nothing_and_writes_nothing(cli, simulated_account, order):
    result = cli("message", order, "unexpectedProblem", "--text", "Mail me: me@shop.example.com")
    assert result.exit_code == 2
    assert "Error:" in result.stderr and "e-mail address" in result.stderr
    assert simulated_account.sim.received_messages() == []
    assert _outbox(simulated_account.db_path, "send_message") == []


def test_a_kind_amazon_does_not_allow_is_refused_before_queueing(cli, simulated_account):
    sim = simulated_account.sim
    [afn] = sim.add_orders(1, status="SHIPPED", fulfilled_by="AMAZON", marketplace_id=US)
    assert cli("import", "--order", afn).exit_code == 0
    listed = cli("message", afn, "--json")
    assert "confirmDeliveryDetails" not in {k["name"] for k in json.loads(listed.stdout)["kinds"]}
    result = cli("message", afn, "confirmDeliveryDetails", "--text", "When may we deliver?")
    assert result.exit_code == 1
    assert "does not allow a confirmDeliveryDetails message" in result.stderr
    assert sim.received_messages() == []


def test_invoice_message_carries_the_attachment_through_the_uploads_api(cli, simulated_account, order, tmp_path):
    pdf = tmp_path / "invoice-000000001.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% a tiny test document\n%%EOF\n")
    result = cli("message", order, "invoice", "--attach", pdf)
    assert result.exit_code == 0, result.output
    [message] = simulated_account.sim.received_messages(order)
    assert message["kind"] == "invoice" and message["accepted"]
    [attachment] = message["attachments"]
    assert attachment["fileName"] == "invoice-000000001.pdf"
    assert simulated_account.sim.uploaded_attachment(attachment["uploadDestinationId"]) == pdf.read_bytes()

    missing = cli("message", order, "invoice")
    assert missing.exit_code == 2 and "needs at least one attachment" in missing.stderr


def test_a_send_whose_answer_was_lost_is_failed_for_a_person_never_resent(cli, simulated_account, order):
    sim = simulated_account.sim
    sim.inject("reset", count=1, operation="createUnexpectedProblem")
    result = cli("message", order, "unexpectedProblem", "--text", "Your parcel is delayed by one day.")
    assert result.exit_code == 4
    assert "may have reached the buyer" in result.stderr
    assert cli("sync").exit_code == 4  # a failed action is shown, and not sent again
    [row] = _outbox(simulated_account.db_path, "send_message")
    assert row.state == "failed" and row.result.get("maybe_sent")
    assert sim.received_messages() == []
    # the person decides: retry sends it once
    assert cli("outbox", "retry", str(row.id)).exit_code == 0
    assert cli("sync").exit_code == 0
    assert len(sim.received_messages(order)) == 1


def test_review_request_only_inside_amazons_window_and_only_once(cli, simulated_account, order):
    sim = simulated_account.sim
    too_early = cli("review-request", order)
    assert too_early.exit_code == 1 and "not allowed" in too_early.stdout
    shipped = cli("ship", order, "--carrier", "UPS", "--tracking", "1Z999AA10123456784")
    assert shipped.exit_code == 0, shipped.output
    sim.advance(minutes=60 * 24 * 3)
    assert cli("review-request", order).exit_code == 1  # delivered, but day 5 not reached
    sim.advance(minutes=60 * 24 * 10)
    result = cli("review-request", order)
    assert result.exit_code == 0, result.output
    assert "sent" in result.stdout
    again = cli("review-request", order)
    assert "already" in again.stdout
    accepted = [s for s in sim.received_solicitations(order) if s["accepted"]]
    assert len(accepted) == 1
    assert cli("sync").exit_code == 0
    assert len([s for s in sim.received_solicitations(order) if s["accepted"]]) == 1


def test_invoice_notify_sends_amazons_invoice_message_with_the_pdf(cli, simulated_account, order):
    from io import BytesIO

    from pypdf import PdfReader

    sim = simulated_account.sim
    result = cli("invoice", order, "--notify")
    assert result.exit_code == 0, result.output
    assert "sent to the buyer, through Amazon's Messaging API (sendInvoice)" in result.stderr
    [message] = sim.received_messages(order)
    assert message["kind"] == "invoice" and message["accepted"]
    [attachment] = message["attachments"]
    invoice = json.loads(cli("show", order, "--json").stdout)["invoices"][0]["increment_id"]
    assert attachment["fileName"] == f"invoice-{invoice}.pdf"
    text = PdfReader(BytesIO(sim.uploaded_attachment(attachment["uploadDestinationId"]))).pages[0].extract_text()
    assert f"Invoice {invoice}" in text and order in text
    assert cli("sync").exit_code == 0
    assert len(sim.received_messages(order)) == 1


def test_ship_and_refund_notify_send_nothing_amazon_tells_the_buyer(cli, simulated_account, order):
    shipped = cli("ship", order, "--carrier", "UPS", "--tracking", "1Z999AA10123456784", "--notify")
    assert shipped.exit_code == 0, shipped.output
    assert "Amazon tells the buyer about the shipment itself" in shipped.stderr
    assert simulated_account.sim.received_messages() == []
