"""SMTP (aiosmtpd on 127.0.0.1) is for the seller's alerts; --notify never e-mails an Amazon buyer."""

from __future__ import annotations

import email
import email.utils
import json

import pytest

from amzorders.config import EmailSettings
from amzorders.mail import Mailer, MailError, OutgoingMail
from amzorders.services import processing
from amzorders.store import Store
from processing_support import UNSHIPPED, context, seed

UPS = "1Z999AA10123456784"


def settings(port: int, security: str = "none") -> EmailSettings:
    return EmailSettings(host="127.0.0.1", port=port, security=security, username=None,
                         password="s3cret-pass", from_address="shop@example.test", from_name="Example Shop")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "orders.db")
    seed(s)
    yield s
    s.close()


def test_a_message_carries_date_and_message_id_and_no_password(smtp):
    port, inbox = smtp
    Mailer(settings(port)).send(OutgoingMail("seller@example.test", "3 actions rejected by Amazon", "See outbox."))
    [(recipients, message)] = inbox.messages
    assert recipients == ["seller@example.test"]
    assert message["From"] == "Example Shop <shop@example.test>"
    assert message["Date"] and email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"].endswith("@example.test>")
    assert "s3cret-pass" not in message.as_string()


def test_notify_sends_no_mail_to_an_amazon_buyer(store, smtp):
    port, inbox = smtp
    ctx = context(store, email=settings(port))
    processing.invoice(ctx, UNSHIPPED)
    processing.ship(ctx, UNSHIPPED, carrier="UPS", tracking=UPS, method="Ground", notify=True)
    processing.refund(ctx, UNSHIPPED, reason="CustomerReturn", items=["SKU-B=1"], notify=True)
    processing.comment(ctx, UNSHIPPED, "Your refund is on its way.", notify=True)
    assert inbox.messages == []


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


def test_cli_ship_notify_says_amazon_tells_the_buyer(cli, tmp_path, amzorders_home, smtp):
    port, inbox = smtp
    db = tmp_path / "cli.db"
    s = Store.open(db)
    seed(s)
    s.close()
    write_config(amzorders_home, port)
    result = cli("--db", db, "ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--notify", "--no-push")
    assert result.exit_code == 0, result.output
    assert "Amazon tells the buyer about the shipment itself" in result.stderr
    result = cli("--db", db, "comment", "000000001", "Hello", "--notify")
    assert result.exit_code == 0 and "Comment added" in result.stdout
    assert "amzorders message ORDER KIND" in result.stderr
    assert inbox.messages == []
    history = json.loads(cli("--db", db, "show", "000000001", "--json").stdout)["history"]
    assert history[-1]["comment"] == "Hello" and history[-1]["is_customer_notified"] is False
