"""Reading Amazon's order JSON by shape, in one place for the mapper (``mapping``) and the
details reader (``details``), which read the same Order object of Orders API v2026-01-01.

Amazon's payloads are untrusted input: a section of the wrong type reads as empty, a
string that is not one reads as None, nothing raises.
"""

from __future__ import annotations

from typing import Any

from amzorders.domain.models import AmazonPackage
from amzorders.domain.timefmt import parse_iso_or_none

MAX_TEXT = 2000  # longer strings are cut: titles and names are never this long in earnest


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A string (or an integer id) as text, cut at MAX_TEXT; anything else, or '', None."""
    if value.__class__ is str:  # what JSON gives nearly always (the import calls this ~50 times per order)
        return value[:MAX_TEXT] if value else None
    if value is None or not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    text = str(value)
    return text[:MAX_TEXT] if text else None


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    # One optional minus and ASCII digits only: str.isdigit() is also true of '²', which
    # int() refuses (and lstrip("-") let '--3' through).
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if digits.isascii() and digits.isdigit():
            return int(text)
    return default


def order_programs(data: dict) -> tuple[str, ...]:
    """The Order's ``programs`` list (PRIME, BUSINESS, ...), as it came."""
    return tuple(p for p in (as_text(x) for x in as_list(data.get("programs"))) if p)


def order_packages(data: dict) -> list[AmazonPackage]:
    """The Order's ``packages`` (Package schema): one per packageReferenceId; a package
    without one cannot be told apart from another and is left out."""
    packages = []
    for raw in as_list(data.get("packages")):
        package = as_dict(raw)
        ref = as_text(package.get("packageReferenceId"))
        if not ref:
            continue
        items = []
        for entry in as_list(package.get("packageItems")):
            entry = as_dict(entry)
            item_id = as_text(entry.get("orderItemId"))
            if item_id:
                items.append((item_id, max(0, as_int(entry.get("quantity"), 0))))
        status = as_dict(package.get("packageStatus"))
        packages.append(AmazonPackage(
            package_reference_id=ref,
            carrier=as_text(package.get("carrier")),
            tracking_number=as_text(package.get("trackingNumber")),
            ship_time=parse_iso_or_none(package.get("shipTime")),
            shipping_service=as_text(package.get("shippingService")),
            status=as_text(status.get("status")),
            detailed_status=as_text(status.get("detailedStatus")),
            items=tuple(items),
        ))
    return packages
