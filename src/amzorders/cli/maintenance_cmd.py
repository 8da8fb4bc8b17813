"""Maintenance commands: purge-pii (buyer data retention) and audit (reconcile with Amazon)."""

import re
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from amzorders.cli.common import get_app, notice, out, out_json, stdout_console, warn

if TYPE_CHECKING:
    from amzorders.services.audit import AuditEstimate, AuditReport
    from amzorders.services.retention import PurgeReport

_DAYS = re.compile(r"^\s*([0-9]+)\s*(d|days?|w|weeks?)?\s*$", re.IGNORECASE | re.ASCII)
MAX_DAYS = 36_500  # 100 years: beyond any order, inside datetime's range


def register(app: typer.Typer) -> None:
    app.command("purge-pii", rich_help_panel="Maintenance")(purge_pii_command)
    app.command("audit", rich_help_panel="Maintenance")(audit_command)


def parse_days(value: str) -> int:
    """'30d', '30', '4w' -> days."""
    from amzorders.errors import UsageError

    match = _DAYS.match(value)
    if not match:
        raise UsageError(f"--older-than: '{value}' is not a number of days; use e.g. 30d or 4w.")
    digits = match.group(1)
    unit = (match.group(2) or "d").lower()
    days = int(digits) * (7 if unit.startswith("w") else 1) if len(digits) <= 6 else MAX_DAYS + 1
    if days > MAX_DAYS:
        raise UsageError(f"--older-than: '{value.strip()}' is more than {MAX_DAYS} days (100 years); use e.g. 30d or 4w.")
    return days


def purge_pii_command(
    ctx: typer.Context,
    older_than: Annotated[
        Optional[str],
        typer.Option(
            "--older-than",
            metavar="DAYS",
            help="Purge orders delivered/shipped or cancelled more than this long ago, e.g. 30d or 4w "
            "(default: sync.pii_retention_days from the config, else 30d: Amazon's rule).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the orders that would be purged.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove buyer names, e-mails, phones and addresses from old orders (Amazon's Data Protection Policy).

    Keeps what accounting needs (ids, items, amounts, dates, country); 'show' says when
    an order was purged. Example: amzorders purge-pii --older-than 30d --dry-run
    """
    from amzorders import render
    from amzorders.services.retention import DEFAULT_RETENTION_DAYS, purge_pii

    app = get_app(ctx)
    days = parse_days(older_than) if older_than is not None else (app.settings.sync.pii_retention_days or DEFAULT_RETENTION_DAYS)
    report = purge_pii(app.store(), older_than_days=days, dry_run=dry_run)
    if json_output:
        data = render.jsonable(report)
        data["count"] = report.count
        import json

        out_json(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_purge(report)
    if report.warning:
        warn(report.warning[0].upper() + report.warning[1:] + ".")


def _print_purge(report: "PurgeReport") -> None:
    from amzorders import render

    notice(report.summary() + ".")
    if report.dry_run and report.order_ids:
        for order_id in report.order_ids:
            out(render.clean(order_id))


def audit_command(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Check orders created at or after this time (ISO date/time, or 7d, 12h...).")
    ] = "30d",
    until: Annotated[
        Optional[str],
        typer.Option(help="...and before this time (default: the last sync's watermark).", show_default=False),
    ] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Re-import the missing and stale orders from Amazon.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare the store with Amazon: missing and extra orders, status and quantity mismatches, actions Amazon never applied.

    Exits 1 when anything differs (for cron alerting), 0 when the store agrees with Amazon.
    Example: amzorders audit --since 7d --fix
    """
    from amzorders import render
    from amzorders.domain.models import utcnow
    from amzorders.services.audit import AuditDifferencesError, audit
    from amzorders.services.importer import ImportSettings
    from amzorders.services.orders import check_import_window, parse_time_option

    now = utcnow()
    since_dt = parse_time_option("since", since, now)
    until_dt = parse_time_option("until", until, now)
    assert since_dt is not None  # --since always has a value
    check_import_window(since_dt, until_dt, now)  # audit reads by createdAfter/createdBefore too
    app = get_app(ctx)
    orders = app.settings.orders
    settings = ImportSettings(
        account=app.account.name,
        import_orders=orders.import_orders,
        order_number_source=orders.order_number_source,
        order_number_prefix=orders.order_number_prefix,
        initial_status=orders.initial_status,
    )
    report = audit(
        app.store(), app.amazon(), app.account, since_dt, until_dt, fix,
        import_settings=settings, now=now, on_estimate=_announce_estimate,
    )
    if json_output:
        import json

        data = render.jsonable(report)
        data["differences"] = report.differences
        data["clean"] = report.clean
        for entry, mismatch in zip(data["status_mismatches"], report.status_mismatches, strict=True):
            entry["stale"] = mismatch.stale
        out_json(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print_audit(report)
    if not report.clean:
        what = "Re-run without --fix to check again" if fix else "Run 'amzorders audit --fix' to re-import missing and stale orders"
        raise AuditDifferencesError(
            f"{report.differences} difference(s) between the store and Amazon "
            f"(see the report above). {what}; actions Amazon never applied need a look in Seller Central."
        )


# Say how long Amazon's quota makes an audit take when it is longer than this.
_ANNOUNCE_AFTER_SECONDS = 60.0


def _announce_estimate(estimate: "AuditEstimate") -> None:
    """Before a long audit: how long, and why (on stderr, so --json stays clean)."""
    if estimate.seconds is None or estimate.seconds < _ANNOUNCE_AFTER_SECONDS:
        return
    notice(
        f"This audit reads about {estimate.expected_orders:,} order(s) in at least {estimate.pages:,} "
        f"searchOrders page(s); Amazon's quota ({estimate.rate:g} calls/s, burst {estimate.burst}, shared "
        f"with any running sync) makes that take about {_duration(estimate.seconds)}. "
        "A shorter --since/--until window is faster; Ctrl-C stops it (without --fix it changes nothing)."
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(1, minutes)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours / 24:.1f} days"


def _print_audit(report: "AuditReport") -> None:
    from rich.table import Table

    from amzorders import render

    notice(report.summary() + ".")
    if report.clean:
        return
    table = Table(title="Differences", show_lines=False)
    for column in ("Kind", "Amazon order", "Detail"):
        table.add_column(column)
    for order_id in report.missing:
        render.add_row(table, "missing", render.clean(order_id), "at Amazon, not in the store")
    for order_id in report.extra:
        render.add_row(table, "extra", render.clean(order_id), "in the store, not at Amazon")
    for m in report.status_mismatches:
        detail = f"Amazon {render.clean(m.amazon_status)}, store {render.clean(m.local_status)}"
        detail += " (Amazon's copy is newer: a sync brings it in)" if m.stale else ""
        render.add_row(table, "status", render.clean(m.amazon_order_id), detail)
    for q in report.quantity_mismatches:
        detail = f"item {render.clean(q.sku or q.order_item_id)}: Amazon shipped {q.amazon_shipped}, store {q.local_shipped}"
        detail += f" ({q.in_flight} on the way to Amazon)" if q.in_flight else ""
        render.add_row(table, "quantity", render.clean(q.amazon_order_id), detail)
    for a in report.unapplied_actions:
        render.add_row(table, "not applied", render.clean(a.amazon_order_id), f"outbox #{a.outbox_id} {a.kind}: {render.clean(a.why)}")
    for order_id, why in report.unreadable:
        render.add_row(table, "unreadable", render.clean(order_id), render.clean(why))
    # Markup off: order ids and reasons come from Amazon.
    for column in table.columns:
        column.overflow = "fold"
    stdout_console(markup=False).print(table)
