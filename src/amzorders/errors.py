"""Exception types raised by library code, and the exit code each maps to.

Library code (services, store, amazon, mail) raises these; the one error boundary in
``amzorders.cli.main`` prints ``Error: <message>`` on stderr and exits with ``exit_code``.
Messages must say what went wrong *and* what to do next, and must never contain secrets.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README "Exit codes")."""

    OK = 0
    NOT_FOUND_OR_NOT_ALLOWED = 1  # unknown order/SKU, or the order's state forbids it
    USAGE = 2  # bad flags or arguments (Typer also uses 2)
    CONFIG = 3  # configuration missing/invalid, credentials rejected
    AMAZON_REJECTED = 4  # Amazon answered 4xx / rejected an action (also: sync saw rejected actions)
    AMAZON_UNAVAILABLE = 5  # Amazon unreachable or failing after retries
    LOCKED = 6  # another sync holds the sync lock, or a writer held the store past the busy timeout
    STORE_UNUSABLE = 7  # the store file is corrupt, from a newer amzorders, or not an amzorders store
    CANNOT_WRITE = 8  # the disk is full or the store is read-only: the machine, not the data
    AMAZON_BAD_RESPONSE = 9  # Amazon (or a proxy) answered 2xx with a body that is not the documented response, or paged in a loop
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM (cron, systemd, container runtimes): 128 + 15, as shells report it


class AmzOrdersError(Exception):
    """Base of every expected failure. ``str(err)`` is the user-facing message."""

    exit_code: ExitCode = ExitCode.NOT_FOUND_OR_NOT_ALLOWED

    def __init__(self, message: str, *, multiline: bool = False) -> None:
        super().__init__(message)
        self.message = message
        # True for a listing (the bad rows of a CSV): its line breaks are kept on output;
        # any other message is printed on one line whatever it quotes.
        self.multiline = multiline


class NotFoundError(AmzOrdersError):
    """An order, SKU, outbox row... that does not exist."""

    exit_code = ExitCode.NOT_FOUND_OR_NOT_ALLOWED


class NotAllowedError(AmzOrdersError):
    """The order's current state does not allow the requested action."""

    exit_code = ExitCode.NOT_FOUND_OR_NOT_ALLOWED


class UsageError(AmzOrdersError):
    """Malformed input: a date that does not parse, an unknown status, a bad quantity."""

    exit_code = ExitCode.USAGE


class ConfigError(AmzOrdersError):
    """Configuration missing or invalid, or credentials refused by Login with Amazon."""

    exit_code = ExitCode.CONFIG


class LockedError(AmzOrdersError):
    """Another sync holds the store's sync lock."""

    exit_code = ExitCode.LOCKED


class ConcurrentChangeError(AmzOrdersError):
    """Someone else changed the order (or queued the same action) between our read and
    our write: the loser of a race. Nothing of this command was saved."""

    exit_code = ExitCode.NOT_FOUND_OR_NOT_ALLOWED


# -- the store and the machine under it ---------------------------------------------
# ``amzorders.store.errors.translate_store_error`` is the one place that turns a database
# engine's exceptions into these.


class StoreError(AmzOrdersError):
    """The store file cannot be used as it is (base of the kinds below)."""

    exit_code = ExitCode.STORE_UNUSABLE


class StoreCorruptError(StoreError):
    """SQLite reports the file as malformed."""


class StoreTooNewError(StoreError):
    """The schema was written by a newer amzorders."""


class NotAStoreError(StoreError):
    """The file is not an SQLite database, or lacks amzorders' tables (``--db /dev/null``)."""


class StoreBusyError(AmzOrdersError):
    """Another process kept the store's write lock beyond the busy timeout."""

    exit_code = ExitCode.LOCKED


class CannotWriteError(AmzOrdersError):
    """The machine refused a write: base of disk full and read-only."""

    exit_code = ExitCode.CANNOT_WRITE


class DiskFullError(CannotWriteError):
    """No space left (or a file-size/quota limit) where the store or a file is written."""


class ReadOnlyError(CannotWriteError):
    """The store (or its directory) is on a read-only file system or not writable by us."""


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler. A BaseException like
    KeyboardInterrupt, so that ``except Exception`` blocks do not swallow it while the
    transaction and claim handlers (``except BaseException``) still clean up."""


class AmazonError(AmzOrdersError):
    """An error answered by (or on the way to) the Selling Partner API.

    ``code``/``amazon_message`` come from Amazon's ``{"errors": [...]}`` body when there
    is one; ``request_id`` from the ``x-amzn-RequestId`` header; ``status`` is the HTTP
    status (None when no response arrived).
    """

    exit_code = ExitCode.AMAZON_REJECTED

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        amazon_message: str | None = None,
        request_id: str | None = None,
        operation: str | None = None,
        details: str | None = None,
        maybe_delivered: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.amazon_message = amazon_message
        self.request_id = request_id
        self.operation = operation
        self.details = details
        # False only when the request surely never reached Amazon (no connection made):
        # the outbox then knows a resend cannot double anything.
        self.maybe_delivered = maybe_delivered


class AmazonRejectedError(AmazonError):
    """Amazon answered with a non-retryable 4xx: the request itself is wrong."""

    exit_code = ExitCode.AMAZON_REJECTED


class AmazonUnavailableError(AmazonError):
    """Amazon unreachable, timing out, throttling or failing (5xx) after bounded retries."""

    exit_code = ExitCode.AMAZON_UNAVAILABLE


class AmazonBadResponseError(AmazonUnavailableError):
    """A 2xx whose body is not the operation's documented response (an ``errors`` body,
    a proxy's HTML, JSON without the required fields), still so after bounded retries;
    or pagination that does not end (a token or page seen before in this run). Nothing
    read from it is data: the watermark stays where it was."""

    exit_code = ExitCode.AMAZON_BAD_RESPONSE


class AuthError(AmazonError):
    """Login with Amazon refused the client id / secret / refresh token."""

    exit_code = ExitCode.CONFIG


class QueueReceiptExpired(Exception):
    """SQS refused a DeleteMessage receipt handle: the message was received again since (its
    visibility timeout ran out), so another delivery comes, which the handled
    NotificationId makes a no-op. Not an error for the operator."""
