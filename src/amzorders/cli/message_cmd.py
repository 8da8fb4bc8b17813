"""Buyer contact through Amazon: ``message`` (Messaging API) and ``review-request`` (Solicitations).

Exit codes: 0 sent (or queued for 'sync'); 1 unknown order, or Amazon does not allow the
kind / the review request now; 2 bad input (text breaking Amazon's rules, unreadable
attachment: nothing written); 4 Amazon rejected the message; 5 Amazon unreachable while
asking what the order allows (nothing written).
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from amzorders.cli.common import notice, warn

PANEL = "Buyer contact"
ORDER_HELP = "Commerce order number (e.g. 000000012) or Amazon order number."


def register(app: typer.Typer) -> None:
    app.command("message", rich_help_panel=PANEL)(message_command)
    app.command("review-request", rich_help_panel=PANEL)(review_request_command)


def _context(ctx: typer.Context, push: bool = True):
    from amzorders.cli.processing_cmd import _context as processing_context

    return processing_context(ctx, push=push)


def message_command(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help=ORDER_HELP)],
    kind: Annotated[Optional[str], typer.Argument(help="Message kind to send (leave out to list the kinds Amazon allows now), e.g. unexpectedProblem, confirmDeliveryDetails, invoice.", show_default=False)] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="The message, in the buyer's language: plain text, no HTML, links or e-mail addresses.")] = None,
    attach: Annotated[Optional[list[Path]], typer.Option("--attach", metavar="FILE", help="A file to attach (repeatable, up to 5): sent through Amazon's Uploads API.")] = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Only queue the message; 'amzorders sync' sends it.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the message kinds Amazon allows for an order, or send one through Amazon.

    Amazon's rules: no order or shipping confirmations (Amazon sends those), text in the
    buyer's language without HTML, links or e-mail addresses.

    Examples: amzorders message 000000012;
    amzorders message 000000012 unexpectedProblem --text "The blue model is out of stock; ..."
    """
    from amzorders.services import messaging

    if kind is None:
        if text or attach:
            from amzorders.errors import UsageError

            raise UsageError("Name the message kind before --text/--attach, e.g. amzorders message ORDER unexpectedProblem --text \"...\".")
        options = messaging.message_options(_context(ctx), order)
        if json_output:
            from amzorders.serialize import dumps

            print(dumps({
                "order_number": options.order_number, "amazon_order_id": options.amazon_order_id,
                "marketplace_id": options.marketplace_id, "buyer_locale": options.locale,
                "buyer_language": options.language,
                "kinds": [{"name": k.name, "label": k.label, "text_max": k.text_max, "attachments": k.attachments}
                          for k in options.kinds],
                "other_actions": options.other_actions,
            }))
            return
        _print_options(options)
        return
    attachments = [messaging.read_attachment(path) for path in attach or []]
    result = messaging.send_message(_context(ctx, push=not no_push), order, kind, text=text, attachments=attachments)
    from amzorders.cli.processing_cmd import _report

    _report(result, json_output)


def review_request_command(
    ctx: typer.Context,
    orders: Annotated[Optional[list[str]], typer.Argument(metavar="ORDER...", help=ORDER_HELP + " (several allowed).", show_default=False)] = None,
    eligible: Annotated[bool, typer.Option("--eligible", help="Every shipped order without a review request yet that Amazon allows now.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
) -> None:
    """Ask buyers for a product review and seller feedback (Amazon's own request, once per order).

    Amazon allows it from 5 to 30 days after delivery; orders outside that window are skipped.

    Example: amzorders review-request --eligible
    """
    from amzorders.errors import UsageError
    from amzorders.services import messaging

    if bool(orders) == eligible:
        raise UsageError("Give ORDER numbers or --eligible (not both).")
    context = _context(ctx)
    keys = list(orders or []) or messaging.eligible_review_orders(context)
    if eligible and not keys:
        notice("No shipped order without a review request.")
        return
    outcomes = messaging.request_reviews(context, keys)
    if eligible:
        outcomes = [o for o in outcomes if o.state != "not_allowed"] if not json_output else outcomes
    if json_output:
        from amzorders.serialize import dumps

        print(dumps(outcomes))
    else:
        from amzorders import render

        for outcome in outcomes:
            print(render.clean(f"{outcome.order_number}: {outcome.state.replace('_', ' ')} - {outcome.detail}"))
    sent = sum(o.state in ("sent", "queued") for o in outcomes)
    notice(f"{sent} review request(s) sent or queued, {len(keys) - sent} skipped.")
    if any(o.state == "failed" for o in outcomes):
        warn("Amazon rejected some review requests; see 'amzorders outbox list'.")
        raise typer.Exit(4)
    if not eligible and any(o.state == "not_allowed" for o in outcomes) and sent == 0:
        raise typer.Exit(1)


def _print_options(options) -> None:
    from amzorders import render

    language = f"{options.locale} ({options.language})" if options.locale else "not given by Amazon (English assumed)"
    print(render.clean(f"Order {options.order_number} (Amazon {options.amazon_order_id}, {render.marketplace_label(options.marketplace_id)})"))
    print(render.clean(f"Buyer's language: {language}"))
    if not options.kinds:
        print("Amazon allows no buyer message for this order now.")
    else:
        print("Message kinds Amazon allows now:")
        for kind in options.kinds:
            takes = []
            if kind.text_max:
                takes.append(f"--text up to {kind.text_max} characters")
            if kind.attachments == "required":
                takes.append("--attach FILE (required)")
            elif kind.attachments == "optional":
                takes.append("--attach FILE (optional)")
            print(render.clean(f"  {kind.name:<28} {kind.label}: {', '.join(takes)}"))
    if options.other_actions:
        print(render.clean(f"Also listed by Amazon (not sent by amzorders): {', '.join(options.other_actions)}"))
