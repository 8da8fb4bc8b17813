"""Units behind the operator's terminal: column fitting, search folding, day words."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from amzorders.domain.textfold import fold_text
from amzorders.domain.timefmt import day_word, parse_day_window, parse_when
from amzorders.render import Column, fit_columns

COLUMNS = [
    Column("order", "Order"),
    Column("buyer", "Buyer", give_way=1, min_width=5),
    Column("market", "Mkt", give_way=2),
    Column("ship_by", "Ship by", give_way=9),
]
ROWS = [{"order": "111-1234567-1234567", "buyer": "Guadalupe López Hernández", "market": "MX", "ship_by": "2026-12-01 late"}]


def _width(layout):
    return sum(w for _, w in layout) + 2 * (len(layout) - 1)


def test_everything_at_natural_width_when_there_is_room_or_no_limit():
    for width in (None, 500):
        layout = fit_columns(COLUMNS, ROWS, width)
        assert [c.key for c, _ in layout] == ["order", "buyer", "market", "ship_by"]
        assert dict((c.key, w) for c, w in layout)["buyer"] == len(ROWS[0]["buyer"])


def test_the_buyer_shrinks_first_then_goes_then_the_next_and_ship_by_last():
    natural = _width(fit_columns(COLUMNS, ROWS, None))
    shrunk = fit_columns(COLUMNS, ROWS, natural - 10)
    assert dict((c.key, w) for c, w in shrunk)["buyer"] == len(ROWS[0]["buyer"]) - 10
    assert _width(shrunk) == natural - 10
    without_buyer = fit_columns(COLUMNS, ROWS, 19 + 2 + 3 + 2 + 15)
    assert [c.key for c, _ in without_buyer] == ["order", "market", "ship_by"]
    narrow = fit_columns(COLUMNS, ROWS, 36)
    assert [c.key for c, _ in narrow] == ["order", "ship_by"]
    tiny = fit_columns(COLUMNS, ROWS, 10)
    assert [c.key for c, _ in tiny] == ["order"]  # never dropped; rich crops what is left


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("lopez", "López"), ("LOPEZ", "lópez"), ("muller", "Müller"), ("strasse", "Straße"), ("orsted", "Ørsted"), ("lodz", "Łódź"), ("jose", "JOSÉ")],
)
def test_folding_makes_case_and_accents_irrelevant(typed, stored):
    assert fold_text(typed) in fold_text(stored)


def test_day_words_in_a_zone():
    now = datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc)  # a Wednesday; Thursday in Berlin
    assert day_word("today", now) == date(2026, 12, 2)
    assert day_word("today", now, ZoneInfo("Europe/Berlin")) == date(2026, 12, 3)
    assert day_word("yesterday", now) == date(2026, 12, 1)
    assert day_word("monday", now) == date(2026, 11, 30)
    assert day_word("wed", now) == date(2026, 12, 2)
    assert day_word("soon", now) is None
    start, end = parse_day_window("today", now, ZoneInfo("Europe/Berlin"))
    assert (start, end) == (datetime(2026, 12, 2, 23, tzinfo=timezone.utc), datetime(2026, 12, 3, 23, tzinfo=timezone.utc))
    start, end = parse_day_window("2026-12-01..2026-12-03", now)
    assert (end - start).days == 3
    with pytest.raises(ValueError, match="ends before"):
        parse_day_window("2026-12-03..2026-12-01", now)
    assert parse_when("yesterday", now) == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_when("2026-12-01T08:00", now, ZoneInfo("Europe/Berlin")) == datetime(2026, 12, 1, 7, tzinfo=timezone.utc)
    assert parse_when("2026-12-01T08:00Z", now, ZoneInfo("Europe/Berlin")) == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


def test_purge_pii_guard_rails(cli, simulated_account):
    import json

    from amzorders.errors import ExitCode

    assert cli("sync").exit_code == 0
    young = cli("purge-pii", "--older-than", "1d")
    assert young.exit_code == ExitCode.USAGE and "--force" in young.stderr
    due = json.loads(cli("purge-pii", "--older-than", "1d", "--dry-run", "--json").stdout)
    assert len(due) > 5
    unasked = cli("purge-pii", "--older-than", "1d", "--force")
    assert unasked.exit_code == ExitCode.USAGE and "--yes" in unasked.stderr
    assert json.loads(cli("purge-pii", "--older-than", "1d", "--dry-run", "--json").stdout) == due  # nothing purged
    done = cli("purge-pii", "--older-than", "1d", "--force", "--yes", "--json")
    assert done.exit_code == 0 and {r["amazon_order_id"] for r in json.loads(done.stdout)} == {r["amazon_order_id"] for r in due}


def test_tz_option_and_display_timezone_setting(cli, simulated_account):
    import json

    from amzorders.errors import ExitCode

    assert cli("sync").exit_code == 0
    row = json.loads(cli("list", "--json", "--limit", "1").stdout)[0]
    shown = cli("--tz", "Asia/Tokyo", "show", row["amazon_order_id"])
    assert shown.exit_code == 0 and "JST" in shown.stdout
    as_json = json.loads(cli("--tz", "Asia/Tokyo", "list", "--json", "--limit", "1").stdout)[0]
    assert as_json["purchase_date"] == row["purchase_date"] and as_json["purchase_date"].endswith("Z")
    bad = cli("--tz", "Mars/Olympus", "list")
    assert bad.exit_code == ExitCode.USAGE and "time zone" in bad.stderr
    config = simulated_account.config_path
    config.write_text('display_timezone = "America/New_York"\n' + config.read_text())
    assert "EST" in cli("show", row["amazon_order_id"]).stdout
