"""Bulk work that can be repeated (ship/invoice/refund/cancel from a CSV or several ids)
and hold/unhold, through the real CLI on a real store (with --no-push)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from amzorders.errors import ExitCode
from processing_support import SECOND, UNSHIPPED, dump_file, seeded_store_file

UPS = "1Z999AA10123456784"
CARRIER_FILE = (
    "order,carrier,tracking,sku,qty\n"
    f"000000001,UPS,{UPS},SKU-A,2\n"
    f"000000001,UPS,{UPS},SKU-B,1\n"
    "000000003,FedEx,123456789012,,\n"
)


@pytest.fixture
def db(tmp_path):
    return seeded_store_file(tmp_path / "orders.db")


@pytest.fixture
def run(cli, db):
    def go(*args, **kwargs):
        return cli("--db", db, *args, **kwargs)

    return go


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _report(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_a_carrier_file_run_twice_is_all_skipped_the_second_time(run, db, tmp_path):
    path = _write(tmp_path, "carrier.csv", CARRIER_FILE)
    first_report = tmp_path / "first.csv"
    first = run("ship", "--from-csv", path, "--no-push", "--report", first_report)
    assert first.exit_code == 0, first.output
    assert "2 shipment(s) created, 0 row(s) skipped" in first.stderr
    assert [r["outcome"] for r in _report(first_report)] == ["shipped", "shipped", "shipped"]
    after_first = dump_file(db)
    second_report = tmp_path / "second.csv"
    second = run("ship", "--from-csv", path, "--no-push", "--report", second_report)
    assert second.exit_code == 0, second.output
    assert "0 shipment(s) created, 3 row(s) skipped" in second.stderr
    assert second.stdout.count("skipped: already shipped with tracking") == 3
    rows = _report(second_report)
    assert [(r["line"], r["outcome"]) for r in rows] == [("2", "skipped"), ("3", "skipped"), ("4", "skipped")]
    assert dump_file(db) == after_first  # nothing shipped twice


def test_a_tracking_number_reused_for_other_items_is_an_error(run, tmp_path):
    assert run("ship", "--from-csv", _write(tmp_path, "a.csv", f"order,carrier,tracking,sku,qty\n000000001,UPS,{UPS},SKU-A,1\n"), "--no-push").exit_code == 0
    again = run("ship", "--from-csv", _write(tmp_path, "b.csv", f"order,carrier,tracking,sku,qty\n000000001,UPS,{UPS},SKU-B,1\n"), "--no-push")
    assert again.exit_code == ExitCode.USAGE and "line 2" in again.stderr and "new tracking number" in again.stderr


def test_ship_csv_from_stdin(run, db, tmp_path):
    result = run("ship", "--from-csv", "-", "--no-push", input=CARRIER_FILE)
    assert result.exit_code == 0, result.output
    assert "2 shipment(s) created" in result.stderr


def test_every_bad_row_is_reported_in_one_pass_including_quantities(run, db, tmp_path):
    path = _write(tmp_path, "bad.csv", (
        "order,carrier,tracking,sku,qty\n"
        f"000000001,UPS,{UPS},SKU-A,1\n"
        "000000001,Pigeon,123,,\n"                     # line 3: unknown carrier
        "000000001,UPS,1Z999AA10123456786,SKU-A,2\n"   # line 4: with line 2 over-ships SKU-A
    ))
    before = dump_file(db)
    report = tmp_path / "report.csv"
    result = run("ship", "--from-csv", path, "--no-push", "--report", report)
    assert result.exit_code == ExitCode.USAGE
    assert "line 3:" in result.stderr and "line 4:" in result.stderr and "at most 1 can still be shipped" in result.stderr
    assert dump_file(db) == before
    assert [r["outcome"] for r in _report(report)] == ["not written", "error", "error"]


def test_invoice_several_orders_then_again_all_skipped(run, db):
    first = run("invoice", "000000001", "000000003")
    assert first.exit_code == 0, first.output
    assert "2 row(s): 2 done, 0 skipped" in first.stderr
    second = run("invoice", "000000001", "000000003")
    assert second.exit_code == 0 and "0 done, 2 skipped" in second.stderr
    assert second.stdout.count("nothing left to invoice (skipped)") == 2


def test_invoice_from_csv_checks_every_row_before_writing(run, db, tmp_path):
    before = dump_file(db)
    bad = _write(tmp_path, "inv.csv", "order,sku,qty\n000000001,SKU-A,1\n999-nope,,\n000000003,SKU-Z,1\n")
    result = run("invoice", "--from-csv", bad)
    assert result.exit_code != 0
    assert "line 3:" in result.stderr and "line 4:" in result.stderr
    assert dump_file(db) == before
    good = _write(tmp_path, "inv2.csv", "order,sku,qty\n000000001,SKU-A,1\n000000001,SKU-B,1\n000000003,,\n")
    report = tmp_path / "r.csv"
    assert run("invoice", "--from-csv", good, "--report", report).exit_code == 0
    assert [r["outcome"] for r in _report(report)] == ["done", "done", "done"]
    view = json.loads(run("show", "000000001", "--json").stdout)
    assert [i["qty_invoiced"] for i in view["commerce"]["items"]] == [1, 1]
    assert len(view["invoices"]) == 1  # rows of one order: one invoice


def test_cancel_and_refund_in_bulk_skip_what_is_done(run, db, tmp_path):
    cancel = run("cancel", "000000001", "000000003", "--reason", "NoInventory", "--no-push")
    assert cancel.exit_code == 0, cancel.output
    again = run("cancel", "--from-csv", _write(tmp_path, "c.csv", "order,reason\n000000001,NoInventory\n000000003,NoInventory\n"), "--no-push")
    assert again.exit_code == 0 and "0 done, 2 skipped" in again.stderr


def test_refund_from_csv_twice(run, db, tmp_path):
    assert run("invoice", "000000001").exit_code == 0
    path = _write(tmp_path, "r.csv", "order,reason\n000000001,CustomerReturn\n")
    first = run("refund", "--from-csv", path, "--no-push")
    assert first.exit_code == 0, first.output
    second = run("refund", "--from-csv", path, "--no-push")
    assert second.exit_code == 0 and "1 skipped" in second.stderr


def test_hold_blocks_processing_until_unhold(run, db):
    held = run("hold", "000000001", "--reason", "address check")
    assert held.exit_code == 0, held.output
    rows = json.loads(run("list", "--held", "--json").stdout)
    assert [r["amazon_order_id"] for r in rows] == [UNSHIPPED]
    assert rows[0]["commerce_status"] == "holded" and rows[0]["hold_reason"] == "address check"
    assert "on hold" in run("list", env={"COLUMNS": "200"}).stdout
    assert "address check" in run("show", "000000001").stdout
    for args in (("invoice", "000000001"), ("ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--no-push"),
                 ("cancel", "000000001", "--reason", "NoInventory", "--no-push")):
        refused = run(*args)
        assert refused.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED and "on hold" in refused.stderr, args
    assert "skipped" in run("hold", "000000001").stdout
    released = run("unhold", "000000001")
    assert released.exit_code == 0 and "released" in released.stdout
    order = json.loads(run("show", "000000001", "--json").stdout)["commerce"]
    assert (order["state"], order["status"]) == ("new", "pending")
    assert run("invoice", "000000001").exit_code == 0
    assert json.loads(run("list", "--held", "--json").stdout) == []
    history = json.loads(run("history", "000000001", "--json").stdout)
    assert any("put on hold: address check" in h["comment"] for h in history)
    assert any("released from hold" in h["comment"] for h in history)


def test_hold_of_a_complete_order_is_refused_and_nothing_held(run):
    result = run("hold", "000000003", "000000002")  # 000000002 is the complete AFN order
    assert result.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED and "complete" in result.stderr
    assert json.loads(run("list", "--held", "--json").stdout) == []
    assert SECOND


def test_automatic_hold_when_the_buyer_asks_to_cancel(cli, simulated_account):
    config = simulated_account.config_path
    config.write_text(config.read_text() + "\n[orders]\nhold_on_cancel_request = true\n")
    assert cli("sync").exit_code == 0
    rows = json.loads(cli("list", "--json", "--limit", "1000", "--status", "UNSHIPPED", "--channel", "MFN").stdout)
    target = next(r for r in rows if r["increment_id"] and not r["buyer_cancel_requested"] and r["commerce_status"] == "pending")
    simulated_account.sim.buyer_cancel(target["amazon_order_id"])
    simulated_account.sim.advance(minutes=5)
    assert cli("sync").exit_code == 0
    held = json.loads(cli("list", "--held", "--json").stdout)
    assert target["amazon_order_id"] in {r["amazon_order_id"] for r in held}
    refused = cli("ship", target["increment_id"], "--carrier", "UPS", "--tracking", UPS, "--no-push")
    assert refused.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED and "on hold" in refused.stderr
    assert cli("unhold", target["increment_id"]).exit_code == 0
    # Released, it is still not shipped or invoiced while the buyer's request is open.
    for args in (("ship", target["increment_id"], "--carrier", "UPS", "--tracking", UPS, "--no-push"),
                 ("invoice", target["increment_id"])):
        refused = cli(*args)
        assert refused.exit_code == ExitCode.NOT_FOUND_OR_NOT_ALLOWED, refused.output
        assert "asked to cancel" in refused.stderr and "--reason BuyerCanceled" in refused.stderr and "--force" in refused.stderr
    assert cli("show", target["increment_id"], "--json").exit_code == 0
    assert cli("cancel", target["increment_id"], "--reason", "BuyerCanceled", "--no-push").exit_code == 0
    # The cancellation goes out, Amazon executes it: the request is answered, not open any more.
    assert cli("sync").exit_code == 0
    simulated_account.sim.advance(minutes=30)
    assert cli("sync").exit_code == 0
    view = json.loads(cli("show", target["amazon_order_id"], "--json").stdout)
    assert view["summary"]["amazon_status"] == "CANCELLED" and view["summary"]["buyer_cancel_requested"] is False
    assert target["amazon_order_id"] not in {r["amazon_order_id"] for r in json.loads(cli("list", "--cancel-requested", "--json", "--limit", "1000").stdout)}


def test_ship_and_invoice_with_force_despite_a_cancel_request_warn(cli, simulated_account):
    assert cli("sync").exit_code == 0
    rows = json.loads(cli("list", "--json", "--limit", "1000", "--status", "UNSHIPPED", "--channel", "MFN").stdout)
    target = next(r for r in rows if r["increment_id"] and not r["buyer_cancel_requested"] and r["commerce_status"] == "pending")
    simulated_account.sim.buyer_cancel(target["amazon_order_id"], reason="Found it cheaper")
    simulated_account.sim.advance(minutes=5)
    synced = cli("sync", "--json")
    assert synced.exit_code == 0
    assert json.loads(synced.stdout)["new_cancel_requests"] == [target["amazon_order_id"]]
    again = cli("sync", "--json")  # reported once, when it is new
    assert json.loads(again.stdout)["new_cancel_requests"] == []
    invoiced = cli("invoice", target["increment_id"], "--force")
    assert invoiced.exit_code == 0 and "asked to cancel" in invoiced.stderr and "Found it cheaper" in invoiced.stderr
    shipped = cli("ship", target["increment_id"], "--carrier", "UPS", "--tracking", UPS, "--no-push", "--force")
    assert shipped.exit_code == 0 and "asked to cancel" in shipped.stderr


FEDEX = "123456789012"


UPS_2 = "1Z999AA10123456786"


def test_ship_several_orders_then_again_all_skipped(run, db, tmp_path):
    report = tmp_path / "ship.csv"
    args = ("ship", "000000001", "000000003", "--carrier", "UPS", "--tracking", UPS, "--tracking", UPS_2, "--no-push")
    first = run(*args, "--report", report)
    assert first.exit_code == 0, first.output
    assert "2 order(s), 2 shipment(s) created, 0 order(s) skipped" in first.stderr
    assert [(r["line"], r["order"], r["outcome"]) for r in _report(report)] == [
        ("1", "000000001", "shipped"), ("2", "000000003", "shipped"),
    ]
    first_view = json.loads(run("show", "000000001", "--json").stdout)["shipments"]
    third_view = json.loads(run("show", "000000003", "--json").stdout)["shipments"]
    assert [s["tracking_number"] for s in first_view] == [UPS]
    assert [s["tracking_number"] for s in third_view] == [UPS_2]
    after_first = dump_file(db)
    second = run(*args)
    assert second.exit_code == 0, second.output
    assert "0 shipment(s) created, 2 order(s) skipped" in second.stderr
    assert second.stdout.count("skipped: already shipped with tracking") == 2
    assert dump_file(db) == after_first


def test_ship_several_orders_checks_all_before_writing(run, db):
    before = dump_file(db)
    result = run("ship", "000000001", "999-0000000-0000000", "000000002", "--carrier", "FedEx",
                 "--tracking", FEDEX, "--tracking", "123456789013", "--tracking", "123456789014", "--no-push")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "order 2:" in result.stderr and "order 3:" in result.stderr and "nothing was shipped" in result.stderr
    assert "order 1:" not in result.stderr
    assert dump_file(db) == before
    shared = run("ship", "000000001", "000000003", "--carrier", "UPS", "--tracking", UPS, "--no-push")
    assert shared.exit_code == ExitCode.USAGE and "one --tracking per order" in shared.stderr
    items = run("ship", "000000001", "000000003", "--carrier", "UPS", "--tracking", UPS, "--tracking", UPS_2,
                "--item", "SKU-A=1", "--no-push")
    assert items.exit_code == ExitCode.USAGE and "--from-csv" in items.stderr
    assert dump_file(db) == before


def test_bulk_commands_list_every_bad_order_before_writing(run, db):
    before = dump_file(db)
    for args in (("invoice", "nope-1", "000000001", "nope-2"),
                 ("cancel", "nope-1", "000000001", "nope-2", "--reason", "NoInventory", "--no-push"),
                 ("refund", "nope-1", "000000001", "nope-2", "--reason", "CustomerReturn", "--no-push"),
                 ("hold", "nope-1", "000000001", "nope-2")):
        result = run(*args)
        assert result.exit_code != 0, args
        assert "nope-1" in result.stderr and "nope-2" in result.stderr, (args, result.stderr)
        assert dump_file(db) == before, args


def test_unhold_several_orders_skips_those_not_held(run, db):
    assert run("hold", "000000001").exit_code == 0
    result = run("unhold", "000000001", "000000003")
    assert result.exit_code == 0, result.output
    assert "1 order(s) released, 1 skipped" in result.stderr
    assert json.loads(run("list", "--held", "--json").stdout) == []


def test_hold_and_unhold_report_each_order_as_json(run, db):
    held = run("hold", "000000001", "000000003", "--json")
    assert held.exit_code == 0, held.output
    document = json.loads(held.stdout)
    assert document["action"] == "hold"
    assert [(r["order"], r["outcome"]) for r in document["rows"]] == [("000000001", "held"), ("000000003", "held")]
    assert all("000000001" in r["message"] or "000000003" in r["message"] for r in document["rows"])
    released = json.loads(run("unhold", "000000001", "--json").stdout)
    assert released["action"] == "unhold" and [r["outcome"] for r in released["rows"]] == ["released"]
    again = json.loads(run("unhold", "000000001", "--json").stdout)
    assert [r["outcome"] for r in again["rows"]] == ["skipped"]
