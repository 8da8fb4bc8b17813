"""The composition root: settings + chosen account -> store, SP-API client, simulator.

Everything heavy is built lazily on first use and imported inside the method that needs
it, so that commands which only read the store never load ``requests`` or the simulator.
No terminal code here: the CLI decides what to print.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from amzorders import logsetup
from amzorders.config import AccountConfig, Settings, load_settings
from amzorders.errors import ConfigError

if TYPE_CHECKING:
    from amzorders.amazon.auth import TokenStore
    from amzorders.amazon.client import SpApiClient
    from amzorders.simulator import Simulator
    from amzorders.store import Store

# The newcomer's simulator: enough orders to look real, time running a minute per second
# so that PENDING orders get released while one watches.
SIMULATOR_SEED = 1
SIMULATOR_ORDERS = 250
SIMULATOR_TIME_SCALE = 60.0


class App:
    """One command's view of the world. ``close()`` releases what was opened."""

    def __init__(self, settings: Settings, account: AccountConfig) -> None:
        self.settings = settings
        self.account = account
        self.using_simulator = account.is_simulator
        self.db_path: Path | str = settings.db_path_for(account)  # a file, or a PostgreSQL URL
        self._store: Store | None = None
        # Told (location, from, to) before an existing store's schema upgrade runs: the
        # CLI says so on stderr (an upgrade of a big store takes minutes).
        self.on_store_upgrade: Callable[[str, int, int], None] | None = None
        self._client: SpApiClient | None = None
        self._simulator: Simulator | None = None

    @classmethod
    def from_options(
        cls,
        config_path: Path | None = None,
        db_path: Path | str | None = None,
        account_name: str | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> App:
        """Build from the command-line flags (None: not given) and the environment."""
        settings = load_settings(
            config_path=config_path, db_path=db_path, account=account_name, env=env
        )
        return cls(settings, settings.resolve_account())

    display_timezone_override: str | None = None  # --tz, set by the CLI

    @property
    def display_zone(self):
        """The tzinfo of times shown and of dates typed without a zone (--tz, else the
        display_timezone setting, else UTC)."""
        from datetime import timezone

        name = self.display_timezone_override or self.settings.display_timezone
        if name == "UTC":
            return timezone.utc
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)

    def store(self, *, read_only: bool = False) -> Store:
        """The order store, opened (and migrated) on first use.

        ``read_only`` (list, show...): a store file that does not exist is never created.
        A path given by --db / AMZORDERS_DB is then an error naming it (a typo must not
        show an empty store); the default path means nothing was synced yet: an empty
        in-memory store answers. (A PostgreSQL URL names a server database: opened as is.)
        """
        if self._store is None:
            from amzorders.store import Store
            from amzorders.store.base import store_exists

            missing_file = isinstance(self.db_path, Path) and not store_exists(self.db_path)
            if read_only and missing_file:
                if self.settings.db_path_explicit:
                    source = self.settings.sources.get("db_path", "--db")
                    raise ConfigError(
                        f"There is no order store {self.db_path} (from {source}). Check the path; "
                        "'amzorders sync' creates a new store there."
                    )
                self._store = Store.open(":memory:")
            else:
                self._store = Store.open(
                    self.db_path, password=self.settings.db_password, on_upgrade=self.on_store_upgrade
                )
        return self._store

    def simulator(self) -> Simulator:
        """The in-process simulator, started on first use (simulator accounts only)."""
        if not self.using_simulator:
            raise RuntimeError(f"account {self.account.name!r} does not use the simulator")
        if self._simulator is None:
            from amzorders.simulator import Simulator

            state_path = self.settings.simulator_state_path
            state_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            simulator = Simulator(
                state_path,
                seed=SIMULATOR_SEED,
                orders=SIMULATOR_ORDERS,
                rate_limits=True,
                time_scale=SIMULATOR_TIME_SCALE,
            )
            simulator.start()
            self._simulator = simulator
        return self._simulator

    def amazon(self) -> SpApiClient:
        """The SP-API client of the account (pointed at the simulator when it is one)."""
        if self._client is None:
            from amzorders.amazon.client import LwaCredentials, SpApiClient

            if self.using_simulator:
                from amzorders.simulator import SIMULATOR_CREDENTIALS

                simulator = self.simulator()
                base_url, token_url = simulator.base_url, simulator.token_url
                credentials = LwaCredentials(
                    SIMULATOR_CREDENTIALS["client_id"],
                    SIMULATOR_CREDENTIALS["client_secret"],
                    SIMULATOR_CREDENTIALS["refresh_token"],
                )
            else:
                account = self.account
                # resolve_account() guarantees all three for a non-simulator account.
                assert account.base_url is not None
                assert account.client_id and account.client_secret and account.refresh_token
                base_url, token_url = account.base_url, account.token_url
                credentials = LwaCredentials(
                    account.client_id, account.client_secret, account.refresh_token
                )
            check_transport(base_url, "SP-API endpoint", self.account.name)
            check_transport(token_url, "Login with Amazon token URL", self.account.name)
            logsetup.add_secrets(credentials.secrets())
            rate_limiter = None
            shared_tokens: TokenStore | None = None
            if not self.using_simulator:
                # Amazon's buckets are per seller and application: every process on
                # this store draws from the same buckets, and reuses a live token.
                from amzorders.amazon.ratelimit import RateLimiter

                backend = StoreBucketBackend(self.store(), self.account.name)
                rate_limiter = RateLimiter(backend, plans=backend.known_plans())
                shared_tokens = StoreTokenCache(self.store())
            self._client = SpApiClient(
                base_url,
                credentials=credentials,
                token_url=token_url,
                account_name=self.account.name,
                rate_limiter=rate_limiter,
                token_store=RedactingTokenStore(shared_tokens),
                on_call=logsetup.log_amazon_call,
            )
        return self._client

    def notification_queue(self):
        """The SQS queue of [notifications] (amazon.sqs.NotificationQueue; imports boto3).

        The built-in simulator serves its own queue, addressed with its public test AWS
        keys; a real account names its queue in [notifications] queue_url, and boto3's
        standard chain finds the AWS credentials (environment, profile, instance role)."""
        from amzorders.amazon.sqs import NotificationQueue

        notes = self.settings.notifications
        if self.using_simulator:
            from amzorders.simulator.notifications import AWS_REGION, AWS_TEST_CREDENTIALS

            simulator = self.simulator()
            return NotificationQueue(simulator.notifications.queue_url(simulator.base_url), region=AWS_REGION,
                                     endpoint_url=simulator.base_url, credentials=dict(AWS_TEST_CREDENTIALS))
        if not notes.queue_url:
            raise ConfigError(
                f"No notification queue is configured for account '{self.account.name}': add queue_url to the "
                "[notifications] section of the config (README: 'Orders in seconds: notifications'), or set "
                "AMZORDERS_QUEUE_URL."
            )
        endpoint = notes.endpoint_url
        parts = urlsplit(notes.queue_url)
        if endpoint is None and parts.scheme == "http" and _is_loopback(parts.hostname or ""):
            endpoint = f"{parts.scheme}://{parts.netloc}"  # a local SQS-compatible endpoint
        return NotificationQueue(notes.queue_url, region=notes.aws_region, endpoint_url=endpoint,
                                 profile=notes.aws_profile, read_timeout=notes.wait_seconds + 10)

    def close(self) -> None:
        """Close the store and stop the simulator; safe to call twice."""
        store, self._store = self._store, None
        simulator, self._simulator = self._simulator, None
        client, self._client = self._client, None
        try:
            if client is not None and hasattr(client, "close"):
                client.close()
            if store is not None:
                store.close()
        finally:
            if simulator is not None:
                simulator.stop()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_transport(url: str, what: str, account_name: str) -> None:
    """Refuse to send credentials anywhere but https, or plain http to this machine.

    config.py validates the URLs a config file names; this guards every URL the client
    is actually built with. TLS verification itself is never turned off: nothing in
    amzorders disables certificate checks (tests/test_security_files.py scans for it).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ConfigError(
        f"The {what} of account '{account_name}' is {url!r}: credentials are only sent over "
        "https (plain http only to 127.0.0.1/localhost, for the simulator). Fix the "
        "account's endpoint or token_url in the config file."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        import ipaddress

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RedactingTokenStore:
    """Registers every access token the client gets with the log redaction, then
    passes it on to ``inner`` (None: nothing shared between processes)."""

    def __init__(self, inner: TokenStore | None) -> None:
        self.inner = inner

    def load(self, key: str) -> tuple[str, float] | None:
        stored = self.inner.load(key) if self.inner is not None else None
        if stored is not None:
            logsetup.add_secrets([stored[0]])
        return stored

    def save(self, key: str, token: str, expires_at: float) -> None:
        logsetup.add_secrets([token])
        if self.inner is not None:
            self.inner.save(key, token, expires_at)


class StoreBucketBackend:
    """Rate buckets kept in the store, shared by every process (amazon.ratelimit.BucketBackend)."""

    def __init__(self, store: Store, account_name: str) -> None:
        self.store = store
        self.account_name = account_name

    def reserve(self, operation: str, rate: float, burst: int, now: float) -> float:
        return self.store.reserve_rate_token(f"{self.account_name}:{operation}", rate, burst, now)

    def peek(self, operation: str):  # -> BucketState | None
        from amzorders.domain.ratebucket import BucketState

        state = self.store.rate_bucket_states().get(f"{self.account_name}:{operation}")
        return BucketState(tokens=state[0], updated_at=state[1]) if state else None

    def known_plans(self) -> dict[str, tuple[float, int]]:
        """The usage plans, with the rates Amazon last reported to any process on this
        store (x-amzn-RateLimit-Limit): a new process paces right from its first call.

        The burst is always the published plan's: Amazon does not report it, and what a
        bucket row holds is a level, not a plan (reading it back as the plan made every
        process lose one unit of burst)."""
        from amzorders.domain.codes import USAGE_PLANS

        plans = dict(USAGE_PLANS)
        prefix = f"{self.account_name}:"
        for bucket, (_tokens, _updated, rate, _burst) in self.store.rate_bucket_states().items():
            operation = bucket[len(prefix):] if bucket.startswith(prefix) else None
            if operation in plans and rate > 0:
                plans[operation] = (rate, USAGE_PLANS[operation][1])
        return plans


class StoreTokenCache:
    """LWA access tokens cached in the (0600) store between runs (amazon.auth.TokenStore)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, key: str) -> tuple[str, float] | None:
        return self.store.load_access_token(key)

    def save(self, key: str, token: str, expires_at: float) -> None:
        self.store.save_access_token(key, token, expires_at)
