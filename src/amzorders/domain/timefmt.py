"""ISO 8601 parsing and formatting. Every time inside amzorders is an aware UTC datetime."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 date-time; a value without offset is taken as UTC.

    Raises ValueError for anything else.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_iso_or_none(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def to_iso(moment: datetime) -> str:
    """UTC, second precision, 'Z' suffix: sortable as text, which the store relies on."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: amzorders only handles timezone-aware times")
    # isoformat is several times faster than strftime, and the importer calls this a lot.
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def to_iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def parse_when(value: str, now: datetime) -> datetime:
    """A user-given time: ISO date or date-time, or relative like '30m', '12h', '7d', '2w' ago.

    Raises ValueError with a message fit for the user.
    """
    match = _RELATIVE.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        return parse_iso(value)
    except ValueError:
        raise ValueError(
            f"'{value}' is not a date: use ISO 8601 like 2026-11-01 or 2026-11-01T08:30:00Z, "
            "or a relative time like 12h, 7d, 2w"
        ) from None
