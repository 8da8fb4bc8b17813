"""ISO 8601 parsing and formatting. Every time inside amzorders is an aware UTC datetime."""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timedelta, timezone

# ASCII digits only: Python's \d and int() also take Arabic-Indic and other digits.
_RELATIVE = re.compile(r"^\s*([0-9]+)\s*([mhdw])\s*$", re.IGNORECASE | re.ASCII)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
# How far back a relative time may reach: beyond any order, well inside datetime's range.
MAX_RELATIVE_DAYS = 36_500
MAX_RELATIVE_SECONDS = MAX_RELATIVE_DAYS * 86400
# Amazon's marketplaces opened in 1995; an earlier date is a typo (and 0001-01-01 minus a
# timezone offset would leave datetime's range).
EARLIEST_DATE = datetime(1995, 1, 1, tzinfo=timezone.utc)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=timezone.utc)


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 date-time; a value without offset is taken as UTC.

    Raises ValueError for anything else.
    """
    text = value.strip()
    if not text.isascii():
        raise ValueError(f"Invalid isoformat string: {value!r}")
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
    return _to_iso(moment)


@lru_cache(maxsize=1024)
def _to_iso(moment: datetime) -> str:
    # Cached: the importer formats the same few instants (the run's "now", an order's
    # times in its history and documents) ~16 times per order. Equal aware datetimes
    # are the same instant, so one text serves them all. isoformat: ~5x faster than
    # strftime.
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def to_iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def parse_when(value: str, now: datetime) -> datetime:
    """A user-given time: ISO date or date-time, or relative like '30m', '12h', '7d', '2w' ago.

    Raises ValueError with a message fit for the user.
    """
    match = _RELATIVE.match(value)
    if match:
        digits, unit = match.group(1), match.group(2).lower()
        # Bounded before int(): a thousand-digit number must not reach timedelta.
        seconds = int(digits) * _UNIT_SECONDS[unit] if len(digits) <= 12 else MAX_RELATIVE_SECONDS + 1
        if seconds > MAX_RELATIVE_SECONDS:
            raise ValueError(
                f"'{value.strip()}' reaches too far back: at most {MAX_RELATIVE_DAYS}d "
                "(100 years); give a date instead, like 2026-11-01"
            )
        return now - timedelta(seconds=seconds)
    try:
        when = parse_iso(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"'{value}' is not a date: use ISO 8601 like 2026-11-01 or 2026-11-01T08:30:00Z, "
            "or a relative time like 12h, 7d, 2w"
        ) from None
    if not EARLIEST_DATE <= when < LATEST_DATE:
        raise ValueError(
            f"'{value.strip()}' is out of range: give a date from {EARLIEST_DATE:%Y-%m-%d} "
            f"to {LATEST_DATE - timedelta(days=1):%Y-%m-%d}"
        )
    return when
