"""render.FittedTable and render.Pairs draw exactly what rich's Table and Table.grid drew
for the same cells (the fast paths write the lines themselves, issue 15): checked against
rich's own rendering, in plain text and in colour, and on a console too narrow for them,
where rich still does the squeezing and wrapping."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from amzorders.render import Column, _pairs, fitted_table

COLUMNS = [
    Column("order", "Amazon order"),
    Column("buyer", "Buyer", give_way=1, min_width=6),
    Column("sku", "SKU / ASIN", give_way=2, min_width=8),
    Column("qty", "Qty", justify="right"),
    Column("total", "Total", justify="right"),
    Column("note", "Note", give_way=3),
]
ROWS = [
    {"order": "902-1845936-5435065", "buyer": "Ana Lopez", "sku": "SKU-1\nB0ASIN0001", "qty": "2",
     "total": "1,234.50 EUR", "note": Text("late", style="bold red")},
    {"order": "902-0000000-0000001", "buyer": "渡辺 美咲 (wide cells)", "sku": "A-VERY-LONG-SKU-CODE-123",
     "qty": "10", "total": "9.99 JPY", "note": None},
    {"order": "902-0000000-0000002", "buyer": "", "sku": "X", "qty": "1", "total": "0.00 USD",
     "note": Text.assemble(("cancel", "yellow"), " req.")},
]


def _draw(renderable, width: int, colour: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=colour, color_system="truecolor" if colour else None,
                      highlight=False, markup=False, emoji=False, soft_wrap=False)
    console.print(renderable)
    return out.getvalue()


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("fit_to", [None, 100, 70, 50])
def test_the_fast_lines_are_rich_tables_lines(fit_to, colour):
    table = fitted_table(COLUMNS, ROWS, fit_to)
    width = fit_to or table.width
    fast = _draw(table, width, colour)
    assert fast == _draw(table._rich_table(), width, colour)
    two_line_row = any(column.key == "sku" for column, _ in table.layout)  # SKU\nASIN, when shown
    assert len(fast.splitlines()) == 2 + len(ROWS) + two_line_row  # header, rule, the rows
    if fit_to is not None:
        assert max(len(line) for line in Text.from_ansi(fast).plain.splitlines()) <= fit_to


def test_no_rows_is_a_header_and_its_rule():
    table = fitted_table(COLUMNS, [], None)
    assert _draw(table, table.width, False) == _draw(table._rich_table(), table.width, False)
    assert len(_draw(table, table.width, False).splitlines()) == 2


def test_a_console_narrower_than_the_layout_gets_richs_squeezed_table():
    table = fitted_table(COLUMNS, ROWS, 10)  # even the minimum widths need more than 10
    assert table.width > 24
    drawn = _draw(table, 24, False)
    assert drawn == _draw(table._rich_table(), 24, False)
    assert max(len(line) for line in drawn.splitlines()) <= 24


def test_what_gave_way_is_reported():
    table = fitted_table(COLUMNS, ROWS, 50)
    assert table.hidden_columns  # the narrow width dropped some
    shown = {column.header for column, _ in table.layout}
    assert shown.isdisjoint(table.hidden_columns)
    assert shown | set(table.hidden_columns) == {c.header for c in COLUMNS}


PAIRS = [("Order date", "2026-11-03 16:32 UTC"), ("Empty", ""), ("Nothing", None),
         ("Shipping address", Text("Ana Lopez\n179 High Street\nSW1A 0EY London")),
         ("Buyer", "渡辺 美咲"), ("Status", Text("late", style="bold red")), ("Hostile", "a\x1b[31mred\nline")]


@pytest.mark.parametrize("colour", [False, True])
def test_pairs_are_richs_grid_lines(colour):
    pairs = _pairs(PAIRS)
    assert [label for label, _ in pairs.rows] == ["Order date", "Shipping address", "Buyer", "Status", "Hostile"]
    fast = _draw(pairs, 80, colour)
    assert fast == _draw(pairs._grid(), 80, colour)
    assert "\x1b[31m" not in Text.from_ansi(fast).plain  # data stays data: the escape is spelled out
    assert len(fast.splitlines()) == 1 + 3 + 1 + 1 + 1  # the address keeps its three lines


def test_pairs_too_wide_for_the_console_wrap_as_richs_grid_does():
    pairs = _pairs([("Note", "a long value " * 8), ("Order", "902-1845936-5435065")])
    assert pairs.width > 40
    drawn = _draw(pairs, 40, False)
    assert drawn == _draw(pairs._grid(), 40, False)
    assert max(len(line) for line in drawn.splitlines()) <= 40
    assert len(drawn.splitlines()) > 2  # wrapped, nothing cut


def test_no_pairs_draw_nothing():
    assert _draw(_pairs([("Empty", ""), ("Nothing", None)]), 80, False) == ""
