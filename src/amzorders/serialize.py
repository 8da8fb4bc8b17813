"""Machine-readable forms of the data: JSON values and CSV cells (no rich: scripts'
output paths stay light to import)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amzorders.textsafe import json_text


_PLAIN = frozenset({str, int, float, bool})


def jsonable(value: Any) -> Any:
    """Stable JSON: snake_case keys, ISO-8601 UTC times, money as strings."""
    if value is None or type(value) in _PLAIN:  # most values: first (list --json -n 10000)
        return value
    names = record_fields(value)
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names if name != "raw"}
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value


def record_fields(value: Any) -> tuple[str, ...] | None:
    """The field names of a record instance, in definition order: a msgspec.Struct (the
    records of domain/, store/ and config) or a dataclass (simulator, some services);
    None for anything else, a record class included."""
    if isinstance(value, type):  # a class (StructMeta itself has a __struct_fields__ slot)
        return None
    names = getattr(type(value), "__struct_fields__", None)
    if names is not None:
        return names
    if hasattr(type(value), "__dataclass_fields__"):
        # A dataclass instance exists only once its module imported dataclasses.
        return tuple(f.name for f in sys.modules["dataclasses"].fields(value))
    return None


def dumps(value: Any) -> str:
    """Indented JSON; characters a terminal would act on written as JSON escapes."""
    return json_text(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def write_delimited(handle: Any, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], delimiter: str = ",") -> None:
    """A header row, then one line per row (``csv_cell`` each): CSV with ``,``, TSV with
    a tab. ``handle``: anything with ``write(str)``."""
    import csv

    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(row.get(name)) for name in columns] for row in rows)


def csv_cell(value: Any) -> str:
    """One CSV/TSV cell: nested values as compact JSON, None empty, and a text starting
    with = + - @ quoted with ' (spreadsheets run such a cell as a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if text[:1] in ("=", "+", "-", "@") and not _looks_numeric(text):
        return "'" + text
    return text


def _looks_numeric(value: str) -> bool:
    try:
        Decimal(value)
        return True
    except ArithmeticError:
        return False
