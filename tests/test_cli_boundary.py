"""The one error boundary (cli.main.main) and the global options."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer

from amzorders import __version__, errors
from amzorders.cli import common
from amzorders.cli.main import COMMAND_MODULES, app, register_commands

EXPECTED_EXIT_CODES = {
    errors.NotFoundError: 1,
    errors.NotAllowedError: 1,
    errors.UsageError: 2,
    errors.ConfigError: 3,
    errors.AmazonRejectedError: 4,
    errors.AmazonUnavailableError: 5,
    errors.AuthError: 3,
    errors.LockedError: 6,
}
FAILURES: dict[str, BaseException] = {
    cls.__name__: cls(f"{cls.__name__} happened [do this]") for cls in EXPECTED_EXIT_CODES
}
FAILURES["unexpected"] = ValueError("bad value")
FAILURES["interrupt"] = KeyboardInterrupt()


@pytest.fixture
def test_commands() -> Iterator[None]:
    """Hidden commands that exist only while a test runs (never in the product)."""
    registered = list(app.registered_commands)

    @app.command("fail-for-test", hidden=True)
    def fail(kind: str) -> None:
        raise FAILURES[kind]

    @app.command("app-for-test", hidden=True)
    def show_app(ctx: typer.Context) -> None:
        first = common.get_app(ctx)
        assert common.get_app(ctx) is first  # built once per run
        typer.echo(f"{first.account.name} {first.db_path} {first.using_simulator}")

    yield
    app.registered_commands[:] = registered


def test_every_error_type_maps_to_its_exit_code(cli, test_commands):
    for cls, code in EXPECTED_EXIT_CODES.items():
        assert int(cls.exit_code) == code
        result = cli("fail-for-test", cls.__name__)
        assert result.exit_code == code, cls
        # Printed as-is: brackets are not swallowed as rich markup.
        assert result.stderr == f"Error: {cls.__name__} happened [do this]\n"
        assert result.stdout == ""


def test_unexpected_errors_are_re_raised_under_tests(cli, test_commands):
    with pytest.raises(ValueError, match="bad value"):
        cli("fail-for-test", "unexpected")


def test_unexpected_error_is_one_line_and_debug_adds_the_traceback(cli, test_commands):
    quiet = cli("fail-for-test", "unexpected", env={"AMZORDERS_RAISE_UNEXPECTED": None})
    assert quiet.exit_code == 1
    assert quiet.stderr == (
        "Error: unexpected failure (ValueError): bad value. "
        "Rerun with --debug for details and report it.\n"
    )
    loud = cli("--debug", "fail-for-test", "unexpected", env={"AMZORDERS_RAISE_UNEXPECTED": None})
    assert loud.exit_code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("report it.")
    from_env = cli("fail-for-test", "unexpected",
                   env={"AMZORDERS_RAISE_UNEXPECTED": None, "AMZORDERS_DEBUG": "1"})
    assert "Traceback" in from_env.stderr


def test_debug_shows_traceback_of_expected_errors_too(cli, test_commands):
    result = cli("--debug", "fail-for-test", "LockedError")
    assert result.exit_code == 6
    assert "Traceback" in result.stderr and "Error: LockedError happened" in result.stderr


def test_ctrl_c_exits_130(cli, test_commands):
    result = cli("fail-for-test", "interrupt")
    assert result.exit_code == 130
    assert "Interrupted." in result.stderr


def test_usage_errors_exit_2_with_clicks_message(cli):
    result = cli("--no-such-flag")
    assert result.exit_code == 2
    assert "No such option: --no-such-flag" in result.stderr
    assert result.stdout == ""
    unknown = cli("no-such-command")
    assert unknown.exit_code == 2 and "No such command" in unknown.stderr


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"amzorders {__version__}"


def test_help_lists_the_global_options_and_config(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for word in ("--config", "--db", "--account", "--debug", "--version", "config"):
        assert word in result.stdout
    assert "fail-for-test" not in result.stdout


def test_simulator_notice_is_printed_once_on_stderr(cli, test_commands, amzorders_home):
    result = cli("app-for-test")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"simulator {amzorders_home / 'simulator.db'} True"
    assert result.stderr.count("Using the built-in simulated marketplace") == 1
    assert str(amzorders_home / "simulator.db") in result.stderr
    assert "amzorders config init" in result.stderr


def test_global_options_reach_the_app(cli, test_commands, amzorders_home, tmp_path):
    result = cli("--db", tmp_path / "flag.db", "--account", "simulator", "app-for-test")
    assert result.stdout.strip() == f"simulator {tmp_path / 'flag.db'} True"
    from_env = cli("app-for-test", env={"AMZORDERS_DB": str(tmp_path / "env.db")})
    assert from_env.stdout.strip() == f"simulator {tmp_path / 'env.db'} True"


def test_account_option_errors_are_config_errors(cli, test_commands):
    result = cli("--account", "nope", "app-for-test")
    assert result.exit_code == 3
    assert "Account 'nope' is not configured" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_command_modules_are_skipped_but_broken_ones_are_not(monkeypatch, tmp_path):
    package = tmp_path / "fake_cli_modules"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good_cmd.py").write_text(
        "def register(app):\n    app.command('good')(lambda: None)\n"
    )
    (package / "broken_cmd.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    target = typer.Typer()

    names = ("good_cmd", "not_written_yet")
    assert register_commands(target, "fake_cli_modules", names) == ["good_cmd"]
    assert [c.name for c in target.registered_commands] == ["good"]
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        register_commands(target, "fake_cli_modules", ("broken_cmd",))
    assert "config_cmd" in COMMAND_MODULES


@pytest.mark.parametrize(
    "args",
    [["--help"], ["config", "path"], ["config", "show", "--json"]],
    ids=["help", "config-path", "config-show"],
)
def test_commands_that_do_not_talk_to_amazon_never_import_requests(args, amzorders_home):
    code = (
        "import sys; from amzorders.cli.main import main\n"
        f"rc = main({args!r})\n"
        "assert rc == 0, rc\n"
        "loaded = [m for m in ('requests', 'urllib3', 'amzorders.amazon.client') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AMZORDERS_RAISE_UNEXPECTED"}
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
