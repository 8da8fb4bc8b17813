"""The log file: ``amzorders.log`` in the data directory, rotated, private, never a secret.

The CLI calls ``configure_logging`` once per command and ``shutdown_logging`` when it
ends. Library code just uses ``logging.getLogger(__name__)`` under ``amzorders``; only
that logger tree is written to the file (never the root logger, so urllib3's debug lines
with full URLs stay out), and nothing is ever printed to the terminal from here.

Levels: INFO by default (command start/end, errors); ``--debug`` or
``AMZORDERS_LOG_LEVEL=DEBUG`` add one line per Amazon HTTP call (``log_amazon_call``).

Secrets: every record passes through ``RedactionFilter`` on the file handler, which
replaces each registered secret value (client secrets, refresh tokens, access tokens,
the SMTP password) and anything shaped like an LWA token by ``[redacted]``. Code must
still never log secrets; this is the last line of defence.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from amzorders.textsafe import safe_text

if TYPE_CHECKING:
    from amzorders.amazon.client import CallRecord
    from amzorders.config import Settings

LOG_FILE_NAME = "amzorders.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 5
LOGGER_NAME = "amzorders"
CALL_LOGGER_NAME = "amzorders.amazon.calls"
REDACTED = "[redacted]"
LEVEL_VARIABLE = "AMZORDERS_LOG_LEVEL"
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# Secrets shorter than this are not replaced: they would shred ordinary words.
MIN_SECRET_LENGTH = 4

# Shapes of LWA refresh/access tokens and client secrets, redacted even when unregistered.
_SECRET_PATTERNS = re.compile(r"Atz[ar]\|[^\s\"'<>,;]+|amzn1\.oa2-cs\.[^\s\"'<>,;]+")

_logger = logging.getLogger(LOGGER_NAME)
# Without a handler, Python's "last resort" would print WARNING+ records on stderr.
_logger.addHandler(logging.NullHandler())
_logger.propagate = False


class RedactionFilter(logging.Filter):
    """Replaces registered secrets (and LWA-token shapes) in every record it sees."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, values: Iterable[str | None]) -> None:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                self._secrets.add(value)

    def redact(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SECRET_PATTERNS.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        # Neutralised as well: a log line quoting Amazon's text must be safe to `tail`.
        record.msg = safe_text(self.redact(record.getMessage()), keep_newlines=True)
        record.args = None
        if record.exc_info:
            # Format the traceback now (no locals: the stdlib never prints them) so the
            # text can be redacted; the formatter then uses exc_text as is.
            record.exc_text = safe_text(
                self.redact(logging.Formatter().formatException(record.exc_info)), keep_newlines=True
            )
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class PrivateRotatingFileHandler(logging.FileHandler):
    """A size-rotated log file (``amzorders.log``, ``.1`` ... ``.N``), created 0600 in a
    0700 directory.

    Rotation is done here on top of ``logging.FileHandler`` rather than with
    ``logging.handlers.RotatingFileHandler``: that module imports socket, pickle and
    queue, ~7 ms on every command's start-up for a feature only the file needs.
    Same policy as the stdlib's: before a record that would take the file to
    ``max_bytes``, ``.N-1`` -> ``.N`` ... the file -> ``.1``, then a fresh file.
    """

    def __init__(self, filename: Path, *, max_bytes: int, backup_count: int, encoding: str) -> None:
        super().__init__(filename, mode="a", encoding=encoding, delay=True)
        self.max_bytes = max_bytes
        self.backup_count = backup_count

    def _open(self):  # type: ignore[no-untyped-def]
        path = Path(self.baseFilename)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)  # a file left by an older version or another umask
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._should_roll_over(record):
                self._roll_over()
        except Exception:  # noqa: BLE001 (logging's contract: never raise from emit)
            self.handleError(record)
            return
        super().emit(record)

    def _should_roll_over(self, record: logging.LogRecord) -> bool:
        if self.max_bytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.seek(0, os.SEEK_END)
        return size > 0 and size + len(self.format(record)) + 1 >= self.max_bytes

    def _roll_over(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        base = self.baseFilename
        if self.backup_count > 0:
            for index in range(self.backup_count - 1, 0, -1):
                older = f"{base}.{index}"
                if os.path.exists(older):
                    os.replace(older, f"{base}.{index + 1}")
            if os.path.exists(base):
                os.replace(base, f"{base}.1")
        elif os.path.exists(base):
            os.remove(base)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        # A log that cannot be written must not stop or clutter the command: one line on
        # stderr (cron mails it), then the handler goes quiet.
        if not getattr(self, "_reported", False):
            self._reported = True
            error = sys.exc_info()[1]
            reason = getattr(error, "strerror", None) or str(error)
            sys.stderr.write(f"Warning: cannot write the log file {self.baseFilename}: {reason}.\n")
        self.setLevel(logging.CRITICAL + 1)


_redaction = RedactionFilter()
_handler: logging.Handler | None = None


def log_level(debug: bool, env: Mapping[str, str] = os.environ) -> int:
    """DEBUG with --debug, else AMZORDERS_LOG_LEVEL (a name like INFO), else INFO."""
    if debug:
        return logging.DEBUG
    name = env.get(LEVEL_VARIABLE, "").strip().upper()
    level = logging.getLevelName(name) if name else logging.INFO
    return level if isinstance(level, int) else logging.INFO


def log_path(data_dir: Path) -> Path:
    return data_dir / LOG_FILE_NAME


def configure_logging(
    data_dir: Path, *, debug: bool = False, env: Mapping[str, str] = os.environ
) -> Path:
    """Send the ``amzorders`` loggers to the rotating log file in ``data_dir``.

    Replaces what an earlier call configured (tests run many commands in one process).
    The file and directory are created on the first record, so a command that logs
    nothing leaves nothing behind. Returns the log file's path.
    """
    global _handler
    shutdown_logging()
    path = log_path(data_dir)
    handler = PrivateRotatingFileHandler(
        path, max_bytes=MAX_BYTES, backup_count=BACKUP_COUNT, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_redaction)
    level = log_level(debug, env)
    handler.setLevel(level)
    _logger.setLevel(level)
    _logger.addHandler(handler)
    _handler = handler
    return path


def shutdown_logging() -> None:
    """Close the log file (flushes it); logging is silent until configured again."""
    global _handler
    handler, _handler = _handler, None
    if handler is not None:
        _logger.removeHandler(handler)
        handler.close()


def add_secrets(values: Iterable[str | None]) -> None:
    """Register secret values that must never reach the log file."""
    _redaction.add(values)


def add_settings_secrets(settings: Settings) -> None:
    """Register every secret a ``Settings`` holds (all accounts, the SMTP password)."""
    values: list[str | None] = [settings.email.password, settings.db_password]
    from urllib.parse import urlsplit

    if isinstance(settings.db_path, str):  # a PostgreSQL URL: its password, if any
        try:
            values.append(urlsplit(settings.db_path).password)
        except ValueError:
            pass
    for account in settings.accounts.values():
        values += [account.client_secret, account.refresh_token]
    add_secrets(values)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced (for messages built elsewhere)."""
    return _redaction.redact(text)


def log_amazon_call(record: CallRecord) -> None:
    """The SP-API client's ``on_call`` hook: one DEBUG line per HTTP call."""
    logger = logging.getLogger(CALL_LOGGER_NAME)
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "%s %s %s status=%s request_id=%s duration_ms=%.1f attempt=%d%s",
        record.operation,
        record.method,
        record.path.split("?", 1)[0],
        record.status if record.status is not None else "none",
        record.request_id or "-",
        record.duration_ms,
        record.attempt,
        f" error={record.error_code}" if record.error_code else "",
    )
