"""E-mail (SMTP), plain text, for the seller's own alerts.

Amazon buyers are never e-mailed: Amazon's communication guidelines route permitted contact
through the Messaging API (services/messaging.py). Every message carries Date and
Message-ID headers (RFC 5322 requires Date). A failure is raised as ``MailError`` for the
caller to record. The SMTP password is never put in a message, log line or ``repr``.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from amzorders.config import EmailSettings
from amzorders.errors import AmzOrdersError, ConfigError

DEFAULT_TIMEOUT_SECONDS = 30.0


class MailError(AmzOrdersError):
    """The e-mail could not be handed to the SMTP server."""


def require_mail(settings: EmailSettings | None) -> EmailSettings:
    """The settings, or a ConfigError (exit 3) saying how to configure [email]."""
    if settings is None or not settings.enabled:
        raise ConfigError(
            "E-mail alerts need an SMTP server, and none is configured. Add an [email] section to the "
            "config file (host, port, security = starttls/ssl/none, username, from_address; the "
            "password in AMZORDERS_SMTP_PASSWORD)."
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
        message["Date"] = formatdate(usegmt=True)
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
