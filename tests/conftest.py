"""Shared fixtures. Every test runs in its own AMZORDERS_HOME with a clean environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def amzorders_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp AMZORDERS_HOME (not created: the code must create what it needs), no
    leaking AMZORDERS_*/XDG_* variables, unexpected exceptions re-raised, wide output."""
    for name in list(os.environ):
        if name.startswith(("AMZORDERS_", "XDG_")):
            monkeypatch.delenv(name)
    home = tmp_path / "amzorders-home"
    monkeypatch.setenv("AMZORDERS_HOME", str(home))
    monkeypatch.setenv("AMZORDERS_RAISE_UNEXPECTED", "1")
    # Rich reads COLUMNS when a console is built; keep tables from wrapping in asserts.
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return home


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


CliRunnerFunction = Callable[..., CliResult]


@pytest.fixture
def cli() -> CliRunnerFunction:
    """``cli(*args, input=None, env=None)``: run amzorders through ``main()`` (the real
    error boundary) with stdout and stderr captured apart."""
    from amzorders.cli.main import main

    runner = CliRunner()

    def run(
        *args: object, input: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> CliResult:
        with runner.isolation(input=input, env=env) as (stdout, stderr, _):
            exit_code = main([str(arg) for arg in args])
            # The text wrappers buffer; flush them before reading the bytes underneath.
            sys.stdout.flush()
            sys.stderr.flush()
            return CliResult(
                exit_code,
                stdout.getvalue().decode("utf-8"),
                stderr.getvalue().decode("utf-8"),
            )

    return run


@dataclass
class SimulatedAccount:
    """A simulator on loopback and a config account 'main' pointing at it."""

    sim: object  # amzorders.simulator.Simulator
    config_path: Path
    db_path: Path


def write_account_config(home: Path, sim, *, client_secret: str | None = None, extra: str = "") -> Path:
    from amzorders.simulator import account_config_toml

    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = home / "config.toml"
    config.write_text(account_config_toml(sim.base_url, sim.token_url, client_secret=client_secret) + extra + "\n")
    config.chmod(0o600)
    return config


@pytest.fixture
def simulated_account(amzorders_home: Path, tmp_path: Path):
    """A running simulator (120 orders, rate limits off) and account 'main' using it."""
    from amzorders.simulator import Simulator

    with Simulator(tmp_path / "marketplace.json", seed=11, orders=120, rate_limits=False) as sim:
        config = write_account_config(amzorders_home, sim)
        yield SimulatedAccount(sim=sim, config_path=config, db_path=amzorders_home / "amzorders.db")
