"""Maintenance commands: purge-pii (buyer data retention) and audit (reconcile with Amazon)."""

import re
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from amzorders.cli.common import get_app, notice, warn
from amzorders.cli.output import Output, listing_output

if TYPE_CHECKING:
    from amzorders.services.audit import AuditEstimate, AuditReport
    from amzorders.services.retention import PurgeReport

MIN_SAFE_DAYS = 30  # Amazon's Data Protection Policy: up to 30 days after delivery
CONFIRM_ABOVE = 5  # purging more orders than this asks first (or needs --yes)
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


@listing_output
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
    force: Annotated[bool, typer.Option("--force", help=f"Allow an age under {MIN_SAFE_DAYS} days (Amazon allows keeping buyer data up to 30 days after delivery).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=f"Do not ask before purging more than {CONFIRM_ABOVE} orders.")] = False,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="NAME,...", help="Table columns (with --dry-run): amazon_order_id, purged, older_than_days.")] = None,
    *,
    output: Output = Output(),
) -> None:
    """Remove buyer names, e-mails, phones and addresses from old orders (Amazon's Data Protection Policy).

    Keeps what accounting needs (ids, items, amounts, dates, country); 'show' says when
    an order was purged. Under 30 days needs --force; more than 5 orders asks first
    (or --yes). Example: amzorders purge-pii --older-than 30d --dry-run
    """
    from amzorders.services.retention import DEFAULT_RETENTION_DAYS, purge_pii

    from amzorders.errors import UsageError

    app = get_app(ctx)
    days = parse_days(older_than) if older_than is not None else (app.settings.sync.pii_retention_days or DEFAULT_RETENTION_DAYS)
    if days < MIN_SAFE_DAYS and not force and not dry_run:
        raise UsageError(
            f"--older-than {days}d would purge buyer data of orders shipped less than {MIN_SAFE_DAYS} days ago, "
            "which you may still need for returns and A-to-z claims. Add --force to do it anyway, "
            "or --dry-run to see which orders it would touch."
        )
    if output.is_table and columns:
        _purge_columns(columns)  # a bad column name is refused before anything is purged
    # Never creates a store: a mistyped --db is an error naming it, not an empty new store.
    store = app.store(read_only=True)
    if not dry_run:
        due = purge_pii(store, older_than_days=days, dry_run=True)
        if due.count > CONFIRM_ABOVE and not yes:
            _confirm_purge(due.count, days)
    report = purge_pii(store, older_than_days=days, dry_run=dry_run)
    rows = [
        {"amazon_order_id": order_id, "purged": not report.dry_run, "older_than_days": days}
        for order_id in report.order_ids
    ]
    if not output.is_table:
        notice(report.summary() + ".")
        output.emit(rows, PURGE_FIELDS)
    else:
        _print_purge(report, rows, columns)
    if report.warning:
        warn(report.warning[0].upper() + report.warning[1:] + ".")


def _confirm_purge(count: int, days: int) -> None:
    import sys

    from amzorders.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(
            f"This purges the buyer data of {count} orders (older than {days} days), which cannot be undone. "
            "Add --yes to confirm (no terminal to ask on), or --dry-run to list them first."
        )
    if not typer.confirm(f"Purge the buyer data of {count} orders (older than {days} days)? This cannot be undone", default=False, err=True):
        raise typer.Abort()


PURGE_FIELDS = ("amazon_order_id", "purged", "older_than_days")


def _purge_columns(wanted: Optional[str]) -> list:
    from amzorders import render

    return render.choose_columns(
        [
            render.Column("amazon_order_id", "Amazon order"),
            render.Column("purged", "Purged", give_way=2),
            render.Column("older_than_days", "Older than (days)", give_way=1),
        ],
        wanted,
        {"order": "amazon_order_id"},
    )


def _print_purge(report: "PurgeReport", rows: list[dict], columns: Optional[str]) -> None:
    """The summary; a dry run also lists the orders due (the same rows as --json)."""
    from amzorders import render
    from amzorders.cli.common import print_table, table_width

    notice(report.summary() + ".")
    if report.dry_run and rows:
        cells = [
            {"amazon_order_id": render.clean(r["amazon_order_id"]), "purged": "yes" if r["purged"] else "no", "older_than_days": str(r["older_than_days"])}
            for r in rows
        ]
        title = f"{len(rows):,} order(s) due for a buyer data purge"
        print_table(render.fitted_table(_purge_columns(columns), cells, table_width(), title=title))


@listing_output
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
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="NAME,...", help="Table columns, in this order: kind, amazon_order_id, detail.")] = None,
    *,
    output: Output = Output(),
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

    if output.is_table and columns:
        _audit_columns(columns)  # a bad column name is refused before Amazon is asked
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
        hold_on_cancel_request=orders.hold_on_cancel_request,
    )
    report = audit(
        app.store(read_only=not fix), app.amazon(), app.account, since_dt, until_dt, fix,
        import_settings=settings, now=now, on_estimate=_announce_estimate,
    )
    if not output.is_table:
        notice(report.summary() + ".")
        output.emit(audit_rows(report), AUDIT_FIELDS)
    else:
        _print_audit(report, columns)
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


AUDIT_FIELDS = (
    "kind",
    "amazon_order_id",
    "detail",
    "amazon_status",
    "local_status",
    "stale",
    "order_item_id",
    "sku",
    "amazon_shipped",
    "local_shipped",
    "in_flight",
    "outbox_id",
    "action",
)


def audit_rows(report: "AuditReport") -> list[dict]:
    """One row per difference (the same rows the table shows), for --json/--csv..."""
    rows: list[dict] = []

    def row(kind: str, order_id: str, detail: str, **extra) -> None:
        rows.append({"kind": kind, "amazon_order_id": order_id, "detail": detail, **extra})

    for order_id in report.missing:
        row("missing", order_id, "at Amazon, not in the store")
    for order_id in report.extra:
        row("extra", order_id, "in the store, not at Amazon")
    for m in report.status_mismatches:
        row(
            "status", m.amazon_order_id, f"Amazon {m.amazon_status}, store {m.local_status}",
            amazon_status=m.amazon_status, local_status=m.local_status, stale=m.stale,
        )
    for q in report.quantity_mismatches:
        row(
            "quantity", q.amazon_order_id, f"item {q.sku or q.order_item_id}: Amazon shipped {q.amazon_shipped}, store {q.local_shipped}",
            order_item_id=q.order_item_id, sku=q.sku, amazon_shipped=q.amazon_shipped, local_shipped=q.local_shipped, in_flight=q.in_flight,
        )
    for a in report.unapplied_actions:
        row("not applied", a.amazon_order_id, a.why, outbox_id=a.outbox_id, action=a.kind)
    for order_id, why in report.unreadable:
        row("unreadable", order_id, why)
    return rows


def _audit_columns(wanted: Optional[str]) -> list:
    from amzorders import render

    return render.choose_columns(
        [
            render.Column("kind", "Kind"),
            render.Column("amazon_order_id", "Amazon order"),
            render.Column("detail", "Detail", give_way=1, min_width=20, droppable=False),
        ],
        wanted,
        {"order": "amazon_order_id"},
    )


def _print_audit(report: "AuditReport", wanted: Optional[str] = None) -> None:
    from amzorders import render
    from amzorders.cli.common import print_table, table_width

    notice(report.summary() + ".")
    if report.clean:
        return
    columns = _audit_columns(wanted)
    rows = []
    for entry in audit_rows(report):
        detail = entry["detail"]
        if entry.get("stale"):
            detail += " (Amazon's copy is newer: a sync brings it in)"
        if entry.get("in_flight"):
            detail += f" ({entry['in_flight']} on the way to Amazon)"
        if entry.get("outbox_id"):
            detail = f"outbox #{entry['outbox_id']} {entry['action']}: {detail}"
        rows.append({"kind": entry["kind"], "amazon_order_id": render.clean(entry["amazon_order_id"]), "detail": render.clean(detail)})
    print_table(render.fitted_table(columns, rows, table_width(), title="Differences"))
