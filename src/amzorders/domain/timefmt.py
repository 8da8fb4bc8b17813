"""ISO 8601 parsing and formatting. Every time inside amzorders is an aware UTC datetime."""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone, tzinfo

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


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def day_word(value: str, now: datetime, zone: tzinfo = timezone.utc) -> date | None:
    """'today', 'yesterday', 'tomorrow', a weekday name (its latest day up to today, as
    'since monday' means) or 'mon'...: that calendar day in ``zone``; None for other text."""
    word = value.strip().lower()
    today = now.astimezone(zone).date()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    if word == "tomorrow":
        return today + timedelta(days=1)
    for index, name in enumerate(_WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return today - timedelta(days=(today.weekday() - index) % 7)
    return None


def day_start(day: date, zone: tzinfo = timezone.utc) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def parse_day_window(value: str, now: datetime, zone: tzinfo = timezone.utc) -> tuple[datetime, datetime]:
    """A calendar day ('today', 'friday', '2026-12-03') or 'DAY..DAY' (both included) as
    the UTC window [start, end) of those days in ``zone``. Raises ValueError."""
    first, sep, last = value.partition("..")
    start_day = _one_day(first, now, zone)
    end_day = _one_day(last, now, zone) if sep else start_day
    if end_day < start_day:
        raise ValueError(f"'{value}' ends before it starts")
    return day_start(start_day, zone), day_start(end_day + timedelta(days=1), zone)


def _one_day(text: str, now: datetime, zone: tzinfo) -> date:
    word = day_word(text, now, zone)
    if word is not None:
        return word
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text}' is not a day: use today, tomorrow, yesterday, a weekday name or a date like 2026-12-03"
        ) from None


def parse_when(value: str, now: datetime, zone: tzinfo = timezone.utc) -> datetime:
    """A user-given time: ISO date or date-time, 'today', 'yesterday', a weekday name (the
    start of that day), or relative like '30m', '12h', '7d', '2w' ago. A date or time
    typed without an offset is in ``zone`` (the display timezone, UTC by default).

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
    word = day_word(value, now, zone)
    if word is not None:
        return day_start(word, zone)
    try:
        text = value.strip()
        if not text.isascii():
            raise ValueError(text)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        when = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(
            f"'{value}' is not a date: use ISO 8601 like 2026-11-01 or 2026-11-01T08:30:00Z, "
            "today, yesterday, a weekday name, or a relative time like 12h, 7d, 2w"
        ) from None
    if not EARLIEST_DATE <= when < LATEST_DATE:
        raise ValueError(
            f"'{value.strip()}' is out of range: give a date from {EARLIEST_DATE:%Y-%m-%d} "
            f"to {LATEST_DATE - timedelta(days=1):%Y-%m-%d}"
        )
    return when
