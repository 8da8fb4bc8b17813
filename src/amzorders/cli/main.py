"""The ``amzorders`` command: global options, command registration, the error boundary.

``main(argv)`` (run by the console script, ``cli.entry.run``, and by the tests) is the one
place where exceptions become messages and exit codes:

- ``AmzOrdersError`` -> ``Error: <message>`` on stderr, exit ``err.exit_code``;
- Typer/Click usage errors -> Click's message, exit 2;
- Ctrl-C -> ``Interrupted.``, exit 130; SIGTERM (cron, systemd, containers) the same way,
  exit 143: the handler raises ``errors.Terminated`` in the main thread, so the open
  transaction rolls back, claimed outbox rows are given back and the sync lock is freed by
  the code that holds them, and the log gets its end line;
- a database or file-system failure (disk full, read-only, corrupt...) -> the store error
  ``amzorders.store.errors.translate_store_error`` makes of it;
- anything else -> one line naming the type, exit 1; ``--debug`` / ``AMZORDERS_DEBUG=1``
  add the traceback (never with local variables: they can hold secrets), and
  ``AMZORDERS_RAISE_UNEXPECTED=1`` (set by the test suite) re-raises it.

The root callback opens the log file (``amzorders.logsetup``) and records the command's
start; ``main`` records its outcome (exit code, error message, or the traceback of an
unexpected failure, redacted) and closes the log.
"""

import copy
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated

import time

import typer

from amzorders import __version__, logsetup
from amzorders.cli.common import CliOptions, warn
from amzorders.cli.entry import resume_collection
from amzorders.cli.output import PipeClosed, silence_stdout
from amzorders.errors import AmzOrdersError, ExitCode, Terminated
from amzorders.textsafe import safe_text

try:  # Typer >= 0.26 ships its own Click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException

_log = logging.getLogger("amzorders.cli")


class _RootGroup(typer.core.TyperGroup):
    """The top-level group, whose own ``--help`` is Click's plain text, commands grouped
    under their panel names. Typer's rich help imports rich.markdown (markdown-it),
    rich.traceback and pygments, ~2x the start-up of a bare Typer command (issue 15);
    each command's ``--help`` stays Typer's rich one."""

    def format_help(self, ctx, formatter) -> None:  # type: ignore[no-untyped-def]
        super(typer.core.TyperGroup, self).format_help(ctx, formatter)

    def format_commands(self, ctx, formatter) -> None:  # type: ignore[no-untyped-def]
        panels: dict[str, list[tuple[str, str]]] = {}
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        commands = [(name, cmd) for name, cmd in commands if cmd is not None and not cmd.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        for name, cmd in commands:
            panel = getattr(cmd, "rich_help_panel", None) or "Commands"
            panels.setdefault(panel, []).append((name, cmd.get_short_help_str(limit)))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


def _new_app() -> typer.Typer:
    return typer.Typer(
        cls=_RootGroup,
        name="amzorders",
        help="Run Amazon seller orders from a terminal: import them from Seller Central, "
        "invoice, ship, cancel and refund them, and sync it all back.",
        rich_markup_mode="rich",
        pretty_exceptions_show_locals=False,
        no_args_is_help=True,
        # --install-completion / --show-completion: Typer's own, imported only when used.
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


# Command modules under amzorders.cli, each with ``register(app)``. A module that is not
# written yet is skipped, so the CLI works while the project grows.
COMMAND_MODULES: tuple[str, ...] = (
    "config_cmd",
    "db_cmd",
    "maintenance_cmd",
    "message_cmd",
    "notifications_cmd",
    "orders_cmd",
    "outbox_cmd",
    "print_cmd",
    "processing_cmd",
    "simulator_cmd",
)

# Which module defines each top-level command: a run builds only the command it runs
# (Typer turns every registered command into a Click command at each start: ~50 ms for
# all of them). Anything else (--help, a typo) gets the full app.
COMMAND_OWNERS: dict[str, str] = {
    "config": "config_cmd",
    "db": "db_cmd",
    "purge-pii": "maintenance_cmd",
    "audit": "maintenance_cmd",
    "import": "orders_cmd",
    "sync": "orders_cmd",
    "list": "orders_cmd",
    "show": "orders_cmd",
    "history": "orders_cmd",
    "outbox": "outbox_cmd",
    "invoice": "processing_cmd",
    "ship": "processing_cmd",
    "refund": "processing_cmd",
    "cancel": "processing_cmd",
    "comment": "processing_cmd",
    "hold": "processing_cmd",
    "unhold": "processing_cmd",
    "message": "message_cmd",
    "review-request": "message_cmd",
    "print": "print_cmd",
    "vat-upload": "print_cmd",
    "simulator": "simulator_cmd",
    "listen": "notifications_cmd",
    "notifications": "notifications_cmd",
}
# Global options that take a value (the command name is the first word after them).
_VALUE_OPTIONS = frozenset({"--config", "--db", "--account", "--tz"})


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"amzorders {__version__}")
        raise typer.Exit()


def _global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Config file to use instead of the default (also: AMZORDERS_CONFIG).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="FILE|URL",
            envvar="AMZORDERS_DB",
            help="Order store: a SQLite file, or postgresql://user@host:port/dbname.",
            show_default=False,
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            metavar="NAME",
            envvar="AMZORDERS_ACCOUNT",
            help="Seller account from the config file ('simulator': the built-in one).",
            show_default=False,
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Time zone for times shown and dates typed, e.g. Europe/Berlin (default: display_timezone, else UTC; JSON stays UTC).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of errors (also: AMZORDERS_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version_callback, help="Show the version."
        ),
    ] = False,
) -> None:
    options = ctx.find_object(CliOptions)
    if options is None:
        options = ctx.obj = CliOptions()
    # Values Typer read from an environment variable are left to config.py, which reads
    # the environment itself and so can report each setting's true source.
    options.config_path = config
    options.db_path = db if _from_command_line(ctx, "db") else None
    options.account_name = account if _from_command_line(ctx, "account") else None
    options.debug = options.debug or debug
    if tz is not None:
        from amzorders.config import zone_problem
        from amzorders.errors import UsageError

        problem = zone_problem(tz.strip())
        if problem:
            raise UsageError(f"--tz: {problem}.")
        options.display_timezone = tz.strip()
    resume_collection()
    _start_log(ctx, options)


def _start_log(ctx: typer.Context, options: CliOptions) -> None:
    """Open the log file in the data dir and record which command runs (never its
    arguments: `config init` takes secrets as flags)."""
    from amzorders.config import data_dir

    if options.log_path is not None:  # the callback ran already for this main()
        return
    options.command = _command_name(ctx, options.argv)
    try:
        options.log_path = logsetup.configure_logging(data_dir(os.environ), debug=options.debug)
    except OSError as err:  # a log that cannot be written must not stop the command
        warn(f"Cannot write the log file: {err.strerror}.")
        return
    options.started_at = time.monotonic()
    _log.info("command start: %s (amzorders %s, pid %d)", options.command, __version__, os.getpid())


def _command_name(ctx: typer.Context, argv: list[str]) -> str:
    """'sync', 'config show'...: the command words of ``argv``, found by walking the
    command tree (options and their values skipped, arguments never included)."""
    words: list[str] = []
    command = ctx.command
    tokens = iter(argv)
    for token in tokens:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            break
        if token.startswith("-"):
            takes_value = any(
                token in getattr(param, "opts", ()) and not getattr(param, "is_flag", False)
                for param in command.params
            )
            if takes_value:
                next(tokens, None)
            continue
        if token not in subcommands:
            break
        words.append(token)
        command = subcommands[token]
    return " ".join(words) or (ctx.invoked_subcommand or "amzorders")


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def register_commands(
    target: typer.Typer, package: str = "amzorders.cli", names: tuple[str, ...] = COMMAND_MODULES
) -> list[str]:
    """Call ``register(target)`` of each module; return the names of those registered."""
    registered: list[str] = []
    for name in names:
        qualified = f"{package}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as err:
            if err.name == qualified:  # the module itself is missing, not one it imports
                continue
            raise
        module.register(target)
        registered.append(name)
    return registered


_full_app: typer.Typer | None = None


def full_app() -> typer.Typer:
    """The app with every command, built on first use (--help, a typo, the tests): a
    command run imports and builds only its own module (``app_for``)."""
    global _full_app
    if _full_app is None:
        _full_app = _new_app()
        _full_app.callback()(_global_options)
        register_commands(_full_app)
    return _full_app


def __getattr__(name: str):  # ``from amzorders.cli.main import app``: the full app, built lazily
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(argv: list[str]) -> typer.Typer:
    """The app to run ``argv`` with: only the module of the command named, if known."""
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
            continue
        if word.startswith("-"):
            continue
        owner = COMMAND_OWNERS.get(word)
        if owner is None:
            return full_app()
        lean = _new_app()
        lean.callback()(_global_options)
        register_commands(lean, names=(owner,))
        _keep_only(lean, word)
        return lean
    return full_app()


def _keep_only(lean: typer.Typer, word: str) -> None:
    """Drop the module's other commands: Typer turns each registered one into a Click
    command (signature, annotations, parameters) at every start, ~3 ms each."""
    commands = [info for info in lean.registered_commands if info.name == word]
    groups = [info for info in lean.registered_groups if info.name == word]
    if commands or groups:  # else keep all: the module names its commands some other way
        lean.registered_commands[:] = commands
        lean.registered_groups[:] = groups


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _print_error(message: str, keep_newlines: bool = False) -> None:
    # Plain write: messages may contain [brackets] that rich would take for markup.
    # Redacted as a last line of defence: messages must never hold secrets anyway.
    # Neutralised: Amazon's own error text and what the operator typed are data, not
    # terminal input. One line unless the error is a listing (the bad rows of a CSV).
    sys.stderr.write(f"Error: {safe_text(logsetup.redact(message), keep_newlines=keep_newlines)}\n")
    sys.stderr.flush()


def _print_traceback(err: BaseException) -> None:
    # format_exception never includes local variables (they can hold secrets); the
    # text is still redacted in case a message or a chained exception carries one.
    sys.stderr.write(safe_text(logsetup.redact("".join(traceback.format_exception(err))), keep_newlines=True))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    options = CliOptions(
        debug=_env_flag("AMZORDERS_DEBUG"), argv=list(sys.argv[1:] if argv is None else argv)
    )
    code: int | None = None
    previous_handler = _handle_sigterm()
    try:
        code = _run(argv, options)
        return code
    finally:
        if options.log_path is not None:
            if code is not None:
                elapsed = time.monotonic() - (options.started_at or time.monotonic())
                _log.info("command end: %s exit %d in %.2fs", options.command, code, elapsed)
            logsetup.shutdown_logging()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _handle_sigterm():
    """Turn SIGTERM into ``Terminated`` raised in the main thread, once: a second SIGTERM
    while cleaning up is ignored (SIGKILL remains for a process that must stop now).
    Returns the handler to restore, or None when not on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum, frame):  # noqa: ARG001 (signal's signature)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    return signal.signal(signal.SIGTERM, on_sigterm)


def uniform_metavars(command) -> None:  # noqa: C901
    """One metavar style in every help text: an option's or argument's value is shown in
    capitals after its name (--since WHEN, ORDER), never Click's <float range> or {a|b}."""
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option" and not getattr(param, "is_flag", False) and not param.metavar:
            param.metavar = (param.name or "value").upper()
        elif param.param_type_name == "argument":
            if not param.metavar:
                param.metavar = (param.name or "value").upper()
            # Typer's help adds the type (<str>, <int>) after an argument's name: the
            # name says it already.
            quiet = copy.copy(param.type)
            quiet.get_metavar = lambda *args, **kwargs: ""
            param.type = quiet
    for sub in getattr(command, "commands", {}).values():
        uniform_metavars(sub)


def _run(argv: list[str] | None, options: CliOptions) -> int:
    command = typer.main.get_command(app_for(options.argv))
    uniform_metavars(command)
    try:
        result = command.main(
            args=argv, prog_name="amzorders", standalone_mode=False, obj=options
        )
    except AmzOrdersError as err:
        return _report_error(err, options)
    except Terminated:
        _log.error("%s terminated (SIGTERM)", options.command)
        sys.stderr.write(
            "\nTerminated (SIGTERM): what was not finished was rolled back; run the command again.\n"
        )
        return int(ExitCode.TERMINATED)
    except typer.Abort as err:
        # Click turns Ctrl-C / end of input at a prompt into Abort.
        if isinstance(err.__context__, KeyboardInterrupt):
            sys.stderr.write("\nInterrupted.\n")
            return int(ExitCode.INTERRUPTED)
        sys.stderr.write("Aborted.\n")
        return 1
    except KeyboardInterrupt:
        _log.error("%s interrupted", options.command)
        sys.stderr.write("\nInterrupted.\n")
        return int(ExitCode.INTERRUPTED)
    except ClickException as err:
        return _usage_error(err)
    except (PipeClosed, BrokenPipeError):
        # The reader went away (list --json | head): what it wanted, it has.
        silence_stdout()
        return 0
    except SystemExit as exit_:  # Click exits on a broken pipe even when not standalone
        if isinstance(exit_.__context__, BrokenPipeError):
            # A table or text read by `| head`: the reader has what it wanted, as for --json.
            silence_stdout()
            return 0
        return exit_.code if isinstance(exit_.code, int) else 1
    except Exception as err:
        translated = _machine_error(err, options)
        if translated is not None:
            if options.debug:
                _print_traceback(err)
            return _report_error(translated, options)
        _log.error("%s failed unexpectedly", options.command, exc_info=err)
        if _env_flag("AMZORDERS_RAISE_UNEXPECTED"):
            raise
        if options.debug:
            _print_traceback(err)
        _print_error(
            f"unexpected failure ({type(err).__name__}): {err}. "
            "Rerun with --debug for details and report it."
        )
        return 1
    if result == ExitCode.INTERRUPTED:
        # Typer turns a KeyboardInterrupt inside a command into Exit(130), silently.
        sys.stderr.write("\nInterrupted.\n")
    return result if isinstance(result, int) else 0


def _report_error(err: AmzOrdersError, options: CliOptions) -> int:
    _log.error("%s failed (exit %d): %s", options.command, int(err.exit_code), err.message)
    if options.debug:
        _print_traceback(err)
    _print_error(err.message, keep_newlines=getattr(err, "multiline", False))
    return int(err.exit_code)


def _machine_error(err: Exception, options: CliOptions) -> AmzOrdersError | None:
    """A store or file-system failure that escaped a read (writes translate their own):
    the store error it means, or None for a bug."""
    from amzorders.store.errors import translate_store_error

    db_path = options.app.db_path if options.app is not None else options.db_path
    return translate_store_error(err, db_path)


def _usage_error(err: ClickException) -> int:
    if type(err).__name__ != "NoArgsIsHelpError":  # the help text is already printed
        from typer import rich_utils

        rich_utils.rich_format_error(err)
    return err.exit_code


