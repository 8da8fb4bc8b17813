"""audit: the store compared with the simulated Amazon; --fix; exit codes for cron."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.config import AccountConfig
from amzorders.errors import ExitCode
from amzorders.services.audit import audit
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.simulator import SIMULATOR_CREDENTIALS
from amzorders.store import Store

MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=MARKETPLACES)


@pytest.fixture
def synced(simulated_account):
    sim = simulated_account.sim
    client = SpApiClient(
        sim.base_url,
        credentials=LwaCredentials(*(SIMULATOR_CREDENTIALS[k] for k in ("client_id", "client_secret", "refresh_token"))),
        token_url=sim.token_url,
    )
    store = Store.open(simulated_account.db_path)
    since = sim.now() - timedelta(days=40)
    sync_orders(store, client, ImportSettings(account="main"), marketplace_ids=MARKETPLACES, since=since)
    yield simulated_account, store, client, since
    store.close()
    client.close()


def merchant_order(store: Store, status: str = "UNSHIPPED") -> str:
    row = store.conn.execute(
        "SELECT a.amazon_order_id FROM amazon_orders a JOIN commerce_orders c USING (amazon_order_id)"
        " WHERE a.status = ? AND a.channel = 'MFN' ORDER BY a.id LIMIT 1", (status,)).fetchone()
    assert row, f"the simulated marketplace has no {status} merchant order"
    return row[0]


def test_a_synced_store_has_no_differences(synced, cli):
    account, store, client, since = synced
    report = audit(store, client, ACCOUNT, since)
    assert report.clean and report.amazon_orders == report.local_orders > 50
    store.close()  # the CLI opens the file itself
    result = cli("audit", "--since", "40d")
    assert result.exit_code == 0, result.output
    assert "no differences" in result.stderr


def test_an_order_deleted_locally_is_missing_and_fix_restores_it(synced):
    account, store, client, since = synced
    gone = merchant_order(store)
    with store.transaction():
        store.conn.execute("DELETE FROM amazon_orders WHERE amazon_order_id = ?", (gone,))
    report = audit(store, client, ACCOUNT, since)
    assert report.missing == [gone] and report.differences == 1
    fixed = audit(store, client, ACCOUNT, since, fix=True)
    assert fixed.fixed == [gone] and fixed.remaining_after_fix == 0
    assert store.order_view(gone).commerce is not None
    assert audit(store, client, ACCOUNT, since).clean


def test_status_change_at_amazon_is_a_mismatch_and_cli_exits_1(synced, cli):
    account, store, client, since = synced
    order_id = merchant_order(store)
    account.sim.set_status(order_id, "CANCELLED")
    report = audit(store, client, ACCOUNT, since)
    [mismatch] = report.status_mismatches
    assert (mismatch.amazon_order_id, mismatch.amazon_status, mismatch.local_status) == (order_id, "CANCELLED", "UNSHIPPED")
    assert mismatch.stale and not report.missing and not report.extra
    store.close()
    result = cli("audit", "--since", "40d", "--json")
    assert result.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED == 1
    [row] = json.loads(result.stdout)  # one row per difference, as the table shows them
    assert (row["kind"], row["amazon_order_id"], row["stale"]) == ("status", order_id, True)
    assert row["amazon_status"] == "CANCELLED" and "1 difference" in result.stderr
    assert "difference(s) between the store and Amazon" in result.stderr and "--fix" in result.stderr
    fixed = cli("audit", "--since", "40d", "--fix")
    assert fixed.exit_code == 1 and "0 difference(s) remain" in fixed.stderr  # found (and fixed): still alerts
    assert cli("audit", "--since", "40d").exit_code == 0


def test_a_shipment_made_in_seller_central_shows_as_status_and_quantity_mismatch(synced):
    account, store, client, since = synced
    order_id = merchant_order(store)
    raw = account.sim.order(order_id)
    client.confirm_shipment(order_id, {
        "marketplaceId": raw["salesChannel"]["marketplaceId"],
        "packageDetail": {"packageReferenceId": "SC-1", "carrierCode": "UPS", "trackingNumber": "1Z999",
                          "shipDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]}
                                         for i in raw["orderItems"]]},
    })
    report = audit(store, client, ACCOUNT, since)
    assert [m.amazon_order_id for m in report.status_mismatches] == [order_id]
    assert {q.order_item_id for q in report.quantity_mismatches} == {i["orderItemId"] for i in raw["orderItems"]}
    assert all(q.amazon_shipped > 0 and q.local_shipped == 0 for q in report.quantity_mismatches)
    fixed = audit(store, client, ACCOUNT, since, fix=True)
    assert fixed.remaining_after_fix == 0


def test_done_actions_amazon_does_not_reflect_are_reported(synced):
    account, store, client, since = synced
    order_id = merchant_order(store)
    item_id = account.sim.order(order_id)["orderItems"][0]["orderItemId"]
    now = datetime.now(timezone.utc)
    with store.transaction():
        ship = store.add_outbox_row(account="main", amazon_order_id=order_id, kind="confirm_shipment",
                                    idempotency_key="audit-test-ship", now=now, payload={
                                        "marketplaceId": "ATVPDKIKX0DER",
                                        "packageDetail": {"packageReferenceId": "LOST-1",
                                                          "orderItems": [{"orderItemId": item_id, "quantity": 1}]}})
        cancel = store.add_outbox_row(account="main", amazon_order_id=order_id, kind="cancel",
                                      idempotency_key="audit-test-cancel", now=now,
                                      payload={"items": [{"order_item_id": item_id, "reason": "NoInventory"}]})
        for row_id in (ship, cancel):
            assert store.finish_outbox_row(row_id, now=now, state="done", completed=True)
    report = audit(store, client, ACCOUNT, since)
    by_kind = {a.kind: a for a in report.unapplied_actions}
    assert set(by_kind) == {"confirm_shipment", "cancel"}
    assert by_kind["confirm_shipment"].outbox_id == ship and "LOST-1" in by_kind["confirm_shipment"].why
    assert by_kind["cancel"].outbox_id == cancel and item_id in by_kind["cancel"].why


def test_an_order_amazon_does_not_know_is_extra(synced):
    account, store, client, since = synced
    from amzorders.services.importer import ImportResult, OrderImporter

    fake = account.sim.order(merchant_order(store))
    fake = dict(fake, orderId="999-0000000-0000001")
    OrderImporter(store, ImportSettings(account="main")).store_page([fake], ImportResult())
    report = audit(store, client, ACCOUNT, since)
    assert report.extra == ["999-0000000-0000001"] and report.differences == 1


def test_until_later_than_amazon_allows_is_a_usage_error(synced, cli):
    account, store, client, since = synced
    store.close()
    result = cli("audit", "--since", "2d", "--until", "1m")
    assert result.exit_code == 2 and "2 minutes" in result.stderr


def test_extra_orders_are_found_by_keyset_pages_past_the_page_size(synced):
    """The store's side is read in keyset pages (no OFFSET); an extra order on every page
    boundary is still found, and Amazon listing one order on two pages counts it once."""
    account, store, client, since = synced
    total = store.audit_count_local("main", MARKETPLACES, since, None)
    store.audit_begin()
    store.audit_mark_seen([])
    ids, key, seen = [], None, []
    while True:
        page, key = store.audit_unseen_local("main", MARKETPLACES, since, None, after=key, limit=7)
        seen.append(len(page))
        ids.extend(page)
        if key is None:
            break
    assert len(ids) == len(set(ids)) == total and max(seen) == 7 and len(seen) > 2
    assert store.audit_mark_seen(ids[:3]) == set()
    assert store.audit_mark_seen(ids[:5]) == set(ids[:3])
    later, _ = store.audit_unseen_local("main", MARKETPLACES, since, None, limit=total)
    assert set(later) == set(ids[5:])


@pytest.mark.sqlite_only  # copies a row with SQLite's CREATE TEMP TABLE ... AS
def test_an_order_only_in_the_store_is_extra(synced):
    account, store, client, since = synced
    order_id = merchant_order(store)
    with store.transaction():  # a copy of a stored order under an id Amazon never had
        store.conn.execute("CREATE TEMP TABLE copy AS SELECT * FROM amazon_orders WHERE amazon_order_id = ?", (order_id,))
        store.conn.execute("UPDATE temp.copy SET id = (SELECT max(id) + 1 FROM amazon_orders),"
                           " amazon_order_id = '999-0000000-0000001'")
        store.conn.execute("INSERT INTO amazon_orders SELECT * FROM temp.copy")
    report = audit(store, client, ACCOUNT, since)
    assert report.extra == ["999-0000000-0000001"] and not report.missing


def test_the_estimate_counts_the_quota_and_a_running_syncs_debt():
    from amzorders.amazon.ratelimit import InMemoryBucketBackend, RateLimiter
    from amzorders.domain.ratebucket import seconds_for_calls

    # A full burst of 20 covers 20 calls; each further one waits 1/rate.
    assert seconds_for_calls(None, 0.0, 0.5, 20, 20) == 0.0
    assert seconds_for_calls(None, 0.0, 0.5, 20, 30) == 20.0
    clock = [1000.0]
    backend = InMemoryBucketBackend()
    limiter = RateLimiter(backend, clock=lambda: clock[0], sleep=lambda s: None,
                          plans={"searchOrders": (0.5, 11)}, headroom=1)
    assert limiter.estimate_seconds("searchOrders", 10) == 0.0
    for _ in range(14):  # another caller (a sync) drained the burst and went 4 into debt
        limiter.acquire("searchOrders")
    assert limiter.estimate_seconds("searchOrders", 10) == pytest.approx((10 + 4) / 0.5)
    clock[0] += 8.0  # 4 tokens refilled
    assert limiter.estimate_seconds("searchOrders", 10) == pytest.approx(10 / 0.5)
    assert limiter.estimate_seconds("getOrder", 10) is None


def test_a_long_audit_says_how_long_before_it_starts(synced, monkeypatch, cli):
    from amzorders.cli import maintenance_cmd
    from amzorders.services import audit as audit_service

    account, store, client, since = synced
    told = []
    report = audit(store, client, ACCOUNT, since, on_estimate=told.append)
    [estimate] = told
    assert estimate.expected_orders == report.local_orders and estimate.pages == -(-report.local_orders // 100)
    assert estimate.seconds is not None and estimate.rate == pytest.approx(0.0056)
    store.close()
    # The CLI prints it on stderr when the quota makes the run long.
    monkeypatch.setattr(maintenance_cmd, "_ANNOUNCE_AFTER_SECONDS", -1.0)
    result = cli("audit", "--since", "40d", "--json")
    assert "searchOrders page(s); Amazon's quota" in result.stderr
    json.loads(result.stdout)
    assert audit_service.AuditEstimate
