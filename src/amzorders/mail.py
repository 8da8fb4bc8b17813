"""Buyer notifications by e-mail (SMTP), plain text.

Messages go to the buyer's Amazon-relayed address (``...@marketplace.amazon.com``), which
Amazon forwards. Sending happens after the order change is committed: a mail failure is
raised as ``MailError`` for the caller to record, never undoing the change.
The SMTP password is never put in a message, log line or ``repr``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from amzorders.config import EmailSettings
from amzorders.errors import AmzOrdersError, ConfigError

DEFAULT_TIMEOUT_SECONDS = 30.0


class MailError(AmzOrdersError):
    """The e-mail could not be handed to the SMTP server."""


def require_mail(settings: EmailSettings | None) -> EmailSettings:
    """The settings, or a ConfigError (exit 3) saying how to configure [email]."""
    if settings is None or not settings.enabled:
        raise ConfigError(
            "--notify needs an SMTP server, and none is configured. Add an [email] section to the "
            "config file (host, port, security = starttls/ssl/none, username, from_address; the "
            "password in AMZORDERS_SMTP_PASSWORD), or leave out --notify."
        )
    if not settings.from_address:
        raise ConfigError("email.from_address is not set; add it to the [email] section of the config file.")
    return settings


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


class Mailer:
    """Sends plain-text mail through the configured SMTP server, one connection a message."""

    def __init__(self, settings: EmailSettings, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.settings = require_mail(settings)
        self.timeout = timeout

    def __repr__(self) -> str:
        s = self.settings
        return f"Mailer(host={s.host!r}, port={s.port}, security={s.security!r}, username={s.username!r})"

    def build(self, mail: OutgoingMail) -> EmailMessage:
        s = self.settings
        message = EmailMessage()
        message["From"] = formataddr((s.from_name, s.from_address)) if s.from_name else s.from_address
        message["To"] = mail.to
        message["Subject"] = mail.subject
        domain = (s.from_address or "amzorders.invalid").rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(mail.body)
        return message

    def send(self, mail: OutgoingMail) -> None:
        s = self.settings
        message = self.build(mail)
        where = f"{s.host}:{s.port}"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"The SMTP server {where} refused the login of user {s.username!r} ({exc.smtp_code}); "
                "check email.username and the password (AMZORDERS_SMTP_PASSWORD)."
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise MailError(f"The SMTP server {where} refused the recipient {mail.to}.") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(
                f"The SMTP server {where} does not support what email.security = {s.security!r} needs "
                f"({_first_line(exc)}); check email.security and email.port."
            ) from None
        except smtplib.SMTPException as exc:
            raise MailError(f"The SMTP server {where} did not take the message: {_first_line(exc)}.") from None
        except ssl.SSLError as exc:
            raise MailError(
                f"TLS with the SMTP server {where} failed ({exc.reason or exc}); check email.security "
                "(starttls on port 587, ssl on 465)."
            ) from None
        except OSError as exc:
            raise MailError(
                f"Cannot reach the SMTP server {where}: {exc.strerror or exc}. Check email.host and email.port."
            ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------ message content


def _greeting(buyer_name: str | None) -> str:
    return f"Hello {buyer_name}," if buyer_name else "Hello,"


def _signature(shop_name: str | None) -> str:
    return f"\nThank you for your order.\n{shop_name or ''}".rstrip() + "\n"


def _lines(items: Iterable[tuple[str, str, int]]) -> str:
    return "\n".join(f"  {qty} x {name} (SKU {sku})" for sku, name, qty in items)


def invoice_mail(
    *, to: str, buyer_name: str | None, amazon_order_id: str, invoice_number: str, currency: str,
    grand_total: str, items: list[tuple[str, str, int]], comment: str | None, shop_name: str | None = None,
) -> OutgoingMail:
    body = (
        f"{_greeting(buyer_name)}\n\n"
        f"Your Amazon order {amazon_order_id} has been invoiced (invoice {invoice_number}).\n\n"
        f"Items:\n{_lines(items)}\n\n"
        f"Invoice total: {grand_total} {currency} (paid through Amazon).\n"
        + (f"\n{comment}\n" if comment else "")
        + _signature(shop_name)
    )
    return OutgoingMail(to, f"Invoice {invoice_number} for your Amazon order {amazon_order_id}", body)


def shipment_mail(
    *, to: str, buyer_name: str | None, amazon_order_id: str, shipment_number: str, carrier: str,
    tracking_number: str, method: str | None, ship_date: str, items: list[tuple[str, str, int]],
    comment: str | None, shop_name: str | None = None,
) -> OutgoingMail:
    body = (
        f"{_greeting(buyer_name)}\n\n"
        f"Items of your Amazon order {amazon_order_id} are on their way (shipment {shipment_number}).\n\n"
        f"Items:\n{_lines(items)}\n\n"
        f"Carrier: {carrier}\n"
        + (f"Shipping method: {method}\n" if method else "")
        + f"Tracking number: {tracking_number}\n"
        f"Shipped: {ship_date}\n"
        + (f"\n{comment}\n" if comment else "")
        + _signature(shop_name)
    )
    return OutgoingMail(to, f"Your Amazon order {amazon_order_id} has shipped", body)


def credit_memo_mail(
    *, to: str, buyer_name: str | None, amazon_order_id: str, credit_memo_number: str, currency: str,
    grand_total: str, items: list[tuple[str, str, int]], shipping_refund: str | None, comment: str | None,
    shop_name: str | None = None,
) -> OutgoingMail:
    item_text = f"Items:\n{_lines(items)}\n\n" if items else ""
    body = (
        f"{_greeting(buyer_name)}\n\n"
        f"A refund was issued for your Amazon order {amazon_order_id} (credit memo {credit_memo_number}).\n\n"
        f"{item_text}"
        + (f"Shipping refunded: {shipping_refund} {currency}\n" if shipping_refund else "")
        + f"Total refunded: {grand_total} {currency}\n"
        "Amazon returns the money to your original payment method.\n"
        + (f"\n{comment}\n" if comment else "")
        + _signature(shop_name)
    )
    return OutgoingMail(to, f"Refund for your Amazon order {amazon_order_id}", body)


def comment_mail(
    *, to: str, buyer_name: str | None, amazon_order_id: str, comment: str, shop_name: str | None = None
) -> OutgoingMail:
    body = f"{_greeting(buyer_name)}\n\nAbout your Amazon order {amazon_order_id}:\n\n{comment}\n" + _signature(shop_name)
    return OutgoingMail(to, f"About your Amazon order {amazon_order_id}", body)
