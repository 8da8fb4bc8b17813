"""``amzorders config``: init, show, path."""

import json
import sys
from typing import Annotated, Any

import typer

from amzorders.cli.common import cli_options, get_settings, notice, stdout_console, warn
from amzorders.errors import UsageError
from amzorders.textsafe import safe_text
from amzorders.dburl import redact_url

config_app = typer.Typer(
    name="config",
    help="Create and inspect the configuration (accounts, credentials, settings).\n\nExample: amzorders config check",
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
        typer.Option(metavar="ID", help="Your seller (merchant) id (Seller Central > Settings > Account Info > Merchant Token); cancel and refund feeds need it.",
                     show_default=False),
    ] = None,
    token_url: Annotated[
        str | None,
        typer.Option("--token-url", metavar="URL", help="LWA token URL (default: Amazon's; for a local --endpoint, the same server's /auth/o2/token).",
                     show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing config file (kept as .bak).")
    ] = False,
) -> None:
    """Write a config file for one Seller Central account (mode 0600).

    On a terminal, asks for whatever the options do not give; otherwise every value
    must come from the options. Example: amzorders config init --marketplace US --merchant-id A1B2C3
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
            if not merchant_id:
                merchant_id = typer.prompt(
                    "Merchant token (Seller Central > Settings > Account Info; Enter to add it later)",
                    default="", show_default=False,
                ).strip() or None
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
    document = config.new_config_document(account=account, account_table=config.new_account_table(
        region=region or "na", marketplace_ids=tuple(marketplace_ids), client_id=client_id,
        client_secret=client_secret, refresh_token=refresh_token, endpoint=endpoint,
        merchant_id=merchant_id, token_url=token_url,
    ))
    # The document must load: a local endpoint with Amazon's token URL is refused here,
    # naming both, rather than by the first sync.
    config.settings_from_document(document, path=path)
    backup = config.write_config(path, document, force=force)
    if backup is not None:
        notice(f"Previous config kept in {backup}.")
    if not merchant_id and needs_credentials:
        warn("No --merchant-id: cancels and refunds (feeds) need it. Add it later with "
             f"'amzorders config account add {account} --merchant-id ID --replace' or edit {path}.")
    notice(f"Wrote {path} (readable by you only). Next: 'amzorders config check', then 'amzorders sync'.")


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
    """Show the effective settings and where each came from (secrets are hidden).

    Works on an incomplete or broken config too: it then shows the file as written and
    marks what is missing. Example: amzorders config show --json
    """
    settings = _settings_or_problem(ctx, as_json)
    if settings is None:
        return
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
    """Show where the config file, data and order store are, and if the simulator is used.

    Example: amzorders config path --json
    """
    from amzorders.errors import ConfigError

    settings = _settings_or_problem(ctx, as_json, quiet=True)
    if settings is None:
        return
    try:
        account = settings.resolve_account()
    except ConfigError as err:
        facts_broken = {"config_file": str(settings.config_path), "config_exists": settings.config_exists,
                        "data_dir": str(settings.data_dir), "db_path": str(settings.db_path), "problem": err.message}
        _print_facts(facts_broken, as_json, settings.config_exists)
        return
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
    _print_facts(facts, as_json, settings.config_exists)


def _print_facts(facts: dict[str, Any], as_json: bool, config_exists: bool) -> None:
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        if key == "config_file" and not config_exists:
            value = f"{value} (does not exist)"
        typer.echo(safe_text(f"{key.ljust(width)}  {_text(value)}"))


def _settings_or_problem(ctx: typer.Context, as_json: bool, quiet: bool = False):
    """The settings; or, when the config cannot be loaded, print the file as written with
    the problem and what is missing marked, and return None (the exit code stays 3)."""
    from amzorders import config
    from amzorders.errors import ConfigError

    try:
        return get_settings(ctx)
    except ConfigError as err:
        options = cli_options(ctx)
        path, _ = config.resolve_config_path(options.config_path)
        if quiet:  # config path: where things are, and the problem; exit 0
            from amzorders.config import STORE_FILE_NAME, data_dir

            _print_facts({"config_file": str(path), "config_exists": path.exists(), "data_dir": str(data_dir()),
                          "db_path": str(data_dir() / STORE_FILE_NAME), "problem": err.message}, as_json, path.exists())
            return None
        rows = config.describe_file(path)
        if as_json:
            typer.echo(json.dumps({"config_file": str(path), "problem": err.message,
                                   "settings": {k: {"value": v, "note": n} for k, v, n in rows}}, indent=2))
        else:
            if not rows or rows[0][0] != "config_file":  # a file that cannot be read is its own row
                typer.echo(safe_text(f"config_file  {path}"))
            for key, value, note in rows:
                typer.echo(safe_text(f"{key}  {_text(value)}" + (f"   <- {note}" if note else "")))
        raise type(err)(f"{err.message}") from None


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


account_app = typer.Typer(name="account", help="Add or remove one account in the config file (the rest of the file is kept as written).\n\nExample: amzorders config account remove old-shop", no_args_is_help=True)
config_app.add_typer(account_app, name="account")


@account_app.command("add")
def account_add_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Account name (letters, digits, - and _).")],
    region: Annotated[str | None, typer.Option(metavar="REGION", help="na, eu or fe (default: the marketplaces').", show_default=False)] = None,
    marketplace: Annotated[list[str] | None, typer.Option("--marketplace", metavar="ID", help="Marketplace id or country code; repeat for several.", show_default=False)] = None,
    client_id: Annotated[str | None, typer.Option(metavar="ID", help="LWA client id.", show_default=False)] = None,
    client_secret: Annotated[str | None, typer.Option(metavar="SECRET", help="LWA client secret (or AMZORDERS_<NAME>_CLIENT_SECRET).", show_default=False)] = None,
    refresh_token: Annotated[str | None, typer.Option(metavar="TOKEN", help="LWA refresh token (or AMZORDERS_<NAME>_REFRESH_TOKEN).", show_default=False)] = None,
    endpoint: Annotated[str, typer.Option(metavar="ENDPOINT", help="production, sandbox, simulator, or a URL.")] = "production",
    token_url: Annotated[str | None, typer.Option("--token-url", metavar="URL", help="LWA token URL (default: Amazon's, or the local endpoint's).", show_default=False)] = None,
    merchant_id: Annotated[str | None, typer.Option(metavar="ID", help="Merchant token, for cancel and refund feeds.", show_default=False)] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an account of that name.")] = False,
) -> None:
    """Add an account to the config file without rewriting the rest of it.

    Example: amzorders config account add eu-shop --marketplace DE --marketplace FR --client-id ... --merchant-id A1B2C3
    """
    from amzorders import config
    from amzorders.domain import codes

    options = cli_options(ctx)
    path, _ = config.resolve_config_path(options.config_path)
    marketplace_ids = _marketplace_ids(marketplace or [])
    if region is None and marketplace_ids:
        region = codes.MARKETPLACES[marketplace_ids[0]].region
    if region is not None and region not in codes.REGIONS:
        raise UsageError(f"--region must be one of {', '.join(codes.REGIONS)} (got {region!r}).")
    table = config.new_account_table(
        region=region or "na", marketplace_ids=tuple(marketplace_ids), client_id=client_id,
        client_secret=client_secret, refresh_token=refresh_token, endpoint=endpoint,
        merchant_id=merchant_id, token_url=token_url,
    )

    def change(document) -> None:
        import tomlkit

        accounts = document.get("accounts")
        if accounts is None:
            accounts = tomlkit.table(is_super_table=True)
            document["accounts"] = accounts
        if name in accounts and not replace:
            raise UsageError(f"{path} has an account '{name}' already; add --replace to replace it, or 'config account remove {name}'.")
        accounts[name] = table
        if "default_account" not in document and len(accounts) == 1:
            document["default_account"] = name

    config.edit_accounts(path, change)
    notice(f"Account '{name}' written to {path}. Check it with 'amzorders --account {name} config check'.")


@account_app.command("remove")
def account_remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The account to remove.")],
) -> None:
    """Remove one account from the config file (its orders stay in the store).

    Example: amzorders config account remove eu-shop
    """
    from amzorders import config

    options = cli_options(ctx)
    path, _ = config.resolve_config_path(options.config_path)
    if not path.exists():
        from amzorders.errors import ConfigError

        raise ConfigError(f"There is no config file {path}; nothing to remove.")

    def change(document) -> None:
        accounts = document.get("accounts") or {}
        if name not in accounts:
            raise UsageError(f"Unknown account '{name}': {path} configures {', '.join(accounts) or 'none'}.")
        del accounts[name]
        if document.get("default_account") == name:
            del document["default_account"]

    config.edit_accounts(path, change)
    notice(f"Account '{name}' removed from {path} (a copy of the old file is in {path.name}.bak).")


@config_app.command("check")
def check_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Output JSON.")] = False,
) -> None:
    """Try every configured account: one Login with Amazon token call and one searchOrders call.

    Exit 0 when all work, 3 when one does not. Example: amzorders config check
    """
    from amzorders.app import App
    from amzorders.errors import AmzOrdersError, ConfigError
    from amzorders.services.accounts import AccountCheck, check_account

    settings = get_settings(ctx)
    options = cli_options(ctx)
    names = [options.account_name] if options.account_name else (sorted(settings.accounts) or ["simulator"])
    results = []
    for name in names:
        try:
            account = settings.resolve_account(name)
        except AmzOrdersError as exc:
            results.append(AccountCheck(name, f"not tried: {exc.message}", "not tried", False))
            continue
        app = App(settings, account)
        try:
            results.append(check_account(name, app.amazon, account.marketplace_ids))
        finally:
            app.close()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            typer.echo(safe_text(f"{r.account}: login {r.login}; searchOrders {r.search}"))
    failed = [r.account for r in results if not r.ok]
    if failed:
        raise ConfigError(f"{len(failed)} account(s) do not work: {', '.join(failed)} (see above).")
