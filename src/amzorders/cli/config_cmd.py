"""``amzorders config``: init, show, path."""

import json
import sys
from typing import Annotated, Any

import typer

from amzorders.cli.common import cli_options, get_settings, notice, stdout_console
from amzorders.errors import UsageError
from amzorders.textsafe import safe_text
from amzorders.dburl import redact_url

config_app = typer.Typer(
    name="config",
    help="Create and inspect the configuration (accounts, credentials, settings).",
    no_args_is_help=True,
)

HIDDEN = "set (hidden)"
NOT_SET = "not set"
DEFAULT_MARKETPLACE_BY_REGION = {"na": "US", "eu": "DE", "fe": "JP"}


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@config_app.command("init")
def init_command(
    ctx: typer.Context,
    account: Annotated[
        str, typer.Option("--account", metavar="NAME", help="Name of the account.")
    ] = "main",
    region: Annotated[
        str | None,
        typer.Option(help="Amazon region: na, eu or fe (default: the marketplaces').",
                     show_default=False),
    ] = None,
    marketplace: Annotated[
        list[str] | None,
        typer.Option(
            "--marketplace",
            metavar="ID",
            help="Marketplace id or country code (US, DE, ...); repeat for several.",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="LWA client id of your SP-API app.", show_default=False)
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            help="LWA client secret (safer: leave out and type it at the prompt).",
            show_default=False,
        ),
    ] = None,
    refresh_token: Annotated[
        str | None,
        typer.Option(
            help="LWA refresh token from authorizing the app (safer: at the prompt).",
            show_default=False,
        ),
    ] = None,
    endpoint: Annotated[
        str,
        typer.Option(help="production, sandbox, simulator, or an https URL."),
    ] = "production",
    merchant_id: Annotated[
        str | None,
        typer.Option(help="Your seller (merchant) id, used in feed documents.",
                     show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing config file (kept as .bak).")
    ] = False,
) -> None:
    """Write a config file for one Seller Central account (mode 0600).

    On a terminal, asks for whatever the options do not give; otherwise every value
    must come from the options.
    """
    from amzorders import config
    from amzorders.domain import codes

    options = cli_options(ctx)
    path, _ = config.resolve_config_path(options.config_path)
    # Checked before any prompt, so that nobody types a secret for nothing.
    config.check_can_write(path, force=force)

    interactive = _stdin_is_terminal()
    marketplace_ids = _marketplace_ids(marketplace or [])
    if region is None and marketplace_ids:
        region = codes.MARKETPLACES[marketplace_ids[0]].region
    needs_credentials = endpoint != "simulator"
    if interactive:
        if region is None:
            region = typer.prompt("Region (na, eu, fe)", default="na").strip().lower()
        if not marketplace_ids:
            answer = typer.prompt(
                "Marketplaces (ids or country codes, comma separated)",
                default=DEFAULT_MARKETPLACE_BY_REGION.get(region, "US"),
            )
            marketplace_ids = _marketplace_ids(answer.split(","))
        if needs_credentials:
            client_id = client_id or typer.prompt("LWA client id")
            client_secret = client_secret or typer.prompt("LWA client secret", hide_input=True)
            refresh_token = refresh_token or typer.prompt("Refresh token", hide_input=True)
    else:
        missing: list[str] = []
        if needs_credentials:
            missing += ["--marketplace"] if not marketplace_ids else []
            missing += [
                flag
                for flag, value in (
                    ("--client-id", client_id),
                    ("--client-secret", client_secret),
                    ("--refresh-token", refresh_token),
                )
                if not value
            ]
        if missing:
            raise UsageError(
                f"config init needs {', '.join(missing)} when not run on a terminal "
                f"(run it in a terminal to be asked instead)."
            )

    if region is not None and region not in codes.REGIONS:
        raise UsageError(f"--region must be one of {', '.join(codes.REGIONS)} (got {region!r}).")
    document = config.new_config_document(
        account=account,
        region=region or "na",
        marketplace_ids=tuple(marketplace_ids),
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        endpoint=endpoint,
        merchant_id=merchant_id,
    )
    backup = config.write_config(path, document, force=force)
    if backup is not None:
        notice(f"Previous config kept in {backup}.")
    notice(f"Wrote {path} (readable by you only). Next: 'amzorders sync' to import orders.")


def _marketplace_ids(values: list[str]) -> list[str]:
    from amzorders.config import marketplace_id_from

    ids: list[str] = []
    for value in values:
        if not value.strip():
            continue
        marketplace_id = marketplace_id_from(value)
        if marketplace_id is None:
            raise UsageError(
                f"Unknown marketplace {value.strip()!r}: give a marketplace id "
                f"(e.g. ATVPDKIKX0DER) or a country code (US, DE, JP, ...)."
            )
        if marketplace_id not in ids:
            ids.append(marketplace_id)
    return ids


@config_app.command("show")
def show_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Output JSON.")] = False,
) -> None:
    """Show the effective settings and where each came from (secrets are hidden)."""
    settings = get_settings(ctx)
    rows = [
        (item.key, _display(item.value, item.secret), item.source)
        for item in settings.effective_items()
    ]
    if as_json:
        payload = {key: {"value": value, "source": source} for key, value, source in rows}
        typer.echo(json.dumps({"config_exists": settings.config_exists, "settings": payload},
                              indent=2))
        return
    from rich.table import Table

    from amzorders import render

    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", style="dim", no_wrap=True)
    for key, value, source in rows:
        render.add_row(table, key, _text(value), source)
    if not settings.config_exists:
        notice(f"No config file at {settings.config_path}: built-in defaults apply.")
    stdout_console().print(table)


@config_app.command("path")
def path_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Output JSON.")] = False,
) -> None:
    """Show where the config file, data and order store are, and if the simulator is used."""
    settings = get_settings(ctx)
    account = settings.resolve_account()
    facts: dict[str, Any] = {
        "config_file": str(settings.config_path),
        "config_exists": settings.config_exists,
        "data_dir": str(settings.data_dir),
        "db_path": redact_url(settings.db_path_for(account)),
        "account": account.name,
        "using_simulator": account.is_simulator,
    }
    if account.is_simulator:
        facts["simulator_state"] = str(settings.simulator_state_path)
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        if key == "config_file" and not settings.config_exists:
            value = f"{value} (does not exist)"
        typer.echo(safe_text(f"{key.ljust(width)}  {_text(value)}"))


def _display(value: Any, secret: bool) -> Any:
    if secret:
        return HIDDEN if value else NOT_SET
    return value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value == "":
        return '""'
    return str(value)
