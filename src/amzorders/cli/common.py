"""Helpers shared by the command modules: the App from the typer context, stderr output.

stdout carries data (tables, JSON); notices and warnings go to stderr through
``warn``/``notice`` so that pipes and cron mails stay clean.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from amzorders.textsafe import json_text, safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from amzorders.app import App
    from amzorders.config import Settings


class CliOptions:
    """The global options, kept in ``ctx.obj`` (``main()`` creates it, the callback fills it).

    A plain class, not a record: ``--help`` builds it too, and a dataclass (~1 ms to create)
    or msgspec's import (~8 ms) would be a large part of --help's own start-up (issue 15)."""

    __slots__ = ("config_path", "db_path", "account_name", "display_timezone", "debug", "app", "settings",
                 "shown_warnings", "argv", "command", "log_path", "started_at")

    def __init__(self, debug: bool = False, argv: list[str] | None = None) -> None:
        self.config_path: Path | None = None  # --config as typed (None: not on the command line)
        self.db_path: str | None = None  # --db as typed (a SQLite path or a PostgreSQL URL)
        self.account_name: str | None = None  # --account as typed
        self.display_timezone: str | None = None  # --tz
        self.debug = debug
        self.app: App | None = None
        self.settings: Settings | None = None
        self.shown_warnings: set[str] = set()
        self.argv: list[str] = [] if argv is None else argv  # the arguments main() was given
        self.command = "amzorders"  # the command path being run, for the log ("config show")
        self.log_path: Path | None = None  # the log file, once the root callback configured it
        self.started_at: float | None = None  # time.monotonic() at the command's start


def stderr_console() -> Console:
    from rich.console import Console

    # Built per call: the console then follows sys.stderr and COLUMNS as they are now
    # (tests swap both). No markup, no emoji codes: strings printed are data.
    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


# Piped into a file, less or a cron mail without COLUMNS: panels are drawn this wide,
# so a pager in any ordinary terminal shows them without wrapping.
PIPE_WIDTH = 80


def stdout_console(markup: bool = False, width: int | None = None) -> Console:
    """The console for data on stdout: the terminal's width on a terminal; else COLUMNS
    when set (rich reads it), else PIPE_WIDTH. ``width`` forces one (a table drawn at
    its natural width for a file).

    Markup and emoji codes are off: a plain string reaching it is printed as it is
    (``render`` builds styled ``Text`` itself)."""
    import os

    from rich.console import Console

    if width is not None:
        return Console(highlight=False, soft_wrap=False, markup=markup, emoji=False, width=width)
    console = Console(highlight=False, soft_wrap=False, markup=markup, emoji=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console = Console(highlight=False, soft_wrap=False, markup=markup, emoji=False, width=PIPE_WIDTH)
    return console


def _plain_stderr(text: str) -> bool:
    """Write ``text`` (already neutralised) as is when stderr is not a terminal: no colour
    to add, and rich costs ~30 ms of start-up. False: rich should print it."""
    if sys.stderr.isatty():
        return False
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
    return True


def table_width() -> int | None:
    """How wide a table may be: the terminal's (or COLUMNS') width; None when stdout is a
    file or pipe without COLUMNS (then every column is kept at its natural width)."""
    import os

    from rich.console import Console

    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console.width
    return None


def print_table(table) -> None:
    """Print a fitted table: never wider than ``table_width()``, never wrapped.

    The title goes on a line of its own, as wide as the terminal (a table of two narrow
    columns would otherwise wrap it over several lines), cut with "…", never wrapped."""
    from rich.text import Text

    title = table.title
    table.title = None
    heading = None
    if title:
        heading = title.copy() if isinstance(title, Text) else Text(str(title))
        heading.no_wrap, heading.overflow = True, "ellipsis"
        heading.stylize("table.title")
    width = table_width()
    if width is None:  # a file or pipe: the table at its natural width, the title whole
        from rich.console import Console
        from rich.measure import Measurement

        measuring = Console(width=10_000)
        width = max(1, Measurement.get(measuring, measuring.options, table).maximum, heading.cell_len if heading else 0)
    console = stdout_console(markup=False, width=width)
    if heading is not None:
        console.print(heading)
    console.print(table)
    hidden = getattr(table, "hidden_columns", None)
    if hidden and sys.stdout.isatty():  # a person looking: say what the width hid
        line = f"Hidden at {width} columns: {', '.join(hidden)} (a wider terminal or --columns shows them)."
        notice(line if len(line) <= width else line[: max(1, width - 1)] + "…")  # one line, never wrapped


def warn(message: str) -> None:
    """A warning on stderr (plain, neutralised text: never markup, never raw escapes)."""
    text = safe_text(message, keep_newlines=True)
    if _plain_stderr(f"Warning: {text}"):
        return
    from rich.text import Text

    line = Text("Warning:", style="bold yellow")
    line.append(" " + text)
    stderr_console().print(line)


def notice(message: str) -> None:
    """An informational line on stderr."""
    text = safe_text(message, keep_newlines=True)
    if not _plain_stderr(text):
        from rich.text import Text

        stderr_console().print(Text(text))


def out(text: str = "", end: str = "\n") -> None:
    """A plain line of human-readable output on stdout, neutralised for the terminal."""
    sys.stdout.write(safe_text(text, keep_newlines=True) + end)


def out_data(text: str) -> None:
    """Machine-readable text (CSV, a feed document) on stdout: exact when it goes to a
    file or a pipe, neutralised when stdout is a terminal."""
    if sys.stdout.isatty():
        text = safe_text(text, keep_newlines=True)
    sys.stdout.write(text)


def out_json(document: str) -> None:
    """A JSON document from ``json.dumps`` on stdout, unsafe characters as JSON escapes."""
    sys.stdout.write(json_text(document) + "\n")


def cli_options(ctx: typer.Context) -> CliOptions:
    options = ctx.find_object(CliOptions)
    if options is None:  # a command invoked without the root callback (tests)
        options = CliOptions()
        ctx.find_root().obj = options
    return options


def get_settings(ctx: typer.Context) -> Settings:
    """The validated settings (config errors surface here), warnings printed once."""
    options = cli_options(ctx)
    if options.settings is None:
        from amzorders.config import load_settings

        from amzorders import logsetup

        options.settings = load_settings(
            config_path=options.config_path,
            db_path=options.db_path,
            account=options.account_name,
        )
        logsetup.add_settings_secrets(options.settings)
        _show_warnings(options, options.settings.warnings)
        _check_named_config(options, options.settings)
    return options.settings


# Commands that work with a named config file that does not exist yet, or has no account.
_CONFIG_EDITORS = ("config init", "config show", "config path", "config account add", "config account remove")


def _check_named_config(options: CliOptions, settings: Settings) -> None:
    """--config FILE / AMZORDERS_CONFIG naming a file that does not exist, or one with no
    account, is an error (exit 3): running on the simulator instead would hide the typo."""
    from amzorders.errors import ConfigError

    source = settings.sources.get("config_path", "")
    if not source.startswith(("flag", "env")) or options.command in _CONFIG_EDITORS:
        return
    if not settings.config_exists:
        raise ConfigError(
            f"There is no config file {settings.config_path} (from {source}). Check the path, or "
            f"create it with 'amzorders --config {settings.config_path} config init'."
        )
    if not settings.accounts and settings.default_account != "simulator":
        raise ConfigError(
            f"The config file {settings.config_path} (from {source}) configures no account. Add one with "
            f"'amzorders --config {settings.config_path} config account add NAME ...', or pass "
            "--account simulator for the built-in simulator."
        )


def get_app(ctx: typer.Context) -> App:
    """The App for this run, built on first use and closed when the command ends."""
    options = cli_options(ctx)
    if options.app is None:
        from amzorders.app import App

        settings = get_settings(ctx)
        app = App(settings, settings.resolve_account())
        app.display_timezone_override = options.display_timezone
        app.on_store_upgrade = announce_store_upgrade
        options.app = app
        ctx.find_root().call_on_close(app.close)
        if app.using_simulator:
            warn(simulator_notice(app.db_path))
    return options.app


def announce_store_upgrade(location: str, current: int, newest: int) -> None:
    """Before a store's schema upgrade: say why this command may take a while."""
    notice(
        f"Upgrading the order store {location} from schema {current} to {newest}. This runs once "
        "after an amzorders upgrade and can take several minutes on a large store; if it is "
        "interrupted, it is rolled back and runs again next time."
    )


def simulator_notice(db_path: Path | str) -> str:
    from amzorders.dburl import redact_url

    db_path = redact_url(db_path)
    return (
        "Using the built-in simulated marketplace (no Amazon credentials configured). "
        f"Simulated orders are kept in {db_path}, apart from real ones. "
        "Run 'amzorders config init' to connect Seller Central."
    )


def _show_warnings(options: CliOptions, warnings: tuple[str, ...]) -> None:
    for message in warnings:
        if message not in options.shown_warnings:
            options.shown_warnings.add(message)
            warn(message)


# -- option parsers -------------------------------------------------------------------
# Given to typer as ``parser=``: they raise UsageError (exit 2, one "Error:" line). Click's
# own int/float types call int()/float(), which take Arabic-Indic digits, '1_0', 'nan' and
# 1e300, and let a 30-digit id reach SQLite as an OverflowError.

MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY
MAX_WAIT_SECONDS = 86_400.0  # a day: a cron sync waiting longer than that is a mistake


def ascii_int(option: str, minimum: int, maximum: int):
    """A parser for a whole number in [minimum, maximum], ASCII digits only."""
    import re

    def parse(text: str) -> int:
        from amzorders.errors import UsageError

        value = str(text).strip()
        if not re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII):
            raise UsageError(f"{option}: '{text}' is not a whole number; write digits like {minimum}.")
        if len(value.lstrip("+-").lstrip("0")) > len(str(maximum)) or not minimum <= int(value) <= maximum:
            raise UsageError(f"{option}: {value[:30]} is out of range; give a number from {minimum} to {maximum}.")
        return int(value)

    parse.__name__ = "INTEGER"
    return parse


def seconds_option(option: str, maximum: float = MAX_WAIT_SECONDS):
    """A parser for a duration in seconds: a plain decimal in [0, maximum], finite."""
    import re

    def parse(text: str) -> float:
        from amzorders.errors import UsageError

        value = str(text).strip()
        if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{0,6})?|\.[0-9]{1,6}", value, re.ASCII):
            raise UsageError(
                f"{option}: '{text}' is not a number of seconds; write e.g. 30 or 0.5 "
                f"(at most {maximum:g})."
            )
        seconds = float(value)
        if seconds > maximum:
            raise UsageError(f"{option}: {value} seconds is more than {maximum:g}; give at most {maximum:g}.")
        return seconds

    parse.__name__ = "SECONDS"
    return parse


def number_option(option: str, minimum: float, maximum: float):
    """A parser for a plain decimal number in [minimum, maximum] (no exponent, nan, inf)."""
    import re

    def parse(text: str) -> float:
        from amzorders.errors import UsageError

        value = str(text).strip()
        if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{0,6})?|\.[0-9]{1,6}", value, re.ASCII):
            raise UsageError(f"{option}: '{text}' is not a number; write e.g. 1 or 0.5.")
        number = float(value)
        if not minimum <= number <= maximum:
            raise UsageError(f"{option}: {value} is out of range; give a number from {minimum:g} to {maximum:g}.")
        return number

    parse.__name__ = "NUMBER"
    return parse
