"""The SQLite connection: opening a private file, pragmas, migrations, transactions."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from amzorders.errors import (  # noqa: F401  (StoreError, ConcurrentChangeError: re-exported)
    ConcurrentChangeError,
    NotAStoreError,
    StoreError,
    StoreTooNewError,
)
from amzorders.store.errors import check_is_regular_file, translate_store_error
from amzorders.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 15_000


def dec(value: str | None) -> Decimal:
    return Decimal(value) if value not in (None, "") else Decimal(0)


def dec_or_none(value: str | None) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


def money_text(value: Decimal | None) -> str | None:
    """Exact decimal text for storage ('12.50'); never scientific notation."""
    return None if value is None else f"{value:f}"


class StoreBase:
    """Owns the connection. Subclassed (as mixins) by the repositories in this package."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._depth = 0

    @classmethod
    def open(cls, path: Path | str) -> "StoreBase":
        """Open (creating when missing) the store at ``path`` and bring its schema up to date.

        The directory is created 0700 and the file 0600: it holds buyer data.
        """
        path = Path(path)
        if str(path) != ":memory:":
            check_is_regular_file(path)
            _prepare_private_file(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Deleted buyer data must not linger in free pages (Data Protection Policy).
            conn.execute("PRAGMA secure_delete = ON")
            store = cls(conn, None if str(path) == ":memory:" else path)
            store.migrate()
        except Exception as exc:
            if conn is not None:
                conn.close()
            translated = translate_store_error(exc, path)
            if translated is None:
                raise
            raise translated from None
        if store.path is not None:
            _tighten_permissions(store.path)
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: takes the write lock up front, so two
        writers queue on the busy timeout instead of failing on lock upgrade). Nested
        calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translated(exc) from None
        self._depth = 1
        try:
            yield self.conn
            self._depth = 0
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self._depth = 0
            self._rollback()
            if isinstance(exc, Exception):
                translated = translate_store_error(exc, self.path)
                if translated is not None and translated is not exc:
                    raise translated from None
            raise

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk, an I/O error); a failing
        # ROLLBACK must not hide the error that caused it.
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _translated(self, exc: Exception) -> Exception:
        translated = translate_store_error(exc, self.path)
        return translated if translated is not None else exc

    # -- schema -------------------------------------------------------------------

    def migrate(self) -> None:
        tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_migrations" not in tables:
            # A fresh file, or another program's SQLite database: never add our tables to that.
            if tables - {"sqlite_sequence"}:
                raise NotAStoreError(
                    f"The file {self.path} is an SQLite database of another program, not an "
                    "amzorders store (it has tables but no amzorders schema). Point --db / "
                    "AMZORDERS_DB at an amzorders store, or at a new file to start one."
                )
            self.conn.execute(
                "CREATE TABLE schema_migrations ("
                " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        applied = {row[0] for row in self.conn.execute("SELECT version FROM schema_migrations")}
        newest = max(v for v, _, _ in MIGRATIONS)
        if applied and max(applied) > newest:
            raise StoreTooNewError(
                f"The order store {self.path} was written by a newer amzorders (schema "
                f"{max(applied)}, this version knows {newest}). Upgrade amzorders (pip install -U amzorders) "
                "and run the command again; the store was not changed."
            )
        for version, description, script in MIGRATIONS:
            if version in applied:
                continue
            # executescript commits any open transaction first, so the script carries
            # its own BEGIN/COMMIT: the migration and its record land together or not at all.
            try:
                self.conn.executescript(
                    "BEGIN IMMEDIATE;\n"
                    + script
                    + f"\nINSERT INTO schema_migrations VALUES ({version}, '{description}',"
                    " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));\nCOMMIT;"
                )
            except sqlite3.Error:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)


def _prepare_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the order store at {path}: {exc.strerror}. "
            "Choose a writable location with --db or AMZORDERS_DB."
        ) from None


def _tighten_permissions(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue
        except PermissionError:
            continue
