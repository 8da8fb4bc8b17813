"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, its messages kept in an Inbox.
The ``smtp`` fixture (conftest.py) starts one per test and yields (port, inbox)."""

from __future__ import annotations

import email
import email.message
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy


class Inbox:
    """aiosmtpd handler: every message accepted, parsed and kept with its recipients."""

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


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()
