"""render.FittedTable draws exactly what rich's Table drew for the same layout (the fast
path writes the lines itself, issue 15): checked against rich's own rendering of the
same columns and cells, in plain text and in colour, and on a console too narrow for the
layout, where rich's Table still does the squeezing."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from amzorders.render import Column, fitted_table

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
