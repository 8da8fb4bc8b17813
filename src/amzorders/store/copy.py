"""``amzorders db copy``: move a SQLite store into PostgreSQL, every table, verified.

The target is migrated to the same schema version first; rows are copied with COPY in an
order that respects foreign keys, inside one PostgreSQL transaction; identity and
increment-number sequences are moved past the copied values; then every table's row
count and a digest of its rows (values as both engines hand them back)
are compared (order-free, so the engines' text sorting does not matter). Any difference rolls the whole copy back: the target is left as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from amzorders.errors import StoreError, UsageError
from amzorders.store.dialect import sequence_object

# SQLite-only tables: its bookkeeping, the FTS5 index's shadow tables (the index's own
# rows are copied through the virtual table), the counter table PostgreSQL replaces by
# sequences (moved by setval below).
_SKIPPED = {"schema_migrations", "sqlite_sequence", "sequences"}
_FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")


@dataclass
class CopyReport:
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows copied (and verified)
    checksums: dict[str, str] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


def _source_tables(source) -> list[str]:
    names = [r[0] for r in source.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    virtual = {n for n in names if n == "order_search"}
    shadow = {n for v in virtual for n in names if n.startswith(v + "_") and n.endswith(_FTS_SHADOW_SUFFIXES)}
    return [n for n in names if n not in _SKIPPED and n not in shadow and not n.startswith("sqlite_")]


def _foreign_key_order(source, tables: list[str]) -> list[str]:
    """Tables with those they refer to first (SQLite's own FK list)."""
    parents = {
        t: {r["table"] for r in source.conn.execute(f'PRAGMA foreign_key_list("{t}")')} & set(tables) - {t}
        for t in tables
    }
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in ordered and parents[t] <= set(ordered))
        if not ready:
            raise StoreError("The source store's tables refer to each other in a cycle; cannot order the copy.")
        ordered.extend(ready)
    return ordered


def _columns(source, table: str) -> list[str]:
    if table == "order_search":
        return ["rowid", "text"]
    return [r["name"] for r in source.conn.execute(f'PRAGMA table_info("{table}")')]


def _key(source, table: str) -> str:
    if table == "order_search":
        return "rowid"
    keys = [r["name"] for r in source.conn.execute(f'PRAGMA table_info("{table}")') if r["pk"]]
    return ", ".join(keys) if keys else "1"


def _normal(value):
    # What both engines hand back for one stored value: SQLite's money text equals the
    # NUMERIC text PostgreSQL returns (store/pg.py); integers and floats are the same.
    if isinstance(value, bytes):
        return value.hex()
    return value


def _table_digest(conn, table: str, columns: list[str]) -> tuple[int, str]:
    """Row count and an order-free digest (sum of each row's SHA-256 modulo 2**256): the
    two engines may sort text keys differently, and 1,000,000 rows need not fit in memory."""
    column_list = ", ".join(f'"{c}"' for c in columns)
    total = 0
    count = 0
    for row in conn.execute(f'SELECT {column_list} FROM "{table}"'):
        line = json.dumps([_normal(v) for v in row], default=str, ensure_ascii=False).encode("utf-8")
        total = (total + int.from_bytes(hashlib.sha256(line).digest(), "big")) % (1 << 256)
        count += 1
    return count, f"{total:064x}"


def target_row_counts(target) -> dict[str, int]:
    """Rows per amzorders table in a PostgreSQL store (schema_migrations aside)."""
    tables = [
        r[0]
        for r in target.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name"
        )
    ]
    return {t: int(target.conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}


def copy_store(source, target, *, force: bool = False, progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy every table of the SQLite store ``source`` into the PostgreSQL store ``target``."""
    if source.dialect.is_postgres or not target.dialect.is_postgres:
        raise UsageError("db copy copies a SQLite store (--from FILE.db) into PostgreSQL (--to postgresql://...).")
    if source.schema_version() != target.schema_version():
        raise StoreError(
            f"The source store is at schema {source.schema_version()} and the target at "
            f"{target.schema_version()}; run the same amzorders version on both."
        )
    filled = {t: n for t, n in target_row_counts(target).items() if n}
    if filled and not force:
        listing = ", ".join(f"{t} ({n})" for t, n in sorted(filled.items()))
        raise UsageError(
            f"The target store {target.location} is not empty: {listing}. Copy into an empty database, "
            "or add --force to replace everything in it with the source's rows."
        )
    tables = _foreign_key_order(source, _source_tables(source))
    target_columns = {
        t: {
            r[0]
            for r in target.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ?",
                (t,),
            )
        }
        for t in tables
    }
    report = CopyReport()
    raw = target.conn.raw
    with target.transaction():
        if filled:
            everything = ", ".join(f'"{t}"' for t in target_row_counts(target))
            target.conn.execute(f"TRUNCATE {everything} RESTART IDENTITY CASCADE")
        for table in tables:
            missing = [c for c in _columns(source, table) if c not in target_columns[table]]
            if not target_columns[table] or missing:
                raise StoreError(f"The target has no place for {table} ({', '.join(missing) or 'table missing'}).")
            columns = _columns(source, table)
            column_list = ", ".join(f'"{c}"' for c in columns)
            select = f'SELECT {column_list} FROM "{table}" ORDER BY {_key(source, table)}'
            count = 0
            with raw.cursor().copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
                for row in source.conn.execute(select):
                    copy.write_row(tuple(row))
                    count += 1
            if progress is not None:
                progress(table, count)
            if "id" in columns and table != "order_search":
                target.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), coalesce(max(id), 0) + 1, false) FROM \"{table}\""
                )
        for name, value in source.conn.execute("SELECT name, value FROM sequences"):
            try:
                sequence = sequence_object(name)
            except ValueError:
                continue
            target.conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
            target.conn.execute(f"SELECT setval('{sequence}', ?, true)", (int(value),))
            report.sequences[name] = int(value)
        # Verify inside the transaction: a mismatch rolls everything back.
        for table in tables:
            columns = _columns(source, table)
            expected = _table_digest(source.conn, table, columns)
            actual = _table_digest(target.conn, table, columns)
            if expected != actual:
                raise StoreError(
                    f"Verification failed for {table}: source has {expected[0]} rows, the copy {actual[0]}"
                    f"{' (same count, different content)' if expected[0] == actual[0] else ''}. Nothing was "
                    "copied (rolled back)."
                )
            report.tables[table] = expected[0]
            report.checksums[table] = expected[1]
    return report
