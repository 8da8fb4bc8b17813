"""Migration 9: the entries one change writes for one order at one moment share a history
row; stores written before (a row per entry) read the same, and purge-pii reaches both."""

from __future__ import annotations

import json

from processing_support import (AFN, NOW, PENDING, SECOND, UNSHIPPED, seed, write_as_schema_9,
                                write_as_schema_12)

from amzorders.store import orders as store_orders
from amzorders.store import Store
from amzorders.store import base as store_base
from amzorders.store.migrations import MIGRATIONS
from amzorders.store.rawjson import unpack_entries

ORDERS = (UNSHIPPED, AFN, PENDING, SECOND)


def _row_per_entry(self, rows):  # the importer's writes up to schema 8
    self.conn.executemany(
        """INSERT INTO status_history (amazon_order_id, comment, status, source, entity_type, created_at)
           VALUES (?,?,?,?,?,?)""",
        [(*r[:5], store_orders.stored_time(r[5])) for r in rows],  # (ISO text while written as an old schema)
    )


def _outputs(cli, db) -> dict:
    out = {}
    for order_id in ORDERS:
        history = cli("--db", db, "history", order_id, "--json")
        show = cli("--db", db, "show", order_id, "--json", "--raw")
        assert history.exit_code == 0 and show.exit_code == 0, history.stderr + show.stderr
        out[order_id] = (json.loads(history.stdout), json.loads(show.stdout))
    for term in ("jane", "000000001", "111-0000004"):
        found = cli("--db", db, "list", "--search", term, "--json")
        assert found.exit_code == 0, found.stderr
        out[term] = json.loads(found.stdout)
    return out


def _history_rows(db) -> int:
    with Store.open(db) as store:
        return int(store.conn.execute("SELECT count(*) FROM status_history").fetchone()[0])


def test_a_schema_8_store_migrates_with_history_show_and_search_unchanged(tmp_path, cli, monkeypatch):
    old, reference, new = tmp_path / "old.db", tmp_path / "reference.db", tmp_path / "new.db"
    with monkeypatch.context() as patch:
        patch.setattr(Store, "add_history_rows", _row_per_entry)
        with patch.context() as at_8:
            at_8.setattr(store_base, "MIGRATIONS", MIGRATIONS[:8])
            write_as_schema_9(at_8)  # the items, address and raw JSON as schemas 8 and 9 wrote them
            write_as_schema_12(at_8)  # the times as ISO text
            with Store.open(old) as store:
                assert store.schema_version() == 8
                seed(store)
                entries_at_8 = int(store.conn.execute("SELECT count(*) FROM status_history").fetchone()[0])
        with Store.open(reference) as store:  # a row per entry, as schema 8 wrote and read them
            seed(store)
    before = _outputs(cli, reference)
    with Store.open(old) as store:  # opening migrates
        assert store.schema_version() == MIGRATIONS[-1][0]
    assert _outputs(cli, old) == before
    assert _history_rows(old) == entries_at_8  # old rows are read as they are

    with Store.open(new) as store:
        seed(store)
    assert _outputs(cli, new) == before  # the same events, from fewer rows
    assert _history_rows(new) < entries_at_8
    assert any(len(h) > 2 for h, _ in (before[o] for o in ORDERS))


def test_purge_pii_blanks_the_buyer_in_every_entry_of_a_shared_row(tmp_path):
    from amzorders.store.retention import PURGED_MARK

    db = tmp_path / "store.db"
    with Store.open(db) as store:
        seed(store)
        stamp = NOW
        with store.transaction():
            store.add_history_rows([
                (UNSHIPPED, "Checked the address.", None, "system", None, stamp),
                (UNSHIPPED, 'Jane Buyer called: "leave it with Jane Buyer\'s neighbour".', None, "system", None, stamp),
            ])
        assert any("Jane Buyer" in h.comment for h in store.history(UNSHIPPED))
        assert store.purge_order_pii([UNSHIPPED], NOW) == [UNSHIPPED]
        comments = [h.comment for h in store.history(UNSHIPPED)]
        assert not any("Jane Buyer" in c for c in comments)
        assert f'{PURGED_MARK} called: "leave it with {PURGED_MARK}\'s neighbour".' in comments
        packed = store.conn.execute("SELECT more_zlib FROM status_history WHERE more_zlib IS NOT NULL").fetchall()
        entries = [e for r in packed for e in unpack_entries(bytes(r[0]))]
        assert entries and not any("Jane Buyer" in e[0] for e in entries)
