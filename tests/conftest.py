"""Shared fixtures. Every test runs in its own AMZORDERS_HOME with a clean environment."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner


# AMZORDERS_TEST_PG=postgresql://user@host:port/dbname runs every test on PostgreSQL: each
# SQLite path a test opens (in this process or in subprocesses it starts) becomes its own
# schema in a database made for this session (i14_test_<uuid>), dropped afterwards.
# Read here, before the fixtures clear AMZORDERS_*.
TEST_PG_URL = os.environ.get("AMZORDERS_TEST_PG") or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: reads the SQLite file itself (skipped under AMZORDERS_TEST_PG)")
    config.addinivalue_line("markers", "postgres: needs AMZORDERS_TEST_PG (skipped without it)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if TEST_PG_URL and "sqlite_only" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="SQLite-specific (AMZORDERS_TEST_PG is set)"))
        if not TEST_PG_URL and "postgres" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs a PostgreSQL server: set AMZORDERS_TEST_PG"))


def _pg_url_with_db(url: str, dbname: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


_REDIRECT_VARIABLES = ("AMZORDERS_TEST_PG_REDIRECT", "AMZORDERS_TEST_PG_PREFIX")


@pytest.fixture(scope="session", autouse=True)
def pg_test_database():
    """Under AMZORDERS_TEST_PG: this session's PostgreSQL database, which every store a
    test opens is redirected to (a schema per store path: tmp_path makes them fresh per
    test), dropped at the end. None otherwise."""
    if not TEST_PG_URL:
        yield None
        return
    import psycopg

    name = f"i14_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url_with_db(TEST_PG_URL, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    os.environ["AMZORDERS_TEST_PG_REDIRECT"] = url
    os.environ["AMZORDERS_TEST_PG_PREFIX"] = "s_"
    try:
        yield url
    finally:
        for variable in _REDIRECT_VARIABLES:
            os.environ.pop(variable, None)
        with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def amzorders_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp AMZORDERS_HOME (not created: the code must create what it needs), no
    leaking AMZORDERS_*/XDG_* variables, unexpected exceptions re-raised, wide output.
    Under AMZORDERS_TEST_PG, the test's stores are redirected to PostgreSQL."""
    for name in list(os.environ):
        if name.startswith(("AMZORDERS_", "XDG_")) and name not in _REDIRECT_VARIABLES:
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


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 for this test: yields (port, inbox)."""
    from smtp_support import smtp_server

    with smtp_server() as server:
        yield server
