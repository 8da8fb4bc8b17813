"""`amzorders config init / show / path` and config errors through the real CLI."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from amzorders.cli import config_cmd

SECRET = "amzn1.secret.DO-NOT-PRINT-1234"
REFRESH = "Atzr|DO-NOT-PRINT-refresh-5678"
SMTP_PASSWORD = "smtp-DO-NOT-PRINT"

INIT_FLAGS = (
    "config", "init",
    "--marketplace", "US", "--marketplace", "A2EUQ1WTGCTBG2",
    "--client-id", "amzn1.application-oa2-client.abc",
    "--client-secret", SECRET,
    "--refresh-token", REFRESH,
)  # fmt: skip


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_file_and_refuses_to_overwrite(cli, amzorders_home):
    result = cli(*INIT_FLAGS)
    assert result.exit_code == 0, result.stderr
    path = amzorders_home / "config.toml"
    assert mode_of(path) == 0o600
    assert mode_of(amzorders_home) == 0o700
    document = tomllib.loads(path.read_text())
    assert document["default_account"] == "main"
    assert document["accounts"]["main"]["region"] == "na"  # taken from the marketplaces
    assert document["accounts"]["main"]["marketplace_ids"] == ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"]
    assert SECRET not in result.output and REFRESH not in result.output

    again = cli(*INIT_FLAGS)
    assert again.exit_code == 3
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert tomllib.loads(path.read_text()) == document

    forced = cli(*INIT_FLAGS[:2], "--account", "eu", "--marketplace", "DE", "--client-id", "x",
                 "--client-secret", "y", "--refresh-token", "z", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert tomllib.loads(path.read_text())["accounts"]["eu"]["region"] == "eu"
    backup = amzorders_home / "config.toml.bak"
    assert mode_of(backup) == 0o600 and tomllib.loads(backup.read_text()) == document


def test_init_without_terminal_names_missing_flags(cli, amzorders_home):
    result = cli("config", "init", "--marketplace", "US", "--client-id", "x")
    assert result.exit_code == 2
    assert "--client-secret, --refresh-token" in result.stderr
    assert not (amzorders_home / "config.toml").exists()


def test_init_rejects_marketplace_of_another_region(cli, amzorders_home):
    result = cli("config", "init", "--region", "na", "--marketplace", "DE", "--client-id", "x",
                 "--client-secret", "y", "--refresh-token", "z")
    assert result.exit_code == 3
    assert "region 'eu'" in result.stderr
    assert not (amzorders_home / "config.toml").exists()


def test_init_prompts_on_a_terminal(cli, amzorders_home, monkeypatch):
    monkeypatch.setattr(config_cmd, "_stdin_is_terminal", lambda: True)
    result = cli("config", "init", "--account", "shop",
                 input=f"eu\nDE, fr\nclient-id-1\n{SECRET}\n{REFRESH}\nA1MERCHANT\n")
    assert result.exit_code == 0, result.stderr
    account = tomllib.loads((amzorders_home / "config.toml").read_text())["accounts"]["shop"]
    assert account["marketplace_ids"] == ["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]
    assert account["merchant_id"] == "A1MERCHANT"
    assert account["client_secret"] == SECRET
    assert SECRET not in result.output  # typed hidden, never echoed


def test_init_with_simulator_endpoint_needs_no_credentials(cli, amzorders_home):
    result = cli("config", "init", "--endpoint", "simulator", "--marketplace", "US")
    assert result.exit_code == 0, result.stderr
    path = cli("config", "path", "--json")
    assert json.loads(path.stdout)["using_simulator"] is True


def test_show_never_prints_secrets(cli, amzorders_home):
    assert cli(*INIT_FLAGS).exit_code == 0
    config = amzorders_home / "config.toml"
    config.write_text(
        config.read_text()
        + f'[email]\nhost = "smtp.example.com"\nfrom_address = "a@example.com"\npassword = "{SMTP_PASSWORD}"\n'
    )
    for args in (("config", "show"), ("config", "show", "--json")):
        result = cli(*args, env={"AMZORDERS_MAIN_REFRESH_TOKEN": "env-DO-NOT-PRINT"})
        assert result.exit_code == 0, result.stderr
        for secret in (SECRET, REFRESH, SMTP_PASSWORD, "env-DO-NOT-PRINT"):
            assert secret not in result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["accounts.main.client_secret"] == {"value": "set (hidden)", "source": "file"}
    assert settings["accounts.main.refresh_token"] == {
        "value": "set (hidden)",
        "source": "env AMZORDERS_MAIN_REFRESH_TOKEN",
    }
    assert settings["email.password"]["value"] == "set (hidden)"
    assert settings["accounts.main.client_id"]["value"] == "amzn1.application-oa2-client.abc"


def test_show_reports_sources(cli, tmp_path):
    result = cli("--db", tmp_path / "x.db", "config", "show",
                 env={"AMZORDERS_IMPORT_ORDERS": "false"})
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "flag --db" in lines["db_path"]
    assert "env AMZORDERS_IMPORT_ORDERS" in lines["orders.import_orders"]
    assert "no" in lines["orders.import_orders"]
    assert "default" in lines["sync.initial_days"]
    assert "email.password" in lines and "not set" in lines["email.password"]


def test_db_from_env_is_reported_as_env_not_flag(cli, tmp_path):
    result = cli("config", "show", "--json", env={"AMZORDERS_DB": str(tmp_path / "e.db")})
    db = json.loads(result.stdout)["settings"]["db_path"]
    assert db == {"value": str(tmp_path / "e.db"), "source": "env AMZORDERS_DB"}


def test_path_on_a_fresh_machine_points_at_the_simulator(cli, amzorders_home):
    result = cli("config", "path", "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["config_exists"] is False
    assert facts["using_simulator"] is True
    assert facts["db_path"] == str(amzorders_home / "simulator.db")
    assert facts["simulator_state"] == str(amzorders_home / "simulator" / "marketplace.json")


def test_path_with_an_account_points_at_the_real_store(cli, amzorders_home, tmp_path):
    assert cli(*INIT_FLAGS).exit_code == 0
    facts = json.loads(cli("config", "path", "--json").stdout)
    assert (facts["using_simulator"], facts["account"]) == (False, "main")
    assert facts["db_path"] == str(amzorders_home / "amzorders.db")
    other = cli("--config", tmp_path / "none.toml", "config", "path")
    assert "does not exist" in other.stdout and "simulator.db" in other.stdout


def test_readable_config_with_secrets_warns_on_stderr(cli, amzorders_home):
    assert cli(*INIT_FLAGS).exit_code == 0
    (amzorders_home / "config.toml").chmod(0o644)
    result = cli("config", "path")
    assert result.exit_code == 0
    assert "Warning:" in result.stderr and "chmod 600" in result.stderr
    assert "Warning" not in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[accounts.main]\nmarketplace_ids = ["ATVPDKIKX0DER"]\n', "accounts.main.region is missing"),
        ('[accounts.main]\nregion = "us"\nmarketplace_ids = []\n', "accounts.main.region must be one of na, eu, fe (got 'us')"),
        ('[accounts.main]\nregion = "na"\nmarketplace_ids = ["NOPE"]\n', "'NOPE', which is not an Amazon marketplace id"),
        ("[sync]\ninitial_days = \"30\"\n", "sync.initial_days must be an integer (got a string '30')"),
        ("[orders]\nimport_order = true\n", "orders.import_order is not a known setting"),
        ("[orders]\nimport_orders = true\n[sync\n", "line 3"),
    ],
    ids=["missing-key", "bad-region", "bad-marketplace", "wrong-type", "unknown-key", "broken-toml"],
)
def test_config_errors_exit_3_without_traceback(cli, amzorders_home, text, expected):
    amzorders_home.mkdir()
    (amzorders_home / "config.toml").write_text(text)
    result = cli("config", "show")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ")
    assert expected in result.stderr
    assert str(amzorders_home / "config.toml") in result.stderr
    assert "Traceback" not in result.output
    # 'config show' still shows the file as written (what it can read of it)
    assert result.stdout.startswith(f"config_file  {amzorders_home / 'config.toml'}")
