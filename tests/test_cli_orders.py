"""End-to-end: import, sync, list and show through the CLI against the simulator over HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from amzorders.errors import ExitCode


def dump_store(db_path: Path) -> dict[str, list]:
    """Every row of every table: 'nothing changed' means this is equal before and after."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'order_search%' AND name NOT IN ('rate_buckets', 'token_cache')")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def test_sync_imports_everything_once_and_a_second_sync_nothing_new(cli, simulated_account):
    sim = simulated_account.sim
    first = cli("sync", "--json")
    assert first.exit_code == 0, first.stderr
    result = json.loads(first.stdout)
    account_marketplaces = {"ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"}
    visible = [
        o
        for o in sim.order_ids()
        if sim.order(o)["lastUpdatedTime"] < result["watermark"]
        and sim.order(o)["salesChannel"]["marketplaceId"] in account_marketplaces
    ]
    assert result["new"] == len(visible) > 50
    assert result["commerce_created"] > 0
    assert result["api_calls"] == -(-len(visible) // 100)  # one searchOrders call per 100 orders
    second = cli("sync", "--json")
    assert second.exit_code == 0, second.stderr
    again = json.loads(second.stdout)
    assert (again["new"], again["updated"], again["commerce_created"]) == (0, 0, 0)
    assert again["api_calls"] == 1
    rows = json.loads(cli("list", "--json", "--limit", "1000").stdout)
    assert len(rows) == len(visible)
    assert len({r["amazon_order_id"] for r in rows}) == len(rows)


def test_sync_brings_amazon_changes_and_released_orders(cli, simulated_account):
    sim = simulated_account.sim
    assert cli("sync").exit_code == 0
    unshipped = [
        o
        for o in sim.order_ids()
        if sim.order(o)["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
        and sim.order(o)["salesChannel"]["marketplaceId"] == "ATVPDKIKX0DER"
    ]
    target = unshipped[0]
    sim.buyer_cancel(target)
    sim.advance(minutes=5)
    result = json.loads(cli("sync", "--json").stdout)
    assert result["updated"] >= 1
    assert target in result["new_cancel_requests"]
    view = json.loads(cli("show", target, "--json").stdout)
    assert view["summary"]["buyer_cancel_requested"] is True
    assert any("asked to cancel" in h["comment"] for h in view["history"])


@pytest.mark.sqlite_only
def test_newcomer_without_config_uses_the_builtin_simulator_in_its_own_store(cli, amzorders_home):
    result = cli("sync", "--verbose")
    assert result.exit_code == 0, result.stderr
    assert "simulated marketplace" in result.stderr
    assert "orders read" in result.stderr
    assert (amzorders_home / "simulator.db").exists()
    assert not (amzorders_home / "amzorders.db").exists()
    listing = cli("list")
    assert listing.exit_code == 0
    assert "Amazon order" in listing.stdout and "USD" in listing.stdout


def test_list_filters_and_search(cli, simulated_account):
    assert cli("sync").exit_code == 0
    rows = json.loads(cli("list", "--json", "--limit", "1000").stdout)
    some = rows[3]
    by_status = json.loads(cli("list", "--json", "--status", "unshipped", "--limit", "1000").stdout)
    assert by_status and all(r["amazon_status"] == "UNSHIPPED" for r in by_status)
    afn = json.loads(cli("list", "--json", "--channel", "AFN", "--limit", "1000").stdout)
    assert all(r["channel"] == "AFN" for r in afn)
    ca = json.loads(cli("list", "--json", "--marketplace", "CA", "--limit", "1000").stdout)
    assert ca and all(r["marketplace_id"] == "A2EUQ1WTGCTBG2" for r in ca)
    by_buyer = json.loads(cli("list", "--json", "--search", some["buyer_name"], "--limit", "1000").stdout)
    assert some["amazon_order_id"] in {r["amazon_order_id"] for r in by_buyer}
    by_number = json.loads(cli("list", "--json", "--search", some["amazon_order_id"]).stdout)
    assert [r["amazon_order_id"] for r in by_number] == [some["amazon_order_id"]]
    dates = [r["purchase_date"] for r in rows]
    assert dates == sorted(dates, reverse=True)
    default = cli("list")
    assert default.exit_code == 0 and default.stdout.count("\n") >= 20
    csv_out = cli("list", "--csv", "--limit", "5").stdout.splitlines()
    assert csv_out[0].startswith("amazon_order_id,increment_id") and len(csv_out) == 6


def test_late_orders_are_unshipped_past_ship_by(cli, simulated_account):
    assert cli("sync").exit_code == 0
    late = json.loads(cli("list", "--json", "--late", "--limit", "1000").stdout)
    for row in late:
        assert row["amazon_status"] in ("UNSHIPPED", "PARTIALLY_SHIPPED")
        assert row["ship_by"] is not None


def test_show_by_amazon_and_commerce_number(cli, simulated_account):
    assert cli("sync").exit_code == 0
    row = next(r for r in json.loads(cli("list", "--json", "--limit", "1000").stdout) if r["increment_id"])
    by_amazon = cli("show", row["amazon_order_id"])
    by_commerce = cli("show", row["increment_id"])
    assert by_amazon.exit_code == by_commerce.exit_code == 0
    assert by_amazon.stdout == by_commerce.stdout
    for section in ("Order & Account Information", "Address Information", "Payment & Shipping Method",
                    "Items Ordered", "Order Totals", "Invoices", "Shipments", "Credit Memos",
                    "Comments History", "Waiting for Amazon"):
        assert section in by_amazon.stdout
    data = json.loads(cli("show", row["increment_id"], "--json").stdout)
    assert data["commerce"]["increment_id"] == row["increment_id"]
    assert isinstance(data["commerce"]["grand_total"], str)
    assert data["available_actions"]


@pytest.mark.sqlite_only
def test_import_specific_orders_and_window(cli, simulated_account):
    sim = simulated_account.sim
    wanted = sim.order_ids()[:2]
    result = cli("import", "--order", wanted[0], "--order", wanted[1], "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["new"] == 2
    window = cli("import", "--since", "3d", "--json")
    assert window.exit_code == 0, window.stderr
    assert json.loads(window.stdout)["read"] > 0
    # import does not move the sync watermark
    conn = sqlite3.connect(simulated_account.db_path)
    assert conn.execute("SELECT count(*) FROM sync_state WHERE watermark IS NOT NULL").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("show", "999-0000000-0000000"), ExitCode.NOT_FOUND_OR_NOT_ALLOWED, "No order"),
        (("list", "--since", "last tuesday"), ExitCode.USAGE, "not a date"),
        (("list", "--status", "SHIPPING"), ExitCode.USAGE, "unknown Amazon status"),
        (("list", "--marketplace", "XX"), ExitCode.USAGE, "unknown marketplace"),
        (("list", "--channel", "FBA"), ExitCode.USAGE, "MFN"),
        (("list", "--limit", "0"), ExitCode.USAGE, "--limit"),
        (("import", "--since", "2026-13-45"), ExitCode.USAGE, "not a date"),
        (("import",), ExitCode.USAGE, "--since"),
        (("import", "--order", "999-0000000-0000000"), ExitCode.AMAZON_REJECTED, "NotFound"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(cli, simulated_account, args, code, words):
    assert cli("sync").exit_code == 0
    before = dump_store(simulated_account.db_path)
    result = cli(*args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("Error: ") or "Error:" in result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.output
    assert dump_store(simulated_account.db_path) == before


def test_lwa_rejecting_credentials_is_exit_3(cli, simulated_account, amzorders_home):
    from conftest import write_account_config

    write_account_config(amzorders_home, simulated_account.sim, client_secret="wrong-secret")
    result = cli("sync")
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "Login with Amazon" in result.stderr or "credentials" in result.stderr
    assert "wrong-secret" not in result.output
    assert not dump_store(simulated_account.db_path).get("amazon_orders")


def test_amazon_failing_is_exit_5_and_store_unchanged(cli, simulated_account):
    assert cli("sync").exit_code == 0
    simulated_account.sim.advance(minutes=240)
    before = dump_store(simulated_account.db_path)
    simulated_account.sim.inject("503", count=50, operation="searchOrders")
    result = cli("sync")
    assert result.exit_code == ExitCode.AMAZON_UNAVAILABLE, result.output
    assert "request id" in result.stderr
    assert dump_store(simulated_account.db_path) == before


@pytest.mark.sqlite_only
def test_second_sync_while_one_runs_exits_6_and_changes_nothing(cli, simulated_account):
    from amzorders.services.locking import sync_lock

    assert cli("sync").exit_code == 0
    before = dump_store(simulated_account.db_path)
    with sync_lock(simulated_account.db_path):
        result = cli("sync")
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert "Another sync is running" in result.stderr and "--wait" in result.stderr
    assert dump_store(simulated_account.db_path) == before
    assert cli("sync").exit_code == 0  # released with the with-block


@pytest.mark.sqlite_only
def test_sync_purges_buyer_data_when_retention_is_configured(cli, simulated_account, amzorders_home):
    from conftest import write_account_config

    write_account_config(amzorders_home, simulated_account.sim, extra="\n[sync]\npii_retention_days = 1\n")
    result = cli("sync", "--json")
    assert result.exit_code == 0, result.output
    purged = json.loads(result.stdout)["purged_orders"]
    assert purged > 0
    conn = sqlite3.connect(simulated_account.db_path)
    rows = conn.execute("SELECT buyer_name, buyer_email, shipping_address_json FROM amazon_orders WHERE pii_purged_at IS NOT NULL").fetchall()
    assert len(rows) == purged
    assert all(r == (None, None, None) for r in rows)


def test_list_account_filter_after_the_command(cli, simulated_account):
    assert cli("sync").exit_code == 0
    mine = json.loads(cli("list", "--account", "main", "--json", "--limit", "5").stdout)
    assert len(mine) == 5 and {r["account"] for r in mine} == {"main"}
    others = cli("list", "--account", "someone-else", "--json")
    assert others.exit_code == 0 and json.loads(others.stdout) == []
