"""`amzorders listen` and `amzorders notifications setup|status|remove` (boto3 only here)."""

import sys
from typing import Annotated

import typer

from amzorders.cli.common import get_app, notice, out, out_json, warn


def register(app: typer.Typer) -> None:
    app.command("listen", rich_help_panel="Orders")(listen_command)
    group = typer.Typer(help="Amazon's order notifications (ORDER_CHANGE through SQS): setup, status, remove, "
                             "dismiss. Example: amzorders notifications setup",
                        no_args_is_help=True)
    group.command("setup")(setup_command)
    group.command("status")(status_command)
    group.command("remove")(remove_command)
    group.command("dismiss")(dismiss_command)
    app.add_typer(group, name="notifications", rich_help_panel="Orders")


def _import_settings(app):
    from amzorders.cli.orders_cmd import _import_settings as settings

    return settings(app)


def _ensure_simulator_setup(app) -> None:
    """The built-in simulator starts without a subscription; the newcomer's `listen`
    subscribes it once, as `notifications setup` would."""
    from amzorders.services.notifications import setup

    sim = app.simulator()
    from amzorders.simulator.notifications import DEFAULT_QUEUE, queue_arn

    if not sim.notifications.subscribed():
        report = setup(app.amazon(), queue_arn(DEFAULT_QUEUE))
        notice("Built-in simulator: " + report.summary() + ".")


def listen_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Handle what is in the queue, then exit (for cron).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing unless something needs a person.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the summary even when not on a terminal.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="With --once: print the result as JSON.")] = False,
) -> None:
    """Import orders as Amazon's ORDER_CHANGE notifications arrive (one getOrder each).

    Long-polls the [notifications] queue; each notification is handled once (by its
    NotificationId), an order the store already has in that state costs no Amazon call,
    and a message is deleted only after the store committed. Without --once it runs until
    SIGTERM or Ctrl-C and delivers queued actions after every poll. Keep 'sync' in cron as
    the sweep: Amazon does not promise a notification for every change.
    Example (cron): amzorders listen --once --quiet
    """
    import logging
    import time

    from amzorders.serialize import dumps
    from amzorders.services.listener import Listener

    app = get_app(ctx)
    store = app.store()
    client = app.amazon()
    if app.using_simulator:
        _ensure_simulator_setup(app)
    notes = app.settings.notifications
    queue = app.notification_queue()
    listener = Listener(store, client, queue, app.account, _import_settings(app),
                        max_receives=notes.max_receives, visibility_timeout=notes.visibility_timeout)
    show = not quiet and (verbose or sys.stderr.isatty())
    log = logging.getLogger("amzorders.listen")
    try:
        if once:
            report = listener.drain(wait_seconds=1)
            log.info("listen --once [%s]: %s", app.account.name, report.summary())
            if json_output:
                print(dumps({
                    "received": report.received, "imported": report.imported,
                    "already_current": report.already_current, "duplicates": report.duplicates,
                    "feeds_followed": report.feeds_followed, "get_order_calls": report.get_order_calls,
                    "set_aside": [{"message_id": m, "why": w} for m, w in report.invalid + report.gave_up],
                    "retry_later": [{"message_id": m, "why": w} for m, w in report.retry_later],
                    "outbox": {"sent": report.delivery.sent, "done": report.delivery.done},
                }))
            elif show:
                notice(report.summary() + ".")
            for message_id, why in report.invalid + report.gave_up:
                warn(f"Queue message {message_id} was set aside: {why}")
            report.raise_for_problems()
            return

        if show:
            notice(f"Listening on {queue.queue_url} (Ctrl-C to stop).")

        def on_report(report) -> None:
            lines = []
            if report.received:
                lines.append(report.summary())
            if report.delivery.sent or report.delivery.done or report.delivery.failed:
                lines.append("Outbox: " + report.delivery.summary())
            for line in lines:
                log.info("listen [%s]: %s", app.account.name, line)
                if show:
                    notice(line + ".")
            for message_id, why in report.invalid + report.gave_up:
                warn(f"Queue message {message_id} was set aside: {why}")

        def on_trouble(error) -> None:
            log.warning("listen [%s]: %s", app.account.name, error)
            if not quiet:
                warn(str(error))

        listener.run(notes.wait_seconds, on_report, on_trouble, time.sleep)
    finally:
        queue.close()


def _queue_and_arn(app, queue_arn: str | None):
    if app.using_simulator and queue_arn is None:
        from amzorders.simulator.notifications import DEFAULT_QUEUE, queue_arn as sim_arn

        return sim_arn(DEFAULT_QUEUE)
    if queue_arn is not None:
        import re

        from amzorders.errors import UsageError

        if not re.fullmatch(r"arn:aws:sqs:\S+:\S+:\S+", queue_arn) or len(queue_arn) > 1000:
            raise UsageError(f"--queue-arn {queue_arn!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME).")
        return queue_arn
    queue = app.notification_queue()
    try:
        return queue.arn()
    finally:
        queue.close()


def setup_command(
    ctx: typer.Context,
    queue_arn: Annotated[str | None, typer.Option("--queue-arn", metavar="ARN", help="The SQS queue's ARN (default: read from [notifications] queue_url).")] = None,
) -> None:
    """Create (or find) the SQS destination and the ORDER_CHANGE and FEED_PROCESSING_FINISHED subscriptions.

    Safe to run again: what exists is kept. The queue's policy must let Amazon's AWS
    account 437568002678 send to it (README). Example: amzorders notifications setup
    """
    from amzorders.services.notifications import setup

    app = get_app(ctx)
    arn = _queue_and_arn(app, queue_arn)
    report = setup(app.amazon(), arn)
    out(report.summary() + ".")


def status_command(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """The destination, the subscriptions, the queue's depth and any messages set aside.

    Exits 1 when something is missing or set aside. Example: amzorders notifications status
    """
    import json

    from amzorders.errors import NotAllowedError
    from amzorders.services.notifications import status

    app = get_app(ctx)
    queue = app.notification_queue()
    try:
        report = status(app.amazon(), queue, queue.queue_url, app.store(), app.account.name)
    finally:
        queue.close()
    if json_output:
        depth = report.depth
        out_json(json.dumps({
            "queue_url": report.queue_url,
            "queue_arn": report.queue_arn,
            "queue_depth": None if depth is None else {"visible": depth.visible, "in_flight": depth.in_flight,
                                                      "delayed": depth.delayed},
            "destination": report.destination,
            "subscriptions": report.subscriptions,
            "handled": report.handled,
            "set_aside": [{"id": p.id, "message_id": p.message_id, "notification_id": p.notification_id,
                           "reason": p.reason, "receive_count": p.receive_count, "set_aside_at": p.set_aside_at}
                          for p in report.poison],
            "problems": report.problems,
        }))
    else:
        out(f"Queue:         {report.queue_url}")
        out(f"Queue ARN:     {report.queue_arn or '?'}")
        if report.depth is not None:
            out(f"Queue depth:   {report.depth.visible} waiting, {report.depth.in_flight} being handled, "
                f"{report.depth.delayed} delayed")
        destination = report.destination
        out(f"Destination:   {destination['destinationId'] if destination else 'none'}")
        for kind, subscription in report.subscriptions.items():
            text = f"{subscription['subscriptionId']} -> {subscription['destinationId']}" if subscription else "none"
            out(f"{kind + ':':<26} {text}")
        handled = ", ".join(f"{n} {k}" for k, n in sorted(report.handled.items())) or "none yet"
        out(f"Handled:       {handled}")
        for poison in report.poison:
            out(f"Set aside #{poison.id}: message {poison.message_id} at {poison.set_aside_at}: {poison.reason}")
    if report.problems:
        raise NotAllowedError("Notifications need attention: " + "; ".join(report.problems) + ".")


def remove_command(
    ctx: typer.Context,
    queue_arn: Annotated[str | None, typer.Option("--queue-arn", metavar="ARN", help="The SQS queue's ARN (default: read from [notifications] queue_url).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Also delete the seller's subscriptions that send elsewhere.")] = False,
) -> None:
    """Delete amzorders' subscriptions and destination at Amazon (the queue itself stays).

    Example: amzorders notifications remove
    """
    from amzorders.services.notifications import remove

    app = get_app(ctx)
    removed = remove(app.amazon(), _queue_and_arn(app, queue_arn), everything=everything)
    out("Removed: " + ", ".join(removed) + "." if removed else "Nothing to remove.")


def dismiss_command(
    ctx: typer.Context,
    message: Annotated[int, typer.Argument(metavar="ID", help="The number of a set-aside message (notifications status).")],
) -> None:
    """Accept a set-aside message as handled (after checking the order; sync sweeps anyway).

    Example: amzorders notifications dismiss 3
    """
    from amzorders.domain.models import utcnow
    from amzorders.errors import NotFoundError

    app = get_app(ctx)
    store = app.store()
    with store.transaction():
        done = store.dismiss_poison(app.account.name, message, utcnow())
    if not done:
        raise NotFoundError(f"There is no set-aside message #{message} of account '{app.account.name}' waiting; "
                            "'amzorders notifications status' lists them.")
    out(f"Set-aside message #{message} dismissed.")
