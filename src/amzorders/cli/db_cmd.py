"""``amzorders db``: the store itself (migrate, copy a SQLite store into PostgreSQL)."""

from typing import Annotated

import typer

from amzorders.cli.common import announce_store_upgrade, get_settings, notice

db_app = typer.Typer(
    help="The order store: bring its schema up to date, or copy a SQLite store into PostgreSQL.\n\nExample: amzorders db migrate",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db", rich_help_panel="Maintenance")


@db_app.command("migrate")
def migrate_command(ctx: typer.Context) -> None:
    """Apply the store's pending schema migrations (every command also does this on start).

    The store is the one --db / AMZORDERS_DB / the config names: a SQLite file or a
    postgresql:// URL. Example: amzorders --db postgresql://amzorders@db1/amzorders db migrate
    """
    from amzorders.store import Store

    settings = get_settings(ctx)
    location = settings.db_path_for(settings.resolve_account())
    with Store.open(location, password=settings.db_password, on_upgrade=announce_store_upgrade) as store:
        notice(f"The store {store.location} is at schema version {store.schema_version()}.")


@db_app.command("copy")
def copy_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", metavar="FILE.db", help="The SQLite store to copy.", show_default=False)],
    target: Annotated[
        str, typer.Option("--to", metavar="URL", help="postgresql://user@host:port/dbname to copy into.", show_default=False)
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace whatever the target already holds.")] = False,
) -> None:
    """Copy every table of a SQLite store into a PostgreSQL store, verified by row counts
    and checksums; nothing is written unless all of it matches.

    Refuses a target that already holds orders unless --force. Stop cron and operators on
    the SQLite store first: rows written to it during the copy are not carried over.
    Example: amzorders db copy --from ~/.local/share/amzorders/amzorders.db --to postgresql://amzorders@db1/amzorders
    """
    from pathlib import Path

    from amzorders.dburl import is_postgres_url, redact_url
    from amzorders.errors import UsageError
    from amzorders.store import Store
    from amzorders.store.copy import copy_store

    settings = get_settings(ctx)
    if is_postgres_url(source) or not Path(source).expanduser().is_file():
        raise UsageError(f"--from must be an existing SQLite store file (got {redact_url(source)}).")
    if not is_postgres_url(target):
        raise UsageError(f"--to must be a postgresql://user@host:port/dbname URL (got {target}).")
    with Store.open(Path(source).expanduser(), sqlite_only=True) as from_store, Store.open(
        target, password=settings.db_password
    ) as to_store:
        report = copy_store(from_store, to_store, force=force)
        notice(
            f"Copied {report.total_rows} rows in {len(report.tables)} tables from {from_store.location} "
            f"to {to_store.location}; counts and checksums match."
        )
