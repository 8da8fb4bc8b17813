"""Commands that bring orders in and show them: import, sync, list, show."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from amzorders.cli.common import ascii_int, get_app, notice, out_json, seconds_option, stdout_console, warn
from amzorders.cli.output import Output, listing_output


def register(app: typer.Typer) -> None:
    app.command("import", rich_help_panel="Orders")(import_command)
    app.command("sync", rich_help_panel="Orders")(sync_command)
    app.command("list", rich_help_panel="Orders")(list_command)
    app.command("show", rich_help_panel="Orders")(show_command)
    app.command("history", rich_help_panel="Orders")(history_command)


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[object], None] | None]:
    """A live line on stderr while orders come in (pages, orders, quota waits); nothing
    when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from amzorders.cli.common import stderr_console

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
        console=stderr_console(), transient=True,
    ) as progress:
        task = progress.add_task(f"{label}: starting", total=None)

        def update(event) -> None:
            progress.update(task, description=progress_line(label, event))
            if event.kind in ("resume", "restart"):
                progress.console.print(progress_line(label, event), markup=False, highlight=False)

        yield update


def _clock(seconds: float) -> str:
    """2:59, 1:05:00: minutes and seconds (hours when needed), rounded up."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(label: str, event) -> str:
    """One line for a ``services.importer.ReadProgress`` event."""
    if event.kind == "wait":
        every = f"1 {event.operation} call every {_clock(1 / event.rate)}" if event.rate else f"{event.operation} calls"
        return f"page {event.page}: Amazon allows {every}; next in {_clock(event.wait_seconds)}"
    if event.kind == "resume":
        return f"{label}: resuming the interrupted search at page {event.page} (earlier pages are stored)"
    if event.kind == "restart":
        return f"{label}: the saved position expired at Amazon; reading the window from page 1"
    return f"{label}: page {event.page}, {event.orders_read} orders read, {event.orders_stored} stored"


def _import_settings(app):
    from amzorders.services.importer import ImportSettings

    orders = app.settings.orders
    return ImportSettings(
        account=app.account.name,
        import_orders=orders.import_orders,
        order_number_source=orders.order_number_source,
        order_number_prefix=orders.order_number_prefix,
        initial_status=orders.initial_status,
        hold_on_cancel_request=orders.hold_on_cancel_request,
    )


def _report_import(result, quiet: bool, as_json: bool) -> None:
    if as_json:
        from amzorders.serialize import dumps

        print(dumps(result))
    elif not quiet:
        notice(result.summary() + ".")
    if not quiet:
        for note in result.notes:
            notice(note)
    for order_id, why in result.rejected:
        warn(f"Order {order_id} could not be stored: {why}. It will be read again by the next sync.")
    if result.warnings and not quiet:
        warn(
            f"{len(result.warnings)} import warning(s) on {len({o for o, _ in result.warnings})} order(s); "
            "see 'amzorders show ORDER' for each."
        )


def import_command(
    ctx: typer.Context,
    since: Annotated[Optional[str], typer.Option(help="Orders created at or after this time (ISO date/time, or 7d, 12h...).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Orders created before this time (at least 2 minutes ago).")] = None,
    order: Annotated[Optional[list[str]], typer.Option("--order", help="Import these Amazon order numbers (repeatable).")] = None,
    status: Annotated[Optional[list[str]], typer.Option(help="Only orders with this Amazon status (repeatable).")] = None,
    marketplace: Annotated[Optional[list[str]], typer.Option(help="Only this marketplace id or country code (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import Amazon orders once: specific orders (--order) or a created-date window.

    Does not move the sync watermark. Example: amzorders import --since 2026-11-01 --status UNSHIPPED
    """
    from amzorders.domain.models import utcnow
    from amzorders.errors import UsageError
    from amzorders.services.importer import import_orders
    from amzorders.services.orders import (
        check_import_window,
        parse_marketplaces,
        parse_order_ids,
        parse_statuses,
        parse_time_option,
    )

    now = utcnow()
    if order is not None and (since or until or status):
        raise UsageError("--order imports specific orders; it cannot be combined with --since, --until or --status.")
    order_ids = parse_order_ids(order or ())
    since_dt = parse_time_option("since", since, now)
    until_dt = parse_time_option("until", until, now)
    if not order_ids and since_dt is None:
        raise UsageError("Say what to import: --since DATE (and optionally --until), or --order NUMBER.")
    check_import_window(since_dt, until_dt, now)
    statuses = parse_statuses(status or ())
    marketplaces = parse_marketplaces(marketplace or ())
    app = get_app(ctx)
    store = app.store()
    client = app.amazon()
    with _progress(not quiet, "Importing") as progress:
        result = import_orders(
            store,
            client,
            _import_settings(app),
            since=since_dt,
            until=until_dt,
            order_ids=order_ids,
            statuses=statuses,
            marketplace_ids=marketplaces or app.account.marketplace_ids,
            progress=progress,
        )
    _report_import(result, quiet, json_output)


def sync_command(
    ctx: typer.Context,
    since: Annotated[
        Optional[str],
        typer.Option(help="Re-read orders updated since this time instead of the stored watermark (rewind)."),
    ] = None,
    initial_days: Annotated[
        Optional[int], typer.Option(help="How far back the first sync reads, 1-730 (default from config: 30).", parser=ascii_int("--initial-days", 1, 730))
    ] = None,
    wait: Annotated[
        Optional[float],
        typer.Option("--wait", help="Wait up to this many seconds (at most 86400) for a running sync to finish (default: sync.lock_timeout_seconds, 0).", parser=seconds_option("--wait")),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing unless something needs a person.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the summary even when not on a terminal.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Bring new and changed Amazon orders in, then deliver the outbox (run it from cron).

    Pulls orders first, then sends the queued shipments, cancels and refunds and follows
    submitted feeds, then purges buyer data past sync.pii_retention_days when set. One
    sync per store at a time (exit 6, or --wait). Quiet on success when not on a terminal;
    exit 4 while an action Amazon rejected is neither retried nor dismissed ('amzorders
    outbox'); when the pull fails (exit 5, or 3 for credentials), delivery is still
    attempted before the error. Example (cron): amzorders sync --quiet
    """
    from amzorders.domain.models import utcnow
    from amzorders.services.orders import check_sync_since, parse_time_option
    from amzorders.services.sync import run_sync

    now = utcnow()
    since_dt = parse_time_option("since", since, now)
    check_sync_since(since_dt, now)
    app = get_app(ctx)
    store = app.store()
    client = app.amazon()
    show_summary = not quiet and (verbose or sys.stderr.isatty())
    with _progress(not quiet, "Syncing") as progress, _silent_when_locked(quiet):
        report = run_sync(
            store=store,
            client=client,
            account=app.account,
            import_settings=_import_settings(app),
            since=since_dt,
            initial_days=initial_days or app.settings.sync.initial_days,
            pii_retention_days=app.settings.sync.pii_retention_days,
            wait_seconds=wait if wait is not None else app.settings.sync.lock_timeout_seconds,
            progress=progress,
        )
    if app.settings.alerts.enabled:
        _send_alerts(app, report)
    delivery = report.delivery
    if report.pull is not None:
        _report_import(report.pull, not show_summary or json_output, False)
        if json_output:
            from amzorders.serialize import dumps, jsonable

            combined = jsonable(report.pull)
            combined["outbox"] = {
                "sent": delivery.sent,
                "done": delivery.done,
                "submitted": delivery.submitted,
                "failed": [{"id": row_id, "why": why} for row_id, why in delivery.failed],
                "pending": sorted(set(delivery.pending)),
                "feeds": delivery.feeds,
                "errors": delivery.errors,
            }
            combined["purged_orders"] = report.purge.count if report.purge else 0
            combined["new_cancel_requests"] = report.new_cancel_requests
            combined["missing_packages"] = [jsonable(m) for m in report.missing_packages]
            print(dumps(combined))
    if show_summary and not json_output and (delivery.sent or delivery.done or delivery.failed or delivery.errors):
        notice("Outbox: " + delivery.summary() + ".")
    if report.missing_packages and not json_output:
        shown = "; ".join(f"#{m.outbox_id} {m.amazon_order_id} package {m.package_reference_id} ({m.tracking_number})"
                          for m in report.missing_packages[:5])
        more = f"; and {len(report.missing_packages) - 5} more" if len(report.missing_packages) > 5 else ""
        warn(f"{len(report.missing_packages)} confirmed shipment(s) are not on Amazon's order although Amazon accepted "
             f"the confirmation: {shown}{more}. Check them in Seller Central ('amzorders show ORDER').")
    if show_summary and not json_output and report.new_cancel_requests:
        shown = ", ".join(report.new_cancel_requests[:5])
        more = f" and {len(report.new_cancel_requests) - 5} more" if len(report.new_cancel_requests) > 5 else ""
        warn(f"{len(report.new_cancel_requests)} new buyer cancellation request(s): {shown}{more}. Answer each with "
             "'amzorders cancel ORDER --reason BuyerCanceled' (see 'amzorders list --cancel-requested').")
    if report.purge is not None:
        if report.purge.count and show_summary and not json_output:
            notice(report.purge.summary() + ".")
        if report.purge.warning:
            warn(report.purge.warning)
    report.raise_for_problems()


def _send_alerts(app, report) -> None:
    """[alerts]: mail the seller what needs a person; a mail problem is a warning (the
    alert stays due and the next sync tries again)."""
    from amzorders.domain.models import utcnow
    from amzorders.mail import MailError
    from amzorders.services.alerts import send_alerts

    try:
        send_alerts(app.store(), app.account.name, app.settings.alerts, app.settings.email, utcnow(),
                    auth_error=report.pull_error or report.delivery.auth_error)
    except MailError as err:
        warn(f"The alert mail to {app.settings.alerts.to} could not be sent: {err.message}")


@contextmanager
def _silent_when_locked(quiet: bool) -> Iterator[None]:
    """Under --quiet, another sync running (exit 6) prints nothing: a cron job that
    overlaps a long sync must not mail every run. The log still records it."""
    from amzorders.errors import LockedError

    try:
        yield
    except LockedError as err:
        if not quiet:
            raise
        import logging

        logging.getLogger("amzorders.cli").info("sync skipped: %s", err.message)
        raise typer.Exit(int(err.exit_code)) from None


@listing_output
def list_command(
    ctx: typer.Context,
    status: Annotated[Optional[list[str]], typer.Option(metavar="STATUS", help="Amazon status, e.g. UNSHIPPED (repeatable, or comma-separated).")] = None,
    order_status: Annotated[Optional[list[str]], typer.Option("--order-status", metavar="STATUS", help="Commerce order status: pending, processing, complete, closed, canceled, holded.")] = None,
    since: Annotated[Optional[str], typer.Option(metavar="WHEN", help="Purchased at or after (date, today, monday, 7d, 12h...).")] = None,
    until: Annotated[Optional[str], typer.Option(metavar="WHEN", help="Purchased before (date, today, 7d...).")] = None,
    ship_by: Annotated[Optional[str], typer.Option("--ship-by", metavar="DAY", help="Ship-by date on this day or days: today, tomorrow, friday, 2026-12-03, or DAY..DAY.")] = None,
    marketplace: Annotated[Optional[list[str]], typer.Option(metavar="MARKET", help="Marketplace id or country code, e.g. DE (repeatable).")] = None,
    channel: Annotated[Optional[str], typer.Option(metavar="CHANNEL", help="MFN (you ship) or AFN (Amazon ships).")] = None,
    account: Annotated[Optional[str], typer.Option("--account", metavar="NAME", help="Only orders of this seller account (after the command; before it, --account picks the account to use).")] = None,
    late: Annotated[bool, typer.Option("--late", help="Only unshipped orders past their ship-by date.")] = False,
    prime: Annotated[Optional[bool], typer.Option("--prime/--not-prime", help="Only Prime orders (or only non-Prime).", show_default=False)] = None,
    business: Annotated[Optional[bool], typer.Option("--business/--not-business", help="Only Amazon Business orders (or only consumer orders).", show_default=False)] = None,
    cancel_requested: Annotated[bool, typer.Option("--cancel-requested", help="Only orders whose buyer asked to cancel.")] = False,
    held: Annotated[bool, typer.Option("--held", help="Only orders on hold.")] = False,
    search: Annotated[Optional[str], typer.Option("--search", "-s", metavar="TEXT", help="Text in order numbers, buyer name or e-mail, SKU, ASIN or title (any case, any accents: lopez finds López).")] = None,
    sort: Annotated[Optional[str], typer.Option("--sort", metavar="FIELD", help="Sort by purchase_date (default, newest first), ship_by, grand_total, last_updated, buyer_name...; '-' first: descending.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", help="How many orders to show (1-10000).", parser=ascii_int("--limit", 1, 10_000))] = 20,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="Skip this many orders first (the next page: --offset 20).", parser=ascii_int("--offset", 0, 1_000_000_000))] = 0,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="NAME,...", help="Table columns, in this order: amazon_order_id, increment_id, purchase_date, amazon_status, commerce_status, channel, marketplace_id, buyer_name, item_count, grand_total, ship_by.")] = None,
    items: Annotated[bool, typer.Option("--items", help="One row per item (order, SKU, ASIN, title, quantity, ship-to): a pick list.")] = False,
    *,
    output: Output,
) -> None:
    """Recent orders, newest first; filters narrow it down and --search finds orders.

    The table fits the terminal: the buyer's name makes room first, ship-by last.
    Example: amzorders list --status UNSHIPPED --late
    """
    from amzorders.domain.models import utcnow
    from amzorders.serialize import jsonable
    from amzorders.services.orders import build_query, count_matching, list_orders, listing_title

    now = utcnow()
    app = get_app(ctx)
    query = build_query(
        now=now,
        statuses=status or (),
        since=since,
        until=until,
        marketplaces=marketplace or (),
        channel=channel,
        account=account,
        late=late,
        search=search,
        limit=limit,
        offset=offset,
        sort=sort,
        commerce_statuses=order_status or (),
        prime=prime,
        business=business,
        cancel_requested=True if cancel_requested else None,
        held=True if held else None,
        ship_by=ship_by,
        zone=app.display_zone,
    )
    if output.is_table and columns:  # a bad column name is an error whether or not rows match
        from amzorders import render

        render.choose_columns(render.PICK_COLUMNS if items else render.ORDER_COLUMNS, columns, None if items else render.ORDER_COLUMN_ALIASES)
    rows = list_orders(app.store(read_only=True), query)
    if items:
        from amzorders.services.orders import pick_list

        lines = pick_list(app.store(read_only=True), rows)
        if not output.is_table:
            output.emit([jsonable(line) for line in lines], PICK_FIELDS)
            return
        if not lines:
            notice("No orders match. Run 'amzorders sync' to bring orders in, or loosen the filters.")
            return
        from amzorders import render
        from amzorders.cli.common import print_table, table_width

        table = render.pick_list_table(
            lines,
            width=table_width(),
            columns=render.choose_columns(render.PICK_COLUMNS, columns) if columns else None,
            title=f"{len(lines):,} item rows of {len(rows):,} orders",
        )
        print_table(table)
        return
    if not output.is_table:
        output.emit([jsonable(row) for row in rows], SUMMARY_FIELDS)
        return
    from amzorders import render
    from amzorders.cli.common import print_table, table_width

    chosen = render.choose_columns(render.ORDER_COLUMNS, columns, render.ORDER_COLUMN_ALIASES) if columns else None
    if not rows:
        notice("No orders match. Run 'amzorders sync' to bring orders in, or loosen the filters.")
        return
    matching = count_matching(app.store(read_only=True), query, len(rows))
    title = listing_title(query, len(rows), matching)
    print_table(render.orders_table(rows, now, title=title, width=table_width(), columns=chosen, zone=app.display_zone))


# The keys of list --csv/--tsv (--json/--nl carry these and the flags).
SUMMARY_FIELDS = (
    "amazon_order_id",
    "increment_id",
    "account",
    "purchase_date",
    "amazon_status",
    "commerce_status",
    "channel",
    "marketplace_id",
    "buyer_name",
    "buyer_email",
    "item_count",
    "grand_total",
    "currency",
    "ship_by",
    "last_updated",
    "is_prime",
    "is_business",
    "buyer_cancel_requested",
    "held_at",
    "hold_reason",
)
PICK_FIELDS = (
    "amazon_order_id",
    "increment_id",
    "sku",
    "asin",
    "title",
    "quantity",
    "quantity_shipped",
    "ship_by",
    "ship_to_name",
    "ship_to_city",
    "ship_to_postal_code",
    "ship_to_country",
)


def show_command(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help="Amazon order number, commerce order number or seller order id.")],
    json_output: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="With --json: add Amazon's order JSON as stored (\"amazon_raw\"; without buyer data once purged).")] = False,
) -> None:
    """The order view: account, addresses, payment and shipping, items, totals, documents, history.

    Example: amzorders show 000000042
    """
    from amzorders.domain.models import utcnow
    from amzorders.errors import UsageError
    from amzorders.services.orders import available_actions, get_order_view, get_raw_order

    if raw and not json_output:
        raise UsageError("--raw adds Amazon's JSON to the --json output; use both: show ORDER --json --raw.")
    app = get_app(ctx)
    view = get_order_view(app.store(read_only=True), order)
    actions = available_actions(view)
    if json_output:
        from amzorders.cli.output import Output
        from amzorders.serialize import jsonable

        data = jsonable(view)
        data["available_actions"] = actions
        if raw:
            data["amazon_raw"] = get_raw_order(app.store(read_only=True), view.summary.amazon_order_id)
        Output("json").emit_one(data)
        return
    from amzorders import render

    console = stdout_console()
    console.print(render.order_view(view, actions, utcnow(), width=console.width, zone=app.display_zone))


HISTORY_FIELDS = ("amazon_order_id", "created_at", "comment", "status", "source", "entity_type", "is_customer_notified", "notify_error")


@listing_output
def history_command(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(metavar="ORDER", help="Amazon order number, commerce order number or seller order id.")],
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="NAME,...", help="Table columns, in this order: created_at, comment, status, notified.")] = None,
    *,
    output: Output = Output(),
) -> None:
    """An order's comments and status history, oldest first.

    Example: amzorders history 000000042 --csv
    """
    from amzorders.serialize import jsonable
    from amzorders.services.orders import get_order_view

    app = get_app(ctx)
    view = get_order_view(app.store(read_only=True), order)
    order_id = view.summary.amazon_order_id
    if not output.is_table:
        output.emit([{"amazon_order_id": order_id, **jsonable(entry)} for entry in view.history], HISTORY_FIELDS)
        return
    from amzorders import render
    from amzorders.cli.common import print_table, table_width

    shown = render.choose_columns(
        [
            render.Column("created_at", "When"),
            render.Column("comment", "Comment", give_way=1, min_width=20, droppable=False),
            render.Column("status", "Status", give_way=3),
            render.Column("notified", "Notified", give_way=2),
        ],
        columns,
        {"when": "created_at", "is_customer_notified": "notified", "notify_error": "notified"},
    )
    rows = []
    for entry in view.history:
        notified = {None: "", True: "yes", False: "no"}[entry.is_customer_notified]
        if entry.notify_error:
            notified = f"failed: {render.clean(entry.notify_error)}"
        rows.append(
            {
                "created_at": render.when(entry.created_at, zone=app.display_zone),
                "comment": render.clean(entry.comment).replace("\n", " "),
                "status": render.clean(entry.status),
                "notified": notified,
            }
        )
    print_table(render.fitted_table(shown, rows, table_width(), title=f"{len(rows):,} history entries of {render.clean(order_id)}"))
