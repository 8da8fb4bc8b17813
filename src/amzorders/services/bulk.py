"""Bulk invoice, refund and cancel: several orders from the command line or a CSV file.

The rules are those of ``ship --from-csv``:

- every row is checked in one pass (each order's action planned without writing) and
  all problems are reported with their line numbers before anything is written;
- a row whose work is already done is *skipped*, not an error, so the same file can be
  run again (after a crash, or by a cron job that re-sends yesterday's export);
- rows of one order form one action (one invoice or credit memo naming all their items).

What counts as done: an invoice row when nothing it names is left to invoice; a refund
row when nothing it names is left to refund; a cancel row when the order is canceled
already (or its cancellation waits for Amazon).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amzorders.domain import rules
from amzorders.errors import AmzOrdersError, UsageError
from amzorders.services import processing
from amzorders.services.processing import ActionResult, ProcessingContext

# Column names accepted per action (header cells are case- and space-insensitive).
COLUMNS: dict[str, dict[str, str]] = {
    "invoice": {"order": "order", "order_id": "order", "order_number": "order", "amazon_order_id": "order",
                "sku": "sku", "qty": "qty", "quantity": "qty", "comment": "comment"},
    "refund": {"order": "order", "order_id": "order", "order_number": "order", "amazon_order_id": "order",
               "sku": "sku", "qty": "qty", "quantity": "qty", "reason": "reason", "shipping": "shipping",
               "adjustment_refund": "adjustment_refund", "adjustment_fee": "adjustment_fee", "comment": "comment"},
    "cancel": {"order": "order", "order_id": "order", "order_number": "order", "amazon_order_id": "order",
               "reason": "reason", "comment": "comment"},
}
REQUIRED = {"invoice": ("order",), "refund": ("order",), "cancel": ("order",)}


@dataclass
class RowOutcome:
    """What became of one input row (for the --report CSV and the summary)."""

    line: int | None  # CSV line; None for an order given on the command line
    order: str
    outcome: str  # done | skipped | error | not written | would do
    document: str | None = None
    message: str = ""


@dataclass
class BulkResult:
    action: str
    results: list[ActionResult] = field(default_factory=list)
    rows: list[RowOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.rows if r.outcome == "skipped")

    def summary(self) -> str:
        done = sum(1 for r in self.rows if r.outcome in ("done", "would do"))
        verb = "would be done" if self.dry_run else "done"
        return f"{len(self.rows)} row(s): {done} {verb}, {self.skipped} skipped (already done)"


class BulkRowsError(UsageError):
    """Some rows are bad: nothing was written. Carries every row's outcome for --report."""

    def __init__(self, message: str, rows: list[RowOutcome]) -> None:
        super().__init__(message)
        self.rows = rows


@dataclass
class _Group:
    order_key: str
    lines: list[int | None]
    values: dict[str, str]
    items: list[str] = field(default_factory=list)  # SKU=QTY specs, or SKU alone (all that is left)


def rows_from_orders(order_keys: list[str], values: dict[str, str | None]) -> list[processing._CsvRow]:
    """Orders typed on the command line as rows (line None), with the options as cells."""
    cells = {k: v for k, v in values.items() if v}
    return [processing._CsvRow(None, {"order": key.strip(), **cells}) for key in order_keys]  # type: ignore[arg-type]


def read_rows(action: str, source: Path) -> list[processing._CsvRow]:
    return processing.read_csv_rows(source, COLUMNS[action], REQUIRED[action], action)


def run(
    ctx: ProcessingContext,
    action: str,
    rows: list[processing._CsvRow],
    *,
    item_specs: list[str] | None = None,
    notify: bool = False,
    dry_run: bool = False,
    source: str = "the command line",
    force: bool = False,
) -> BulkResult:
    """Check every row, then (unless ``dry_run`` or a row is bad) do the action per order."""
    groups: dict[str, _Group] = {}
    outcomes: dict[int, RowOutcome] = {}
    problems: list[tuple[int | None, str]] = []
    order_of_row: list[tuple[processing._CsvRow, str]] = []
    for index, row in enumerate(rows):
        v = row.values
        try:
            if v.get("__extra__"):
                raise UsageError("more cells than the header has columns")
            key = v.get("order") or ""
            if not key:
                raise UsageError("the order cell is empty")
            amazon_order_id = processing.find_amazon_order_id(ctx.store, key)
            group = groups.get(amazon_order_id)
            if group is None:
                group = groups[amazon_order_id] = _Group(key, [], dict(v))
                group.items.extend(item_specs or ())
            else:
                for column in ("reason", "comment", "shipping", "adjustment_refund", "adjustment_fee"):
                    if (v.get(column) or "") != (group.values.get(column) or ""):
                        raise UsageError(f"same order as line {group.lines[0]}, but a different {column}")
                if not v.get("sku") or not group.items:
                    raise UsageError(f"repeats order {key} of line {group.lines[0]}; rows of one order must each name a sku")
            if v.get("qty") and not v.get("sku"):
                raise UsageError("a qty needs a sku in the same row")
            if v.get("sku"):
                group.items.append(f"{v['sku']}={v['qty']}" if v.get("qty") else v["sku"])
            group.lines.append(row.line)
            order_of_row.append((row, amazon_order_id))
        except AmzOrdersError as exc:
            problems.append((row.line, exc.message))
            outcomes[index] = RowOutcome(row.line, v.get("order") or "", "error", message=exc.message)

    checked: dict[str, tuple[str, str]] = {}  # amazon order id -> (outcome, message)
    for amazon_order_id, group in groups.items():
        try:
            done = _already_done(ctx, action, amazon_order_id, group)
            if done:
                checked[amazon_order_id] = ("skipped", done)
                continue
            result = _do(ctx, action, group, notify=notify, dry_run=True, force=force)
            checked[amazon_order_id] = ("would do", result.summary)
        except AmzOrdersError as exc:
            where = ", ".join(str(n) for n in group.lines if n is not None)
            message = exc.message + (f" (lines {where})" if len(group.lines) > 1 else "")
            problems.append((group.lines[0], message))
            checked[amazon_order_id] = ("error", message)

    def row_outcomes(final: dict[str, tuple[str, str, str | None]]) -> list[RowOutcome]:
        result: list[RowOutcome] = []
        seen = {id(row): order_id for row, order_id in order_of_row}
        for index, row in enumerate(rows):
            if index in outcomes:
                result.append(outcomes[index])
                continue
            outcome, message, document = final[seen[id(row)]]
            result.append(RowOutcome(row.line, row.values.get("order", ""), outcome, document, message))
        return result

    if problems:
        final = {
            order_id: (outcome if outcome == "error" else "not written", message, None)
            for order_id, (outcome, message) in checked.items()
        }
        listing = "\n".join(
            f"  {'line ' + str(line) if line is not None else 'order'}: {message}"
            for line, message in sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
        )
        raise BulkRowsError(
            f"{source} has {len(problems)} problem(s); nothing was done. Fix them and run it again:\n{listing}",
            row_outcomes(final),
        )
    bulk = BulkResult(action, dry_run=dry_run)
    final: dict[str, tuple[str, str, str | None]] = {}
    for amazon_order_id, group in groups.items():
        outcome, message = checked[amazon_order_id]
        if outcome == "skipped" or dry_run:
            final[amazon_order_id] = (outcome, message, None)
            continue
        result = _do(ctx, action, group, notify=notify, dry_run=False, force=force)
        bulk.results.append(result)
        final[amazon_order_id] = ("done", result.summary, result.document_number)
    bulk.rows = row_outcomes(final)
    return bulk


def _already_done(ctx: ProcessingContext, action: str, amazon_order_id: str, group: _Group) -> str | None:
    loaded = processing._load(ctx, group.order_key)
    order = loaded.order
    if order is None:
        return None  # the real check says why nothing can be done
    named = _named_items(order, group.items)
    if action == "invoice":
        if all(item.qty_to_invoice == 0 for item in named):
            return f"order {order.increment_id} has nothing left to invoice"
    elif action == "refund":
        nothing_else = not any(group.values.get(k) for k in ("shipping", "adjustment_refund", "adjustment_fee"))
        if nothing_else and all(item.qty_to_refund == 0 for item in named) and (
            group.items or order.total_paid <= order.total_refunded
        ):
            return f"order {order.increment_id} has nothing left to refund"
    elif action == "cancel":
        if order.state == "canceled":
            return f"order {order.increment_id} is canceled already"
    return None


def _named_items(order, specs: list[str]) -> list:
    if not specs:
        return list(order.items)
    return [rules.find_item(order, spec.split("=", 1)[0].strip()) for spec in specs]


def _do(ctx: ProcessingContext, action: str, group: _Group, *, notify: bool, dry_run: bool, force: bool = False) -> ActionResult:
    v = group.values
    if action == "invoice":
        loaded = processing._load(ctx, group.order_key)
        order = processing._require_commerce(loaded, "invoice")
        items = [_with_quantity(spec, order, "qty_to_invoice") for spec in group.items]
        return processing.invoice(ctx, group.order_key, items=items or None, comment=v.get("comment"), notify=notify,
                                  dry_run=dry_run, force=force)
    if action == "refund":
        if not v.get("reason"):
            raise UsageError("a refund needs a reason (--reason, or a reason column), e.g. CustomerReturn")
        loaded = processing._load(ctx, group.order_key)
        order = processing._require_commerce(loaded, "refund")
        items = [_with_quantity(spec, order, "qty_to_refund") for spec in group.items]
        return processing.refund(
            ctx, group.order_key, reason=v["reason"], items=items or None,
            shipping=rules.parse_amount(v.get("shipping"), "shipping"),
            adjustment_refund=rules.parse_amount(v.get("adjustment_refund"), "adjustment_refund"),
            adjustment_fee=rules.parse_amount(v.get("adjustment_fee"), "adjustment_fee"),
            comment=v.get("comment"), notify=notify, dry_run=dry_run,
        )
    if action == "cancel":
        if not v.get("reason"):
            raise UsageError("a cancel needs a reason (--reason, or a reason column), e.g. NoInventory")
        return processing.cancel(ctx, group.order_key, reason=v["reason"], comment=v.get("comment"), dry_run=dry_run)
    raise ValueError(action)


def _with_quantity(spec: str, order, left: str) -> str:
    if "=" in spec:
        return spec
    item = rules.find_item(order, spec)
    return f"{spec}={getattr(item, left)}"


def report_rows(rows: list[RowOutcome]) -> list[dict[str, Any]]:
    return [
        {"line": r.line if r.line is not None else "", "order": r.order, "outcome": r.outcome, "document": r.document or "", "message": r.message}
        for r in rows
    ]


def write_report(path: Path, rows: list[dict[str, Any]]) -> None:
    """The --report CSV: one line per input row with its outcome."""
    from amzorders.serialize import write_delimited

    fields = list(rows[0].keys()) if rows else ["line", "order", "outcome", "document", "message"]
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            write_delimited(handle, rows, fields)
    except OSError as exc:
        raise UsageError(f"--report: cannot write {path}: {exc.strerror}.") from None

