"""Every command, called with generated hostile arguments (huge, negative, NaN, 1e400,
non-ASCII digits, empty, control characters, endless), against a temp store: a documented
exit code, one "Error:" line, never "unexpected failure" or a traceback, and the store
exactly as it was. (The suite sets AMZORDERS_RAISE_UNEXPECTED=1: an unexpected exception
fails the example outright.)

Each example puts one hostile value into one slot of one command; every other argument is
valid, so the value itself is what must be refused, before anything is written or Amazon
is asked. AMZORDERS_HOSTILE_EXAMPLES raises the example count (the default keeps it fast).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amzorders.errors import ExitCode
from amzorders.store import Store
from processing_support import NOW, UNSHIPPED, seed

# Default: a fixed, fast sample in the suite; a count given by hand draws fresh examples.
EXAMPLES = int(os.environ.get("AMZORDERS_HOSTILE_EXAMPLES", "0")) or 120
FIXED_SAMPLE = "AMZORDERS_HOSTILE_EXAMPLES" not in os.environ
ORDER = "000000001"  # the seeded UNSHIPPED order's commerce number
UPS = "1Z999AA10123456784"
DOCUMENTED = {int(code) for code in ExitCode}

# -- hostile values, by the kind of slot they go into ----------------------------------

_non_ascii_digits = st.text(
    alphabet=st.characters(categories=["Nd"], exclude_characters="0123456789"), min_size=1, max_size=6
)
_control = st.text(alphabet=st.characters(categories=["Cc"]), min_size=1, max_size=4).map(lambda s: f"1{s}2")
_huge = st.integers(min_value=10**12, max_value=10**40).map(str)
_negative = st.integers(max_value=-1).map(str)
_weird_numbers = st.sampled_from(
    ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "1e300", "-1e300", "1e-400", "-0", "0x10",
     "1_000", "+-1", "1.2.3", "١", "٣٢", "１２", "۵", "߁", "9" * 5000, "1" + "0" * 4400, " ", "\t", "٠.٥"]
)
NUMBERS = st.one_of(_huge, _negative, _weird_numbers, _non_ascii_digits, _control)
DATES = st.one_of(
    NUMBERS,
    _huge.map(lambda n: f"{n}d"),
    _huge.map(lambda n: f"{n}w"),
    st.sampled_from(["99999999999d", "1e400d", "nand", "-5d", "9999-99-99", "0001-01-01", "0000-00-00",
                     "9999-12-31T23:59:59+23:59", "2026-13-01", "2026-01-01T25:00", "١d", "٢٠٢٦-01-01",
                     "2026-01-0١", "tomorrow-ish", "\x1b[31m", "5\x00d"]),
)
TEXT = st.one_of(_control, _non_ascii_digits, st.sampled_from(["", " ", "\x1b]0;x\x07", "x" * 10_000, "\u202e"]))
# Order keys that name no order (the store has 000000001-3 and 111-... numbers).
ORDER_KEYS = st.one_of(_huge, _control, _non_ascii_digits, st.sampled_from(["", " ", "%", "_", "'", "\x00", "-1"]))
# Ids refused before getOrder is called: empty, not letters/digits/'-', or too long.
IMPORT_IDS = st.one_of(_control, _non_ascii_digits, st.sampled_from(["", " ", "x" * 41, "a b", "١٢٣-١"]))


def _slots():
    """(command prefix, slot builder, strategy): the builder turns a value into the args."""
    ship = ["ship", ORDER, "--carrier", "UPS", "--tracking", UPS, "--no-push"]
    refund = ["refund", ORDER, "--reason", "CustomerReturn", "--no-push"]
    return [
        ("list --since", lambda v: ["list", f"--since={v}"], DATES),
        ("list --until", lambda v: ["list", f"--until={v}"], DATES),
        ("list --limit", lambda v: ["list", f"--limit={v}"], NUMBERS),
        ("list --status", lambda v: ["list", f"--status={v}x"], TEXT),
        ("list --marketplace", lambda v: ["list", f"--marketplace={v}x"], TEXT),
        ("list --channel", lambda v: ["list", f"--channel={v}"], TEXT),
        ("show", lambda v: ["show", "--", v], ORDER_KEYS),
        ("import --since", lambda v: ["import", f"--since={v}"], DATES),
        ("import --until", lambda v: ["import", "--since=2d", f"--until={v}"], DATES),
        ("import --order", lambda v: ["import", f"--order={v}"], IMPORT_IDS),
        ("sync --since", lambda v: ["sync", f"--since={v}"], DATES),
        ("sync --wait", lambda v: ["sync", f"--wait={v}"], NUMBERS),
        ("sync --initial-days", lambda v: ["sync", f"--initial-days={v}"], NUMBERS),
        ("audit --since", lambda v: ["audit", f"--since={v}"], DATES),
        ("audit --until", lambda v: ["audit", "--since=2d", f"--until={v}"], DATES),
        ("purge-pii --older-than", lambda v: ["purge-pii", f"--older-than={v}"], NUMBERS),
        ("invoice ORDER", lambda v: ["invoice", "--", v], ORDER_KEYS),
        ("invoice --item", lambda v: ["invoice", ORDER, f"--item=SKU-A={v}"], NUMBERS),
        ("ship --ship-date", lambda v: [*ship, f"--ship-date={v}"], DATES.filter(lambda v: v.strip())),
        ("ship --item", lambda v: [*ship, f"--item=SKU-A={v}"], NUMBERS),
        ("ship ORDER", lambda v: ["ship", "--carrier=UPS", f"--tracking={UPS}", "--no-push", "--", v], ORDER_KEYS),
        ("refund --shipping", lambda v: [*refund, f"--shipping={v}"], NUMBERS),
        ("refund --adjustment-refund", lambda v: [*refund, f"--adjustment-refund={v}"], NUMBERS),
        ("refund --adjustment-fee", lambda v: [*refund, f"--adjustment-fee={v}"], NUMBERS),
        ("refund --item", lambda v: [*refund, f"--item=SKU-A={v}"], NUMBERS),
        ("cancel --reason", lambda v: ["cancel", ORDER, f"--reason={v}", "--no-push"], TEXT),
        ("cancel ORDER", lambda v: ["cancel", "--reason=NoInventory", "--no-push", "--", v], ORDER_KEYS),
        ("comment ORDER", lambda v: ["comment", "--", v, "text"], ORDER_KEYS),
        ("outbox show", lambda v: ["outbox", "show", "--", v], NUMBERS),
        ("outbox retry", lambda v: ["outbox", "retry", "--", v], NUMBERS),
        ("outbox dismiss", lambda v: ["outbox", "dismiss", "--", v], NUMBERS),
        ("outbox list --limit", lambda v: ["outbox", "list", f"--limit={v}"], NUMBERS),
    ]


SLOTS = _slots()
CALLS = st.sampled_from(range(len(SLOTS))).flatmap(
    lambda i: SLOTS[i][2].map(lambda value, i=i: (SLOTS[i][0], SLOTS[i][1](value)))
)


def fingerprint(path) -> str:
    """Every row of every table, hashed (the file's bytes move with WAL checkpoints)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            digest.update(table.encode())
            for row in sorted(repr(tuple(r)) for r in conn.execute(f'SELECT * FROM "{table}"')):
                digest.update(row.encode())
        return digest.hexdigest()
    finally:
        conn.close()


@pytest.fixture
def hostile_store(tmp_path):
    path = tmp_path / "orders.db"
    store = Store.open(path)
    seed(store)
    with store.transaction():  # one queued action, so the outbox commands have a row to miss
        store.add_outbox_row(account="main", amazon_order_id=UNSHIPPED, kind="cancel",
                             idempotency_key="cancel:seeded", payload={}, now=NOW)
    store.close()
    return path


def test_every_slot_kind_is_covered():
    commands = {name.split()[0] for name, _, _ in SLOTS}
    assert commands >= {"list", "show", "import", "sync", "audit", "purge-pii", "invoice", "ship", "refund",
                        "cancel", "comment", "outbox"}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=FIXED_SAMPLE,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@pytest.mark.sqlite_only  # its subprocess environment drops the PostgreSQL redirection, or it reads the file
@given(call=CALLS)
def test_hostile_arguments_get_a_clear_error_and_change_nothing(cli, hostile_store, call):
    name, args = call
    before = fingerprint(hostile_store)
    result = cli("--db", hostile_store, *args)
    where = f"{name} {args!r}"
    assert result.exit_code in DOCUMENTED, where
    assert result.exit_code != 0, f"{where} was accepted"
    assert "unexpected failure" not in result.output, where
    assert "Traceback" not in result.output, where
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, f"{where}: {result.stderr!r}"
    others = [line for line in result.stderr.splitlines() if line and not line.startswith(("Error:", "Warning:"))]
    assert others == [], f"{where}: the error is not one line: {result.stderr!r}"
    assert not any(ch in error_lines[0] for ch in "\x1b\x00\x07\r"), where
    assert fingerprint(hostile_store) == before, f"{where} changed the store"


@pytest.mark.parametrize("option", ["--port", "--seed", "--orders", "--time-scale"])
@pytest.mark.parametrize("value", ["١", "1e400", "nan", "-1", "99999999999999999999999", "1_0", "", "\x1b[2J"])
def test_simulator_serve_refuses_hostile_numbers_before_serving(cli, option, value):
    result = cli("simulator", "serve", f"{option}={value}")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] != []
    assert "\x1b" not in result.stderr
