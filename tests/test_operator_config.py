"""Config that helps, cron that reports, help that is uniform: through the real CLI."""

from __future__ import annotations

import json
import logging
import re
import shlex
from pathlib import Path

import pytest

from amzorders.errors import ExitCode

README = (Path(__file__).parent.parent / "README.md").read_text()


def _readme_simulator_commands() -> list[list[str]]:
    """The commands of the README's 'Trying it against the simulator' block, as typed."""
    section = README.split("### Trying the Seller Central path on the simulator", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.+?)\n```", section, flags=re.S)
    assert block, "the README shows the commands in a sh block"
    text = block.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_seller_central_path_works_against_simulator_serve(cli, amzorders_home, tmp_path):
    from amzorders.simulator import Simulator

    commands = _readme_simulator_commands()
    assert commands[0][:3] == ["amzorders", "simulator", "serve"]
    written_port = commands[0][commands[0].index("--port") + 1]
    # 'simulator serve' in the README; here the same simulator in-process on a free port
    # (tests never share a fixed port): only the port number is replaced.
    with Simulator(tmp_path / "market.json", seed=5, orders=60, rate_limits=False) as sim:
        port = sim.base_url.rsplit(":", 1)[1]
        for words in commands[1:]:
            assert words[0] == "amzorders"
            args = [w.replace(f":{written_port}", f":{port}") for w in words[1:]]
            result = cli(*args)
            assert result.exit_code == 0, (words, result.output)
        listing = json.loads(cli("list", "--json", "--limit", "1000").stdout)
        assert listing and "simulated marketplace" not in cli("list").stderr
        shown = json.loads(cli("config", "show", "--json").stdout)["settings"]
        assert shown["accounts.main.token_url"]["value"] == f"http://127.0.0.1:{port}/auth/o2/token"


def test_local_endpoint_with_amazons_token_url_is_refused_naming_both(cli, amzorders_home):
    result = cli(
        "config", "init", "--marketplace", "US", "--endpoint", "http://127.0.0.1:8123",
        "--token-url", "https://api.amazon.com/auth/o2/token",
        "--client-id", "x", "--client-secret", "y", "--refresh-token", "z",
    )
    assert result.exit_code == ExitCode.CONFIG
    assert "http://127.0.0.1:8123" in result.stderr and "https://api.amazon.com/auth/o2/token" in result.stderr
    assert not (amzorders_home / "config.toml").exists()


def test_config_init_takes_merchant_id_and_warns_without_it(cli, amzorders_home):
    without = cli("config", "init", "--marketplace", "US", "--client-id", "x", "--client-secret", "y", "--refresh-token", "z")
    assert without.exit_code == 0 and "--merchant-id" in without.stderr
    with_id = cli("config", "init", "--force", "--marketplace", "US", "--client-id", "x", "--client-secret", "y",
                  "--refresh-token", "z", "--merchant-id", "A1B2C3")
    assert with_id.exit_code == 0 and "merchant_id = \"A1B2C3\"" in (amzorders_home / "config.toml").read_text()


def test_a_named_config_file_that_does_not_exist_or_is_empty_is_exit_3(cli, tmp_path):
    missing = tmp_path / "nope.toml"
    result = cli("--config", missing, "list")
    assert result.exit_code == ExitCode.CONFIG and str(missing) in result.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = cli("--config", empty, "sync")
    assert result.exit_code == ExitCode.CONFIG and "no account" in result.stderr
    assert cli("--config", empty, "--account", "simulator", "list").exit_code == 0
    assert cli("--config", missing, "config", "path").exit_code == 0


def test_config_show_and_path_work_on_an_incomplete_config_and_mark_what_is_missing(cli, amzorders_home):
    amzorders_home.mkdir(parents=True, exist_ok=True)
    config = amzorders_home / "config.toml"
    config.write_text('[accounts.main]\nregion = "na"\nmarketplace_ids = ["ATVPDKIKX0DER"]\nclient_id = "x"\n')
    config.chmod(0o600)
    assert cli("sync").exit_code == ExitCode.CONFIG
    shown = cli("config", "show")
    assert "accounts.main.client_id" in shown.stdout
    assert re.search(r"accounts\.main\.client_secret .*MISSING", shown.stdout)
    assert re.search(r"accounts\.main\.merchant_id .*missing", shown.stdout)
    assert "client_secret" in shown.stderr  # and the error says what to do
    path = cli("config", "path")
    assert path.exit_code == 0 and str(config) in path.stdout and "problem" in path.stdout


def test_unknown_account_says_unknown(cli, amzorders_home):
    amzorders_home.mkdir(parents=True, exist_ok=True)
    config = amzorders_home / "config.toml"
    config.write_text('[accounts.main]\nregion = "na"\nmarketplace_ids = ["ATVPDKIKX0DER"]\nclient_id = "x"\n')
    config.chmod(0o600)
    result = cli("--account", "nope", "list")
    assert result.exit_code == ExitCode.CONFIG
    assert "Unknown account 'nope'" in result.stderr and "client_secret" not in result.stderr


def test_config_account_add_and_remove_keep_the_rest_of_the_file(cli, simulated_account):
    config = simulated_account.config_path
    config.write_text("# my shop\n" + config.read_text() + "\n[orders]\n# keep this comment\ninitial_status = \"processing\"\n")
    added = cli("config", "account", "add", "eu-shop", "--marketplace", "DE", "--client-id", "a",
                "--client-secret", "b", "--refresh-token", "c", "--merchant-id", "A9")
    assert added.exit_code == 0, added.output
    text = config.read_text()
    assert text.startswith("# my shop") and "# keep this comment" in text and "[accounts.eu-shop]" in text
    assert (config.stat().st_mode & 0o777) == 0o600
    assert cli("config", "account", "add", "eu-shop", "--marketplace", "DE").exit_code == ExitCode.USAGE
    assert cli("config", "account", "remove", "eu-shop").exit_code == 0
    assert "eu-shop" not in config.read_text() and "# keep this comment" in config.read_text()
    assert cli("config", "account", "remove", "eu-shop").exit_code == ExitCode.USAGE


def test_config_check_logs_in_and_searches_once_per_account(cli, simulated_account, amzorders_home, tmp_path):
    ok = cli("config", "check", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == [{"account": "main", "login": "ok", "search_orders": "ok", "ok": True}]
    from amzorders.simulator import account_config_toml

    sim = simulated_account.sim
    bad = account_config_toml(sim.base_url, sim.token_url, account="bad", client_secret="wrong").split("\n", 2)[2]
    simulated_account.config_path.write_text(simulated_account.config_path.read_text() + "\n" + bad)
    result = cli("config", "check")
    assert result.exit_code == ExitCode.CONFIG
    assert "main: login ok; searchOrders ok" in result.stdout
    assert re.search(r"bad: login FAILED", result.stdout)


def test_read_only_commands_never_create_a_store(cli, amzorders_home, tmp_path):
    typo = tmp_path / "typo.db"
    for args in (("list",), ("show", "000000001"), ("outbox", "list")):
        result = cli("--db", typo, *args)
        assert result.exit_code == ExitCode.CONFIG and str(typo) in result.stderr, args
    assert not typo.exists()
    fresh = cli("list", "--json")
    assert fresh.exit_code == 0 and json.loads(fresh.stdout) == []
    assert not (amzorders_home / "simulator.db").exists() and not (amzorders_home / "amzorders.db").exists()


@pytest.mark.sqlite_only  # holds the SQLite store's flock; the PostgreSQL advisory lock is tested in test_postgres.py
def test_quiet_sync_while_another_runs_prints_nothing_and_the_log_has_the_summary(cli, simulated_account, amzorders_home):
    from amzorders.services.locking import sync_lock

    assert cli("sync").exit_code == 0
    log = (amzorders_home / "amzorders.log").read_text()
    assert re.search(r"sync summary \[main\]: .*new.*; outbox: .*; needs a person: nothing", log)
    with sync_lock(simulated_account.db_path, 0):
        quiet = cli("sync", "--quiet")
        loud = cli("sync")
    assert quiet.exit_code == loud.exit_code == ExitCode.LOCKED
    assert quiet.stdout == quiet.stderr == ""
    assert "Error:" in loud.stderr


def test_every_command_has_an_example_one_metavar_style_and_h(cli):
    import typer.main

    from amzorders.cli.main import app

    root = typer.main.get_command(app)
    missing = []
    for name, command in root.commands.items():
        subs = getattr(command, "commands", None)
        for sub_name, sub in (subs.items() if subs else [(None, command)]):
            nested = getattr(sub, "commands", None)
            for leaf_name, leaf in (nested.items() if nested else [(None, sub)]):
                words = [w for w in (name, sub_name, leaf_name) if w]
                if "Example" not in (leaf.help or ""):
                    missing.append(" ".join(words))
                result = cli(*words, "-h")
                assert result.exit_code == 0 and "Usage" in result.stdout, words
                odd = re.findall(r"<[a-z ]+>|\{[a-z_|]+\}|\[x[<>]=?", result.stdout)
                assert odd == [], f"{' '.join(words)}: metavars {odd}"
    assert missing == []
