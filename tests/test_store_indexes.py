"""Migration 12 (issue 15, storage per order): the purchase-date indexes are ascending, so
a store filled in purchase-date order (as sync fills it) keeps their pages full, and the
listing still reads them newest first without sorting."""

from __future__ import annotations

import pytest
from processing_support import seed

from amzorders.domain.timefmt import parse_iso
from amzorders.domain.views import OrderQuery
from amzorders.store import Store
from amzorders.store.orders import _SUMMARY_COLUMNS, _order_query_sql
from amzorders.store.times import stored_time

PURCHASE_INDEXES = ("amazon_orders_purchase", "amazon_orders_status_purchase",
                    "amazon_orders_marketplace", "amazon_orders_account")


def _index_definitions(store: Store) -> dict[str, str]:
    if store.dialect.is_postgres:
        rows = store.conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'amazon_orders'").fetchall()
    else:
        rows = store.conn.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'amazon_orders'").fetchall()
    return {name: sql for name, sql in rows if name in PURCHASE_INDEXES}


def test_purchase_date_indexes_are_ascending(tmp_path):
    with Store.open(tmp_path / "store.db") as store:
        definitions = _index_definitions(store)
    assert sorted(definitions) == sorted(PURCHASE_INDEXES)
    assert all("purchase_date" in sql and "DESC" not in sql.upper() for sql in definitions.values()), definitions


@pytest.mark.sqlite_only  # SQLite's query plans
@pytest.mark.parametrize("query", [OrderQuery(), OrderQuery(statuses=("UNSHIPPED",)),
                                   OrderQuery(marketplace_ids=("ATVPDKIKX0DER",)), OrderQuery(account="main"),
                                   OrderQuery(sort="purchase_date")],
                         ids=["newest", "status", "marketplace", "account", "oldest"])
def test_the_listing_pages_orders_from_an_index_without_sorting_them(tmp_path, query):
    with Store.open(tmp_path / "store.db") as store:
        seed(store)
        sql, params = _order_query_sql(query, "LIKE", _SUMMARY_COLUMNS)
        plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    # The page of 20 comes from walking one index (the outer sort orders those 20 rows only).
    page = plan[:plan.index("SCAN a")]
    assert any(step.startswith(("SCAN a USING INDEX amazon_orders_", "SEARCH a USING INDEX amazon_orders_"))
               for step in page), plan
    assert not any("TEMP B-TREE" in step for step in page), plan


@pytest.mark.sqlite_only  # SQLite's page statistics (dbstat)
def test_orders_stored_in_purchase_order_leave_the_index_pages_mostly_full(tmp_path):
    with Store.open(tmp_path / "store.db") as store:
        with store.transaction():
            store.conn.executemany(
                """INSERT INTO amazon_orders (account, amazon_order_id, marketplace_id, status, channel,
                       purchase_date, last_updated, raw_json, imported_at, updated_at)
                   VALUES ('main', ?, 'ATVPDKIKX0DER', 'UNSHIPPED', 'MFN', ?, ?, '', ?, ?)""",
                [(f"111-{n:07d}-0000000", stamp, stamp, stamp, stamp)
                 for n in range(20_000)
                 for stamp in [stored_time(parse_iso(f"2026-11-{1 + n // 1000:02d}T{n % 24:02d}:{n % 60:02d}:00Z"))]],
            )
        unused = dict(store.conn.execute(
            f"""SELECT name, sum(unused) * 1.0 / sum(pgsize) FROM dbstat
                WHERE name IN ({','.join('?' * len(PURCHASE_INDEXES))}) GROUP BY name""",
            PURCHASE_INDEXES,
        ).fetchall())
    # Descending, these were 45-50 % empty (new entries at the b-tree's left edge).
    assert sorted(unused) == sorted(PURCHASE_INDEXES)
    assert all(share < 0.25 for share in unused.values()), unused
