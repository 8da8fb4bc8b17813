"""The one place where a database engine's exceptions become amzorders' store errors.

``translate_store_error(exc, path)`` returns the ``AmzOrdersError`` an operator should
see for ``exc`` (disk full, read-only, busy, corrupt, not a store, a concurrent loser),
or None when ``exc`` is not a failure of the store or the machine (then it is a bug and
stays an unexpected failure). The store calls it where transactions begin and end and
where the file is opened; the CLI boundary calls it for anything that escapes a read.

PostgreSQL's errors (psycopg) go through ``_translate_postgres``, by SQLSTATE
(https://www.postgresql.org/docs/15/errcodes-appendix.html); psycopg is never imported
here. The error kinds and their exit codes live in ``errors.py``.

SQLite's result codes: https://www.sqlite.org/rescode.html (primary code = low byte of the
extended code, which Python exposes as ``sqlite_errorcode`` since 3.11).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from amzorders.errors import (
    AmzOrdersError,
    CannotWriteError,
    ConcurrentChangeError,
    DiskFullError,
    NotAStoreError,
    ReadOnlyError,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
)

# Primary result codes (sqlite3.h).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
# Extended codes of SQLITE_IOERR that mean a read failed (everything else is a write,
# a sync, a truncate or a mapping that needs space: treated as "cannot write").
_IOERR_READ_CODES = frozenset({SQLITE_IOERR | (1 << 8), SQLITE_IOERR | (2 << 8)})  # READ, SHORT_READ

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})

CONCURRENT_LOSER_MESSAGE = (
    "Someone else changed this order (or queued the same action) while this command ran; "
    "nothing of this command was saved. Look at the order with 'amzorders show' and try again."
)


def translate_store_error(exc: BaseException, path: Path | str | None) -> AmzOrdersError | None:
    """The operator's error for ``exc`` raised while using the store at ``path``, or None."""
    if isinstance(exc, AmzOrdersError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return _translate_sqlite(exc, _where(path), path)
    if type(exc).__module__.startswith("psycopg"):
        return _translate_postgres(exc, _where(path))
    if isinstance(exc, OSError):
        return translate_os_error(exc, f"the file {exc.filename}" if exc.filename else _where(path))
    return None


def translate_os_error(exc: OSError, what: str) -> AmzOrdersError | None:
    """Disk full / read-only for a file write that the machine refused; None otherwise."""
    if exc.errno in _DISK_FULL_ERRNOS:
        return DiskFullError(_disk_full_message(what, exc.strerror or "no space left"))
    if exc.errno in _READ_ONLY_ERRNOS:
        return ReadOnlyError(_read_only_message(what, exc.strerror or "read-only"))
    return None


def _where(path: Path | str | None) -> str:
    return f"the order store {path}" if path not in (None, ":memory:") else "the order store"


def _translate_sqlite(exc: sqlite3.Error, what: str, path: Path | str | None) -> AmzOrdersError | None:
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        # Two writers racing for the same row: the guard that keeps an action from being
        # queued twice (outbox.idempotency_key, one document number...) stopped the loser.
        if "UNIQUE constraint failed" in text:
            return ConcurrentChangeError(CONCURRENT_LOSER_MESSAGE)
        return None
    if primary == SQLITE_FULL:
        return DiskFullError(_disk_full_message(what, "database or disk is full"))
    if primary == SQLITE_IOERR:
        if code in _IOERR_READ_CODES:
            return StoreError(
                f"Cannot read {what}: the disk reported an I/O error. Check the disk, then "
                "restore the store from a backup if the error stays."
            )
        return DiskFullError(_disk_full_message(what, _why_a_write_failed(path)))
    if primary in (SQLITE_READONLY, SQLITE_CANTOPEN) and _on_read_only_file_system(path):
        return ReadOnlyError(_read_only_message(what, "it is on a read-only file system"))
    if primary == SQLITE_READONLY:
        return ReadOnlyError(_read_only_message(what, "it is read-only"))
    if primary == SQLITE_CANTOPEN:
        return ReadOnlyError(
            f"Cannot open {what} or create its journal files beside it (-wal, -shm). "
            "Check that the file and its directory exist and are writable by this user "
            "(a read-only file system cannot hold a store), or point --db / AMZORDERS_DB elsewhere."
        )
    if primary in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreBusyError(
            f"{what[0].upper()}{what[1:]} stayed locked by another amzorders process for longer "
            "than the busy timeout; nothing of this command was saved. It finishes by itself: "
            "run the command again in a moment."
        )
    if primary == SQLITE_CORRUPT:
        return StoreCorruptError(
            f"{what[0].upper()}{what[1:]} is damaged (SQLite: {text}). Stop using it: restore it "
            "from a backup (then 'amzorders sync' brings it up to date with Amazon), or point "
            "--db / AMZORDERS_DB at another store."
        )
    if primary == SQLITE_NOTADB:
        return NotAStoreError(_not_a_store_message(what, "it is not an SQLite database"))
    if isinstance(exc, sqlite3.OperationalError) and text.startswith(("no such table", "no such column")):
        return NotAStoreError(_not_a_store_message(what, f"it lacks part of the schema ({text})"))
    return None


def _translate_postgres(exc: BaseException, what: str) -> AmzOrdersError | None:
    from amzorders.dburl import redact_urls_in

    state = getattr(exc, "sqlstate", None) or ""
    first_line = redact_urls_in((str(exc).strip().splitlines() or [type(exc).__name__])[0])
    # Two hosts racing: a deadlock or serialization failure the server broke, a lock
    # wait cut short, or the unique guard that keeps an action from being queued twice.
    if state in ("40001", "40P01", "55P03", "23505"):
        return ConcurrentChangeError(CONCURRENT_LOSER_MESSAGE)
    if state == "53100":
        return DiskFullError(_disk_full_message(what, "the PostgreSQL server's disk is full"))
    if state == "25006":
        return ReadOnlyError(
            f"Cannot write {what}: the PostgreSQL server accepts only reads (a standby, or "
            "default_transaction_read_only). Point --db / AMZORDERS_DB at the primary server."
        )
    if state == "53300":
        return StoreBusyError(
            f"{what[0].upper()}{what[1:]} has no free connection slot (too many clients); nothing of "
            "this command was saved. Run it again in a moment, or raise max_connections on the server."
        )
    if state in ("42P01", "42703"):
        return NotAStoreError(_not_a_store_message(what, f"it lacks part of the schema ({first_line})"))
    if state.startswith("XX"):
        return StoreCorruptError(
            f"{what[0].upper()}{what[1:]} reported an internal error ({first_line}). Ask the database's "
            "administrator to check the server; restore from a backup if data is damaged."
        )
    if state.startswith(("08", "57P")) or type(exc).__name__ == "OperationalError":
        return StoreError(
            f"Lost or could not make the connection to {what} ({first_line}). Nothing of this "
            "command was saved unless it said so. Check that the PostgreSQL server is running and "
            "reachable, then run the command again."
        )
    return None


def _why_a_write_failed(path: Path | str | None) -> str:
    """SQLite says only "disk I/O error" for a write the kernel refused; name the likely
    cause: a file-size limit (EFBIG under ulimit -f) or a file system with no space left."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return f"the disk refused a write (disk I/O error; this process may write files of at most {soft} bytes: ulimit -f)"
    if path not in (None, ":memory:"):
        try:
            stats = os.statvfs(Path(path).resolve().parent)
            if stats.f_bavail * stats.f_frsize < 1024 * 1024:
                return "no space is left on its file system (disk I/O error)"
        except OSError:
            pass
    return "the disk refused a write (disk I/O error)"


def _on_read_only_file_system(path: Path | str | None) -> bool:
    if path in (None, ":memory:"):
        return False
    try:
        return bool(os.statvfs(Path(path).resolve().parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _disk_full_message(what: str, why: str) -> str:
    return (
        f"Cannot write {what}: {why}. Nothing of this command was half-written. Free space on "
        "its file system (df -h; also check quotas and 'ulimit -f'), then run the command again."
    )


def _read_only_message(what: str, why: str) -> str:
    return (
        f"Cannot write {what}: {why}. Make the file and its directory writable by this user "
        "(chmod/chown, or remount the file system read-write), or point --db / AMZORDERS_DB "
        "at a writable store."
    )


def _not_a_store_message(what: str, why: str) -> str:
    return (
        f"{what[0].upper()}{what[1:]} is not an amzorders store: {why}. Point --db / "
        "AMZORDERS_DB at the right file, or restore the store from a backup."
    )


def check_is_regular_file(path: Path) -> None:
    """Refuse a device, a directory or a FIFO as a store before SQLite writes into it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError:
        return  # SQLite's own open reports it, translated
    import stat

    if not stat.S_ISREG(mode):
        raise NotAStoreError(_not_a_store_message(_where(path), "it is not a regular file"))


__all__ = ["CannotWriteError", "translate_os_error", "translate_store_error"]
