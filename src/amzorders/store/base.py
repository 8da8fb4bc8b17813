"""The store's connection: a private SQLite file (pragmas) or a PostgreSQL database
(store/pg.py), migrations, transactions, and the per-account sync lock.

Which engine: ``Store.open(location)``: a ``postgresql://`` URL is PostgreSQL, anything
else a SQLite file path. Engine differences live in store/dialect.py.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from amzorders.domain.textfold import fold_text
from amzorders.errors import (  # noqa: F401  (StoreError, ConcurrentChangeError: re-exported)
    ConcurrentChangeError,
    ConfigError,
    LockedError,
    NotAStoreError,
    StoreError,
    StoreTooNewError,
)
from amzorders.store.dialect import (
    POSTGRES,
    POSTGRES_FUNCTIONS,
    SEQUENCE_NAMES,
    SQLITE,
    Dialect,
    is_postgres_url,
    redact_url,
    render_ddl,
    sequence_object,
)
from amzorders.store.errors import check_is_regular_file, translate_store_error
from amzorders.store import rawjson
from amzorders.store.migrations import COMPACT_AFTER, FOREIGN_KEYS_OFF, MIGRATIONS, PYTHON_STEPS

BUSY_TIMEOUT_MS = 15_000
_log = logging.getLogger(__name__)
# Told (location, from_version, to_version) before an existing store's migrations run.
UpgradeHook = Callable[[str, int, int], None]


def dec(value: str | None) -> Decimal:
    return Decimal(value) if value not in (None, "") else Decimal(0)


def dec_or_none(value: str | None) -> Decimal | None:
    return Decimal(value) if value not in (None, "") else None


# Amazon's order JSON is kept compressed in amazon_orders.raw_zlib (store/rawjson.py:
# ~1/5 of the text, which was over half of the store). raw_json holds the text of rows
# written before migration 4, and '' afterwards; ``unpack_raw`` reads either. Since
# migration 11 the items' product fields that amazon_order_items holds are left out of it
# and put back from those rows (``raw_items``): a reader of the whole JSON passes them.
def pack_raw(raw: dict, items: rawjson.ItemRows | None = None) -> bytes:
    return rawjson.pack(raw, items)


def raw_items(rows: Any) -> dict[str, tuple]:
    """The item rows ``pack_raw`` / ``unpack_raw`` take, from amazon_order_items rows (with
    order_item_id, sku, title and asin)."""
    return {r["order_item_id"]: (r["sku"], r["title"], r["asin"]) for r in rows}


def unpack_raw(raw_zlib: bytes | None, raw_json: str | None, items: rawjson.ItemRows | None = None) -> dict:
    """The stored order JSON back as a dict ({} when unreadable); ``items`` (``raw_items``):
    the order's item rows, without which the product fields left out stay "" (enough for
    readers of other parts: programs, the delivery address)."""
    try:
        if raw_zlib is not None:
            return rawjson.unpack(bytes(raw_zlib), items)
        value = json.loads(raw_json or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def stored_address(row: Any, raw: dict | None = None) -> Any:
    """The delivery address (``domain.models.Address``) of an ``amazon_orders`` row with its
    shipping_address_json, raw_zlib, raw_json and pii_purged_at: read from Amazon's stored JSON
    (migration 10 keeps no second copy in shipping_address_json); None once the buyer data is
    purged (the scrubbed JSON keeps the country and region for tax reporting, not an address)."""
    if row["shipping_address_json"]:  # written before migration 10
        from amzorders.domain.models import Address

        return Address(**json.loads(row["shipping_address_json"]))
    if row["pii_purged_at"] is not None:
        return None
    from amzorders.domain.mapping import delivery_address

    return delivery_address(unpack_raw(row["raw_zlib"], row["raw_json"]) if raw is None else raw)


def more_entries(row: Any) -> list | None:
    """The further entries of a status_history row: compressed in more_zlib since migration 10,
    JSON text in more_json before (migration 9). Each is [comment, status, source, entity_type]."""
    if row["more_zlib"] is not None:
        return rawjson.unpack_entries(bytes(row["more_zlib"]))
    return json.loads(row["more_json"]) if row["more_json"] else None


def id_chunks(ids: Sequence[Any], size: int = 500) -> Iterator[tuple[list[Any], str]]:
    """``ids`` in slices for ``WHERE x IN (...)``: (slice, its '?,?,...' placeholders).
    500 stays far below SQLite's bound-parameter limit (32,766) and keeps PostgreSQL's
    statements short."""
    for start in range(0, len(ids), size):
        chunk = list(ids[start : start + size])
        yield chunk, ",".join("?" * len(chunk))


def money_text(value: Decimal | None) -> str | None:
    """Exact decimal text for storage ('12.50'); never scientific notation."""
    return None if value is None else f"{value:f}"


# Tests only (tests/conftest.py, AMZORDERS_TEST_PG): every SQLite path a test opens is
# redirected to its own schema in this PostgreSQL database, so the whole suite runs on
# both engines without each test knowing. Never set in normal use.
TEST_REDIRECT_ENV = "AMZORDERS_TEST_PG_REDIRECT"
TEST_PREFIX_ENV = "AMZORDERS_TEST_PG_PREFIX"


def test_redirect_schema(path: Path) -> str:
    import hashlib  # here: hashlib costs every command's start-up (benchmarks/startup.py)

    digest = hashlib.sha1(str(Path(path).absolute()).encode("utf-8")).hexdigest()[:16]
    return f"{os.environ.get(TEST_PREFIX_ENV, 'i14_')}{digest}"


def store_exists(path: Path | str) -> bool:
    """Whether a store is already there, without creating one: a PostgreSQL URL names a
    server database (taken as there); a path, its SQLite file, or under the test suite's
    PostgreSQL mode the schema that path is redirected to."""
    if is_postgres_url(path):
        return True
    redirect = os.environ.get(TEST_REDIRECT_ENV)
    if redirect and str(path) != ":memory:":
        from amzorders.store import pg

        conn = pg.connect(redirect)
        try:
            row = conn.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?", (test_redirect_schema(Path(path)),)
            ).fetchone()
        finally:
            conn.close()
        return row is not None
    return Path(path).exists()


class StoreBase:
    """Owns the connection. Subclassed (as mixins) by the repositories in this package."""

    def __init__(
        self,
        conn: Any,
        path: Path | None,
        dialect: Dialect = SQLITE,
        *,
        url: str | None = None,
        password: str | None = None,
        schema: str | None = None,
    ) -> None:
        self.conn = conn
        self.path = path  # the SQLite file; None on PostgreSQL and for :memory:
        self.dialect = dialect
        self._url = url  # PostgreSQL URL as given (may hold a password: never shown)
        self._password = password
        self._schema = schema
        self._depth = 0

    @property
    def location(self) -> str:
        """Where the store is, fit to print (a URL's password is redacted)."""
        if self._url is not None:
            return redact_url(self._url) + (f" (schema {self._schema})" if self._schema else "")
        return str(self.path) if self.path is not None else ":memory:"

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        password: str | None = None,
        sqlite_only: bool = False,
        on_upgrade: UpgradeHook | None = None,
    ) -> "StoreBase":
        """Open (creating when missing) the store at ``path`` and bring its schema up to date.

        ``path``: a SQLite file, or a ``postgresql://user@host:port/dbname`` URL
        (``password``: the config's db_password, used when the URL, PGPASSWORD and
        ~/.pgpass give none). ``sqlite_only``: a path is always a SQLite file, even in the
        test suite's PostgreSQL mode (db copy reads one). A SQLite directory is created 0700 and the file 0600: it holds
        buyer data. ``on_upgrade(location, from_version, to_version)``: called before the
        migrations of an existing store run (they can take minutes on a big one).
        """
        if is_postgres_url(path):
            return cls._open_postgres(str(path), password=password, schema=None, on_upgrade=on_upgrade)
        redirect = None if sqlite_only else os.environ.get(TEST_REDIRECT_ENV)
        if redirect and str(path) != ":memory:":
            return cls._open_postgres(
                redirect, password=None, schema=test_redirect_schema(Path(path)), on_upgrade=on_upgrade
            )
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
            # The search index holds folded text (migration 5 refolds old rows with it).
            conn.create_function("amz_fold", 1, fold_text, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # A new file only (a no-op on an existing one): an order row is ~1.1 KB, so
            # 4 KB pages hold three and leave ~16 % of each page unused (issue 15).
            conn.execute("PRAGMA page_size = 8192")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Deleted buyer data must not linger in free pages (Data Protection Policy).
            conn.execute("PRAGMA secure_delete = ON")
            store = cls(conn, None if str(path) == ":memory:" else path)
            store.migrate(on_upgrade)
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

    @classmethod
    def _open_postgres(
        cls, url: str, *, password: str | None, schema: str | None, on_upgrade: UpgradeHook | None = None
    ) -> "StoreBase":
        from amzorders.store import pg

        conn = pg.connect(url, password=password, schema=schema)
        store = cls(conn, None, POSTGRES, url=url, password=password, schema=schema)
        try:
            store.migrate(on_upgrade)
        except Exception as exc:
            conn.close()
            translated = translate_store_error(exc, store.location)
            if translated is None:
                raise
            raise translated from None
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
            self.conn.execute(self.dialect.begin)
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
                translated = translate_store_error(exc, self.location)
                if translated is not None and translated is not exc:
                    raise translated from None
            raise

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Reads that all see one moment: several SELECTs outside a transaction may each
        see a different commit (an order row from before another writer's commit, its
        items from after). Inside a transaction the transaction's own view is used."""
        if self._depth or self.conn.in_transaction:
            yield
            return
        self.conn.execute(self.dialect.begin_read)
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk, an I/O error); a failing
        # ROLLBACK must not hide the error that caused it.
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - sqlite3's or psycopg's; the first error matters
                pass

    def _translated(self, exc: Exception) -> Exception:
        translated = translate_store_error(exc, self.path)
        return translated if translated is not None else exc

    # -- schema -------------------------------------------------------------------

    def migrate(self, on_upgrade: UpgradeHook | None = None) -> None:
        """Apply the migrations the store lacks (each with its record, all or nothing)."""
        if self.dialect.is_postgres:
            self._migrate_postgres(on_upgrade)
            return
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
        compact = False
        newest = max(v for v, _, _ in MIGRATIONS)
        if applied and max(applied) > newest:
            raise StoreTooNewError(
                f"The order store {self.path} was written by a newer amzorders (schema "
                f"{max(applied)}, this version knows {newest}). Upgrade amzorders (pip install -U amzorders) "
                "and run the command again; the store was not changed."
            )
        started = self._upgrade_starts(applied, on_upgrade)
        for version, description, script in MIGRATIONS:
            if version in applied:
                continue
            # executescript commits any open transaction first, so the script carries
            # its own BEGIN/COMMIT: the migration and its record land together or not at all.
            step = PYTHON_STEPS.get(version)
            record = (
                f"\nINSERT INTO schema_migrations VALUES ({version}, '{description}',"
                " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));\n"
            )
            keys_off = version in FOREIGN_KEYS_OFF
            if keys_off:  # (a no-op inside a transaction: set before BEGIN)
                self.conn.execute("PRAGMA foreign_keys = OFF")
            try:
                if step is None:
                    self.conn.executescript("BEGIN IMMEDIATE;\n" + render_ddl(script, SQLITE) + record + "COMMIT;")
                else:  # the script, the Python step and the record in one transaction
                    self.conn.executescript("BEGIN IMMEDIATE;\n" + render_ddl(script, SQLITE))
                    step(self.conn)
                    if keys_off and self.conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise sqlite3.IntegrityError(
                            f"migration {version} left a broken foreign key; nothing was changed")
                    self.conn.execute(record.strip().rstrip(";"))  # execute: executescript would commit first
                    self.conn.execute("COMMIT")
            except Exception:  # sqlite3 errors, or a Python step's: nothing of it stays
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            finally:
                if keys_off:
                    self.conn.execute("PRAGMA foreign_keys = ON")
            compact = compact or (bool(applied) and version in COMPACT_AFTER)  # (a new file has nothing to free)
        if compact:
            try:
                self.conn.execute("VACUUM")
            except sqlite3.OperationalError:  # another connection reading, or no room for the copy:
                pass  # the free pages are reused by later writes instead
        self._upgrade_ends(started)

    def _upgrade_starts(self, applied: set[int], on_upgrade: UpgradeHook | None) -> float | None:
        """Say that an existing store is about to be upgraded (a new one is just made):
        the log gets a line, and ``on_upgrade`` the versions. The start time, or None."""
        known = {v for v, _, _ in MIGRATIONS}
        if not applied or applied >= known:
            return None
        current, newest = max(applied), max(known)
        _log.info("store upgrade of %s from schema %d to %d started", self.location, current, newest)
        if on_upgrade is not None:
            on_upgrade(self.location, current, newest)
        return time.monotonic()

    def _upgrade_ends(self, started: float | None) -> None:
        if started is not None:
            _log.info("store upgrade of %s done in %.1f s", self.location, time.monotonic() - started)

    def _migrate_postgres(self, on_upgrade: UpgradeHook | None = None) -> None:
        """Each missing migration in its own transaction, under a transaction-scoped
        advisory lock so that two hosts starting at once do not both apply it."""
        newest = max(v for v, _, _ in MIGRATIONS)
        applied = self.conn.applied_versions()  # one round trip on every open
        if applied is not None:
            current = max(applied, default=0)
            if current > newest:
                raise StoreTooNewError(
                    f"The order store {self.location} was written by a newer amzorders (schema "
                    f"{current}, this version knows {newest}). Upgrade amzorders (pip install -U amzorders) "
                    "and run the command again; the store was not changed."
                )
            if applied >= {v for v, _, _ in MIGRATIONS}:
                return  # every migration recorded (as SQLite checks: by version, not by the newest)
        started = self._upgrade_starts(applied or set(), on_upgrade)
        for version, description, script in MIGRATIONS:
            with self.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':amzorders-migrate'))")
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                if self.conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    continue
                self._postgres_prelude()
                self.conn.execute(render_ddl(script, POSTGRES, trgm_schema=self._trgm_schema()))
                step = PYTHON_STEPS.get(version)
                if step is not None:
                    step(self.conn)
                self.conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, description, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
                )
        self._upgrade_ends(started)

    def _postgres_prelude(self) -> None:
        """What every PostgreSQL migration may rely on: pg_trgm, the SQLite-compatible
        functions, the increment-number sequences (all idempotent)."""
        if self._trgm_schema() is None:
            try:
                self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            except Exception as exc:  # noqa: BLE001 - psycopg's error, reworded
                raise StoreError(
                    f"The PostgreSQL store {self.location} needs the pg_trgm extension, and this user may "
                    f"not create it ({str(exc).splitlines()[0]}). Ask the database's owner or a superuser "
                    "to run: CREATE EXTENSION pg_trgm;"
                ) from None
        self.conn.execute(POSTGRES_FUNCTIONS)
        for name in SEQUENCE_NAMES:
            self.conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence_object(name)}")

    def _trgm_schema(self) -> str | None:
        row = self.conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        ).fetchone()
        return row[0] if row else None

    # -- the sync lock --------------------------------------------------------------

    @contextmanager
    def sync_lock(
        self,
        account: str,
        wait_seconds: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[None]:
        """One sync per account at a time. SQLite: the flock beside the file
        (services/locking.py, one per store). PostgreSQL: a session advisory lock, keyed
        by schema and account, held on a connection of its own, so every host sharing the
        database is excluded and the server releases it when the holder dies."""
        if not self.dialect.is_postgres:
            from amzorders.services.locking import sync_lock

            with sync_lock(self.path if self.path is not None else ":memory:", wait_seconds):
                yield
            return
        from amzorders.store import pg

        key = self._sync_lock_key(account)
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        label = f"amzorders sync {pg.host_label()} since {since}"
        lock_conn = pg.connect(self._url, password=self._password, schema=self._schema, application=label, keepalive=True)
        try:
            deadline = clock() + wait_seconds
            while not lock_conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0]:
                remaining = deadline - clock()
                if remaining <= 0:
                    raise LockedError(self._sync_locked_message(lock_conn, account, key, wait_seconds))
                sleep(min(0.1, remaining))
            yield
        finally:
            lock_conn.close()  # closing the session releases the advisory lock

    def _sync_lock_key(self, account: str) -> int:
        schema = self._schema or self.conn.execute("SELECT current_schema()").fetchone()[0]
        import hashlib  # here: hashlib costs every command's start-up (benchmarks/startup.py)

        digest = hashlib.sha256(f"amzorders-sync:{schema}:{account}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _sync_locked_message(self, lock_conn: Any, account: str, key: int, wait_seconds: float) -> str:
        unsigned = key & 0xFFFFFFFFFFFFFFFF
        # Advisory locks belong to one database: the same key held in another database of
        # the server (another store) is not this lock's holder.
        row = lock_conn.execute(
            """SELECT a.application_name, a.client_addr::text FROM pg_locks l
                 JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = ?::bigint::oid AND l.objid = ?::bigint::oid""",
            (unsigned >> 32, unsigned & 0xFFFFFFFF),
        ).fetchone()
        who = "holder unknown"
        if row is not None and row[0]:
            who = row[0].removeprefix("amzorders sync ").replace("@", " on ", 1)
            who = f"pid {who}" + (f", connected from {row[1]}" if row[1] else "")
        where = f"account {account} of {self.location}"
        if wait_seconds > 0:
            return (
                f"Another sync is still running for {where} ({who}) after waiting {wait_seconds:g} "
                "seconds. It will finish by itself; use a longer --wait, or run sync again later."
            )
        return (
            f"Another sync is running for {where} ({who}). It will finish by itself; "
            "use --wait SECONDS to wait for it."
        )

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
