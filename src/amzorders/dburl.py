"""Store locations: a SQLite file path or a PostgreSQL URL, and printing them safely.

Kept apart from store/ so that reading the configuration does not import the store.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


def store_location(value: str | Path) -> str | Path:
    """A ``--db`` / ``AMZORDERS_DB`` / config value: a PostgreSQL URL stays text, anything
    else is a SQLite file path."""
    if is_postgres_url(value):
        return str(value)
    return Path(value).expanduser()


def redact_url(location: object) -> str:
    """A location fit to print or log: a URL's password (and any ``password=`` query
    parameter) replaced by ``***``; paths unchanged."""
    text = str(location)
    if not is_postgres_url(text):
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_urls_in(text: str) -> str:
    """Every PostgreSQL URL inside ``text`` redacted (for error messages and logs)."""
    return re.sub(r"postgres(?:ql)?://[^\s'\"]+", lambda m: redact_url(m.group(0)), text)
