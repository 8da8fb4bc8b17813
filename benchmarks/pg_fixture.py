"""The big PostgreSQL store for benchmarks: the rows of benchmarks/store_scale.py's cached
SQLite store, bulk-loaded into a cached database (not a benchmark itself).

    .venv/bin/python benchmarks/pg_fixture.py [--orders 1000000] [--url postgresql://...]

``cached_pg_store(base_url, orders)`` returns the URL of ``bench_i14_store_<N>_s<schema>``,
made once and kept between runs (like benchmarks/out/store-N.db). The loader is the
benchmark's own and built for speed, not 'amzorders db copy' (which verifies every row with
a SHA-256 digest on both engines, minutes at this size): the schema comes from
Store.open (the application's migrations), secondary indexes are dropped, every table is
filled with COPY from the SQLite file in key order, the indexes are built again, identity
and increment sequences are moved past the data, then VACUUM ANALYZE (the state a store
has on a server whose autovacuum has run). Row counts are compared with the SQLite file.
A half-made database (a killed load) is named ``..._partial`` and is made again; only
databases of this prefix, made by this script, are ever dropped.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

PREFIX = "bench_i14_store_"
# SQLite bookkeeping, FTS5 shadow tables and the counter table PostgreSQL replaces by sequences.
_SKIPPED = {"schema_migrations", "sqlite_sequence", "sequences"}


def db_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _tables(lite: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    shadow = {n for n in names if n.startswith("order_search_")}
    return [n for n in names if n not in _SKIPPED and n not in shadow and not n.startswith("sqlite_")]


def _columns(lite: sqlite3.Connection, table: str) -> tuple[list[str], str]:
    if table == "order_search":
        return ["rowid", "text"], "rowid"
    info = list(lite.execute(f'PRAGMA table_info("{table}")'))
    keys = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
    return [r[1] for r in info], ", ".join(keys) or "rowid"


def load(sqlite_path: Path, url: str) -> dict[str, int]:
    """Fill the fresh PostgreSQL database ``url`` with every row of ``sqlite_path``."""
    import psycopg

    from amzorders.store import Store
    from amzorders.store.dialect import sequence_object

    Store.open(url).close()  # the application's schema, every migration
    lite = sqlite3.connect(sqlite_path)
    counts: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as pg:
        tables = _tables(lite)
        indexes = pg.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
                WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            (tables,),
        ).fetchall()
        # Foreign keys are checked row by row during COPY: off for the load (the rows come
        # from a consistent store), on again afterwards, validated by the server.
        fks = pg.execute(
            """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
                WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"""
        ).fetchall()
        for table, name, _ in fks:
            pg.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        for table in tables:
            columns, key = _columns(lite, table)
            column_list = ", ".join(f'"{c}"' for c in columns)
            started = time.perf_counter()
            count = 0
            with pg.cursor() as cur, cur.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
                for row in lite.execute(f'SELECT {column_list} FROM "{table}" ORDER BY {key}'):
                    copy.write_row(row)
                    count += 1
            counts[table] = count
            if count:
                print(f"  {table}: {count:,} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            if "id" in columns:
                pg.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), coalesce(max(id), 0) + 1, false)"
                           f' FROM "{table}"')
        started = time.perf_counter()
        for _, definition in indexes:
            pg.execute(definition)
        for table, name, definition in fks:
            pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        print(f"  indexes and foreign keys in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        for name, value in lite.execute("SELECT name, value FROM sequences"):
            pg.execute(f"SELECT setval('{sequence_object(name)}', %s, true)", (int(value),))
        pg.execute("VACUUM ANALYZE")
        for table in tables:
            expected = lite.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            actual = pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            if expected != actual:
                raise RuntimeError(f"{table}: SQLite has {expected:,} rows, PostgreSQL {actual:,}")
    lite.close()
    return counts


def cached_pg_store(base_url: str, orders: int) -> str:
    """URL of the PostgreSQL copy of store_scale's ``orders``-order store (made once)."""
    import psycopg

    from amzorders.store.migrations import MIGRATIONS
    from store_scale import cached_store

    sqlite_path = cached_store(orders)
    name = f"{PREFIX}{orders}_s{max(v for v, _, _ in MIGRATIONS)}"
    partial = name + "_partial"
    with psycopg.connect(base_url, autocommit=True) as admin:
        existing = {r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                (f"{PREFIX}{orders}_%",))}
        if name in existing:
            return db_url(base_url, name)
        for stale in existing:  # an older schema's copy, or a load that was killed: ours to drop
            admin.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{partial}"')
    started = time.perf_counter()
    print(f"Loading {orders:,} orders into PostgreSQL database {name} (once; cached)...", file=sys.stderr, flush=True)
    load(sqlite_path, db_url(base_url, partial))
    with psycopg.connect(base_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{partial}" RENAME TO "{name}"')
    print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return db_url(base_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    print(cached_pg_store(args.url, args.orders))


if __name__ == "__main__":
    main()
