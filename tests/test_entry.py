"""The console script pauses the garbage collector for start-up only (cli/entry.py): a
command's own work runs with collection on, what start-up made is frozen, and a test
calling ``main`` directly never has its collector touched."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the console script's ``run`` in a fresh interpreter; the command's service is
# wrapped to record the collector's state while the command works, and the state after
# ``run`` (which ends in SystemExit) is printed as JSON on stderr's last line.
_PROBE = """
import gc, json, sys
from amzorders.services import orders
seen = {}
real = orders.list_orders
def spy(*args, **kwargs):
    seen["enabled_while_listing"] = gc.isenabled()
    seen["frozen_while_listing"] = gc.get_freeze_count()
    return real(*args, **kwargs)
orders.list_orders = spy
seen["enabled_before_run"] = gc.isenabled()
sys.argv = ["amzorders", *sys.argv[1:]]
from amzorders.cli.entry import run
try:
    run()
except SystemExit as end:
    seen["exit"] = end.code
seen["enabled_after_run"] = gc.isenabled()
sys.stderr.write("\\n" + json.dumps(seen) + "\\n")
"""


def _probe(home: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_"))}
    env["AMZORDERS_HOME"] = str(home)
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True, timeout=120)
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.sqlite_only  # the subprocess drops the PostgreSQL redirection
def test_a_command_works_with_collection_on_and_start_up_frozen(tmp_path):
    from amzorders.store import Store

    Store.open(tmp_path / "store.db").close()
    seen = _probe(tmp_path, "--db", str(tmp_path / "store.db"), "list", "--json")
    assert seen["exit"] == 0
    assert seen["enabled_before_run"] is True
    assert seen["enabled_while_listing"] is True  # resumed before the command's work
    assert seen["frozen_while_listing"] > 10_000  # start-up's objects: modules, classes, Typer's tree
    assert seen["enabled_after_run"] is True


@pytest.mark.sqlite_only
def test_help_ends_while_start_up_still_has_collection_paused(tmp_path):
    seen = _probe(tmp_path, "--help")
    assert seen["exit"] == 0
    assert "enabled_while_listing" not in seen
    assert seen["enabled_after_run"] is False  # parsing printed the help and ended: never resumed


def test_main_called_directly_leaves_the_collector_alone(cli, amzorders_home):
    frozen = gc.get_freeze_count()
    result = cli("list", "--json")
    assert result.exit_code == 0, result.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
