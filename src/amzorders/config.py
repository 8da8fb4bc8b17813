"""Settings: the TOML config file, ``AMZORDERS_*`` environment variables and flags.

Each setting comes from the first of: command-line flag > environment variable > config
file > built-in default. ``Settings.sources`` records which one won, for ``config show``.

Where things live:

- config file: ``$AMZORDERS_HOME/config.toml`` if AMZORDERS_HOME is set, else
  ``$XDG_CONFIG_HOME/amzorders/config.toml`` or ``~/.config/amzorders/config.toml``;
  ``--config FILE`` / ``AMZORDERS_CONFIG`` point elsewhere.
- data directory: ``$AMZORDERS_HOME`` if set, else ``$XDG_DATA_HOME/amzorders`` or
  ``~/.local/share/amzorders``. The store is ``amzorders.db`` in it; the built-in
  simulator uses ``simulator.db`` and ``simulator/marketplace.json`` there, so simulated
  orders never mix with real ones.

Environment variables (empty values count as unset):

| Variable | Meaning |
| --- | --- |
| `AMZORDERS_HOME` | One directory for both the config file and the data (overrides the XDG locations) |
| `AMZORDERS_CONFIG` | Path of the config file (`--config` wins) |
| `AMZORDERS_DB` | Path of the SQLite store, or a `postgresql://user@host:port/dbname` URL (`--db` wins); also used for the simulator when set |
| `AMZORDERS_ACCOUNT` | Account to use (`--account` wins); `simulator` forces the built-in simulator |
| `AMZORDERS_IMPORT_ORDERS` | `true`/`false`: create a commerce order for each imported Amazon order ("Import Amazon Orders") |
| `AMZORDERS_CLIENT_ID` | LWA client id of the selected account |
| `AMZORDERS_CLIENT_SECRET` | LWA client secret of the selected account |
| `AMZORDERS_REFRESH_TOKEN` | LWA refresh token of the selected account |
| `AMZORDERS_<ACCOUNT>_CLIENT_ID`, `AMZORDERS_<ACCOUNT>_CLIENT_SECRET`, `AMZORDERS_<ACCOUNT>_REFRESH_TOKEN` | Credentials of one account (name upper-cased, `-` written `_`, e.g. `AMZORDERS_EU_SHOP_CLIENT_SECRET`); win over the three above |
| `AMZORDERS_SMTP_PASSWORD` | Password for the SMTP server (`email.password`) |
| `AMZORDERS_DEBUG` | `1`: print tracebacks of errors (same as `--debug`) |
| `XDG_CONFIG_HOME`, `XDG_DATA_HOME` | Standard base directories, used when `AMZORDERS_HOME` is not set |

This module knows nothing of the terminal: problems are raised as ``ConfigError`` with a
message naming the file, the key, what is wrong and how to fix it; non-fatal findings
(a config file with secrets readable by others) are returned in ``Settings.warnings``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import msgspec

from amzorders.domain import codes
from amzorders.domain.models import repr_without
from amzorders.errors import ConfigError
from amzorders.dburl import is_postgres_url, redact_url, store_location

CONFIG_FILE_NAME = "config.toml"
STORE_FILE_NAME = "amzorders.db"
SIMULATOR_ACCOUNT_NAME = "simulator"
SIMULATOR_DB_FILE_NAME = "simulator.db"

ENDPOINT_NAMES: tuple[str, ...] = ("production", "sandbox", "simulator")
ORDER_NUMBER_SOURCES: tuple[str, ...] = ("increment", "amazon")
INITIAL_STATUSES: tuple[str, ...] = ("pending", "processing")
EMAIL_SECURITY: tuple[str, ...] = ("starttls", "ssl", "none")
CREDENTIAL_KEYS: tuple[str, ...] = ("client_id", "client_secret", "refresh_token")

# Marketplaces of the built-in simulator: it serves every region from one host.
SIMULATOR_MARKETPLACE_IDS: tuple[str, ...] = (
    "ATVPDKIKX0DER",  # US
    "A2EUQ1WTGCTBG2",  # CA
    "A1AM78C64UM0Y8",  # MX
    "A1F83G8C2ARO7P",  # GB
    "A1PA6795UKMFR9",  # DE
    "A13V1IB3VIYZZH",  # FR
    "APJ6JRA9NG5V4",  # IT
    "A1RKKUPIHCS9HS",  # ES
    "A1VC38T7YXB528",  # JP
)

ACCOUNT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_LOOPBACK_NAMES = frozenset({"localhost"})
_FILE_FIX = "Fix the file or run 'amzorders config init --force'."

# Source labels shown by `config show`.
SOURCE_DEFAULT = "default"
SOURCE_FILE = "file"


def source_env(variable: str) -> str:
    return f"env {variable}"


def source_flag(flag: str) -> str:
    return f"flag {flag}"


# --------------------------------------------------------------------------- settings


class AccountConfig(msgspec.Struct, frozen=True):
    """One Seller Central account (a selling partner in one region)."""

    name: str
    region: str  # na / eu / fe
    marketplace_ids: tuple[str, ...]
    client_id: str | None = None
    client_secret: str | None = None  # secret: left out of repr
    refresh_token: str | None = None  # secret: left out of repr
    endpoint: str = "production"  # production / sandbox / simulator / explicit URL
    token_url: str = codes.LWA_TOKEN_URL
    merchant_id: str | None = None  # seller id, needed in feed documents

    def __repr__(self) -> str:
        return repr_without(self, ("client_secret", "refresh_token"))

    @property
    def is_simulator(self) -> bool:
        return self.endpoint == "simulator"

    @property
    def base_url(self) -> str | None:
        """The SP-API host; None for the simulator, whose URL exists only while it runs."""
        if self.endpoint == "production":
            return codes.PRODUCTION_HOSTS[self.region]
        if self.endpoint == "sandbox":
            return codes.SANDBOX_HOSTS[self.region]
        if self.endpoint == "simulator":
            return None
        return self.endpoint.rstrip("/")

    @property
    def missing_credentials(self) -> tuple[str, ...]:
        return tuple(key for key in CREDENTIAL_KEYS if not getattr(self, key))

    @property
    def has_any_credentials(self) -> bool:
        return len(self.missing_credentials) < len(CREDENTIAL_KEYS)


class OrderSettings(msgspec.Struct, frozen=True):
    import_orders: bool = True  # "Import Amazon Orders": create commerce orders
    order_number_source: str = "increment"  # increment / amazon
    order_number_prefix: str = ""
    initial_status: str = "pending"  # pending / processing
    hold_on_cancel_request: bool = False  # hold an order when its buyer asks to cancel


class SyncSettings(msgspec.Struct, frozen=True):
    initial_days: int = 30  # how far back the first sync of an account reads
    pii_retention_days: int | None = None  # days after delivery to keep buyer data; None: keep
    lock_timeout_seconds: float = 0.0  # how long a sync waits for another one; 0: fail at once


class EmailSettings(msgspec.Struct, frozen=True):
    host: str | None = None
    port: int = 587
    security: str = "starttls"  # starttls / ssl / none
    username: str | None = None
    password: str | None = None  # secret: left out of repr
    from_address: str | None = None
    from_name: str | None = None

    def __repr__(self) -> str:
        return repr_without(self, ("password",))

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class BusinessSettings(msgspec.Struct, frozen=True):
    """The seller's details printed on invoices, credit memos and packing slips ([business])."""

    name: str | None = None
    address: tuple[str, ...] = ()  # printed lines
    vat_id: str | None = None
    logo: Path | None = None  # PNG/JPEG printed at the top right
    fonts: tuple[Path, ...] = ()  # extra TTF fonts for scripts the shipped DejaVu Sans lacks (CJK...)
    # Marketplaces where the seller uploads its own VAT invoices (UPLOAD_VAT_INVOICE feed).
    vat_invoice_upload: tuple[str, ...] = ()


class AlertSettings(msgspec.Struct, frozen=True):
    """[alerts]: mail the seller when something needs a person (through [email])."""

    to: str | None = None
    late_within_hours: int = 24
    stuck_feed_hours: int = 6

    @property
    def enabled(self) -> bool:
        return bool(self.to)


class NotificationSettings(msgspec.Struct, frozen=True):
    """[notifications]: the SQS queue Amazon's notifications are delivered to (listen).

    AWS credentials are not kept here: boto3's standard chain finds them (AWS_* variables,
    ``aws_profile`` or the default profile of ~/.aws, an instance or container role)."""

    queue_url: str | None = None  # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
    aws_region: str | None = None  # default: from the queue URL
    aws_profile: str | None = None
    endpoint_url: str | None = None  # an SQS-compatible endpoint instead of AWS's
    max_receives: int = 5  # a message failing this many deliveries is set aside
    wait_seconds: int = 20  # SQS long poll (1-20)
    visibility_timeout: int = 300  # seconds a received message stays hidden from others

    @property
    def enabled(self) -> bool:
        return bool(self.queue_url)


class SettingItem(msgspec.Struct, frozen=True):
    """One line of `config show`: a secret's value is only ever "set (hidden)"/"not set"."""

    key: str
    value: Any
    source: str
    secret: bool = False


class Settings(msgspec.Struct, frozen=True):
    config_path: Path
    config_exists: bool
    data_dir: Path
    db_path: Path | str  # the real store: a SQLite file, or a PostgreSQL URL (text; may hold a password)
    db_path_explicit: bool  # given by --db or AMZORDERS_DB: used even for the simulator
    default_account: str | None  # the selected account name, if one could be chosen
    accounts: Mapping[str, AccountConfig]
    orders: OrderSettings = OrderSettings()
    sync: SyncSettings = SyncSettings()
    email: EmailSettings = EmailSettings()
    business: BusinessSettings = BusinessSettings()
    alerts: AlertSettings = AlertSettings()
    notifications: NotificationSettings = NotificationSettings()
    sources: Mapping[str, str] = msgspec.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # AMZORDERS_CLIENT_ID... set although there is no account to apply them to.
    unused_env_credentials: tuple[str, ...] = ()
    # PostgreSQL password (config db_password) for a URL that carries none.
    db_password: str | None = None  # secret: left out of repr
    # IANA zone for times shown and for dates typed without a zone (JSON stays UTC).
    display_timezone: str = "UTC"

    def __repr__(self) -> str:
        return repr_without(self, ("db_password",))

    @property
    def simulator_db_path(self) -> Path:
        return self.data_dir / SIMULATOR_DB_FILE_NAME

    @property
    def simulator_state_path(self) -> Path:
        return self.data_dir / "simulator" / "marketplace.json"

    def db_path_for(self, account: AccountConfig) -> Path | str:
        """Simulated orders go to their own file unless the user named one explicitly."""
        if account.is_simulator and not self.db_path_explicit:
            return self.simulator_db_path
        return self.db_path

    def resolve_account(self, name: str | None = None) -> AccountConfig:
        """The account to work with: ``name``, else the selected one, else the simulator.

        The built-in simulator is used when no account has any credentials (a fresh
        machine), when the account's endpoint is "simulator", or when the name is
        "simulator" and no account of that name is configured.
        """
        explicit = name is not None or self.sources.get("account", SOURCE_DEFAULT).startswith(
            ("flag", "env")
        )
        wanted = name if name is not None else self.default_account
        if wanted == SIMULATOR_ACCOUNT_NAME and wanted not in self.accounts:
            return simulator_account()
        if not self.accounts:
            if explicit and wanted is not None:
                raise ConfigError(
                    f"Account '{wanted}' is not configured: {self._where()} has no accounts. "
                    f"Run 'amzorders config init --account {wanted}' to add it, or use "
                    f"'--account simulator' for the built-in simulator."
                )
            if self.unused_env_credentials:
                raise ConfigError(
                    f"{', '.join(self.unused_env_credentials)} is set but no account is "
                    f"configured in {self._where()}, so the region and marketplaces are "
                    f"unknown. Run 'amzorders config init' to add an account, or unset "
                    f"the variable to use the built-in simulator."
                )
            return simulator_account()
        anyone_has_credentials = any(a.has_any_credentials for a in self.accounts.values())
        if wanted is None:
            if not anyone_has_credentials:
                return simulator_account()
            raise ConfigError(
                f"Several accounts are configured ({', '.join(sorted(self.accounts))}) and "
                f"none is chosen. Pass --account NAME, set AMZORDERS_ACCOUNT, or set "
                f"default_account in {self.config_path}."
            )
        account = self.accounts.get(wanted)
        if account is None:
            raise ConfigError(
                f"Account '{wanted}' is not configured in {self._where()} (configured: "
                f"{', '.join(sorted(self.accounts))}). Check the name given by "
                f"{self.sources.get('account', 'default_account')}, or run "
                f"'amzorders config init --account {wanted}' to add it."
            )
        if account.is_simulator:
            return account
        missing = account.missing_credentials
        if missing and not explicit and not anyone_has_credentials:
            return simulator_account()
        if missing:
            raise ConfigError(_missing_credentials_message(account, self.config_path))
        return account

    def effective_items(self) -> list[SettingItem]:
        """Every setting with its value and where it came from, secrets hidden by flag."""

        def item(key: str, value: Any, secret: bool = False) -> SettingItem:
            return SettingItem(key, value, self.sources.get(key, SOURCE_DEFAULT), secret)

        items = [
            item("config_path", str(self.config_path)),
            item("data_dir", str(self.data_dir)),
            item("db_path", redact_url(self.db_path)),
            item("db_password", self.db_password, secret=True),
            item("account", self.default_account),
            item("display_timezone", self.display_timezone),
        ]
        for account in self.accounts.values():
            prefix = f"accounts.{account.name}"
            items += [
                item(f"{prefix}.region", account.region),
                item(f"{prefix}.marketplace_ids", list(account.marketplace_ids)),
                item(f"{prefix}.endpoint", account.endpoint),
                item(f"{prefix}.token_url", account.token_url),
                item(f"{prefix}.merchant_id", account.merchant_id),
                item(f"{prefix}.client_id", account.client_id),
                item(f"{prefix}.client_secret", account.client_secret, secret=True),
                item(f"{prefix}.refresh_token", account.refresh_token, secret=True),
            ]
        orders, sync, email = self.orders, self.sync, self.email
        items += [
            item("orders.import_orders", orders.import_orders),
            item("orders.order_number_source", orders.order_number_source),
            item("orders.order_number_prefix", orders.order_number_prefix),
            item("orders.initial_status", orders.initial_status),
            item("orders.hold_on_cancel_request", orders.hold_on_cancel_request),
            item("sync.initial_days", sync.initial_days),
            item("sync.pii_retention_days", sync.pii_retention_days),
            item("sync.lock_timeout_seconds", sync.lock_timeout_seconds),
            item("email.host", email.host),
            item("email.port", email.port),
            item("email.security", email.security),
            item("email.username", email.username),
            item("email.password", email.password, secret=True),
            item("email.from_address", email.from_address),
            item("email.from_name", email.from_name),
        ]
        notes = self.notifications
        items += [
            item("notifications.queue_url", notes.queue_url),
            item("notifications.aws_region", notes.aws_region),
            item("notifications.aws_profile", notes.aws_profile),
            item("notifications.endpoint_url", notes.endpoint_url),
            item("notifications.max_receives", notes.max_receives),
            item("notifications.wait_seconds", notes.wait_seconds),
            item("notifications.visibility_timeout", notes.visibility_timeout),
        ]
        return items

    def _where(self) -> str:
        return str(self.config_path) if self.config_exists else f"{self.config_path} (no such file)"


def simulator_account() -> AccountConfig:
    """The synthetic account of the built-in simulator (credentials come from it)."""
    return AccountConfig(
        name=SIMULATOR_ACCOUNT_NAME,
        region="na",  # unused: the simulator serves every region from one host
        marketplace_ids=SIMULATOR_MARKETPLACE_IDS,
        endpoint="simulator",
    )


# --------------------------------------------------------------------------- locations


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


def _absolute_dir(env: Mapping[str, str], name: str) -> Path | None:
    # The XDG spec says relative paths in these variables are to be ignored.
    value = _env_value(env, name)
    if value and os.path.isabs(value):
        return Path(value)
    return None


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    home = _env_value(env, "AMZORDERS_HOME")
    if home:
        return Path(home).expanduser()
    base = _absolute_dir(env, "XDG_CONFIG_HOME") or Path.home() / ".config"
    return base / "amzorders"


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    home = _env_value(env, "AMZORDERS_HOME")
    if home:
        return Path(home).expanduser()
    base = _absolute_dir(env, "XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return base / "amzorders"


def resolve_config_path(
    config_path: Path | None = None, env: Mapping[str, str] = os.environ
) -> tuple[Path, str]:
    """The config file to read and where that choice came from."""
    if config_path is not None:
        return Path(config_path).expanduser(), source_flag("--config")
    from_env = _env_value(env, "AMZORDERS_CONFIG")
    if from_env:
        return Path(from_env).expanduser(), source_env("AMZORDERS_CONFIG")
    return config_dir(env) / CONFIG_FILE_NAME, SOURCE_DEFAULT


def account_env_prefix(account_name: str) -> str:
    """``AMZORDERS_EU_SHOP_`` for account "eu-shop"."""
    return "AMZORDERS_" + re.sub(r"[^A-Za-z0-9]", "_", account_name).upper() + "_"


# --------------------------------------------------------------------------- loading


def load_settings(
    *,
    config_path: Path | None = None,
    db_path: Path | str | None = None,
    account: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Read and validate the settings; the arguments are the command-line flags.

    A missing config file is not an error (a fresh machine runs on the simulator); a
    file that exists but cannot be read or is invalid is.
    """
    path, path_source = resolve_config_path(config_path, env)
    document, exists = _read_document(path)
    warnings: list[str] = []
    if exists:
        warning = _permission_warning(path, document)
        if warning:
            warnings.append(warning)
    return settings_from_document(
        document,
        path=path,
        exists=exists,
        path_source=path_source,
        db_path=db_path,
        account=account,
        env=env,
        warnings=tuple(warnings),
    )


def settings_from_document(
    document: dict[str, Any],
    *,
    path: Path,
    exists: bool = True,
    path_source: str = SOURCE_DEFAULT,
    db_path: Path | str | None = None,
    account: str | None = None,
    env: Mapping[str, str] = os.environ,
    warnings: tuple[str, ...] = (),
) -> Settings:
    """Validate a parsed config document (errors name ``path``) into Settings."""
    sources: dict[str, str] = {"config_path": path_source}
    home_set = _env_value(env, "AMZORDERS_HOME") is not None
    data_directory = data_dir(env)
    sources["data_dir"] = source_env("AMZORDERS_HOME") if home_set else SOURCE_DEFAULT
    root = _Table(document, "", path)

    # Store: flag > env > file (db_url, or db_path relative to the file) > data dir.
    # A postgresql:// URL selects PostgreSQL; anything else is a SQLite file.
    file_db = root.get_str("db_path")
    file_db_url = root.get_str("db_url")
    if file_db_url and not is_postgres_url(file_db_url):
        raise root.error("db_url", "must be a postgresql://user@host:port/dbname URL (a SQLite file goes in db_path)")
    if file_db_url and file_db:
        raise root.error("db_url", "and db_path are both set; keep the one store you use")
    db_password = root.get_str("db_password")
    if db_password:
        sources["db_password"] = SOURCE_FILE
    db_explicit = True
    store_path: Path | str
    if db_path is not None:
        store_path, sources["db_path"] = store_location(db_path), source_flag("--db")
    elif _env_value(env, "AMZORDERS_DB"):
        store_path = store_location(env["AMZORDERS_DB"])
        sources["db_path"] = source_env("AMZORDERS_DB")
    elif file_db_url:
        store_path, sources["db_path"] = file_db_url, SOURCE_FILE
        db_explicit = False
    elif file_db:
        located = store_location(file_db)
        store_path = located if isinstance(located, str) else path.parent / located
        sources["db_path"] = SOURCE_FILE
        db_explicit = False
    else:
        store_path, sources["db_path"] = data_directory / STORE_FILE_NAME, SOURCE_DEFAULT
        db_explicit = False

    file_default_account = root.get_str("default_account")
    accounts_table = root.get_table("accounts")
    account_names = list(accounts_table.keys()) if accounts_table else []

    # Which account: flag > env > file default_account > the only one configured.
    if account:
        selected, sources["account"] = account, source_flag("--account")
    elif _env_value(env, "AMZORDERS_ACCOUNT"):
        selected, sources["account"] = env["AMZORDERS_ACCOUNT"], source_env("AMZORDERS_ACCOUNT")
    elif file_default_account:
        if file_default_account not in account_names:
            configured = ", ".join(account_names) or "none"
            raise root.error(
                "default_account",
                f"names no account in [accounts] (got {file_default_account!r}; "
                f"configured: {configured})",
            )
        selected, sources["account"] = file_default_account, SOURCE_FILE
    elif len(account_names) == 1:
        selected, sources["account"] = account_names[0], SOURCE_DEFAULT
    else:
        selected, sources["account"] = None, SOURCE_DEFAULT

    if (
        selected is not None
        and selected != SIMULATOR_ACCOUNT_NAME
        and account_names
        and selected not in account_names
        and sources["account"] != SOURCE_DEFAULT
    ):
        raise ConfigError(
            f"Unknown account '{selected}' (from {sources['account']}): {path} configures "
            f"{', '.join(account_names)}. Check the name, or add it with "
            f"'amzorders config account add {selected} ...'."
        )
    accounts: dict[str, AccountConfig] = {}
    if accounts_table:
        for name in account_names:
            accounts[name] = _parse_account(
                name, accounts_table, path, env, selected == name, sources
            )
    # The generic variables apply to the selected account only; with none, they are
    # reported when an account is needed rather than silently ignored.
    unused_env: tuple[str, ...] = ()
    if selected not in accounts:
        unused_env = tuple(
            f"AMZORDERS_{key.upper()}"
            for key in CREDENTIAL_KEYS
            if _env_value(env, f"AMZORDERS_{key.upper()}")
        )

    orders = _parse_orders(root.get_table("orders") or _Table({}, "orders", path), env, sources)
    sync = _parse_sync(root.get_table("sync") or _Table({}, "sync", path), sources)
    email = _parse_email(root.get_table("email") or _Table({}, "email", path), env, sources)
    business = _parse_business(root.get_table("business") or _Table({}, "business", path), path, sources)
    alerts = _parse_alerts(root.get_table("alerts") or _Table({}, "alerts", path), sources)
    if alerts.enabled and not email.enabled:
        raise root.error("alerts", "needs an [email] section with the SMTP server to send through")
    notifications = _parse_notifications(
        root.get_table("notifications") or _Table({}, "notifications", path), env, sources)
    display_timezone = root.get_str("display_timezone") or "UTC"
    sources["display_timezone"] = SOURCE_FILE if root.has("display_timezone") else SOURCE_DEFAULT
    if _env_value(env, "AMZORDERS_TZ"):
        display_timezone, sources["display_timezone"] = env["AMZORDERS_TZ"].strip(), source_env("AMZORDERS_TZ")
    if zone_problem(display_timezone):
        raise root.error("display_timezone", zone_problem(display_timezone) or "")
    root.reject_unknown_keys()

    return Settings(
        config_path=path,
        config_exists=exists,
        data_dir=data_directory,
        db_path=store_path,
        db_path_explicit=db_explicit,
        default_account=selected,
        accounts=MappingProxyType(accounts),
        orders=orders,
        sync=sync,
        email=email,
        business=business,
        alerts=alerts,
        notifications=notifications,
        sources=MappingProxyType(sources),
        warnings=warnings,
        unused_env_credentials=unused_env,
        db_password=db_password or None,
        display_timezone=display_timezone,
    )


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA time zone (Europe/Berlin, UTC), or None."""
    if name == "UTC":
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"'{name}' is not a time zone name; use an IANA name like Europe/Berlin, America/New_York or UTC"
    return None


# --------------------------------------------------------------------------- writing


def marketplace_id_from(text: str) -> str | None:
    """A marketplace id from an id or a country code ("de", "A1PA6795UKMFR9"), or None."""
    wanted = text.strip()
    if wanted in codes.MARKETPLACES:
        return wanted
    for marketplace in codes.MARKETPLACES.values():
        if marketplace.country == wanted.upper():
            return marketplace.marketplace_id
    return None


def new_config_document(*, account: str, account_table: dict[str, Any]) -> dict[str, Any]:
    """The document ``config init`` writes: one account (``new_account_table``), made the default."""
    return {"default_account": account, "accounts": {account: account_table}, "orders": _default_orders_table()}


def new_account_table(
    *,
    region: str,
    marketplace_ids: tuple[str, ...],
    client_id: str | None,
    client_secret: str | None,
    refresh_token: str | None,
    endpoint: str = "production",
    merchant_id: str | None = None,
    token_url: str | None = None,
) -> dict[str, Any]:
    """One [accounts.NAME] table as config init and config account add write it."""
    account_table: dict[str, Any] = {"region": region, "marketplace_ids": list(marketplace_ids)}
    if endpoint != "production":
        account_table["endpoint"] = endpoint
    if token_url:
        account_table["token_url"] = token_url
    for key, value in (
        ("merchant_id", merchant_id),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
    ):
        if value:
            account_table[key] = value
    return account_table


def _default_orders_table() -> dict[str, Any]:
    defaults = OrderSettings()
    return {
        "import_orders": defaults.import_orders,
        "order_number_source": defaults.order_number_source,
        "order_number_prefix": defaults.order_number_prefix,
        "initial_status": defaults.initial_status,
    }


def validate_account_table(name: str, table: dict[str, Any], path: Path) -> None:
    """Raise ConfigError when ``table`` is not a valid [accounts.NAME] table."""
    sources: dict[str, str] = {}
    _parse_account(name, _Table({name: table}, "accounts", path, kind="accounts"), path, {}, True, sources)


def edit_accounts(path: Path, change) -> None:
    """Change the [accounts] of the config file at ``path`` in place with tomlkit, so that
    comments, order and the other tables stay as the user wrote them; then check that
    the result still loads, and write it 0600 (a backup of the old file as .bak)."""
    import tomlkit

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it first. {_FILE_FIX}") from None
    change(document)
    new_text = tomlkit.dumps(document)
    import tomllib

    settings_from_document(tomllib.loads(new_text), path=path)  # still a valid config?
    if path.exists():
        _write_private(path.with_name(path.name + ".bak"), text.encode("utf-8"))
    _write_private(path, new_text.encode("utf-8"))


def check_can_write(path: Path, *, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; not overwriting it. Edit it, or rerun with --force "
            f"to replace it (the old file is kept as {path.name}.bak)."
        )


def write_config(path: Path, document: dict[str, Any], *, force: bool = False) -> Path | None:
    """Validate ``document`` and write it to ``path`` with mode 0600 (directory 0700).

    Refuses to replace an existing file unless ``force``; the replaced file is kept as
    ``<name>.bak`` (also 0600), whose path is returned.
    """
    import tomli_w  # only `config init` writes

    check_can_write(path, force=force)
    settings = settings_from_document(document, path=path, env={})
    account = settings.accounts[settings.default_account or ""]
    if not account.is_simulator and account.missing_credentials:
        raise ConfigError(_missing_credentials_message(account, path))
    text = tomli_w.dumps(document)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    backup: Path | None = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        _write_private(backup, path.read_bytes())
    _write_private(path, text.encode("utf-8"))
    return backup


def _write_private(path: Path, content: bytes) -> None:
    # Written under a temporary name created 0600 and renamed, so that the secrets are
    # never readable by others, not even for a moment, and a crash leaves no half file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- reading


def _read_document(path: Path) -> tuple[dict[str, Any], bool]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, False
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a config file. Point --config or "
            f"AMZORDERS_CONFIG at a file."
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot be read ({err.strerror}). Check its permissions."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: is not UTF-8 text (byte {err.start}). {_FILE_FIX}"
        ) from None
    import tomllib  # here: a run without a config file never parses TOML

    try:
        return tomllib.loads(text), True
    except tomllib.TOMLDecodeError as err:
        # tomllib's message ends with "(at line N, column M)".
        raise ConfigError(f"{path}: is not valid TOML: {err}. {_FILE_FIX}") from None


def _permission_warning(path: Path, document: dict[str, Any]) -> str | None:
    if os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    secrets: list[str] = []
    accounts = document.get("accounts")
    if isinstance(accounts, dict):
        for name, table in accounts.items():
            if isinstance(table, dict):
                secrets += [
                    f"accounts.{name}.{key}"
                    for key in ("client_secret", "refresh_token")
                    if table.get(key)
                ]
    email = document.get("email")
    if isinstance(email, dict) and email.get("password"):
        secrets.append("email.password")
    if document.get("db_password"):
        secrets.append("db_password")
    db_url = document.get("db_url")
    if isinstance(db_url, str) and redact_url(db_url) != db_url:
        secrets.append("db_url (its password)")
    if not secrets:
        return None
    return (
        f"{path} holds secrets ({', '.join(secrets)}) but other users can read it "
        f"(mode {mode:04o}). Run 'chmod 600 {path}'."
    )


def _missing_credentials_message(account: AccountConfig, config_path: Path) -> str:
    missing = account.missing_credentials
    prefix = account_env_prefix(account.name)
    keys = ", ".join(f"accounts.{account.name}.{key}" for key in missing)
    variables = ", ".join(f"{prefix}{key.upper()}" for key in missing)
    return (
        f"Account '{account.name}' is missing {', '.join(missing)}: set {keys} in "
        f"{config_path} (or {variables}), or run "
        f"'amzorders config init --account {account.name} --force'."
    )


def _parse_account(
    name: str,
    accounts_table: _Table,
    path: Path,
    env: Mapping[str, str],
    selected: bool,
    sources: dict[str, str],
) -> AccountConfig:
    key = f"accounts.{name}"
    if not ACCOUNT_NAME_PATTERN.match(name):
        raise ConfigError(
            f"{path}: [{key}]: an account name may hold only letters, digits, '-' and '_' "
            f"and must start with a letter or digit. {_FILE_FIX}"
        )
    table = accounts_table.get_table(name)
    assert table is not None
    prefix = key + "."

    def from_file(setting: str, value: Any) -> Any:
        if table.has(setting):
            sources[prefix + setting] = SOURCE_FILE
        return value

    endpoint = from_file("endpoint", table.get_str("endpoint")) or "production"
    if endpoint not in ENDPOINT_NAMES:
        _check_url(table, "endpoint", endpoint, "production, sandbox, simulator or")
    region = from_file("region", table.get_str("region", required=endpoint != "simulator"))
    region = region or "na"
    if region not in codes.REGIONS:
        raise table.error(
            "region", f"must be one of {', '.join(codes.REGIONS)} (got {region!r})"
        )
    marketplace_ids = from_file("marketplace_ids", table.get_str_list("marketplace_ids"))
    if marketplace_ids is None:
        if endpoint != "simulator":
            raise table.error("marketplace_ids", "is missing (a list of marketplace ids)")
        marketplace_ids = ()
    if not marketplace_ids and endpoint != "simulator":
        raise table.error("marketplace_ids", "must name at least one marketplace")
    for marketplace_id in marketplace_ids:
        _check_marketplace(table, marketplace_id, region, endpoint)
    token_url = from_file("token_url", table.get_str("token_url"))
    local_endpoint = endpoint not in ENDPOINT_NAMES and _is_loopback(urlsplit(endpoint).hostname or "")
    if token_url is None:
        # A local endpoint (the simulator, a test server) cannot use Amazon's LWA: its
        # token URL is the same server's /auth/o2/token (the path of Amazon's LWA).
        token_url = local_token_url(endpoint) if local_endpoint else codes.LWA_TOKEN_URL
        if local_endpoint:
            sources[prefix + "token_url"] = "derived from endpoint"
    else:
        _check_url(table, "token_url", token_url, "")
        if local_endpoint and not _is_loopback(urlsplit(token_url).hostname or ""):
            raise table.error(
                "token_url",
                f"is {token_url!r}, not on this machine, but the endpoint {endpoint!r} is: a local "
                f"SP-API endpoint needs a local token URL. Set token_url = {local_token_url(endpoint)!r} "
                "(the simulator's), or remove token_url to use it",
            )
    merchant_id = from_file("merchant_id", table.get_str("merchant_id"))

    # Credentials: per-account env > generic env (selected account only) > file.
    env_prefix = account_env_prefix(name)
    credentials: dict[str, str | None] = {}
    for credential in CREDENTIAL_KEYS:
        value = from_file(credential, table.get_str(credential))
        variables = [f"{env_prefix}{credential.upper()}"]
        if selected:
            variables.append(f"AMZORDERS_{credential.upper()}")
        for variable in variables:
            if _env_value(env, variable):
                value = env[variable]
                sources[prefix + credential] = source_env(variable)
                break
        credentials[credential] = value or None
    table.reject_unknown_keys()

    account = AccountConfig(
        name=name,
        region=region,
        marketplace_ids=tuple(marketplace_ids),
        endpoint=endpoint,
        token_url=token_url,
        merchant_id=merchant_id,
        **credentials,
    )
    missing = account.missing_credentials
    if selected and account.has_any_credentials and missing and not account.is_simulator:
        raise ConfigError(_missing_credentials_message(account, path))
    return account


def _check_marketplace(table: _Table, marketplace_id: str, region: str, endpoint: str) -> None:
    marketplace = codes.MARKETPLACES.get(marketplace_id)
    if marketplace is None:
        by_country = {m.country: m for m in codes.MARKETPLACES.values()}
        hint = ""
        guess = by_country.get(marketplace_id.upper())
        if guess:
            hint = f"; for {guess.name} use {guess.marketplace_id!r}"
        raise table.error(
            "marketplace_ids",
            f"contains {marketplace_id!r}, which is not an Amazon marketplace id{hint}",
        )
    # The simulator serves every region; a real host serves only its own.
    if marketplace.region != region and endpoint != "simulator":
        raise table.error(
            "marketplace_ids",
            f"contains {marketplace_id!r} ({marketplace.name}), a marketplace of region "
            f"{marketplace.region!r}, but the account's region is {region!r}; use one "
            f"account per region",
        )


def _check_url(table: _Table, key: str, value: str, choices: str) -> None:
    lead = f"must be {choices} an https URL" if choices else "must be an https URL"
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise table.error(
        key, f"{lead} (plain http only for 127.0.0.1/localhost) (got {value!r})"
    )


def describe_file(path: Path) -> list[tuple[str, Any, str]]:
    """The config file as written, for 'config show' on a config that does not load:
    (key, value, note) with secrets hidden and each account's missing keys marked."""
    import tomllib

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [("config_file", str(path), "does not exist")]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return [("config_file", str(path), f"cannot be read: {exc}")]
    rows: list[tuple[str, Any, str]] = []

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(dotted + ".", value)
            elif key in ("client_secret", "refresh_token", "password"):
                rows.append((dotted, "set (hidden)" if value else "not set", ""))
            else:
                rows.append((dotted, value, ""))

    walk("", document)
    accounts = document.get("accounts")
    if not isinstance(accounts, dict) or not accounts:
        rows.append(("accounts", None, "MISSING: no account configured"))
    else:
        for name, table in accounts.items():
            if not isinstance(table, dict):
                continue
            simulator = table.get("endpoint") == "simulator"
            required = () if simulator else ("region", "marketplace_ids", "client_id", "client_secret", "refresh_token")
            env_prefix = account_env_prefix(name)
            for key in required:
                if key not in table and not os.environ.get(env_prefix + key.upper()):
                    rows.append((f"accounts.{name}.{key}", None, "MISSING"))
            if "merchant_id" not in table and not simulator:
                rows.append((f"accounts.{name}.merchant_id", None, "missing: cancel and refund feeds need it"))
    return rows


def local_token_url(endpoint: str) -> str:
    return endpoint.rstrip("/") + "/auth/o2/token"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        import ipaddress

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_orders(table: _Table, env: Mapping[str, str], sources: dict[str, str]) -> OrderSettings:
    values: dict[str, Any] = {}
    import_orders = table.get_bool("import_orders")
    if import_orders is not None:
        values["import_orders"], sources["orders.import_orders"] = import_orders, SOURCE_FILE
    from_env = _env_value(env, "AMZORDERS_IMPORT_ORDERS")
    if from_env is not None:
        values["import_orders"] = parse_bool(from_env, "AMZORDERS_IMPORT_ORDERS")
        sources["orders.import_orders"] = source_env("AMZORDERS_IMPORT_ORDERS")
    hold = table.get_bool("hold_on_cancel_request")
    if hold is not None:
        values["hold_on_cancel_request"], sources["orders.hold_on_cancel_request"] = hold, SOURCE_FILE
    for key, choices in (
        ("order_number_source", ORDER_NUMBER_SOURCES),
        ("initial_status", INITIAL_STATUSES),
    ):
        value = table.get_str(key)
        if value is not None:
            if value not in choices:
                raise table.error(key, f"must be one of {', '.join(choices)} (got {value!r})")
            values[key], sources[f"orders.{key}"] = value, SOURCE_FILE
    prefix = table.get_str("order_number_prefix", allow_empty=True)
    if prefix is not None:
        if len(prefix) > 20 or not re.fullmatch(r"[A-Za-z0-9_./-]*", prefix):
            raise table.error(
                "order_number_prefix",
                f"must be at most 20 letters, digits or _ . / - (got {prefix!r})",
            )
        values["order_number_prefix"], sources["orders.order_number_prefix"] = prefix, SOURCE_FILE
    table.reject_unknown_keys()
    return OrderSettings(**values)


def _parse_sync(table: _Table, sources: dict[str, str]) -> SyncSettings:
    values: dict[str, Any] = {}
    initial_days = table.get_int("initial_days", minimum=1, maximum=3650)
    if initial_days is not None:
        values["initial_days"] = initial_days
    retention = table.get_int("pii_retention_days", minimum=1, maximum=36500)
    if retention is not None:
        values["pii_retention_days"] = retention
    lock_timeout = table.get_number("lock_timeout_seconds", minimum=0, maximum=86_400)
    if lock_timeout is not None:
        values["lock_timeout_seconds"] = float(lock_timeout)
    for key in values:
        sources[f"sync.{key}"] = SOURCE_FILE
    table.reject_unknown_keys()
    return SyncSettings(**values)


def _parse_alerts(table: _Table, sources: dict[str, str]) -> AlertSettings:
    values: dict[str, Any] = {}
    to = table.get_str("to")
    if to is not None:
        if "@" not in to:
            raise table.error("to", f"must be an e-mail address (got {to!r})")
        values["to"], sources["alerts.to"] = to, SOURCE_FILE
    for key, maximum in (("late_within_hours", 24 * 14), ("stuck_feed_hours", 24 * 14)):
        value = table.get_int(key, minimum=1, maximum=maximum)
        if value is not None:
            values[key], sources[f"alerts.{key}"] = value, SOURCE_FILE
    table.reject_unknown_keys()
    return AlertSettings(**values)


def _parse_notifications(table: _Table, env: Mapping[str, str], sources: dict[str, str]) -> NotificationSettings:
    values: dict[str, Any] = {}
    for key in ("queue_url", "aws_region", "aws_profile", "endpoint_url"):
        value = table.get_str(key)
        if value is not None:
            values[key], sources[f"notifications.{key}"] = value, SOURCE_FILE
    if _env_value(env, "AMZORDERS_QUEUE_URL"):
        values["queue_url"] = env["AMZORDERS_QUEUE_URL"].strip()
        sources["notifications.queue_url"] = source_env("AMZORDERS_QUEUE_URL")
    for key in ("queue_url", "endpoint_url"):
        url = values.get(key)
        if url is not None:
            parts = urlsplit(url)
            local = parts.scheme == "http" and _is_loopback(parts.hostname or "")
            if not ((parts.scheme == "https" and parts.hostname) or local):
                raise table.error(key, f"must be an https:// URL (plain http only to this machine), got {url!r}")
    for key, minimum, maximum in (("max_receives", 1, 1000), ("wait_seconds", 1, 20),
                                  ("visibility_timeout", 30, 43_200)):
        number = table.get_int(key, minimum=minimum, maximum=maximum)
        if number is not None:
            values[key], sources[f"notifications.{key}"] = number, SOURCE_FILE
    table.reject_unknown_keys()
    return NotificationSettings(**values)


def _parse_email(table: _Table, env: Mapping[str, str], sources: dict[str, str]) -> EmailSettings:
    values: dict[str, Any] = {}
    for key in ("host", "username", "password", "from_address", "from_name"):
        value = table.get_str(key)
        if value is not None:
            values[key] = value
    port = table.get_int("port", minimum=1, maximum=65535)
    if port is not None:
        values["port"] = port
    security = table.get_str("security")
    if security is not None:
        if security not in EMAIL_SECURITY:
            raise table.error(
                "security", f"must be one of {', '.join(EMAIL_SECURITY)} (got {security!r})"
            )
        values["security"] = security
    for key in values:
        sources[f"email.{key}"] = SOURCE_FILE
    password = _env_value(env, "AMZORDERS_SMTP_PASSWORD")
    if password is not None:
        values["password"] = password
        sources["email.password"] = source_env("AMZORDERS_SMTP_PASSWORD")
    settings = EmailSettings(**values)
    if settings.enabled and not settings.from_address:
        raise table.error("from_address", "is required when email.host is set")
    if settings.from_address and "@" not in settings.from_address:
        raise table.error(
            "from_address", f"must be an e-mail address (got {settings.from_address!r})"
        )
    table.reject_unknown_keys()
    return settings


def _parse_business(table: _Table, path: Path, sources: dict[str, str]) -> BusinessSettings:
    """[business]: files are relative to the config file; marketplaces by id or country."""
    values: dict[str, Any] = {}
    for key in ("name", "vat_id"):
        value = table.get_str(key)
        if value is not None:
            values[key] = value
    if table.has("address"):
        raw = table._raw("address", False)
        if isinstance(raw, str):
            values["address"] = tuple(line.strip() for line in raw.splitlines() if line.strip())
        else:
            values["address"] = tuple(line for line in (table.get_str_list("address") or ()) if line)
    logo = table.get_str("logo")
    if logo is not None:
        logo_path = path.parent / Path(logo).expanduser()
        if not logo_path.is_file():
            raise table.error("logo", f"names no readable file ({logo_path}); give a PNG or JPEG file or remove it")
        values["logo"] = logo_path
    fonts = []
    for font in table.get_str_list("fonts") or ():
        font_path = path.parent / Path(font).expanduser()
        if not font_path.is_file() or font_path.suffix.lower() not in (".ttf", ".otf"):
            raise table.error("fonts", f"names {font_path}, which is not a .ttf/.otf font file")
        fonts.append(font_path)
    if fonts:
        values["fonts"] = tuple(fonts)
    upload = []
    for text in table.get_str_list("vat_invoice_upload") or ():
        marketplace_id = marketplace_id_from(text)
        if marketplace_id is None:
            raise table.error("vat_invoice_upload", f"names {text!r}, which is no marketplace id or country code")
        if marketplace_id not in codes.VAT_INVOICE_MARKETPLACES:
            offered = ", ".join(codes.MARKETPLACES[m].country for m in codes.VAT_INVOICE_MARKETPLACES)
            raise table.error("vat_invoice_upload", f"names {text!r}; Amazon takes VAT invoice uploads only in {offered}")
        upload.append(marketplace_id)
    if upload:
        values["vat_invoice_upload"] = tuple(upload)
    for key in values:
        sources[f"business.{key}"] = SOURCE_FILE
    table.reject_unknown_keys()
    return BusinessSettings(**values)


def parse_bool(text: str, variable: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ConfigError(
        f"{variable} must be true or false (got {text!r}). Fix or unset the variable."
    )


# --------------------------------------------------------------------------- TOML reading

# Keys each table accepts, so that a typo is an error instead of a silently ignored line.
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": ("default_account", "db_path", "db_url", "db_password", "display_timezone", "accounts", "orders", "sync", "email", "business", "alerts", "notifications"),
    "business": ("name", "address", "vat_id", "logo", "fonts", "vat_invoice_upload"),
    "account": (
        "region",
        "marketplace_ids",
        "client_id",
        "client_secret",
        "refresh_token",
        "endpoint",
        "token_url",
        "merchant_id",
    ),
    "orders": ("import_orders", "order_number_source", "order_number_prefix", "initial_status", "hold_on_cancel_request"),
    "sync": ("initial_days", "pii_retention_days", "lock_timeout_seconds"),
    "alerts": ("to", "late_within_hours", "stuck_feed_hours"),
    "notifications": ("queue_url", "aws_region", "aws_profile", "endpoint_url", "max_receives", "wait_seconds",
                      "visibility_timeout"),
    "email": ("host", "port", "security", "username", "password", "from_address", "from_name"),
}

_TOML_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a table",
}


def _describe(value: Any) -> str:
    kind = _TOML_TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    return f"{kind} {value!r}"


class _Table:
    """One TOML table being read: typed getters with precise errors, and a record of
    which keys were read so that the unknown ones can be reported."""

    def __init__(self, data: dict[str, Any], where: str, path: Path, kind: str | None = None):
        self._data = data
        self._where = where
        self._path = path
        self._kind = kind if kind is not None else where
        self._read: set[str] = set()

    def keys(self) -> list[str]:
        return list(self._data)

    def has(self, key: str) -> bool:
        return key in self._data

    def dotted(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self._path}: {self.dotted(key)} {problem}. {_FILE_FIX}")

    def _raw(self, key: str, required: bool) -> Any:
        self._read.add(key)
        if key not in self._data:
            if required:
                raise self.error(key, "is missing")
            return None
        return self._data[key]

    def get_str(self, key: str, *, required: bool = False, allow_empty: bool = False) -> str | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be a string (got {_describe(value)})")
        if not value.strip() and not allow_empty:
            if required:
                raise self.error(key, "must not be empty")
            return None
        return value if allow_empty else value.strip()

    def get_bool(self, key: str) -> bool | None:
        value = self._raw(key, False)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, f"must be true or false (got {_describe(value)})")
        return value

    def get_int(self, key: str, *, minimum: int, maximum: int) -> int | None:
        value = self._raw(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer (got {_describe(value)})")
        if not minimum <= value <= maximum:
            raise self.error(key, f"must be between {minimum} and {maximum} (got {value})")
        return value

    def get_number(self, key: str, *, minimum: float, maximum: float) -> float | int | None:
        value = self._raw(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number (got {_describe(value)})")
        # TOML has nan and inf: neither is a number of seconds (nan passes every < test).
        if not (minimum <= value <= maximum):
            raise self.error(key, f"must be between {minimum:g} and {maximum:g} (got {value})")
        return value

    def get_str_list(self, key: str) -> tuple[str, ...] | None:
        value = self._raw(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"must be a list of strings (got {_describe(value)})")
        return tuple(v.strip() for v in value)

    def get_table(self, key: str) -> _Table | None:
        value = self._raw(key, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, [{self.dotted(key)}] (got {_describe(value)})")
        kind = "account" if self._where == "accounts" else self.dotted(key)
        return _Table(value, self.dotted(key), self._path, kind)

    def reject_unknown_keys(self) -> None:
        known = _KNOWN_KEYS.get(self._kind)
        if known is None:  # "accounts": any account name is allowed
            return
        for key in self._data:
            if key in self._read:
                continue
            if key not in known:
                import difflib

                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"{self._path}: {self.dotted(key)} is not a known setting{hint}. "
                    f"Known keys here: {', '.join(known)}. {_FILE_FIX}"
                )
