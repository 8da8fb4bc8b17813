"""Order processing commands: invoice, ship, refund, cancel, comment.

Thin: parse the options, call ``services.processing``, print one or two lines. Exit codes:
0 done (also when the action is only queued for Amazon, or the buyer e-mail failed: both
are reported); 1 unknown order/SKU or the order's state forbids it; 2 bad input (nothing
written); 3 --notify without [email] configured; 4 Amazon rejected the action.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from amzorders.cli.common import get_app, notice, out, out_data, out_json, warn

PANEL = "Processing"
ORDER_HELP = "Commerce order number (e.g. 000000012) or Amazon order number."
ITEM_HELP = "SKU=QTY: only this quantity of this item (repeatable). Default: everything left."
NOTIFY_HELP = "Tell the buyer, by Amazon's rules: an invoice goes as Amazon's sendInvoice message with the PDF; Amazon itself tells buyers of shipments and refunds."
NO_PUSH_HELP = "Only queue the action for Amazon; 'amzorders sync' sends it."
FROM_CSV_HELP = "Take the orders from a CSV file ('-': stdin) with a header row: {columns}."
REPORT_HELP = "Write each row's outcome (done, skipped, error) to this CSV file."
JSON_HELP = "Print the result as JSON."


def register(app: typer.Typer) -> None:
    app.command("invoice", rich_help_panel=PANEL)(invoice_command)
    app.command("ship", rich_help_panel=PANEL)(ship_command)
    app.command("refund", rich_help_panel=PANEL)(refund_command)
    app.command("cancel", rich_help_panel=PANEL)(cancel_command)
    app.command("comment", rich_help_panel=PANEL)(comment_command)
    app.command("hold", rich_help_panel=PANEL)(hold_command)
    app.command("unhold", rich_help_panel=PANEL)(unhold_command)


def _context(ctx: typer.Context, push: bool = True):
    from amzorders.services.processing import ProcessingContext

    app = get_app(ctx)
    return ProcessingContext(
        # The order acted on is in a store that exists: a mistyped --db is an error
        # naming it, never a new empty store (and then "no such order").
        store=app.store(read_only=True),
        account=app.account,
        number_prefix=app.settings.orders.order_number_prefix,
        email=app.settings.email,
        client_factory=app.amazon,
        push=push,
        business=app.settings.business,
    )


def _report(result, as_json: bool) -> None:
    """Print what was done and what became of the Amazon side; exit 4 if Amazon rejected it."""
    if as_json:
        from amzorders.serialize import dumps

        print(dumps(result))
    else:
        out(result.summary)
    for warning in result.warnings:
        warn(warning)
    rejected = False
    for delivery in result.deliveries:
        if delivery.state == "done":
            line = "Sent to Amazon."
        elif delivery.state == "submitted":
            line = "Sent to Amazon (feed submitted; 'amzorders sync' follows it to Amazon's result)."
        elif delivery.state == "failed":
            rejected = True
            warn(
                f"Amazon rejected it: {delivery.error or 'no reason given'}. The local change is taken back "
                f"(kept only if an earlier submission may have applied it); see 'amzorders history "
                f"{result.order_number}' and 'amzorders outbox show {delivery.outbox_id}'."
            )
            continue
        elif delivery.attempted:
            line = (
                f"Queued for Amazon: it was unreachable ({delivery.error or 'no answer'}); "
                "'amzorders sync' will deliver it."
            )
        else:
            reason = f" ({delivery.error})" if delivery.error else " (--no-push)"
            line = f"Queued for Amazon{reason}; 'amzorders sync' will deliver it."
        if as_json:
            notice(line)
        else:
            out(line)
    if result.notification is not None:
        if result.notification.error:
            warn(
                f"Nothing could be sent to {result.notification.to}: {result.notification.error} "
                "The change is saved; the order history records that the buyer was not notified."
            )
        elif result.notification.note:
            notice(result.notification.note)
    if rejected:
        raise typer.Exit(4)


def _show_outcome(result, context, dry_run: bool, as_json: bool) -> None:
    """What an Amazon-bound command prints: the would-be request, or what was done."""
    if dry_run:
        _print_dry_run(result, context.account, as_json)
    else:
        _report(result, as_json)


def _print_dry_run(result, account, as_json: bool) -> None:
    notice(result.summary + " Dry run: nothing was written or sent.")
    for warning in result.warnings:
        warn(warning)
    if as_json:
        from amzorders.serialize import dumps

        print(dumps(result))
        return
    if result.outbox_kind == "confirm_shipment":
        out(f"POST /orders/v0/orders/{result.amazon_order_id}/shipmentConfirmation")
        out_json(json.dumps(result.payload, indent=2, ensure_ascii=False))
        return
    from amzorders.services.outbox import preview_feed_document

    if not account.merchant_id and not account.is_simulator:
        warn("No merchant_id is configured for this account; the feed shows MERCHANT_ID in its place.")
    feed_type, document = preview_feed_document(result.outbox_kind, result.payload, result.amazon_order_id, account)
    out(f"Feed {feed_type}:")
    out_data(document.decode("utf-8", errors="replace"))


def invoice_command(
    ctx: typer.Context,
    orders: Annotated[Optional[list[str]], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given.", show_default=False)] = None,
    item: Annotated[Optional[list[str]], typer.Option("--item", metavar="SKU=QTY", help=ITEM_HELP)] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", metavar="TEXT", help="A comment for the invoice and the order history.")] = None,
    from_csv: Annotated[Optional[Path], typer.Option("--from-csv", metavar="FILE", help=FROM_CSV_HELP.format(columns="order, and optionally sku, qty, comment"))] = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help=REPORT_HELP)] = None,
    notify: Annotated[bool, typer.Option("--notify", help=NOTIFY_HELP)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Invoice even though the buyer asked to cancel.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Invoice orders (captured offline: Amazon collected the payment).

    Orders already fully invoiced are skipped, so a list or file can be run again.
    Example: amzorders invoice 000000012 --item SKU-A=1
    """
    if not from_csv and orders and len(orders) == 1 and not report and not dry_run:
        from amzorders.services import processing

        result = processing.invoice(_context(ctx), orders[0], items=item, comment=comment, notify=notify, force=force)
        _report(result, json_output)
        return
    _bulk(ctx, "invoice", orders, from_csv, report, {"comment": comment}, item, notify=notify, dry_run=dry_run,
          as_json=json_output, force=force)




def _bulk(ctx, action, orders, from_csv, report, values, item, *, notify=False, dry_run=False, as_json=False, push=True,
          force=False) -> None:
    """Several orders or a CSV: check all, then do all (see services.bulk)."""
    from amzorders.errors import UsageError
    from amzorders.services import bulk

    if from_csv is not None and orders:
        raise UsageError("Give ORDER numbers or --from-csv FILE, not both.")
    if from_csv is None and not orders:
        raise UsageError(f"{action} needs ORDER (one or more) or --from-csv FILE. Example: amzorders {action} 000000012")
    if from_csv is not None and (item or any(values.values())):
        raise UsageError("--from-csv takes everything from the file; give --item, --reason and --comment in its columns.")
    context = _context(ctx, push=push)
    rows = bulk.read_rows(action, from_csv) if from_csv is not None else bulk.rows_from_orders(orders, values)
    source = ("stdin" if str(from_csv) == "-" else str(from_csv)) if from_csv is not None else "the orders given"
    try:
        result = bulk.run(context, action, rows, item_specs=item if from_csv is None else None, notify=notify,
                          dry_run=dry_run, source=source, force=force)
    except bulk.BulkRowsError as err:
        if report is not None:
            bulk.write_report(report, bulk.report_rows(err.rows))
        raise
    if report is not None:
        bulk.write_report(report, bulk.report_rows(result.rows))
    if as_json:
        from amzorders.cli.output import Output

        Output("json").emit_one({"action": action, "dry_run": dry_run, "rows": bulk.report_rows(result.rows)})
    else:
        for row in result.rows:
            where = f"line {row.line}: " if row.line is not None else ""
            label = {"skipped": "skipped", "would do": "would do"}.get(row.outcome, "")
            out(f"{where}{row.message}" + (f" ({label})" if label else ""))
    rejected = 0
    for action_result in result.results:
        try:
            _report_delivery_only(action_result)
        except typer.Exit:
            rejected += 1
    notice(result.summary() + (". Dry run: nothing was written or sent." if dry_run else "."))
    if rejected:
        raise typer.Exit(4)


def _report_delivery_only(result) -> None:
    """For bulk runs: only what became of the Amazon side (the summary line is printed)."""
    for delivery in result.deliveries:
        if delivery.state == "failed":
            warn(f"Amazon rejected {result.order_number}: {delivery.error or 'no reason given'}; see 'amzorders outbox show {delivery.outbox_id}'.")
            raise typer.Exit(4)
        if delivery.state not in ("done", "submitted"):
            notice(f"{result.order_number}: queued for Amazon; 'amzorders sync' will deliver it.")
    if result.notification is not None and not result.notification.sent:
        warn(f"The e-mail to the buyer of {result.order_number} could not be sent: {result.notification.error}")


def ship_command(
    ctx: typer.Context,
    orders: Annotated[Optional[list[str]], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given (each shipped whole). Not with --from-csv.", show_default=False)] = None,
    carrier: Annotated[Optional[str], typer.Option("--carrier", metavar="CODE", help="Amazon carrier code, e.g. UPS, USPS, FedEx, DHL, Other.")] = None,
    tracking: Annotated[Optional[list[str]], typer.Option("--tracking", metavar="NUMBER", help="Tracking number. With several orders: one per order, in the same order.")] = None,
    carrier_name: Annotated[Optional[str], typer.Option("--carrier-name", metavar="NAME", help="Carrier name (required with --carrier Other).")] = None,
    method: Annotated[Optional[str], typer.Option("--method", metavar="TEXT", help="Shipping method, e.g. Ground.")] = None,
    ship_date: Annotated[Optional[str], typer.Option("--ship-date", metavar="WHEN", help="When it shipped (ISO date/time or 2h, 1d ago). Default: now.")] = None,
    item: Annotated[Optional[list[str]], typer.Option("--item", metavar="SKU=QTY", help=ITEM_HELP + " One order only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Accept a tracking number that does not look like the carrier's, or ship although the buyer asked to cancel.")] = False,
    from_csv: Annotated[Optional[Path], typer.Option("--from-csv", metavar="FILE", help="Ship many packages from a CSV ('-': stdin): order, carrier, tracking, and optionally sku, qty, ship_date, method, carrier_name. Rows shipped already are skipped. At most 20 MB.")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help=REPORT_HELP + " With several orders or --from-csv.")] = None,
    notify: Annotated[bool, typer.Option("--notify", help=NOTIFY_HELP)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything and show the request for Amazon; write nothing.")] = False,
    no_push: Annotated[bool, typer.Option("--no-push", help=NO_PUSH_HELP)] = False,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Ship orders (carrier + tracking), confirmed to Amazon; or many packages from a CSV.

    Several orders: each is shipped whole; one already shipped with its tracking number
    is skipped, so the command can be run again.
    Example: amzorders ship 000000012 --carrier UPS --tracking 1Z999AA10123456784
    """
    from amzorders.errors import UsageError
    from amzorders.services import processing

    orders = orders or []
    trackings = tracking or []
    if from_csv is not None:
        if orders or carrier or trackings or carrier_name or method or ship_date or item:
            raise UsageError("--from-csv takes everything from the file; do not give ORDER, --carrier, --tracking, --item or other shipment options with it.")
        context = _context(ctx, push=not no_push)
        _ship_many(lambda: processing.ship_from_csv(context, from_csv, force=force, notify=notify, dry_run=dry_run), report, dry_run, json_output, "row")
        return
    missing = [name for name, value in (("ORDER", orders), ("--carrier", carrier), ("--tracking", trackings)) if not value]
    if missing:
        raise UsageError(f"ship needs {', '.join(missing)} (or --from-csv FILE). Example: amzorders ship 000000012 --carrier UPS --tracking 1Z999AA10123456784")
    assert carrier is not None
    if len(orders) > 1 or report is not None:
        if item:
            raise UsageError("--item goes with one order; to ship some items of several orders use --from-csv (columns order, carrier, tracking, sku, qty).")
        context = _context(ctx, push=not no_push)
        _ship_many(
            lambda: processing.ship_orders(
                context, orders, carrier=carrier, trackings=trackings, carrier_name=carrier_name, method=method,
                ship_date=ship_date, force=force, notify=notify, dry_run=dry_run,
            ),
            report, dry_run, json_output, "order",
        )
        return
    if len(trackings) > 1:
        raise UsageError("One order takes one --tracking (one package); ship each further package with its own 'amzorders ship'.")
    context = _context(ctx, push=not no_push)
    result = processing.ship(
        context, orders[0], carrier=carrier, tracking=trackings[0], carrier_name=carrier_name, method=method,
        ship_date=ship_date, items=item, force=force, notify=notify, dry_run=dry_run,
    )
    _show_outcome(result, context, dry_run, json_output)


def _ship_many(run, report: Optional[Path], dry_run: bool, json_output: bool, unit: str) -> None:
    """Several shipments (from a CSV or the command line): run, report, print."""
    from amzorders.errors import UsageError

    try:
        bulk = run()
    except UsageError as err:
        if report is not None and getattr(err, "outcomes", None):
            _write_ship_report(report, err.outcomes)
        raise
    if report is not None:
        _write_ship_report(report, bulk.outcomes)
    where = "line" if unit == "row" else "order"
    for line, order_key, _tracking, why in bulk.skipped:
        out(f"{where} {line}: order {order_key} skipped: {why}.")
    counts = f"{bulk.rows} {unit}(s), {len(bulk.shipments)} shipment(s)"
    if dry_run:
        if json_output:
            from amzorders.serialize import dumps

            print(dumps(bulk))
        else:
            for result in bulk.shipments:
                out(result.summary)
                out(f"POST /orders/v0/orders/{result.amazon_order_id}/shipmentConfirmation")
                out_json(json.dumps(result.payload, indent=2, ensure_ascii=False))
        notice(f"{counts} checked, {len(bulk.skipped)} {unit}(s) skipped (shipped already). Dry run: nothing was written or sent.")
        return
    failed = 0
    for result in bulk.shipments:
        try:
            _report(result, json_output)
        except typer.Exit:
            failed += 1
    notice(f"{counts} created, {len(bulk.skipped)} {unit}(s) skipped (shipped already).")
    if failed:
        raise typer.Exit(4)


def _write_ship_report(path: Path, outcomes: dict) -> None:
    from amzorders.services import bulk

    rows = [
        {"line": line, "order": order_key, "outcome": outcome, "document": document, "message": message}
        for line, (order_key, outcome, document, message) in sorted(outcomes.items())
    ]
    bulk.write_report(path, rows)


def refund_command(
    ctx: typer.Context,
    orders: Annotated[Optional[list[str]], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given.", show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="REASON", help="Amazon adjustment reason, e.g. CustomerReturn, NoInventory, GeneralAdjustment.")] = None,
    item: Annotated[Optional[list[str]], typer.Option("--item", metavar="SKU=QTY", help="Refund this quantity of this item (repeatable). Default: every invoiced unit not yet refunded.")] = None,
    shipping: Annotated[Optional[str], typer.Option("--shipping", metavar="AMOUNT", help="Shipping to refund. Default: all of it on a full refund, else 0.")] = None,
    adjustment_refund: Annotated[Optional[str], typer.Option("--adjustment-refund", metavar="AMOUNT", help="An extra amount refunded (goodwill).")] = None,
    adjustment_fee: Annotated[Optional[str], typer.Option("--adjustment-fee", metavar="AMOUNT", help="A fee kept back (restocking fee).")] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", metavar="TEXT", help="A comment for the credit memo and the order history.")] = None,
    from_csv: Annotated[Optional[Path], typer.Option("--from-csv", metavar="FILE", help=FROM_CSV_HELP.format(columns="order, reason, and optionally sku, qty, shipping, adjustment_refund, adjustment_fee, comment"))] = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help=REPORT_HELP)] = None,
    notify: Annotated[bool, typer.Option("--notify", help=NOTIFY_HELP)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything and show the feed for Amazon; write nothing.")] = False,
    no_push: Annotated[bool, typer.Option("--no-push", help=NO_PUSH_HELP)] = False,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Refund (credit memo), sent to Amazon as a payment adjustment; a full refund closes the order.

    Orders with nothing left to refund are skipped in a list or file.
    Example: amzorders refund 000000012 --reason CustomerReturn --item SKU-A=1 --shipping 1.50
    """
    from amzorders.domain.rules import parse_amount
    from amzorders.errors import UsageError

    if not from_csv and orders and len(orders) == 1 and not report:
        from amzorders.services import processing

        if not reason:
            raise UsageError("refund needs --reason, e.g. --reason CustomerReturn.")
        context = _context(ctx, push=not no_push)
        result = processing.refund(
            context, orders[0], reason=reason, items=item,
            shipping=parse_amount(shipping, "--shipping"),
            adjustment_refund=parse_amount(adjustment_refund, "--adjustment-refund"),
            adjustment_fee=parse_amount(adjustment_fee, "--adjustment-fee"),
            comment=comment, notify=notify, dry_run=dry_run,
        )
        _show_outcome(result, context, dry_run, json_output)
        return
    values = {"reason": reason, "comment": comment, "shipping": shipping, "adjustment_refund": adjustment_refund, "adjustment_fee": adjustment_fee}
    _bulk(ctx, "refund", orders, from_csv, report, values, item, notify=notify, dry_run=dry_run, as_json=json_output, push=not no_push)


def cancel_command(
    ctx: typer.Context,
    orders: Annotated[Optional[list[str]], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given.", show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="REASON", help="Amazon cancel reason, e.g. NoInventory, BuyerCanceled, ShippingAddressUndeliverable.")] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", metavar="TEXT", help="A comment for the order history.")] = None,
    from_csv: Annotated[Optional[Path], typer.Option("--from-csv", metavar="FILE", help=FROM_CSV_HELP.format(columns="order, reason, and optionally comment"))] = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="FILE", help=REPORT_HELP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything and show the feed for Amazon; write nothing.")] = False,
    no_push: Annotated[bool, typer.Option("--no-push", help=NO_PUSH_HELP)] = False,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Cancel orders Amazon still shows as UNSHIPPED (shipped orders are refunded instead).

    Orders canceled already are skipped in a list or file.
    Example: amzorders cancel 000000012 --reason NoInventory
    """
    from amzorders.errors import UsageError

    if not from_csv and orders and len(orders) == 1 and not report:
        from amzorders.services import processing

        if not reason:
            raise UsageError("cancel needs --reason, e.g. --reason NoInventory.")
        context = _context(ctx, push=not no_push)
        result = processing.cancel(context, orders[0], reason=reason, comment=comment, dry_run=dry_run)
        _show_outcome(result, context, dry_run, json_output)
        return
    _bulk(ctx, "cancel", orders, from_csv, report, {"reason": reason, "comment": comment}, None, dry_run=dry_run, as_json=json_output, push=not no_push)


def comment_command(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help=ORDER_HELP)],
    text: Annotated[str, typer.Argument(help="The comment.")],
    notify: Annotated[bool, typer.Option("--notify", help=NOTIFY_HELP)] = False,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Add a comment to the order history (buyers are written to with 'amzorders message').

    Example: amzorders comment 000000012 "Back in stock, ships Monday." --notify
    """
    from amzorders.services import processing

    result = processing.comment(_context(ctx), order, text, notify=notify)
    _report(result, json_output)


def hold_command(
    ctx: typer.Context,
    orders: Annotated[list[str], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given.")],
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="Why it is held (shown in list and show).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Put orders on hold: no invoice, shipment, refund or cancel until 'unhold' (as in Magento).

    Local only: Amazon does not know about it. Example: amzorders hold 000000012 --reason "address check"
    """
    from amzorders.domain.models import utcnow
    from amzorders.services.holds import hold

    result = hold(get_app(ctx).store(read_only=True), orders, reason, utcnow())
    _print_holds(result, "put on hold", json_output)


def _print_holds(result, verb: str, as_json: bool) -> None:
    if as_json:
        from amzorders.cli.output import Output

        Output("json").emit_one({"action": "hold" if verb == "put on hold" else "unhold", "rows": [
            {"order": o.order, "outcome": o.outcome, "message": o.message} for o in result.outcomes
        ]})
    else:
        for outcome in result.outcomes:
            out(outcome.message[0].upper() + outcome.message[1:] + (" (skipped)" if outcome.outcome == "skipped" else ""))
    notice(result.summary(verb) + ".")


def unhold_command(
    ctx: typer.Context,
    orders: Annotated[list[str], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " Several may be given.")],
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Release held orders to the state they had before the hold.

    Example: amzorders unhold 000000012
    """
    from amzorders.domain.models import utcnow
    from amzorders.services.holds import unhold

    result = unhold(get_app(ctx).store(read_only=True), orders, utcnow())
    _print_holds(result, "released", json_output)
