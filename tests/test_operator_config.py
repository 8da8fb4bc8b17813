"""Config that helps, cron that reports, help that is uniform: through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from amzorders.errors import ExitCode

README = (Path(__file__).parent.parent / "README.md").read_text()


def _readme_simulator_block() -> str:
    """The README's 'Trying the Seller Central path on the simulator' commands, as written."""
    section = README.split("### Trying the Seller Central path on the simulator", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.+?)\n```", section, flags=re.S)
    assert block, "the README shows the commands in a sh block"
    return block.group(1)


def test_the_readme_seller_central_path_works_against_simulator_serve(cli, amzorders_home, tmp_path):
    """The README's block run by bash as it stands, against a real 'amzorders simulator
    serve' process on loopback. Two changes only: the port (tests never share a fixed
    one) and, after the server's line, a wait until it listens (the README's reader
    waits by typing slower)."""
    import os
    import socket
    import subprocess
    import sys

    block = _readme_simulator_block()
    lines = block.splitlines()
    assert lines[0].startswith("amzorders simulator serve --port ") and lines[0].endswith("&")
    written_port = re.search(r"--port (\d+)", lines[0]).group(1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    assert block.count(written_port) == 2  # serve --port and config init --endpoint
    wait = f"until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.05; done"
    script = "\n".join(
        ["set -e", "trap 'kill $(jobs -p) 2>/dev/null' EXIT", lines[0].replace(written_port, port), wait]
        + [line.replace(written_port, port) for line in lines[1:]]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "AMZORDERS_RAISE_UNEXPECTED")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "80"
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"SP-API endpoint: http://127.0.0.1:{port}" in done.stderr  # the server's banner
    assert "main: login ok; searchOrders ok" in done.stdout  # config check
    listing = [line for line in done.stdout.splitlines() if " late order" in line]
    assert listing and re.match(r"^\d+ late orders?$", listing[0].strip()), done.stdout  # list --late
    late_rows = int(listing[0].split()[0])
    assert late_rows > 0 and done.stdout.count(" late\n") >= late_rows
    shown = json.loads(cli("config", "show", "--json").stdout)["settings"]
    assert shown["accounts.main.token_url"]["value"] == f"http://127.0.0.1:{port}/auth/o2/token"  # the local one
    assert 'merchant_id = "A1SIMULATEDSELLER"' in (amzorders_home / "config.toml").read_text()
    assert "simulated marketplace" not in done.stderr  # the configured account, not the built-in one


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
    config.write_text('default_account = "main"\n[accounts.main\nregion = "na"\n')  # not TOML
    broken = cli("config", "show")
    assert broken.exit_code == ExitCode.CONFIG and "not valid TOML" in broken.stderr
    assert broken.stdout.count("config_file") == 1 and "cannot be read" in broken.stdout and "line 2" in broken.stdout
    assert cli("config", "path").exit_code == 0


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
    for args in (("list",), ("show", "000000001"), ("outbox", "list"), ("history", "000000001"), ("audit",),
                 ("purge-pii", "--dry-run"), ("purge-pii", "--yes"), ("invoice", "000000001"), ("hold", "000000001"),
                 ("unhold", "000000001"), ("ship", "000000001", "--carrier", "UPS", "--tracking", "1Z999AA10123456784"),
                 ("cancel", "000000001", "000000002", "--reason", "NoInventory", "--dry-run")):
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
        if subs and "Example" not in (command.help or ""):
            missing.append(name)  # a group's help has one too
        for sub_name, sub in (subs.items() if subs else [(None, command)]):
            nested = getattr(sub, "commands", None)
            if nested and "Example" not in (sub.help or ""):
                missing.append(f"{name} {sub_name}")
            for leaf_name, leaf in (nested.items() if nested else [(None, sub)]):
                words = [w for w in (name, sub_name, leaf_name) if w]
                if "Example" not in (leaf.help or ""):
                    missing.append(" ".join(words))
                result = cli(*words, "-h")
                assert result.exit_code == 0 and "Usage" in result.stdout, words
                odd = re.findall(r"<[a-z ]+>|\{[a-z_|]+\}|\[x[<>]=?", result.stdout)
                assert odd == [], f"{' '.join(words)}: metavars {odd}"
    assert missing == []


def test_shell_completion_completes_commands_subcommands_and_options(amzorders_home):
    """What --install-completion installs: the shell asks the program itself (Click's
    _AMZORDERS_COMPLETE protocol), so it must answer with the real words."""
    import os
    import subprocess
    import sys

    program = str(Path(sys.executable).parent / "amzorders")
    # With shellingham installed Typer's --show-completion takes no shell name: it finds the
    # shell among the process's ancestors, and there is none when the suite runs detached
    # (a parent shell that exited, a service manager). Typer's own switch for its tests makes
    # the option take the name, so the script asked for is bash whatever started pytest.
    no_detection = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run([program, "--show-completion", "bash"], env=no_detection, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0 and "_AMZORDERS_COMPLETE" in shown.stdout and "complete " in shown.stdout

    def complete(words: str, index: int) -> list[str]:
        env = {**os.environ, "_AMZORDERS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(index)}
        done = subprocess.run([program], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert "list" in complete("amzorders li", 1)
    assert set(complete("amzorders outbox ", 2)) >= {"list", "show", "retry", "dismiss"}
    assert "--status" in complete("amzorders list --st", 2)
    assert set(complete("amzorders ship --tr", 2)) == {"--tracking"}
