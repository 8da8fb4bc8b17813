"""Login with Amazon (LWA): credentials, the access-token cache and its key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class LwaCredentials:
    """An application's LWA client id and secret plus the seller's refresh token.

    ``repr`` shows only the client id: the secret and the refresh token must never reach
    logs, tracebacks or error messages.
    """

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)

    def __repr__(self) -> str:
        return f"LwaCredentials(client_id={self.client_id!r}, client_secret='***', refresh_token='***')"

    __str__ = __repr__

    def secrets(self) -> tuple[str, str]:
        """The values that must be scrubbed from anything shown or logged."""
        return (self.client_secret, self.refresh_token)


class TokenStore(Protocol):
    """A cache of access tokens shared between processes (e.g. the SQLite store).

    ``expires_at`` is wall-clock time in seconds since the epoch (``time.time()``).
    """

    def load(self, key: str) -> tuple[str, float] | None: ...

    def save(self, key: str, token: str, expires_at: float) -> None: ...


class MemoryTokenStore:
    """A ``TokenStore`` in a dict, for one process or a test."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, float]] = {}

    def load(self, key: str) -> tuple[str, float] | None:
        return self.tokens.get(key)

    def save(self, key: str, token: str, expires_at: float) -> None:
        self.tokens[key] = (token, expires_at)


def token_cache_key(credentials: LwaCredentials) -> str:
    """The key under which this application + seller's access token is cached.

    A SHA-256 of client id and refresh token: distinct per seller authorization, and
    useless to anyone who reads the cache.
    """
    material = f"{credentials.client_id}\n{credentials.refresh_token}".encode()
    return hashlib.sha256(material).hexdigest()


def grantless_cache_key(client_id: str, scope: str) -> str:
    """The cache key of an application's grantless token for ``scope`` (no seller in it)."""
    return hashlib.sha256(f"{client_id}\ngrantless\n{scope}".encode()).hexdigest()
