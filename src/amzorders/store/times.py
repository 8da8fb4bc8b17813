"""How the store keeps a moment: whole Unix seconds (UTC), an integer, on both engines.

Every time column (declared ``UNIXTIME`` in migrations, store/dialect.py render_ddl: SQLite
INTEGER with a CHECK that the value is one, PostgreSQL BIGINT) is written with
``stored_time`` and read with ``read_time``; nothing else in the store converts times.
Why integers (migration 13, issue 15): SQLite keeps a value below 2**31 in 4 bytes where
the ISO text took 20, ~260 B less per order with the indexes on purchase_date and ship_by;
integers sort and compare as the instants they are, as the ISO text did. Second precision,
as ``to_iso`` always had, so a time read back prints exactly as before.
Above the store every time is an aware UTC datetime (STYLE.md); JSON documents inside a
column (outbox result_json, checkpoint params) keep their ISO text.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


def stored_time(moment: datetime) -> int:
    """``moment`` as the store keeps it: whole seconds since 1970 UTC (the fraction dropped,
    as ``to_iso`` drops it). Integer arithmetic, not ``timestamp()``: a float can round
    .999999 up into the next second."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: amzorders only handles timezone-aware times")
    return (moment - _EPOCH) // _SECOND


def stored_time_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else stored_time(moment)


def read_time(value: int) -> datetime:
    """A stored time as an aware UTC datetime. Anything but an integer is refused loudly:
    a text here is a write path that missed ``stored_time`` (the CHECK on SQLite and the
    BIGINT on PostgreSQL refuse those too), not something to guess at."""
    if type(value) is not int:
        raise TypeError(f"a stored time is an integer of Unix seconds, not {type(value).__name__} {value!r}")
    return _EPOCH + timedelta(seconds=value)


def read_time_or_none(value: int | None) -> datetime | None:
    return None if value is None else read_time(value)


def read_time_iso(value: int | None) -> str | None:
    """A stored time as the ISO text 'YYYY-MM-DDTHH:MM:SSZ', for the few reads whose callers
    take text (alerts' due orders, set-aside messages, sync state)."""
    from amzorders.domain.timefmt import to_iso_or_none

    return to_iso_or_none(read_time_or_none(value))
