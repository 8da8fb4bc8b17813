"""``amzorders outbox``: what waits to go to Amazon, what was sent, what Amazon rejected and why."""

from typing import Annotated, Any, Optional

import typer

from amzorders.cli.common import MAX_ROW_ID, ascii_int, get_app, notice, stdout_console, warn
from amzorders.cli.output import Output, listing_output
from amzorders.textsafe import json_text

_ROW_ID = ascii_int("ID", 1, MAX_ROW_ID)

outbox_app = typer.Typer(
    help="Actions waiting to go to Amazon, sent, or rejected (list, show, retry, dismiss).\n\nExample: amzorders outbox list --all",
    no_args_is_help=False,
    rich_markup_mode="rich",
)

STATE_LABELS = {
    "pending": "waiting",
    "submitted": "in Amazon feed",
    "done": "accepted",
    "failed": "REJECTED",
}


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox", rich_help_panel="Orders")


@outbox_app.callback(invoke_without_command=True)
def outbox_callback(ctx: typer.Context) -> None:
    """Without a subcommand: the same as 'outbox list'."""
    if ctx.invoked_subcommand is None:
        list_command(ctx)


def _state_label(record: Any, now) -> str:
    result = record.result or {}
    if record.state == "pending" and result.get("claim") and record.next_attempt_at > now:
        return "sending"
    undone = " (taken back here)" if record.state == "failed" and result.get("reversed_at") else ""
    if record.state == "failed" and result.get("dismissed_at"):
        return "rejected (dismissed)" + undone
    return STATE_LABELS.get(record.state, record.state) + undone


def _as_json(record: Any) -> dict[str, Any]:
    from amzorders.serialize import jsonable
    from amzorders.services.outbox import kind_label

    data = jsonable(record)
    result = record.result or {}
    data["action"] = kind_label(record.kind)
    data["dismissed"] = bool(result.get("dismissed_at"))
    data["message_id"] = (result.get("feed") or {}).get("message_id")
    if isinstance(data.get("result"), dict):
        data["result"].pop("claim", None)  # internal bookkeeping, not Amazon's answer
    return data


OUTBOX_FIELDS = (
    "id",
    "account",
    "amazon_order_id",
    "action",
    "kind",
    "state",
    "dismissed",
    "attempts",
    "next_attempt_at",
    "created_at",
    "sent_at",
    "completed_at",
    "last_error",
    "request_id",
    "feed_id",
    "message_id",
)


@outbox_app.command("list")
@listing_output
def list_command(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Also accepted and dismissed actions.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", help="How many rows to show.", parser=ascii_int("--limit", 1, 100_000))] = 200,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="NAME,...", help="Table columns: id, amazon_order_id, action, state, attempts, next_attempt_at, last_error.")] = None,
    *,
    output: Output = Output(),
) -> None:
    """Actions not yet accepted by Amazon (newest first); --all shows everything.

    Example: amzorders outbox list --all --csv > outbox.csv
    """
    from amzorders.domain.models import utcnow

    app = get_app(ctx)
    if output.is_table and columns:
        from amzorders import render

        render.choose_columns(_outbox_columns(), columns, _OUTBOX_ALIASES)  # a bad name is an error, rows or not
    rows = app.store(read_only=True).outbox_rows_for_display(include_all=show_all, limit=limit)
    if not output.is_table:
        output.emit([_as_json(r) for r in rows], OUTBOX_FIELDS)
        return
    if not rows:
        notice("Nothing waiting to go to Amazon." if not show_all else "The outbox is empty.")
        return
    from rich.text import Text

    from amzorders import render
    from amzorders.cli.common import print_table, table_width
    from amzorders.services.outbox import kind_label

    now = utcnow()
    cells = []
    for record in rows:
        error_text = render.clean(record.last_error or "")
        if record.request_id and record.request_id not in error_text and record.last_error:
            error_text += f" (request id {render.clean(record.request_id)})"
        state = _state_label(record, now)
        rejected = record.state == "failed" and state == "REJECTED"
        cells.append(
            {
                "id": str(record.id),
                "amazon_order_id": render.clean(record.amazon_order_id),
                "action": kind_label(record.kind),
                "state": Text(state, style="red" if rejected else ""),
                "attempts": str(record.attempts),
                "next_attempt_at": render.when(record.next_attempt_at, zone=app.display_zone) if record.state == "pending" else "",
                "last_error": error_text,
            }
        )
    shown = render.choose_columns(_outbox_columns(), columns, _OUTBOX_ALIASES)
    what = "actions" if show_all else "actions not yet accepted by Amazon"
    print_table(render.fitted_table(shown, cells, table_width(), title=f"{len(rows):,} {what}"))


_OUTBOX_ALIASES = {"order": "amazon_order_id", "next_try": "next_attempt_at", "error": "last_error"}


def _outbox_columns():
    from amzorders.render import Column

    # The error makes room first (it is in 'outbox show ID' whole), then the attempt count.
    return [
        Column("id", "Id"),
        Column("amazon_order_id", "Order"),
        Column("action", "Action", give_way=4),
        Column("state", "State"),
        Column("attempts", "Tries", give_way=2),
        Column("next_attempt_at", "Next try", give_way=3),
        Column("last_error", "Last error", give_way=1, min_width=16),
    ]


@outbox_app.command("show")
def show_command(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(metavar="ID", parser=_ROW_ID, help="Outbox row id (see 'outbox list').")],
    json_output: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """One action: what is sent (payload), its feed, and what Amazon answered.

    Example: amzorders outbox show 3 | less
    """
    record = _row(ctx, row_id)
    if json_output:
        from amzorders.serialize import dumps

        print(dumps(_as_json(record)))
        return
    import json

    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from amzorders import render
    from amzorders.domain.models import utcnow
    from amzorders.services.outbox import kind_label

    result = record.result or {}
    feed = result.get("feed") or {}
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in (
        ("Id", record.id),
        ("Account", record.account),
        ("Amazon order", record.amazon_order_id),
        ("Action", kind_label(record.kind)),
        ("State", _state_label(record, utcnow())),
        ("Attempts", record.attempts),
        ("Next try", render.when(record.next_attempt_at) if record.state == "pending" else ""),
        ("Created", render.when(record.created_at)),
        ("Sent", render.when(record.sent_at)),
        ("Completed", render.when(record.completed_at)),
        ("Request id", record.request_id or ""),
        ("Feed id", record.feed_id or ""),
        ("Feed message", feed.get("message_id") or ""),
        ("Dismissed", result.get("dismissed_at") or ""),
        ("Last error", record.last_error or ""),
        ("Idempotency key", record.idempotency_key),
    ):
        render.add_row(fields, label, render.clean(value))
    parts: list[Any] = [fields]
    parts.append(Panel(Text(json_text(json.dumps(_shown_payload(record.payload), indent=2, ensure_ascii=False))), title="Payload", box=box.ROUNDED))
    if result.get("report"):
        parts.append(Panel(Text(json_text(json.dumps(result["report"], indent=2, ensure_ascii=False))), title="Amazon's answer", box=box.ROUNDED))
    stdout_console().print(Group(*parts))


@outbox_app.command("retry")
def retry_command(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(metavar="ID", parser=_ROW_ID, help="A rejected outbox row.")],
) -> None:
    """Send a rejected action again now (after fixing its cause).

    Example: amzorders outbox retry 3
    """
    from amzorders.domain.models import utcnow
    from amzorders.errors import AmazonRejectedError, NotAllowedError
    from amzorders.services.outbox import kind_label, push_rows_with_report

    from amzorders.services import refusals

    app = get_app(ctx)
    record = _row(ctx, row_id)
    _same_account(app, record)
    if record.state != "failed":
        raise NotAllowedError(
            f"Outbox row {row_id} is {STATE_LABELS.get(record.state, record.state)}, not rejected; only rejected "
            "actions can be retried (waiting ones are sent by 'amzorders sync')."
        )
    refusals.retry(app.store(), row_id, utcnow())  # a change taken back when Amazon refused it is applied again
    report = push_rows_with_report(app.store(), app.amazon(), app.account, [row_id])
    after = app.store().outbox_row(row_id)
    assert after is not None
    label = f"#{row_id} {kind_label(after.kind)} {after.amazon_order_id}"
    if report.auth_error is not None:
        raise report.auth_error
    if after.state == "done":
        notice(f"{label}: accepted by Amazon.")
    elif after.state == "submitted":
        notice(f"{label}: sent in feed {after.feed_id}; 'amzorders sync' follows it to Amazon's answer.")
    elif after.state == "failed":
        raise AmazonRejectedError(f"{label} was rejected by Amazon again: {after.last_error}")
    else:
        warn(f"{label} could not be sent now ({after.last_error}); it is queued and 'amzorders sync' delivers it.")


@outbox_app.command("dismiss")
def dismiss_command(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(metavar="ID", parser=_ROW_ID, help="A rejected outbox row.")],
) -> None:
    """Acknowledge a rejected action: sync stops reporting it ('outbox list --all' still shows it).

    Example: amzorders outbox dismiss 3
    """
    from amzorders.domain.models import utcnow
    from amzorders.errors import NotAllowedError
    from amzorders.services.outbox import kind_label

    from amzorders.services import refusals

    app = get_app(ctx)
    record = _row(ctx, row_id)
    if record.state != "failed":
        raise NotAllowedError(
            f"Outbox row {row_id} is {STATE_LABELS.get(record.state, record.state)}, not rejected; only rejected "
            "actions can be dismissed."
        )
    after = refusals.dismiss(app.store(), row_id, utcnow())
    undone = " The local change it came from is taken back (see 'amzorders history')." if (
        (after.result or {}).get("reversed_at")) else ""
    notice(f"#{row_id} {kind_label(record.kind)} {record.amazon_order_id} dismissed; it will not be sent.{undone}")


def _row(ctx: typer.Context, row_id: int):
    from amzorders.errors import NotFoundError

    record = get_app(ctx).store(read_only=True).outbox_row(row_id)
    if record is None:
        raise NotFoundError(f"There is no outbox row {row_id}; see 'amzorders outbox list --all'.")
    return record


def _same_account(app, record) -> None:
    from amzorders.errors import UsageError

    if record.account != app.account.name:
        raise UsageError(
            f"Outbox row {record.id} belongs to account '{record.account}'; run the command with "
            f"--account {record.account}."
        )


def _shown_payload(payload: dict) -> dict:
    """The payload for people: a message attachment's bytes (base64) shown as their size."""
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        return payload
    shown = [dict(a, data=f"<{len(a['data']) * 3 // 4} bytes>") if isinstance(a.get("data"), str) else a
             for a in attachments]
    return {**payload, "attachments": shown}
