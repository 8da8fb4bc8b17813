"""invoice / ship / refund / cancel / comment through the real CLI (with --no-push)."""

from __future__ import annotations

import json

import pytest

from processing_support import PENDING, UNSHIPPED, dump_file, seeded_store_file

UPS = "1Z999AA10123456784"


@pytest.fixture
def db(tmp_path):
    return seeded_store_file(tmp_path / "orders.db")


@pytest.fixture
def run(cli, db):
    def go(*args):
        return cli("--db", db, *args)

    return go


def test_full_flow_through_the_cli(run, db):
    result = run("invoice", "000000001")
    assert result.exit_code == 0, result.output
    assert "Invoice 000000002 created for order 000000001" in result.stdout

    result = run("ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--item", "SKU-A=2", "--no-push")
    assert result.exit_code == 0, result.output
    assert f"Shipment 000000002 created for order 000000001 (UPS {UPS}, 2 unit(s))." in result.stdout
    assert "Queued for Amazon (--no-push); 'amzorders sync' will deliver it." in result.stdout

    result = run("ship", "000000001", "--carrier", "fedex", "--tracking", "123456789012", "--no-push")
    assert result.exit_code == 0, result.output

    result = run("refund", "000000001", "--reason", "CustomerReturn", "--item", "SKU-B=1", "--shipping", "1.50", "--no-push")
    assert result.exit_code == 0, result.output
    assert "Credit memo 000000001 created for order 000000001 (USD 6.50 refunded)." in result.stdout

    result = run("refund", "000000001", "--reason", "CustomerReturn", "--no-push", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["order_state"] == "closed" and data["amount"] == "41.48"

    shown = run("show", "000000001", "--json")
    view = json.loads(shown.stdout)
    assert view["commerce"]["state"] == "closed"
    assert len(view["shipments"]) == 2 and view["shipments"][0]["tracking_number"] == UPS
    assert len(view["credit_memos"]) == 2
    assert [o["kind"] for o in view["outbox"]] == ["confirm_shipment", "confirm_shipment", "refund", "refund"]

    result = run("comment", "000000001", "All done.")
    assert result.exit_code == 0 and "Comment added to order 000000001." in result.stdout


def test_cancel_through_the_cli(run):
    result = run("cancel", "000000001", "--reason", "BuyerCanceled", "--comment", "Buyer asked", "--no-push")
    assert result.exit_code == 0, result.output
    assert "Order 000000001 canceled (BuyerCanceled)." in result.stdout
    assert json.loads(run("show", "000000001", "--json").stdout)["commerce"]["state"] == "canceled"


BAD_INPUTS = [
    (["invoice", "999-9999999-9999999"], 1, "No order '999-9999999-9999999'"),
    (["invoice", "000000001", "--item", "NOPE=1"], 1, "no item with SKU 'NOPE'"),
    (["invoice", "000000001", "--item", "SKU-A=0"], 2, "at least 1"),
    (["invoice", "000000001", "--item", "SKU-A=-2"], 2, "at least 1"),
    (["invoice", "000000001", "--item", "SKU-A=3"], 1, "only 2 of 2 remain"),
    (["ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--item", "SKU-A=5"], 1, "at most 2 can still be shipped"),
    (["ship", "000000002", "--carrier", "UPS", "--tracking", UPS], 1, "fulfilled by Amazon (AFN)"),
    (["ship", "000000001", "--carrier", "Pigeon", "--tracking", UPS], 2, "Unknown carrier code 'Pigeon'"),
    (["ship", "000000001", "--carrier", "Other", "--tracking", "X1"], 2, "add --carrier-name"),
    (["ship", "000000001", "--carrier", "UPS", "--tracking", "123"], 2, "add --force"),
    (["ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--ship-date", "2099-01-01"], 2, "in the future"),
    (["ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--ship-date", "soonish"], 2, "not a date"),
    (["ship", "000000001"], 2, "ship needs --carrier, --tracking"),
    (["refund", "000000001", "--reason", "CustomerReturn"], 1, "no invoice yet"),
    (["refund", "000000001", "--reason", "CustomerReturn", "--shipping", "-1"], 2, "cannot be negative"),
    (["refund", "000000001", "--reason", "CustomerReturn", "--adjustment-fee", "abc"], 2, "is not an amount"),
    (["refund", "000000001", "--reason", "Whatever"], 2, "not one of Amazon's values"),
    (["cancel", "000000001", "--reason", "Whim"], 2, "not one of Amazon's values"),
    (["cancel", PENDING, "--reason", "NoInventory"], 1, "Cancel it in Seller Central"),
    (["comment", "000000001", "   "], 2, "empty"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUTS, ids=[" ".join(a[:3]) for a, _, _ in BAD_INPUTS])
def test_bad_input_is_refused_and_changes_nothing(run, db, args, code, message):
    before = dump_file(db)
    result = run(*args, "--no-push") if args[0] in ("ship", "refund", "cancel") else run(*args)
    assert result.exit_code == code, result.output
    assert result.stderr.count("Error: ") == 1 and message in result.stderr
    assert "Traceback" not in result.output
    assert dump_file(db) == before


def test_refund_above_refundable_and_cancel_after_ship(run, db):
    assert run("invoice", "000000001", "--item", "SKU-B=1").exit_code == 0
    assert run("ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--item", "SKU-B=1", "--no-push").exit_code == 0
    before = dump_file(db)
    result = run("refund", "000000001", "--reason", "CustomerReturn", "--adjustment-refund", "50", "--no-push")
    assert result.exit_code == 1 and "more than can still be refunded" in result.stderr
    assert dump_file(db) == before
    result = run("cancel", "000000001", "--reason", "NoInventory", "--no-push")
    assert result.exit_code == 1
    assert "can no longer be canceled; refund it instead: amzorders refund 000000001 --reason CustomerReturn" in result.stderr
    assert dump_file(db) == before


def test_invoicing_a_canceled_order_is_refused(run, db):
    assert run("cancel", "000000001", "--reason", "NoInventory", "--no-push").exit_code == 0
    before = dump_file(db)
    result = run("invoice", "000000001")
    assert result.exit_code == 1 and "is canceled" in result.stderr
    assert dump_file(db) == before


def test_dry_runs_print_what_would_be_sent_and_write_nothing(run, db):
    before = dump_file(db)
    result = run("ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"POST /orders/v0/orders/{UNSHIPPED}/shipmentConfirmation" in result.stdout
    body = json.loads(result.stdout.split("\n", 1)[1])
    assert body["packageDetail"]["trackingNumber"] == UPS
    assert "nothing was written or sent" in result.stderr

    result = run("cancel", "000000001", "--reason", "NoInventory", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "POST_ORDER_ACKNOWLEDGEMENT_DATA" in result.stdout and "<CancelReason>NoInventory</CancelReason>" in result.stdout
    assert dump_file(db) == before

    assert run("invoice", "000000001").exit_code == 0
    before = dump_file(db)
    # Nothing shipped: Amazon has not charged the buyer, so the credit memo is a cancellation.
    result = run("refund", "000000001", "--reason", "CustomerCancel", "--item", "SKU-B=1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "POST_ORDER_ACKNOWLEDGEMENT_DATA" in result.stdout and "<CancelReason>BuyerCanceled</CancelReason>" in result.stdout
    assert "POST_PAYMENT_ADJUSTMENT_DATA" not in result.stdout
    assert dump_file(db) == before
    assert run("ship", "000000001", "--carrier", "UPS", "--tracking", UPS, "--item", "SKU-A=1", "--no-push").exit_code == 0
    before = dump_file(db)
    result = run("refund", "000000001", "--reason", "CustomerReturn", "--item", "SKU-A=1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "POST_PAYMENT_ADJUSTMENT_DATA" in result.stdout
    assert "<Type>Principal</Type>" in result.stdout and ">19.99</Amount>" in result.stdout
    assert dump_file(db) == before


def write_csv(tmp_path, text):
    path = tmp_path / "shipments.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_bulk_shipping(run, db, tmp_path):
    path = write_csv(tmp_path, (
        "Order,Carrier,Tracking,SKU,Qty,Ship Date,Method\n"
        f"000000001,UPS,{UPS},SKU-A,1,2026-11-20T10:00:00Z,Ground\n"
        f"000000001,UPS,{UPS},SKU-B,1,2026-11-20T10:00:00Z,Ground\n"
        f"000000001,USPS,EA123456789US,SKU-A,1,2026-11-20T11:00:00Z,\n"
        "000000003,FedEx,123456789012,,,,\n"
    ))
    dry = run("ship", "--from-csv", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.count("shipmentConfirmation") == 3
    result = run("ship", "--from-csv", path, "--no-push")
    assert result.exit_code == 0, result.output
    assert "4 row(s), 3 shipment(s) created, 0 row(s) skipped" in result.stderr
    view = json.loads(run("show", "000000001", "--json").stdout)
    assert [len(s["items"]) for s in view["shipments"]] == [2, 1]
    assert view["shipments"][0]["shipping_method"] == "Ground"
    assert json.loads(run("show", "000000003", "--json").stdout)["shipments"][0]["tracking_number"] == "123456789012"
    again = run("ship", "--from-csv", path, "--no-push")  # nothing is shipped twice: all skipped
    assert again.exit_code == 0 and "0 shipment(s) created, 4 row(s) skipped" in again.stderr


def test_csv_with_bad_rows_lists_them_all_and_writes_nothing(run, db, tmp_path):
    path = write_csv(tmp_path, (
        "order,carrier,tracking,sku,qty,ship_date\n"
        f"000000001,UPS,{UPS},SKU-A,1,\n"          # fine alone
        "000000001,Pigeon,123,,,\n"                 # line 3: unknown carrier
        "999-nope,UPS,1Z999AA10123456785,,,\n"      # line 4: unknown order
        f"000000002,UPS,{UPS},,,\n"                 # line 5: AFN
        "000000001,UPS,1Z999AA10123456786,SKU-A,2,\n"  # line 6: with line 2 over-ships SKU-A
        "000000001,UPS,1Z999AA10123456787,SKU-X,1,\n"  # line 7: unknown SKU
        "000000003,UPS,1Z999AA10123456788,SKU-A,0,\n"  # line 8: zero quantity
        "000000003,UPS,1Z999AA10123456789,,,2099-01-01\n"  # line 9: future date
    ))
    before = dump_file(db)
    result = run("ship", "--from-csv", path, "--no-push")
    assert result.exit_code == 2, result.output
    for line in (3, 4, 5, 6, 7, 8, 9):  # the over-shipping of line 6 too: one pass finds all
        assert f"line {line}:" in result.stderr
    assert "line 2:" not in result.stderr
    assert "nothing was shipped" in result.stderr
    assert dump_file(db) == before

    # Only the over-shipping remains once the rest is fixed: rows checked together.
    path = write_csv(tmp_path, (
        "order,carrier,tracking,sku,qty\n"
        f"000000001,UPS,{UPS},SKU-A,1\n"
        "000000001,UPS,1Z999AA10123456786,SKU-A,2\n"
    ))
    result = run("ship", "--from-csv", path, "--no-push")
    assert result.exit_code == 2 and "line 3:" in result.stderr and "at most 1 can still be shipped" in result.stderr
    assert dump_file(db) == before


def test_csv_without_header_columns(run, db, tmp_path):
    path = write_csv(tmp_path, f"000000001,UPS,{UPS}\n")
    result = run("ship", "--from-csv", path, "--no-push")
    assert result.exit_code == 2 and "header lacks" in result.stderr
    result = run("ship", "--from-csv", tmp_path / "missing.csv")
    assert result.exit_code == 2 and "no file" in result.stderr



def test_csv_from_stdin(cli, db):
    text = f"order,carrier,tracking\n000000001,UPS,{UPS}\n"
    result = cli("--db", db, "ship", "--from-csv", "-", "--no-push", input=text)
    assert result.exit_code == 0, result.output
    assert "1 row(s), 1 shipment(s) created, 0 row(s) skipped" in result.stderr


def test_csv_size_limit_applies_while_reading(run, db, tmp_path, monkeypatch):
    """The limit is checked on the bytes read so far: an endless stream is refused."""
    from amzorders.services import processing

    monkeypatch.setattr(processing, "MAX_CSV_BYTES", 64 * 1024)
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.write(f"order,carrier,tracking\n".encode())
        handle.truncate(10 * 1024 * 1024)  # sparse: 10 MB of NULs after the header
    before = dump_file(db)
    result = run("ship", "--from-csv", big, "--no-push")
    assert result.exit_code == 2, result.output
    assert "larger than" in result.stderr or "NUL" in result.stderr
    zero = run("ship", "--from-csv", "/dev/zero", "--no-push")
    assert zero.exit_code == 2, zero.output
    assert "Error:" in zero.stderr and "unexpected" not in zero.output
    assert dump_file(db) == before


def test_csv_not_utf8_names_the_line(run, db, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"order,carrier,tracking\n000000001,UPS,{UPS}\n000000001,UPS,caf\xe9\n".encode("latin-1"))
    result = run("ship", "--from-csv", path, "--no-push")
    assert result.exit_code == 2, result.output
    assert "not UTF-8" in result.stderr
