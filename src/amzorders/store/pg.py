"""PostgreSQL through psycopg 3, made to look like the ``sqlite3`` connection the
repositories use: ``execute(sql, params)`` with ``?`` placeholders, rows readable by index
and by column name, ``rowcount``, autocommit outside ``Store.transaction()``.

Imported only when a PostgreSQL URL is opened (psycopg costs start-up time).
Passwords come from the URL, ``PGPASSWORD``, ``~/.pgpass`` (libpq reads both), or the
config's ``db_password``; they never appear in messages: every URL shown is redacted.
"""

from __future__ import annotations

import functools
import re
import socket
import os
from collections.abc import Iterable, Sequence
from typing import Any

from amzorders.store.dialect import redact_url, redact_urls_in

try:
    import psycopg
    from psycopg.adapt import Loader
except ImportError:  # pragma: no cover - depends on the installation
    psycopg = None  # type: ignore[assignment]


def _missing_driver_error():
    from amzorders.errors import ConfigError

    return ConfigError(
        "A PostgreSQL store needs the psycopg driver, which is not installed. "
        "Install it with: pip install 'amzorders[postgres]' (or pip install 'psycopg[binary]')."
    )


class PgRow(tuple):
    """A result row: ``row[0]``, ``row["column"]``, ``row.keys()``, ``dict(row)``."""

    __slots__ = ()
    _names: dict[str, int] = {}

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type:
    return type("PgRow", (PgRow,), {"__slots__": (), "_names": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor):
    description = cursor.description
    if description is None:
        return tuple
    cls = _row_class(tuple(d.name for d in description))
    return cls


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?(\d*)|%")


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[int, ...] | None]:
    """SQLite placeholders -> psycopg's: ``?`` -> ``%s``, ``?N`` -> ``%s`` with the
    parameters reordered (returned index list), ``%`` -> ``%%``; string literals kept."""
    order: list[int] = []
    numbered = False
    position = 0

    def replace(match: re.Match) -> str:
        nonlocal numbered, position
        text = match.group(0)
        if text.startswith(("'", '"')):
            return text.replace("%", "%%")
        if text == "%":
            return "%%"
        if match.group(1):
            numbered = True
            order.append(int(match.group(1)) - 1)
        else:
            order.append(position)
            position += 1
        return "%s"

    converted = _PLACEHOLDER.sub(replace, sql)
    return converted, (tuple(order) if numbered else None)


def _no_nul(values: Sequence[Any]) -> Sequence[Any]:
    """PostgreSQL text cannot hold NUL (SQLite's can): one in Amazon's text becomes U+FFFD,
    the replacement character, rather than failing the whole page."""
    if any(isinstance(v, str) and "\x00" in v for v in values):
        return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in values]
    return values


def _params(sql: str, params: Sequence[Any] | None) -> tuple[str, Sequence[Any] | None]:
    if params is None:
        return sql, None
    converted, order = translate(sql)
    if order is not None:
        params = [params[i] for i in order]
    return converted, _no_nul(params)


class _NumericAsText(Loader if psycopg else object):  # type: ignore[misc]
    """NUMERIC read back as its exact decimal text, as SQLite stores money; the
    repositories turn it into Decimal (store/base.py: dec)."""

    def load(self, data):
        return bytes(data).decode("ascii")


def map_error(exc: Exception, location: str):
    """A psycopg error as the amzorders error the rest of the program understands
    (store/errors.py: the one translation table), or None for a bug."""
    from amzorders.store.errors import translate_store_error

    return translate_store_error(exc, location)


class PgConnection:
    """The sqlite3-like face of one psycopg connection (autocommit; explicit BEGIN/COMMIT)."""

    def __init__(self, raw, location: str) -> None:
        self.raw = raw
        self.location = location

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | None = None):
        converted, values = _params(sql, params if params is not None else None)
        try:
            return self.raw.execute(converted, values)
        except psycopg.Error as exc:
            mapped = map_error(exc, self.location)
            if mapped is not None:
                raise mapped from None
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]):
        rows = list(rows)
        cursor = self.raw.cursor()
        if not rows:
            return cursor
        converted, order = translate(sql)
        if order is not None:
            rows = [[r[i] for i in order] for r in rows]
        rows = [_no_nul(r) for r in rows]
        try:
            cursor.executemany(converted, rows)
        except psycopg.Error as exc:
            mapped = map_error(exc, self.location)
            if mapped is not None:
                raise mapped from None
            raise
        return cursor

    def applied_versions(self) -> set[int] | None:
        """The versions recorded in schema_migrations, or None when the table is not there:
        one round trip (the open path used to ask to_regclass, max(version) and the
        versions, three). A missing table is an error here, harmless in autocommit; inside
        a transaction the catalog is asked first, so the transaction is never aborted."""
        if self.in_transaction and self.raw.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            return None
        try:
            rows = self.raw.execute("SELECT version FROM schema_migrations").fetchall()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as exc:
            mapped = map_error(exc, self.location)
            if mapped is not None:
                raise mapped from None
            raise
        return {int(row[0]) for row in rows}

    def fetch_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list]:
        """The rows of each statement, all sent in one round trip (libpq's pipeline mode:
        show's dozen small reads cost one wait for the server instead of a dozen)."""
        if not psycopg.Pipeline.is_supported():  # pragma: no cover - libpq older than 14
            return [self.execute(sql, params).fetchall() for sql, params in statements]
        try:
            with self.raw.pipeline():
                cursors = [self.raw.execute(*_params(sql, params)) for sql, params in statements]
            return [cursor.fetchall() for cursor in cursors]
        except psycopg.Error as exc:
            mapped = map_error(exc, self.location)
            if mapped is not None:
                raise mapped from None
            raise

    def close(self) -> None:
        self.raw.close()


def connect(
    url: str,
    *,
    password: str | None = None,
    schema: str | None = None,
    application: str = "amzorders",
    keepalive: bool = False,
):
    """Open ``url``; ``schema``: work in that schema (created when missing).
    ``keepalive``: TCP keepalives, so the server soon notices a holder host that vanished
    (its session locks are released then)."""
    if psycopg is None:
        raise _missing_driver_error()
    from amzorders.store.base import StoreError

    location = redact_url(url)
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": application[:63], "connect_timeout": 10}
    if password and "PGPASSWORD" not in os.environ and not _url_has_password(url):
        kwargs["password"] = password
    if keepalive:
        kwargs.update(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    if schema:
        # The test suite's stores (one schema each, thrown away): no need to wait for
        # the WAL flush at every commit.
        kwargs["options"] = f"-c search_path={schema},public -c synchronous_commit=off"
    try:
        raw = psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        detail = redact_urls_in(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if password:
            detail = detail.replace(password, "***")
        raise StoreError(
            f"Cannot connect to the PostgreSQL store {location}: {detail}. Check the URL (postgresql://"
            "user@host:port/dbname), that the server runs and accepts this user, and the password "
            "(PGPASSWORD, ~/.pgpass or db_password in the config)."
        ) from None
    raw.row_factory = _row_factory
    raw.adapters.register_loader("numeric", _NumericAsText)
    if schema:
        raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return PgConnection(raw, location)


def _url_has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.password is not None or "password=" in parts.query.lower()


def host_label() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"
