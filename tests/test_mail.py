"""Buyer e-mails through a real SMTP server (aiosmtpd on 127.0.0.1) started by the tests."""

from __future__ import annotations

import email
import json
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from amzorders.config import EmailSettings
from amzorders.mail import Mailer, MailError, OutgoingMail
from amzorders.services import processing
from amzorders.store import Store
from processing_support import UNSHIPPED, context, seed

UPS = "1Z999AA10123456784"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def settings(port: int, security: str = "none") -> EmailSettings:
    return EmailSettings(host="127.0.0.1", port=port, security=security, username=None,
                         password="s3cret-pass", from_address="shop@example.test", from_name="Example Shop")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "orders.db")
    seed(s)
    yield s
    s.close()


def test_invoice_shipment_refund_and_comment_mails(store, smtp):
    port, inbox = smtp
    ctx = context(store, email=settings(port))
    invoice = processing.invoice(ctx, UNSHIPPED, notify=True, comment="Thank you!")
    shipment = processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, method="Ground", notify=True)
    memo = processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["SKU-B=1"], notify=True)
    processing.comment(ctx, UNSHIPPED, "Your refund is on its way.", notify=True)
    assert [r.notification.sent for r in (invoice, shipment, memo)] == [True, True, True]
    assert len(inbox.messages) == 4
    for recipients, message in inbox.messages:
        assert recipients == ["jane@marketplace.amazon.com"]
        assert message["From"] == "Example Shop <shop@example.test>"
        assert "s3cret-pass" not in message.as_string()
    bodies = [m.get_content() for _, m in inbox.messages]
    assert f"invoice {invoice.document_number}" in bodies[0] and "47.98 USD" in bodies[0] and "Thank you!" in bodies[0]
    assert "Carrier: UPS" in bodies[1] and f"Tracking number: {UPS}" in bodies[1] and "Shipping method: Ground" in bodies[1]
    assert "2 x Widget SKU-A" in bodies[1]
    assert f"credit memo {memo.document_number}" in bodies[2] and "Total refunded: 5.00 USD" in bodies[2]
    assert "Your refund is on its way." in bodies[3]
    assert inbox.messages[1][1]["Subject"] == f"Your Amazon order {UNSHIPPED} has shipped"
    history = store.order_view(UNSHIPPED).history
    notified = [h for h in history if h.source == "operator"]
    assert [h.is_customer_notified for h in notified] == [True, True, True, True]


def test_mail_failure_keeps_the_change_and_is_recorded(store):
    ctx = context(store, email=settings(free_port()))  # nothing listens there
    result = processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, notify=True)
    assert result.notification.sent is False and "Cannot reach the SMTP server" in result.notification.error
    view = store.order_view(UNSHIPPED)
    assert len(view.shipments) == 1
    entry = view.history[-1]
    assert entry.is_customer_notified is False and "Cannot reach" in entry.notify_error
    assert len(store.outbox_for_order(UNSHIPPED)) == 1


def test_starttls_against_a_server_without_it_is_a_clear_error(smtp):
    port, inbox = smtp
    with pytest.raises(MailError, match="STARTTLS|does not support"):
        Mailer(settings(port, "starttls"), timeout=5).send(OutgoingMail("a@b.test", "s", "b"))
    assert inbox.messages == []
    assert "s3cret-pass" not in repr(Mailer(settings(port)))


def write_config(home, port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom_address = "shop@example.test"\n',
        encoding="utf-8",
    )
    (home / "config.toml").chmod(0o600)


def test_cli_ship_notify_and_mail_failure_warning(cli, tmp_path, amzorders_home, smtp):
    port, inbox = smtp
    db = tmp_path / "cli.db"
    s = Store.open(db)
    seed(s)
    s.close()
    write_config(amzorders_home, port)
    result = cli("--db", db, "ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--notify", "--no-push")
    assert result.exit_code == 0, result.output
    assert "E-mailed the buyer (jane@marketplace.amazon.com)." in result.stderr
    assert f"Tracking number: {UPS}" in inbox.messages[0][1].get_content()

    write_config(amzorders_home, free_port())  # the server is gone now
    result = cli("--db", db, "comment", "000000001", "Hello", "--notify")
    assert result.exit_code == 0, result.output
    assert "could not be sent" in result.stderr and "Comment added" in result.stdout
    history = json.loads(cli("--db", db, "show", "000000001", "--json").stdout)["history"]
    assert history[-1]["comment"] == "Hello" and history[-1]["is_customer_notified"] is False
    assert history[-1]["notify_error"]
