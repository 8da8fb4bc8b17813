"""Views that fit: list, show, outbox list, history at 60, 80, 120 and 200 columns, and
'list' on a real pseudo-terminal of 80x24; the shared output options of every listing."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import unicodedata

import pytest

from amzorders.errors import ExitCode

WIDTHS = (60, 80, 120, 200)


@pytest.fixture
def synced(cli, simulated_account):
    result = cli("sync")
    assert result.exit_code == 0, result.output
    return simulated_account


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def _widest(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(line) for line in _lines(text))


def _orders(cli, *args: str) -> list[dict]:
    result = cli("list", "--json", "--limit", "1000", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("width", WIDTHS)
def test_list_fits_every_width_and_keeps_order_status_and_ship_by(synced, cli, width):
    rows = _orders(cli)
    result = cli("list", "--limit", "10", env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    assert _widest(result.stdout) <= width
    header = _lines(result.stdout)[1]
    assert "Amazon order" in header and "Amazon status" in header and "Ship by" in header
    for row in rows[:10]:  # the whole order number and ship-by date, never cut
        line = next(line for line in _lines(result.stdout) if line.startswith(row["amazon_order_id"]))
        assert row["amazon_status"][:9] in line
        if row["ship_by"]:
            assert row["ship_by"][:10] in line
        if width >= 80:
            assert f"{row['grand_total']}" in line.replace(",", "") and row["currency"] in line
        if width >= 200 and row["buyer_name"]:
            assert row["buyer_name"][:6] in line
    if width >= 80:
        assert "Total" in header
    if width < 200:
        assert "Buyer" not in header or width >= 120  # the buyer's name gives way first
    assert f"10 of {len(rows)} orders" in result.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_late_list_keeps_the_late_flag_at_every_width(synced, cli, width):
    late = _orders(cli, "--late")
    assert late, "the simulator always has some late orders"
    result = cli("list", "--late", "--limit", "1000", env={"COLUMNS": str(width)})
    assert result.exit_code == 0
    assert _widest(result.stdout) <= width
    assert result.stdout.startswith(f"{len(late)} late order")
    assert result.stdout.count(" late") >= len(late)


@pytest.mark.parametrize("width", WIDTHS)
def test_show_fits_every_width_with_status_total_ship_by_and_whole_skus(synced, cli, width):
    row = next(r for r in _orders(cli) if r["increment_id"] and r["ship_by"])
    view = json.loads(cli("show", row["amazon_order_id"], "--json").stdout)
    result = cli("show", row["increment_id"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    assert _widest(result.stdout) <= width
    text = result.stdout
    assert row["amazon_order_id"] in text and row["amazon_status"] in text
    assert "Grand Total" in text and row["grand_total"] in text.replace(",", "")
    assert row["ship_by"][:10] in text
    for item in view["commerce"]["items"]:
        assert item["sku"] in text  # SKUs are never cropped


@pytest.mark.parametrize("width", WIDTHS)
def test_history_and_outbox_fit(synced, cli, width):
    row = next(r for r in _orders(cli) if r["increment_id"])
    history = cli("history", row["increment_id"], env={"COLUMNS": str(width)})
    assert history.exit_code == 0 and _widest(history.stdout) <= width
    assert "history entries" in history.stdout


def test_piped_output_without_columns_draws_panels_80_wide_and_tables_whole(synced, cli):
    row = next(r for r in _orders(cli) if r["increment_id"])
    shown = cli("show", row["increment_id"], env={"COLUMNS": None})
    assert shown.exit_code == 0 and _widest(shown.stdout) <= 80
    listing = cli("list", env={"COLUMNS": None})
    header = _lines(listing.stdout)[1]
    for column in ("Buyer", "Mkt", "Ch", "Qty", "Total", "Ship by", "Purchased"):
        assert column in header


def test_columns_option_chooses_and_orders_the_columns(synced, cli):
    result = cli("list", "--columns", "ship_by,order,total", "--limit", "3")
    assert result.exit_code == 0, result.stderr
    assert _lines(result.stdout)[1].split() == ["Ship", "by", "Amazon", "order", "Total"]
    bad = cli("list", "--columns", "ship_by,colour")
    assert bad.exit_code == ExitCode.USAGE and "unknown column 'colour'" in bad.stderr


def test_sort_and_offset_page_through_and_the_title_says_which(synced, cli):
    everything = _orders(cli, "--sort", "ship_by")
    ship_bys = [r["ship_by"] for r in everything if r["ship_by"]]
    assert ship_bys == sorted(ship_bys)
    by_total = _orders(cli, "--sort", "-grand_total")
    from decimal import Decimal

    totals = [Decimal(r["grand_total"]) for r in by_total if r["grand_total"]]
    assert totals == sorted(totals, reverse=True)
    first = _orders(cli, "--limit", "5")
    second = cli("list", "--json", "--limit", "5", "--offset", "5")
    assert [r["amazon_order_id"] for r in json.loads(second.stdout)] == [r["amazon_order_id"] for r in everything_by_date(cli)[5:10]]
    assert {r["amazon_order_id"] for r in first}.isdisjoint(r["amazon_order_id"] for r in json.loads(second.stdout))
    page = cli("list", "--limit", "5", "--offset", "5")
    assert page.stdout.startswith(f"Orders 6-10 of {len(everything)}")
    assert cli("list", "--sort", "colour").exit_code == ExitCode.USAGE


def everything_by_date(cli) -> list[dict]:
    return _orders(cli)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def test_search_ignores_case_and_accents(synced, cli):
    rows = _orders(cli)
    accented = next(r for r in rows if r["buyer_name"] and r["buyer_name"] != _fold(r["buyer_name"]) and any(ord(c) > 127 for c in r["buyer_name"]))
    surname = accented["buyer_name"].split()[-1]
    plain = _fold(surname)
    assert plain != surname
    for typed in (plain, plain.upper(), surname, surname.lower()):
        found = {r["amazon_order_id"] for r in _orders(cli, "--search", typed)}
        assert accented["amazon_order_id"] in found, typed
    everyone = {r["amazon_order_id"] for r in rows if r["buyer_name"] and plain in _fold(r["buyer_name"])}
    assert {r["amazon_order_id"] for r in _orders(cli, "--search", plain)} >= everyone
    title = cli("list", "--search", plain, "--limit", "1")
    assert f"matching '{plain}'" in title.stdout
    sku = next(r for r in rows if r["increment_id"])
    item_sku = json.loads(cli("show", sku["amazon_order_id"], "--json").stdout)["amazon_items"][0]["sku"]
    assert sku["amazon_order_id"] in {r["amazon_order_id"] for r in _orders(cli, "--search", item_sku.lower())}


def test_filters_for_prime_business_cancel_requests_order_status_and_ship_by_day(synced, cli):
    rows = _orders(cli)
    prime = _orders(cli, "--prime")
    assert prime and all(r["is_prime"] for r in prime)
    assert len(prime) + len(_orders(cli, "--not-prime")) == len(rows)
    assert all(r["is_business"] for r in _orders(cli, "--business"))
    before = {r["amazon_order_id"] for r in _orders(cli, "--cancel-requested")}
    assert all(r["buyer_cancel_requested"] for r in _orders(cli, "--cancel-requested"))
    target = next(r for r in rows if r["amazon_status"] == "UNSHIPPED" and r["channel"] == "MFN" and r["amazon_order_id"] not in before)
    synced.sim.buyer_cancel(target["amazon_order_id"])
    synced.sim.advance(minutes=5)
    assert cli("sync").exit_code == 0
    assert {r["amazon_order_id"] for r in _orders(cli, "--cancel-requested")} == before | {target["amazon_order_id"]}
    pending = _orders(cli, "--order-status", "pending")
    assert pending and all(r["commerce_status"] == "pending" for r in pending)
    day = target["ship_by"][:10]
    on_day = _orders(cli, "--ship-by", day)
    assert target["amazon_order_id"] in {r["amazon_order_id"] for r in on_day}
    assert all(r["ship_by"].startswith(day) for r in on_day)
    today = cli("list", "--ship-by", "today", "--json")
    assert today.exit_code == 0
    bad = cli("list", "--ship-by", "someday")
    assert bad.exit_code == ExitCode.USAGE and "--ship-by" in bad.stderr


# -- one output option set ------------------------------------------------------------


LISTINGS = [
    ("list",),
    ("outbox", "list", "--all"),
    ("purge-pii", "--dry-run", "--older-than", "1d"),
    ("audit", "--since", "40d"),
]


@pytest.mark.parametrize("command", LISTINGS, ids=lambda c: " ".join(c[:2]))
def test_every_listing_has_json_nl_csv_tsv_and_fields_with_the_same_keys(synced, cli, command):
    as_json = cli(*command, "--json")
    assert as_json.exit_code in (0, 1), as_json.output  # audit exits 1 on differences
    rows = json.loads(as_json.stdout)
    nl = cli(*command, "--nl")
    assert [json.loads(line) for line in nl.stdout.splitlines()] == rows
    as_csv = list(csv.DictReader(io.StringIO(cli(*command, "--csv").stdout)))
    as_tsv = list(csv.DictReader(io.StringIO(cli(*command, "--tsv").stdout), delimiter="\t"))
    assert len(as_csv) == len(as_tsv) == len(rows)
    if rows:
        assert set(as_csv[0]) <= set(rows[0]) and as_csv == as_tsv
        first_key = next(iter(rows[0]))
        picked = json.loads(cli(*command, "--json", "--fields", first_key).stdout)
        assert picked == [{first_key: r[first_key]} for r in rows]
    both = cli(*command, "--json", "--csv")
    assert both.exit_code == ExitCode.USAGE and "Choose one of" in both.stderr


def test_history_has_the_output_options(synced, cli):
    row = next(r for r in _orders(cli) if r["increment_id"])
    rows = json.loads(cli("history", row["increment_id"], "--json").stdout)
    assert rows and all(r["amazon_order_id"] == row["amazon_order_id"] for r in rows)
    assert len(list(csv.DictReader(io.StringIO(cli("history", row["increment_id"], "--csv").stdout)))) == len(rows)


def test_unknown_field_is_a_usage_error_naming_the_known_ones(synced, cli):
    result = cli("list", "--json", "--fields", "amazon_order_id,colour")
    assert result.exit_code == ExitCode.USAGE
    assert "colour" in result.stderr and "buyer_name" in result.stderr
    alone = cli("list", "--fields", "amazon_order_id")
    assert alone.exit_code == ExitCode.USAGE and "--columns" in alone.stderr


def test_list_items_is_a_pick_list(synced, cli):
    orders = _orders(cli, "--status", "UNSHIPPED", "--channel", "MFN", "--limit", "5")
    lines = json.loads(cli("list", "--status", "UNSHIPPED", "--channel", "MFN", "--limit", "5", "--items", "--json").stdout)
    assert {line["amazon_order_id"] for line in lines} == {o["amazon_order_id"] for o in orders}
    assert sum(line["quantity"] for line in lines) == sum(o["item_count"] for o in orders)
    assert all(line["sku"] and line["ship_to_country"] for line in lines)
    as_csv = list(csv.DictReader(io.StringIO(cli("list", "--status", "UNSHIPPED", "--limit", "5", "--items", "--csv").stdout)))
    assert as_csv and {"amazon_order_id", "sku", "asin", "title", "quantity", "ship_to_name"} <= set(as_csv[0])
    table = cli("list", "--status", "UNSHIPPED", "--limit", "5", "--items", env={"COLUMNS": "80"})
    assert _widest(table.stdout) <= 80 and "SKU" in table.stdout


def _run_amzorders(args: list[str], env: dict, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "amzorders", *args], env=env, **kwargs)


def _child_env(simulated_account) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "AMZORDERS_RAISE_UNEXPECTED")}
    env["AMZORDERS_CONFIG"] = str(simulated_account.config_path)
    return env


def test_a_reader_closing_the_pipe_ends_with_exit_0_and_no_noise(synced):
    env = _child_env(synced)
    for form in ("--json", "--csv", "--nl"):
        child = _run_amzorders(["list", form, "--limit", "1000"], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.readline()
        child.stdout.close()  # as `head -1` does
        _, err = child.communicate()
        assert child.returncode == 0, err
        assert b"BrokenPipe" not in err and b"Error" not in err


def test_list_on_a_real_terminal_of_80_by_24(synced):
    import fcntl
    import pty
    import struct
    import termios

    env = _child_env(synced)
    env["TERM"] = "xterm-256color"
    env.pop("FORCE_COLOR", None)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    child = _run_amzorders(["list", "--late"], env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert child.wait() == 0
    os.close(master)
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8")).replace("\r", "")
    lines = [line for line in text.split("\n") if line.strip()]
    from rich.cells import cell_len

    assert lines and max(cell_len(line) for line in lines) <= 80
    assert "late order" in lines[0]
    header = lines[1]
    for column in ("Amazon order", "Amazon status", "Total", "Ship by"):
        assert column in header
    assert any(line.rstrip().endswith("late") for line in lines[3:])
    # what gave way is said (on stderr), not hidden silently
    hidden = next(line for line in lines if line.startswith("Hidden at 80 columns: "))
    assert "Buyer" in hidden and "Mkt" in hidden and "Ship by" not in hidden and "Total" not in hidden


def _every_listing(cli) -> list[tuple[str, ...]]:
    row = next(r for r in _orders(cli) if r["increment_id"])
    return [
        ("list",),
        ("list", "--items"),
        ("history", row["increment_id"]),
        ("outbox", "list", "--all"),
        ("audit", "--since", "40d"),
        ("purge-pii", "--dry-run", "--older-than", "0d"),
    ]


def test_every_listing_offers_the_same_option_set_and_columns_for_tables(synced, cli):
    # --columns for each listing, and the header the table must then have (nothing else)
    chosen = {
        "list": ("ship_by,amazon_order_id", "Ship by  Amazon order"),
        "list --items": ("quantity,sku", "Qty  SKU"),
        "history": ("status,created_at", "Status  When"),
        "outbox": ("state,id", "State  Id"),
        "audit": ("detail,kind", "Detail  Kind"),
        "purge-pii": ("older_than_days,amazon_order_id", "Older than (days)  Amazon order"),
    }
    for command in _every_listing(cli):
        helped = cli(*(command[:2] if command[0] == "outbox" else command[:1]), "--help", env={"COLUMNS": "200"})
        for option in ("--json", "--nl", "--csv", "--tsv", "--fields", "--columns"):
            assert option in helped.stdout, (command, option)
        wanted, header = chosen[" ".join(command[:2]) if command == ("list", "--items") else command[0]]
        table = cli(*command, "--columns", wanted, env={"COLUMNS": "200"})
        assert table.exit_code in (0, 1), (command, table.output)  # audit exits 1 on differences
        if json.loads(cli(*command, "--json").stdout):
            lines = _lines(table.stdout)
            assert " ".join(lines[1].split()) == " ".join(header.split()), (command, lines[:3])
        bad = cli(*command, "--columns", "colour")
        assert bad.exit_code == ExitCode.USAGE and "unknown column 'colour'" in bad.stderr, command
        mixed = cli(*command, "--json", "--columns", wanted)
        assert mixed.exit_code == ExitCode.USAGE and "--fields" in mixed.stderr, command


def test_history_json_csv_tsv_nl_and_fields_agree(synced, cli):
    row = next(r for r in _orders(cli) if r["increment_id"])
    rows = json.loads(cli("history", row["increment_id"], "--json").stdout)
    assert rows
    nl = cli("history", row["increment_id"], "--nl").stdout
    assert [json.loads(line) for line in nl.splitlines()] == rows
    tsv = list(csv.DictReader(io.StringIO(cli("history", row["increment_id"], "--tsv").stdout), delimiter="\t"))
    assert [r["comment"] for r in tsv] == [r["comment"] for r in rows]
    picked = json.loads(cli("history", row["increment_id"], "--json", "--fields", "created_at,status").stdout)
    assert picked == [{"created_at": r["created_at"], "status": r["status"]} for r in rows]


def test_a_pick_list_reader_closing_the_pipe_ends_with_exit_0(synced):
    env = _child_env(synced)
    for form in ("--csv", "--tsv"):
        child = _run_amzorders(["list", "--items", form, "--limit", "1000"], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.readline()
        child.stdout.close()
        _, err = child.communicate()
        assert child.returncode == 0, err
        assert b"BrokenPipe" not in err and b"Error" not in err


@pytest.mark.parametrize("width", WIDTHS)
def test_every_listing_table_fits_every_width_and_keeps_its_key_column(synced, cli, width):
    row = next(r for r in _orders(cli) if r["increment_id"])
    assert cli("ship", row["increment_id"], "--carrier", "UPS", "--tracking", "1Z999AA10123456784", "--no-push", "--force").exit_code in (0, 1)
    for command, keep in (
        (("list", "--items", "--limit", "10"), "Amazon order"),
        (("history", row["increment_id"]), "Comment"),
        (("outbox", "list", "--all"), "Order"),
        (("purge-pii", "--dry-run", "--older-than", "0d"), "Amazon order"),
    ):
        result = cli(*command, env={"COLUMNS": str(width)})
        assert result.exit_code == 0, (command, result.output)
        if result.stdout:
            assert _widest(result.stdout) <= width, command
            assert keep in _lines(result.stdout)[1], (command, _lines(result.stdout)[:2])


def test_a_reader_gone_before_anything_is_written_is_exit_0_for_tables_and_text_too(synced, cli):
    # The read end is closed before the child writes: its first write fails (EPIPE)
    # whatever the output's size, as with `amzorders list | head -0`.
    row = next(r for r in _orders(cli) if r["increment_id"])
    env = _child_env(synced)
    for args in (["list"], ["list", "--items"], ["history", row["increment_id"]], ["show", row["increment_id"]],
                 ["list", "--json"], ["history", row["increment_id"], "--csv"], ["purge-pii", "--dry-run", "--older-than", "0d"],
                 ["audit", "--since", "40d", "--nl"]):
        child = _run_amzorders(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.close()
        _, err = child.communicate()
        assert child.returncode in ((0, 1) if args[0] == "audit" else (0,)), (args, err)  # audit: 1 = differences
        assert b"BrokenPipe" not in err and b"Traceback" not in err, (args, err)
        assert args[0] == "audit" or b"Error" not in err, (args, err)
