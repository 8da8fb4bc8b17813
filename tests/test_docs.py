"""Every command has help text and a place in the README; every exit code is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from amzorders.cli.main import app
from amzorders.errors import ExitCode

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands():
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        yield name, command
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield f"{name} {sub_name}", sub


def test_every_command_has_help_text():
    missing = [name for name, command in _commands() if not (command.help or "").strip()]
    assert missing == []


def test_every_top_level_command_is_documented_in_the_readme():
    root = typer.main.get_command(app)
    undocumented = [name for name in root.commands if f"amzorders {name}" not in README]
    assert undocumented == []


def test_every_option_of_every_command_has_help():
    missing = []
    for name, command in _commands():
        for param in command.params:
            if param.param_type_name == "option" and not (getattr(param, "help", "") or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []


def test_every_exit_code_is_in_the_readme_table():
    table = README.split("## Exit codes", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_quick_start_has_the_two_commands_and_ci_runs_the_second():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [c.strip() for c in re.findall(r"```sh\n(.+?)\n\s*```", quick)]
    assert len(commands) == 2
    assert "amzorders sync" in commands[0] and "amzorders list" in commands[0]
    assert "pytest" in commands[1]
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
