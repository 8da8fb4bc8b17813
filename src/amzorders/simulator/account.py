"""The config an amzorders account needs to use a running simulator."""

from __future__ import annotations

from .core import SIMULATOR_CREDENTIALS

# The North American marketplaces the simulator serves (one account = one region).
NA_MARKETPLACE_IDS: tuple[str, ...] = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")


def account_config_toml(
    base_url: str,
    token_url: str,
    *,
    account: str = "main",
    client_secret: str | None = None,
    marketplace_ids: tuple[str, ...] = NA_MARKETPLACE_IDS,
) -> str:
    """A config.toml text whose account points at the simulator at ``base_url``.

    The credentials are the simulator's public test ones (``client_secret`` overrides the
    secret, to try a refusal)."""
    marketplaces = ", ".join(f'"{m}"' for m in marketplace_ids)
    secret = client_secret or SIMULATOR_CREDENTIALS["client_secret"]
    return f"""default_account = "{account}"

[accounts.{account}]
region = "na"
marketplace_ids = [{marketplaces}]
client_id = "{SIMULATOR_CREDENTIALS['client_id']}"
client_secret = "{secret}"
refresh_token = "{SIMULATOR_CREDENTIALS['refresh_token']}"
endpoint = "{base_url}"
token_url = "{token_url}"
merchant_id = "A1SIMULATEDSELLER"
"""


def notifications_config_toml(base_url: str) -> str:
    """The [notifications] section for the simulator's SQS queue at ``base_url``."""
    from .notifications import AWS_ACCOUNT_ID, DEFAULT_QUEUE

    return f"""
[notifications]
queue_url = "{base_url}/{AWS_ACCOUNT_ID}/{DEFAULT_QUEUE}"
endpoint_url = "{base_url}"
"""
