"""Start-up: no command imports a module on its forbidden list (benchmarks/startup.py's
lists, checked here without any timing: a fresh interpreter runs the command and reports
``sys.modules``)."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _startup_benchmark():
    spec = importlib.util.spec_from_file_location("bench_startup", REPO / "benchmarks" / "startup.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return module


startup = _startup_benchmark()


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("startup") / "store.db"
    return path, startup.small_store(path)


@pytest.mark.sqlite_only  # the default SQLite path; a PostgreSQL store imports psycopg by design
@pytest.mark.parametrize("name", list(startup.COMMANDS))
def test_command_imports_nothing_forbidden(name, small_store, amzorders_home):
    template, forbidden, _goal = startup.COMMANDS[name]
    if any(flag in template for flag in ("--json", "--nl", "--csv", "--tsv")):
        assert "rich" in forbidden  # every machine format is checked without rich
    db, order_id = small_store
    env = {k: v for k, v in os.environ.items() if k != "AMZORDERS_RAISE_UNEXPECTED"}
    modules = startup.imported_modules(startup.command_argv(template, db, order_id), env)
    assert "amzorders.cli.main" in modules  # the probe really ran the command
    assert startup.forbidden_imported(modules, forbidden) == []


def test_the_check_sees_a_forbidden_import():
    assert startup.forbidden_imported({"rich.console", "json"}, ("rich", "socket")) == ["rich"]
    assert startup.forbidden_imported({"richer"}, ("rich",)) == []


def test_command_modules_keep_annotations_evaluated_once():
    """Typer reads each command's annotations with typing.get_type_hints on every run;
    string annotations (``from __future__ import annotations``) would be eval'd again each
    time (~2x --help's start-up), so the modules that define commands do without it."""
    for path in sorted((REPO / "src" / "amzorders" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
        defines_commands = "typer.Option(" in path.read_text() or "typer.Argument(" in path.read_text()
        assert not (future and defines_commands), path.name
