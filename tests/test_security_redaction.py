"""THE redaction test: every command, with --debug, against a simulator configured as a
real account; no secret (client secret, refresh token, SMTP password, any access token
the simulator issued) may appear on stdout, stderr or in the log file."""

from __future__ import annotations

import pytest

import re
import stat
from pathlib import Path

import typer

from amzorders.cli.main import app as root_app
from amzorders.logsetup import LOG_FILE_NAME, REDACTED
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator

from conftest import write_account_config

SMTP_PASSWORD = "smtp-pass-DO-NOT-LOG-9731"
# Commands that serve until interrupted.
LONG_RUNNING = {"simulator serve"}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def command_paths() -> set[str]:
    """Every command the CLI has ('sync', 'config show'...)."""
    paths: set[str] = set()

    def walk(command, prefix: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            path = f"{prefix} {name}".strip()
            if getattr(sub, "commands", None):
                walk(sub, path)
            else:
                paths.add(path)

    walk(typer.main.get_command(root_app), "")
    return paths


class TokenSpy:
    """Records every access token the simulator hands out (wraps its LWA handler)."""

    def __init__(self, sim: Simulator) -> None:
        self.tokens: list[str] = []
        original = sim.api_token

        def api_token(form, refuse=False):
            status, body = original(form, refuse)
            if status == 200:
                self.tokens.append(body["access_token"])
            return status, body

        sim.api_token = api_token  # type: ignore[method-assign]


@pytest.mark.sqlite_only
def test_no_secret_in_any_output_or_the_log(cli, amzorders_home, tmp_path, monkeypatch):
    # The SMTP password from the environment: a secret that must never show either.
    monkeypatch.setenv("AMZORDERS_SMTP_PASSWORD", SMTP_PASSWORD)
    with Simulator(tmp_path / "m.json", orders=30, rate_limits=False) as sim:
        spy = TokenSpy(sim)
        config = write_account_config(
            amzorders_home,
            sim,
            extra='\n[email]\nhost = "127.0.0.1"\nport = 2525\nfrom_address = "shop@example.com"\n',
        )
        order_id = sim.order_ids()[0]
        runs: list[tuple[tuple[str, ...], int]] = []

        def run(*args: str, expect: int | None = 0) -> str:
            result = cli("--debug", *args)
            runs.append((args, result.exit_code))
            if expect is not None:
                assert result.exit_code == expect, (args, result.output)
            return result.output

        outputs = [
            run("--help"),
            run("--version"),
            run("config", "path"),
            run("config", "show"),
            run("sync", "--verbose"),
            run("sync", "--json"),
            run("import", "--order", order_id),
            run("import", "--since", "3d", "--json"),
            run("list"),
            run("list", "--json"),
            run("list", "--csv"),
            run("show", order_id),
            run("show", order_id, "--json"),
            # Errors: an unknown order (store and Amazon), bad usage.
            run("show", "999-0000000-0000000", expect=1),
            run("import", "--order", "999-0000000-0000000", expect=None),
            run("list", "--since", "not-a-date", expect=2),
        ]
        # Every command that exists (the list grows): its help, run bare, run on an
        # order, and with --json when it has it. Whatever each says (usage error, not
        # found, done...), it must not leak.
        for path in sorted(command_paths() - LONG_RUNNING):
            words = path.split()
            help_text = cli(*words, "--help").stdout
            outputs.append(help_text)
            outputs.append(run(*words, expect=None))
            outputs.append(run(*words, order_id, expect=None))
            if "--json" in help_text:
                outputs.append(run(*words, "--json", expect=None))
        # Credentials refused by LWA mid-life: the cached token is dropped first so that
        # the client must ask LWA again.
        from amzorders.store import Store

        with Store.open(amzorders_home / "amzorders.db") as store:
            store.forget_access_tokens()
        sim.inject("lwa_refuse", count=50)
        refused = cli("--debug", "sync")
        assert refused.exit_code == 3, refused.output
        assert "Login with Amazon refused" in refused.stderr
        outputs.append(refused.output)
        # An access token that expires mid-run, then a fresh one is issued and used.
        sim.clear_faults()
        sim.inject("expire_token", count=1)
        outputs.append(run("sync", "--verbose"))

    assert len(spy.tokens) >= 2, "the test must have seen access tokens issued"
    for path in command_paths() - LONG_RUNNING:  # every command really ran
        words = tuple(path.split())
        assert any(args[: len(words)] == words for args, _ in runs), path
    log_dir = amzorders_home
    log_text = "".join(p.read_text() for p in sorted(log_dir.glob(LOG_FILE_NAME + "*")))
    secrets = {
        "client secret": SIMULATOR_CREDENTIALS["client_secret"],
        "refresh token": SIMULATOR_CREDENTIALS["refresh_token"],
        "smtp password": SMTP_PASSWORD,
        **{f"access token {i}": token for i, token in enumerate(spy.tokens)},
    }
    everything = "\n".join(outputs)
    for name, value in secrets.items():
        assert value not in everything, f"{name} printed"
        assert value not in log_text, f"{name} logged"
        # A token's distinctive tail alone must not show either (e.g. a truncated print).
        assert value[-16:] not in everything + log_text, f"part of the {name} leaked"
    assert "Atza|" not in everything + log_text and "Atzr|" not in everything + log_text

    # The log really recorded the work (so "no secret in it" means something).
    assert "command start: sync" in log_text and "command end: sync exit 0" in log_text
    assert re.search(r"searchOrders GET /orders/2026-01-01/orders status=200 request_id=\S+ "
                     r"duration_ms=\d+\.\d attempt=1", log_text)
    assert "lwaToken POST /auth/o2/token status=400" in log_text
    assert "sync failed (exit 3): Login with Amazon refused" in log_text

    # Files private: config, data dir, store, log.
    assert mode_of(config) == 0o600
    assert mode_of(amzorders_home) == 0o700
    assert mode_of(amzorders_home / "amzorders.db") == 0o600
    assert mode_of(amzorders_home / LOG_FILE_NAME) == 0o600


def test_debug_traceback_of_an_unexpected_failure_holds_no_secret(
    cli, simulated_account, amzorders_home, monkeypatch
):
    """An unexpected exception whose frames hold the credentials: --debug prints the
    traceback without local variables, and the log's copy is redacted too."""
    from amzorders.app import App

    def explode(self):
        secret = SIMULATOR_CREDENTIALS["client_secret"]  # a local that must not be shown
        raise RuntimeError(f"boom while holding {len(secret)} chars")

    monkeypatch.setattr(App, "amazon", explode)
    monkeypatch.delenv("AMZORDERS_RAISE_UNEXPECTED")
    result = cli("--debug", "sync")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom while holding" in result.stderr
    log_text = (amzorders_home / LOG_FILE_NAME).read_text()
    assert "sync failed unexpectedly" in log_text and "RuntimeError: boom" in log_text
    for value in (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["refresh_token"]):
        assert value not in result.output and value not in log_text


def test_secret_in_an_error_message_is_redacted_on_stderr_and_in_the_log(
    cli, simulated_account, amzorders_home, monkeypatch
):
    """Last line of defence: even a (buggy) message carrying a configured secret is
    printed and logged redacted."""
    from amzorders.app import App
    from amzorders.errors import AmazonUnavailableError

    secret = SIMULATOR_CREDENTIALS["client_secret"]

    def leak(self):
        raise AmazonUnavailableError(f"bad news, secret={secret}")

    monkeypatch.setattr(App, "amazon", leak)
    result = cli("--debug", "sync")
    assert result.exit_code == 5
    assert f"secret={REDACTED}" in result.stderr and secret not in result.output
    log_text = (amzorders_home / LOG_FILE_NAME).read_text()
    assert f"secret={REDACTED}" in log_text and secret not in log_text
