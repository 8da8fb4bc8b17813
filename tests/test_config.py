"""Settings: precedence, validation messages, the simulator fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amzorders.config import (
    SIMULATOR_MARKETPLACE_IDS,
    load_settings,
)
from amzorders.domain import codes
from amzorders.errors import ConfigError

US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"

MAIN_ACCOUNT = f"""
[accounts.main]
region = "na"
marketplace_ids = ["{US}"]
client_id = "file-client-id"
client_secret = "file-secret"
refresh_token = "file-refresh"
"""


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def load(**kwargs: object):
    return load_settings(env=os.environ, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- locations


def test_locations_follow_xdg_without_amzorders_home(monkeypatch, tmp_path):
    monkeypatch.delenv("AMZORDERS_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = load()
    assert settings.config_path == tmp_path / "cfg" / "amzorders" / "config.toml"
    assert settings.data_dir == tmp_path / "data" / "amzorders"
    assert settings.db_path == tmp_path / "data" / "amzorders" / "amzorders.db"


def test_locations_default_to_home_dot_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("AMZORDERS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the XDG spec says: ignore
    settings = load()
    assert settings.config_path == tmp_path / ".config" / "amzorders" / "config.toml"
    assert settings.data_dir == tmp_path / ".local" / "share" / "amzorders"


# --------------------------------------------------------------------------- precedence


def test_db_path_precedence_flag_env_file_default(amzorders_home, monkeypatch, tmp_path):
    assert load().db_path == amzorders_home / "amzorders.db"
    assert load().sources["db_path"] == "default"

    write_config(amzorders_home, 'db_path = "from-file.db"\n' + MAIN_ACCOUNT)
    assert load().db_path == amzorders_home / "from-file.db"
    assert load().sources["db_path"] == "file"

    monkeypatch.setenv("AMZORDERS_DB", str(tmp_path / "env.db"))
    assert load().db_path == tmp_path / "env.db"
    assert load().sources["db_path"] == "env AMZORDERS_DB"

    settings = load(db_path=tmp_path / "flag.db")
    assert settings.db_path == tmp_path / "flag.db"
    assert settings.sources["db_path"] == "flag --db"


def test_config_path_precedence_flag_over_env(amzorders_home, monkeypatch, tmp_path):
    monkeypatch.setenv("AMZORDERS_CONFIG", str(tmp_path / "env.toml"))
    assert load().config_path == tmp_path / "env.toml"
    assert load(config_path=tmp_path / "flag.toml").config_path == tmp_path / "flag.toml"


def test_account_precedence_flag_env_file_only_one(amzorders_home, monkeypatch):
    two_accounts = MAIN_ACCOUNT + f"""
[accounts.eu]
region = "eu"
marketplace_ids = ["{DE}"]
client_id = "eu-id"
client_secret = "eu-secret"
refresh_token = "eu-refresh"
"""
    write_config(amzorders_home, MAIN_ACCOUNT)
    assert load().default_account == "main"  # the only account

    write_config(amzorders_home, 'default_account = "eu"\n' + two_accounts)
    assert load().resolve_account().name == "eu"

    monkeypatch.setenv("AMZORDERS_ACCOUNT", "main")
    assert load().resolve_account().name == "main"
    assert load().sources["account"] == "env AMZORDERS_ACCOUNT"

    settings = load(account="eu")
    assert settings.resolve_account().name == "eu"
    assert settings.sources["account"] == "flag --account"


def test_import_orders_precedence_env_over_file_over_default(amzorders_home, monkeypatch):
    assert load().orders.import_orders is True
    write_config(amzorders_home, "[orders]\nimport_orders = false\n")
    assert load().orders.import_orders is False
    assert load().sources["orders.import_orders"] == "file"
    monkeypatch.setenv("AMZORDERS_IMPORT_ORDERS", "yes")
    assert load().orders.import_orders is True
    assert load().sources["orders.import_orders"] == "env AMZORDERS_IMPORT_ORDERS"


def test_credentials_precedence_account_env_over_generic_env_over_file(
    amzorders_home, monkeypatch
):
    write_config(amzorders_home, MAIN_ACCOUNT)
    assert load().resolve_account().client_secret == "file-secret"

    monkeypatch.setenv("AMZORDERS_CLIENT_SECRET", "generic-env-secret")
    assert load().resolve_account().client_secret == "generic-env-secret"

    monkeypatch.setenv("AMZORDERS_MAIN_CLIENT_SECRET", "account-env-secret")
    settings = load()
    assert settings.resolve_account().client_secret == "account-env-secret"
    assert settings.sources["accounts.main.client_secret"] == "env AMZORDERS_MAIN_CLIENT_SECRET"


def test_generic_credential_env_applies_only_to_the_selected_account(amzorders_home, monkeypatch):
    write_config(
        amzorders_home,
        'default_account = "main"\n'
        + MAIN_ACCOUNT
        + f'[accounts.eu-shop]\nregion = "eu"\nmarketplace_ids = ["{DE}"]\n'
        'client_id = "a"\nclient_secret = "eu-file"\nrefresh_token = "c"\n',
    )
    monkeypatch.setenv("AMZORDERS_CLIENT_SECRET", "generic")
    monkeypatch.setenv("AMZORDERS_EU_SHOP_REFRESH_TOKEN", "eu-env-refresh")
    settings = load()
    assert settings.accounts["main"].client_secret == "generic"
    assert settings.accounts["eu-shop"].client_secret == "eu-file"
    assert settings.accounts["eu-shop"].refresh_token == "eu-env-refresh"


def test_smtp_password_from_env(amzorders_home, monkeypatch):
    write_config(
        amzorders_home,
        '[email]\nhost = "smtp.example.com"\nfrom_address = "shop@example.com"\n'
        'password = "file-pw"\n',
    )
    assert load().email.password == "file-pw"
    monkeypatch.setenv("AMZORDERS_SMTP_PASSWORD", "env-pw")
    settings = load()
    assert settings.email.password == "env-pw"
    assert settings.email.enabled and settings.email.port == 587


def test_file_values_replace_defaults(amzorders_home):
    write_config(
        amzorders_home,
        '[orders]\norder_number_source = "amazon"\norder_number_prefix = "AMZ-"\n'
        'initial_status = "processing"\n'
        "[sync]\ninitial_days = 7\npii_retention_days = 30\nlock_timeout_seconds = 2.5\n",
    )
    settings = load()
    assert settings.orders.order_number_source == "amazon"
    assert settings.orders.order_number_prefix == "AMZ-"
    assert settings.orders.initial_status == "processing"
    assert (settings.sync.initial_days, settings.sync.pii_retention_days) == (7, 30)
    assert settings.sync.lock_timeout_seconds == 2.5


# --------------------------------------------------------------------------- account


def test_endpoint_decides_base_url(amzorders_home):
    write_config(
        amzorders_home,
        MAIN_ACCOUNT
        + f'[accounts.sandbox]\nregion = "eu"\nmarketplace_ids = ["{DE}"]\n'
        'endpoint = "sandbox"\nclient_id = "a"\nclient_secret = "b"\nrefresh_token = "c"\n'
        f'[accounts.local]\nregion = "na"\nmarketplace_ids = ["{US}"]\n'
        'endpoint = "http://127.0.0.1:8080/"\ntoken_url = "http://localhost:8080/auth/o2/token"\n'
        'client_id = "a"\nclient_secret = "b"\nrefresh_token = "c"\n',
    )
    settings = load()
    assert settings.accounts["main"].base_url == codes.PRODUCTION_HOSTS["na"]
    assert settings.accounts["main"].token_url == codes.LWA_TOKEN_URL
    assert settings.accounts["sandbox"].base_url == codes.SANDBOX_HOSTS["eu"]
    assert settings.accounts["local"].base_url == "http://127.0.0.1:8080"


def test_secrets_are_not_in_repr(amzorders_home):
    write_config(amzorders_home, MAIN_ACCOUNT)
    text = repr(load())
    assert "file-secret" not in text and "file-refresh" not in text


# --------------------------------------------------------------------------- simulator


def test_no_config_file_uses_the_simulator_with_its_own_db(amzorders_home):
    settings = load()
    account = settings.resolve_account()
    assert account.is_simulator and account.name == "simulator"
    assert account.marketplace_ids == SIMULATOR_MARKETPLACE_IDS
    assert settings.db_path_for(account) == amzorders_home / "simulator.db"
    assert settings.simulator_state_path == amzorders_home / "simulator" / "marketplace.json"


def test_simulator_uses_explicit_db_when_given(amzorders_home, monkeypatch, tmp_path):
    monkeypatch.setenv("AMZORDERS_DB", str(tmp_path / "mine.db"))
    settings = load()
    assert settings.db_path_for(settings.resolve_account()) == tmp_path / "mine.db"


def test_db_path_from_file_is_never_used_for_the_simulator(amzorders_home):
    write_config(amzorders_home, 'db_path = "real.db"\n')
    settings = load()
    assert settings.db_path_for(settings.resolve_account()) == amzorders_home / "simulator.db"


def test_account_with_simulator_endpoint(amzorders_home):
    write_config(amzorders_home, 'default_account = "try"\n[accounts.try]\nendpoint = "simulator"\n')
    settings = load()
    account = settings.resolve_account()
    assert account.is_simulator and account.name == "try"
    assert settings.db_path_for(account) == amzorders_home / "simulator.db"


def test_account_simulator_forces_the_simulator(amzorders_home, monkeypatch):
    write_config(amzorders_home, MAIN_ACCOUNT)
    monkeypatch.setenv("AMZORDERS_ACCOUNT", "simulator")
    assert load().resolve_account().is_simulator


def test_configured_account_with_credentials_is_not_the_simulator(amzorders_home):
    write_config(amzorders_home, MAIN_ACCOUNT)
    settings = load()
    account = settings.resolve_account()
    assert not account.is_simulator
    assert settings.db_path_for(account) == amzorders_home / "amzorders.db"


def test_accounts_without_any_credentials_fall_back_to_the_simulator(amzorders_home):
    write_config(amzorders_home, f'[accounts.main]\nregion = "na"\nmarketplace_ids = ["{US}"]\n')
    assert load().resolve_account().is_simulator


def test_explicitly_chosen_account_without_credentials_is_an_error(amzorders_home):
    write_config(amzorders_home, f'[accounts.main]\nregion = "na"\nmarketplace_ids = ["{US}"]\n')
    with pytest.raises(ConfigError, match="missing client_id, client_secret, refresh_token"):
        load(account="main").resolve_account()


def test_partial_credentials_name_what_is_missing(amzorders_home):
    write_config(
        amzorders_home,
        f'[accounts.main]\nregion = "na"\nmarketplace_ids = ["{US}"]\nclient_id = "x"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load()
    message = str(caught.value)
    assert "accounts.main.client_secret" in message
    assert "accounts.main.refresh_token" in message
    assert "AMZORDERS_MAIN_CLIENT_SECRET" in message
    assert "accounts.main.client_id" not in message


def test_unknown_account_is_an_error(amzorders_home):
    write_config(amzorders_home, MAIN_ACCOUNT)
    with pytest.raises(ConfigError, match="Unknown account 'nope'.*configures main"):
        load(account="nope").resolve_account()


def test_several_accounts_and_none_chosen_is_an_error(amzorders_home):
    write_config(
        amzorders_home,
        MAIN_ACCOUNT
        + f'[accounts.eu]\nregion = "eu"\nmarketplace_ids = ["{DE}"]\n'
        'client_id = "a"\nclient_secret = "b"\nrefresh_token = "c"\n',
    )
    with pytest.raises(ConfigError, match="Several accounts.*--account NAME"):
        load().resolve_account()


def test_credentials_in_env_without_any_account_are_an_error(amzorders_home, monkeypatch):
    monkeypatch.setenv("AMZORDERS_CLIENT_ID", "x")
    with pytest.raises(ConfigError, match="AMZORDERS_CLIENT_ID is set but no account"):
        load().resolve_account()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[accounts.main]\nmarketplace_ids = ["ATVPDKIKX0DER"]\n', "accounts.main.region is missing"),
        (
            MAIN_ACCOUNT.replace('region = "na"', 'region = "us"'),
            "accounts.main.region must be one of na, eu, fe (got 'us')",
        ),
        (
            MAIN_ACCOUNT.replace(US, "XX123"),
            "accounts.main.marketplace_ids contains 'XX123', which is not an Amazon marketplace id",
        ),
        (
            MAIN_ACCOUNT.replace(US, "US"),
            "for Amazon.com use 'ATVPDKIKX0DER'",
        ),
        (
            MAIN_ACCOUNT.replace(US, DE),
            "a marketplace of region 'eu', but the account's region is 'na'",
        ),
        (
            MAIN_ACCOUNT.replace(f'["{US}"]', f'"{US}"'),
            "accounts.main.marketplace_ids must be a list of strings (got a string",
        ),
        ("[orders]\nimport_orders = \"yes\"\n", "orders.import_orders must be true or false"),
        ("[sync]\ninitial_days = 0\n", "sync.initial_days must be between 1 and 3650"),
        ("[sync]\ninitial_days = 1.5\n", "sync.initial_days must be an integer (got a number 1.5)"),
        ("[orders]\nimport_order = true\n", "orders.import_order is not a known setting (did you mean 'import_orders'?)"),
        (MAIN_ACCOUNT + 'regoin = "na"\n', "accounts.main.regoin is not a known setting (did you mean 'region'?)"),
        ("colour = 1\n", "colour is not a known setting"),
        ('default_account = "eu"\n' + MAIN_ACCOUNT, "default_account names no account"),
        (MAIN_ACCOUNT.replace('refresh_token = "file-refresh"', 'endpoint = "http://example.com"\nrefresh_token = "r"'),
         "accounts.main.endpoint must be production, sandbox, simulator or an https URL"),
        ('[email]\nhost = "smtp.example.com"\n', "email.from_address is required"),
        ('[email]\nsecurity = "tls"\n', "email.security must be one of starttls, ssl, none"),
        ("accounts = 3\n", "accounts must be a table"),
    ],
)
def test_invalid_config_names_file_key_and_fix(amzorders_home, text, expected):
    path = write_config(amzorders_home, text)
    with pytest.raises(ConfigError) as caught:
        load().resolve_account()
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "amzorders config init --force" in message or "--account" in message


def test_broken_toml_gives_the_line_number(amzorders_home):
    write_config(amzorders_home, '[orders]\nimport_orders = true\nprefix = "unterminated\n')
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 3"):
        load()


def test_bad_boolean_in_env_is_an_error(monkeypatch):
    monkeypatch.setenv("AMZORDERS_IMPORT_ORDERS", "maybe")
    with pytest.raises(ConfigError, match="AMZORDERS_IMPORT_ORDERS must be true or false"):
        load()


def test_group_readable_file_with_secrets_warns(amzorders_home):
    path = write_config(amzorders_home, MAIN_ACCOUNT, mode=0o644)
    (warning,) = load().warnings
    assert str(path) in warning and "chmod 600" in warning
    assert "accounts.main.client_secret" in warning
    assert "file-secret" not in warning


def test_private_file_or_file_without_secrets_does_not_warn(amzorders_home):
    write_config(amzorders_home, MAIN_ACCOUNT, mode=0o600)
    assert load().warnings == ()
    write_config(amzorders_home, "[orders]\nimport_orders = true\n", mode=0o644)
    assert load().warnings == ()
