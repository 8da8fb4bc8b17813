"""Private files and safe transport: store 0600 in a 0700 dir, a readable config file
with secrets warned about, credentials sent only over https (http only to loopback),
TLS verification never turned off."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from amzorders.app import App, check_transport
from amzorders.config import simulator_account
from amzorders.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src" / "amzorders"

ACCOUNT = """
[accounts.main]
region = "na"
marketplace_ids = ["ATVPDKIKX0DER"]
client_id = "cid"
client_secret = "file-secret-DO-NOT-SHOW"
refresh_token = "Atzr|file-refresh"
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_config(home: Path, text: str, mode: int) -> Path:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.sqlite_only
def test_store_and_its_directory_are_created_private(cli, amzorders_home, tmp_path):
    # sync creates the store (list, a read-only command, never does)
    result = cli("sync")
    assert result.exit_code == 0, result.output
    assert mode_of(amzorders_home) == 0o700
    assert mode_of(amzorders_home / "simulator.db") == 0o600
    db = tmp_path / "deep" / "new" / "orders.db"
    assert cli("--db", db, "sync").exit_code == 0
    assert mode_of(db) == 0o600 and mode_of(db.parent) == 0o700
    for companion in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        if companion.exists():
            assert mode_of(companion) == 0o600


@pytest.mark.sqlite_only
def test_an_existing_store_readable_by_others_is_tightened(cli, tmp_path):
    db = tmp_path / "orders.db"
    assert cli("--db", db, "sync").exit_code == 0
    db.chmod(0o644)
    assert cli("--db", db, "list").exit_code == 0
    assert mode_of(db) == 0o600


def test_config_init_writes_0600(cli, amzorders_home):
    result = cli("config", "init", "--marketplace", "US", "--client-id", "cid",
                 "--client-secret", "init-secret", "--refresh-token", "init-refresh")
    assert result.exit_code == 0, result.output
    assert mode_of(amzorders_home / "config.toml") == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_config_with_secrets_readable_by_others_is_warned_about_loudly(cli, amzorders_home, mode):
    path = write_config(amzorders_home, ACCOUNT, mode)
    result = cli("config", "show")
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and f"chmod 600 {path}" in result.stderr
    assert "accounts.main.client_secret" in result.stderr
    assert "file-secret-DO-NOT-SHOW" not in result.output and "Atzr|file-refresh" not in result.output


def test_private_config_or_one_without_secrets_gets_no_warning(cli, amzorders_home):
    write_config(amzorders_home, ACCOUNT, 0o600)
    assert "Warning:" not in cli("config", "show").stderr
    no_secrets = ACCOUNT.replace('client_secret = "file-secret-DO-NOT-SHOW"\n', "").replace(
        'refresh_token = "Atzr|file-refresh"\n', "").replace('client_id = "cid"\n', "")
    write_config(amzorders_home, no_secrets, 0o644)
    assert "Warning:" not in cli("config", "show").stderr


@pytest.mark.parametrize(
    "url",
    ["https://sellingpartnerapi-na.amazon.com", "http://127.0.0.1:8080", "http://localhost:1",
     "http://[::1]:9000/x", "https://api.amazon.com/auth/o2/token"],
)
def test_transport_accepts_https_and_loopback_http(url):
    check_transport(url, "SP-API endpoint", "main")


@pytest.mark.parametrize(
    "url",
    ["http://sellingpartnerapi-na.amazon.com", "http://10.0.0.5:8080", "ftp://127.0.0.1/",
     "https://", "sellingpartnerapi-na.amazon.com", "http://127.0.0.1.evil.example/"],
)
def test_transport_refuses_plain_http_to_other_hosts(url):
    with pytest.raises(ConfigError, match="only sent over https"):
        check_transport(url, "SP-API endpoint", "main")


def test_config_refuses_plain_http_endpoint_to_a_remote_host(cli, amzorders_home):
    write_config(amzorders_home, ACCOUNT + 'endpoint = "http://sellingpartnerapi-na.amazon.com"\n', 0o600)
    result = cli("sync")
    assert result.exit_code == 3
    assert "plain http only for 127.0.0.1/localhost" in result.stderr


def test_app_refuses_to_build_a_client_for_an_insecure_url(amzorders_home):
    # An account that bypassed config validation (built in code) is still refused.
    from msgspec.structs import replace

    from amzorders.config import load_settings

    settings = load_settings()
    account = replace(simulator_account(), name="odd", endpoint="http://example.com",
                      client_id="c", client_secret="s3cret-x", refresh_token="r3fresh-x")
    with App(settings, account) as app, pytest.raises(ConfigError, match="http://example.com"):
        app.amazon()


def test_the_real_client_verifies_tls(amzorders_home):
    write_config(amzorders_home, ACCOUNT, 0o600)
    with App.from_options() as app:
        client = app.amazon()
        assert client.base_url.startswith("https://")
        assert client._session.verify is True  # requests' default: certificates checked


def test_no_code_turns_tls_verification_off():
    pattern = re.compile(
        r"verify\s*=\s*False|\.verify\s*=|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False"
        r"|disable_warnings"
    )
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
