"""Operators and cron on one store at once: one wins, the other gets a clear error, and
nothing is doubled; no 'database is locked' reaches the user."""

from __future__ import annotations

import threading

import pytest

from amzorders.domain.views import OrderQuery
from amzorders.errors import AmzOrdersError
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.services.processing import invoice, ship
from amzorders.store import Store
from processing_support import NOW, UNSHIPPED, context, make_order, seeded_store_file


def _race(path, action, workers=2):
    """Run ``action(store)`` in ``workers`` threads, each on its own connection, released together."""
    barrier = threading.Barrier(workers)
    outcomes: list[object] = [None] * workers

    def run(index: int) -> None:
        store = Store.open(path)
        try:
            barrier.wait()
            outcomes[index] = action(store)
        except AmzOrdersError as error:
            outcomes[index] = error
        except Exception as error:  # noqa: BLE001 - an unexpected type is the failure we look for
            outcomes[index] = ("unexpected", error)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.parametrize("attempt", range(5))
def test_two_operators_shipping_the_same_order_one_wins(tmp_path, attempt):
    path = seeded_store_file(tmp_path / "orders.db")

    def ship_everything(store):
        return ship(context(store), UNSHIPPED, carrier="UPS", tracking=f"1Z999AA1012345678{attempt}", force=True)

    outcomes = _race(path, ship_everything)
    assert not [o for o in outcomes if isinstance(o, tuple)], outcomes
    errors = [o for o in outcomes if isinstance(o, AmzOrdersError)]
    successes = [o for o in outcomes if not isinstance(o, AmzOrdersError)]
    assert len(successes) == 1 and len(errors) == 1, outcomes
    assert "locked" not in str(errors[0]).lower()
    store = Store.open(path)
    try:
        view = store.order_view(UNSHIPPED)
        assert len(view.shipments) == 1
        assert [o.kind for o in store.outbox_for_order(UNSHIPPED)] == ["confirm_shipment"]
        assert [i.qty_shipped for i in view.commerce.items] == [2, 1]
    finally:
        store.close()


def test_two_operators_invoicing_at_once_never_invoice_twice(tmp_path):
    path = seeded_store_file(tmp_path / "orders.db")
    outcomes = _race(path, lambda store: invoice(context(store), UNSHIPPED), workers=3)
    assert not [o for o in outcomes if isinstance(o, tuple)], outcomes
    assert sum(not isinstance(o, AmzOrdersError) for o in outcomes) == 1
    store = Store.open(path)
    try:
        assert store.conn.execute(
            "SELECT count(*) FROM invoices i JOIN commerce_orders c ON c.id = i.order_id WHERE c.amazon_order_id = ?",
            (UNSHIPPED,),
        ).fetchone()[0] == 1
    finally:
        store.close()


def test_operators_work_while_a_long_import_writes(tmp_path):
    """Big import pages (each one write transaction) interleaved with operators' commands:
    every command succeeds, waiting on the busy timeout instead of failing."""
    path = seeded_store_file(tmp_path / "orders.db")
    pages = [
        [make_order(f"222-{page:07d}-{i:07d}") for i in range(150)]
        for page in range(12)
    ]
    stop = threading.Event()
    import_errors: list[BaseException] = []

    def importer() -> None:
        own = Store.open(path)
        try:
            worker = OrderImporter(own, ImportSettings(account="main"), now=lambda: NOW)
            for page in pages:
                worker.store_page(page, ImportResult())
        except BaseException as error:  # noqa: BLE001
            import_errors.append(error)
        finally:
            own.close()
            stop.set()

    thread = threading.Thread(target=importer)
    thread.start()
    operator = Store.open(path)
    try:
        results = [invoice(context(operator), UNSHIPPED)]
        results.append(ship(context(operator), UNSHIPPED, carrier="UPS", tracking="1Z999AA10123456784"))
        reads = 0
        while not stop.is_set():
            assert operator.list_orders(OrderQuery(limit=5))  # reads go on meanwhile (WAL)
            reads += 1
            stop.wait(0.01)
    finally:
        thread.join(60)
        operator.close()
    assert import_errors == []
    assert all(r.document_number for r in results)
    check = Store.open(path)
    try:
        assert check.count_orders() == 4 + 12 * 150
    finally:
        check.close()
