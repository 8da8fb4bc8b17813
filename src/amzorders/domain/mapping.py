"""Orders API v2026-01-01 JSON -> AmazonOrder.

Amazon's payloads are untrusted input: optional sections may be missing, enums may grow,
strings may be odd. The mapper never raises for those; it keeps what it can and records a
warning. Only an order without the fields nothing works without (id, times, items) is
refused, with ``OrderPayloadError``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from amzorders.domain import money as money_model
from amzorders.domain.codes import FULFILLMENT_STATUSES
from amzorders.domain.details import unknown_list_values
from amzorders.domain.jsonread import order_packages, order_programs
from amzorders.domain.jsonread import as_dict as _dict
from amzorders.domain.jsonread import as_int as _int
from amzorders.domain.jsonread import as_list as _list
from amzorders.domain.jsonread import as_text as _text
from amzorders.domain.models import Address, AmazonOrder, AmazonOrderItem, Money
from amzorders.domain.timefmt import parse_iso_or_none

# No real order line holds more; beyond it a quantity is garbage, and past 2**63 it would
# not even fit an SQLite integer. Such an order is refused, not half-stored.
MAX_QUANTITY = 1_000_000


class OrderPayloadError(ValueError):
    """The payload lacks what an order cannot be stored without."""


# Parsed amounts by (amount text, currency code): a page repeats the same few amounts
# (0.00, prices, shipping) across its orders, and Money is immutable, so one parse serves.
_MONEY_SEEN: dict[tuple[str, str], Money] = {}
_MONEY_SEEN_MAX = 4096


def parse_money(value: Any, warnings: list[str] | None = None, where: str = "") -> Money | None:
    """``{"amount": "12.50", "currencyCode": "USD"}`` -> Money. Floats are refused."""
    money = _read_money(value)
    if money.__class__ is str:
        if warnings is not None:
            warnings.append(f"{where}: {money}")
        return None
    return money  # type: ignore[return-value]


def _read_money(value: Any) -> Money | str | None:
    """Money; None without an amount or a currency; a text saying why the amount is unusable."""
    data = value if value.__class__ is dict else _dict(value)
    amount, currency = data.get("amount"), data.get("currencyCode")
    key = None
    if amount.__class__ is str and currency.__class__ is str:
        key = (amount, currency)
        seen = _MONEY_SEEN.get(key)
        if seen is not None:
            return seen
    if amount is None or not isinstance(currency, str) or not currency:
        return None
    if isinstance(amount, float) or isinstance(amount, bool):
        # Amazon's model says decimal string; a float would already have lost precision.
        amount = repr(amount)
    try:
        parsed = Decimal(amount if isinstance(amount, str) else str(amount))
    except InvalidOperation:
        return f"amount {amount!r} is not a number"
    if not parsed.is_finite():
        return f"amount {amount!r} is not finite"
    money = Money(parsed, currency.upper()[:3])
    if key is not None:
        if len(_MONEY_SEEN) >= _MONEY_SEEN_MAX:
            _MONEY_SEEN.clear()
        _MONEY_SEEN[key] = money
    return money


def _read_breakdowns(proceeds: dict, warnings: list[str], where: str) -> list[tuple[str, Money, dict]]:
    """The proceeds breakdowns with a usable subtotal, read once: [(type, subtotal, entry)]."""
    out = []
    for entry in _list(proceeds.get("breakdowns")):
        entry = _dict(entry)
        kind = entry.get("type")
        if not isinstance(kind, str):
            continue
        money = _read_money(entry.get("subtotal"))
        if money.__class__ is str:
            warnings.append(f"{where} {kind}: {money}")
        elif money is not None:
            out.append((kind, money, entry))
    return out


def _breakdowns(read: list[tuple[str, Money, dict]]) -> dict[str, Money]:
    """Proceeds breakdown subtotals by type (ITEM, SHIPPING, TAX...), summed per type."""
    totals: dict[str, Money] = {}
    for kind, money, _ in read:
        seen = totals.get(kind)
        if seen is None:
            totals[kind] = money
        elif seen.currency == money.currency:
            totals[kind] = seen + money
    return totals


def _detailed_breakdowns(read: list[tuple[str, Money, dict]], currency: str | None, warnings: list[str], where: str):
    """[(type, subtotal, [(subtype, value)])] of an item's proceeds, in one currency."""
    out = []
    for kind, subtotal, entry in read:
        if currency is not None and subtotal.currency != currency:
            warnings.append(f"{where} {kind}: currency {subtotal.currency} differs from {currency}; left out")
            continue
        detailed = []
        for sub in _list(entry.get("detailedBreakdowns")):
            sub = _dict(sub)
            value = _read_money(sub.get("value"))
            if value.__class__ is str:
                warnings.append(f"{where} {kind} detailed: {value}")
                continue
            subtype = sub.get("subtype")
            if value is not None and isinstance(subtype, str) and value.currency == subtotal.currency:  # type: ignore[union-attr]
                detailed.append((subtype, value.amount))  # type: ignore[union-attr]
        out.append((kind, subtotal.amount, detailed))
    return out


def _item_components(data: dict, read: list[tuple[str, Money, dict]], currency: str | None, warnings: list[str],
                     where: str):
    breakdowns = _detailed_breakdowns(read, currency, warnings, where)
    points_value = parse_money(
        _dict(_dict(_dict(data.get("expense")).get("pointsCost")).get("pointsGranted")).get("pointsMonetaryValue"),
        warnings, f"{where} points",
    )
    components, problems = money_model.from_breakdowns(breakdowns, points_value.amount if points_value else None)
    warnings.extend(f"{where}: {p}" for p in problems)
    return components


def _address(value: Any) -> Address | None:
    data = _dict(value)
    if not data:
        return None
    return Address(
        name=_text(data.get("name")),
        company=_text(data.get("companyName")),
        line1=_text(data.get("addressLine1")),
        line2=_text(data.get("addressLine2")),
        line3=_text(data.get("addressLine3")),
        city=_text(data.get("city")),
        district=_text(data.get("districtOrCounty")),
        state_or_region=_text(data.get("stateOrRegion")),
        postal_code=_text(data.get("postalCode")),
        country_code=_text(data.get("countryCode")),
        phone=_text(data.get("phone")),
        address_type=_text(data.get("addressType")),
    )


def delivery_address(raw: Any) -> Address | None:
    """The delivery address of a stored Order JSON, as ``map_order`` reads it (the store keeps
    no second copy of it since migration 10)."""
    return _address(_dict(_dict(raw).get("recipient")).get("deliveryAddress"))


def _item(data: dict, index: int, warnings: list[str]) -> AmazonOrderItem | None:
    item_id = _text(data.get("orderItemId"))
    where = f"orderItems[{index}]"
    if not item_id:
        warnings.append(f"{where}: no orderItemId, item skipped")
        return None
    quantity = _int(data.get("quantityOrdered"), -1)
    if quantity > MAX_QUANTITY:
        raise OrderPayloadError(f"{where}: quantityOrdered {quantity} is beyond any real order (max {MAX_QUANTITY})")
    if quantity < 0:
        warnings.append(f"{where}: quantityOrdered {data.get('quantityOrdered')!r} is not a count; taken as 0")
        quantity = 0
    product = _dict(data.get("product"))
    price = _dict(product.get("price"))
    proceeds = _dict(data.get("proceeds"))
    fulfillment = _dict(data.get("fulfillment"))
    packing = _dict(fulfillment.get("packing"))
    gift = _dict(packing.get("giftOption"))
    cancellation = _dict(data.get("cancellation"))
    request = _dict(cancellation.get("cancellationRequest"))
    execution = _dict(cancellation.get("cancellationExecution"))
    read = _read_breakdowns(proceeds, warnings, where)  # once: the totals and the components use them
    breakdowns = _breakdowns(read)
    discount = breakdowns.get("DISCOUNT")
    if discount is not None and discount.amount < 0:
        discount = Money(-discount.amount, discount.currency)
    shipped = _int(fulfillment.get("quantityFulfilled"), 0)
    total = parse_money(proceeds.get("proceedsTotal"), warnings, f"{where} proceedsTotal")
    components = _item_components(data, read, total.currency if total else None, warnings, where)
    if total is not None and breakdowns and money_model.paid(components) != total.amount:
        warnings.append(
            f"{where}: proceeds breakdowns add to {money_model.paid(components)}, not the proceedsTotal {total.amount}"
        )
    promotion_ids = tuple(
        p for p in (_text(_dict(b).get("promotionId")) for b in _list(_dict(data.get("promotion")).get("breakdowns"))) if p
    )
    return AmazonOrderItem(
        order_item_id=item_id,
        quantity_ordered=quantity,
        sku=_text(product.get("sellerSku")),
        asin=_text(product.get("asin")),
        title=_text(product.get("title")),
        quantity_shipped=max(0, min(shipped, quantity)),
        unit_price=parse_money(price.get("unitPrice"), warnings, f"{where} unitPrice"),
        item_price=breakdowns.get("ITEM"),
        shipping_price=breakdowns.get("SHIPPING"),
        tax=breakdowns.get("TAX"),
        discount=discount,
        gift_wrap=breakdowns.get("GIFT_WRAP"),
        total=total,
        condition=_text(_dict(product.get("condition")).get("conditionType")),
        is_gift=bool(gift),
        gift_message=_text(gift.get("giftMessage")),
        cancel_requested_by=_text(request.get("requester")),
        cancel_reason=_text(request.get("cancelReason")) or _text(execution.get("cancelReason")),
        components=tuple(components.items()),
        promotion_ids=promotion_ids,
        cancelled_by=_text(execution.get("cancelledBy")),
    )


def parse_order(data: Any) -> AmazonOrder:
    """Map one raw Order object. Raises OrderPayloadError when it cannot be stored."""
    if not isinstance(data, dict):
        raise OrderPayloadError("order is not a JSON object")
    warnings: list[str] = []
    order_id = _text(data.get("orderId"))
    if not order_id:
        raise OrderPayloadError("order has no orderId")
    created = parse_iso_or_none(data.get("createdTime"))
    updated = parse_iso_or_none(data.get("lastUpdatedTime"))
    if created is None:
        raise OrderPayloadError(f"order {order_id}: createdTime {data.get('createdTime')!r} is not a date-time")
    if updated is None:
        warnings.append("lastUpdatedTime missing or not a date-time; createdTime used")
        updated = created
    raw_items = data.get("orderItems")
    if not isinstance(raw_items, list):
        raise OrderPayloadError(f"order {order_id}: orderItems missing")
    items = []
    for index, raw in enumerate(raw_items):
        item = _item(_dict(raw), index, warnings)
        if item is not None:
            items.append(item)

    fulfillment = _dict(data.get("fulfillment"))
    status = _text(fulfillment.get("fulfillmentStatus"))
    if status is None:
        # Without FULFILLMENT data the status is unknown: PENDING is the safe reading
        # (no commerce order is created, nothing may be shipped or canceled).
        status = "PENDING"
        warnings.append("fulfillment status missing; treated as PENDING")
    elif status not in FULFILLMENT_STATUSES:
        warnings.append(f"unknown fulfillment status {status!r} kept as is")
    channel = _dict(data.get("salesChannel"))
    buyer = _dict(data.get("buyer"))
    recipient = _dict(data.get("recipient"))
    proceeds = _dict(data.get("proceeds"))
    grand_total = parse_money(proceeds.get("grandTotal"), warnings, "grandTotal")
    currency = grand_total.currency if grand_total else None
    if currency is None:
        currency = next((i.total.currency for i in items if i.total), None) or next(
            (i.unit_price.currency for i in items if i.unit_price), None
        )
    order_breakdowns = _breakdowns(_read_breakdowns(proceeds, warnings, "order"))
    delivery_tip = order_breakdowns.get("DELIVERY_TIP")
    if grand_total is not None and items and all(i.components or i.total for i in items):
        parts = sum((money_model.paid(i.component_map()) for i in items), Decimal(0))
        expected = grand_total.amount - (delivery_tip.amount if delivery_tip else Decimal(0))
        if parts != expected:
            warnings.append(
                f"the items' proceeds add to {parts} {grand_total.currency}, but Amazon's grand total is "
                f"{grand_total.amount}" + (f" (with a delivery tip of {delivery_tip.amount})" if delivery_tip else "")
            )
    seller_order_id = None
    for alias in _list(data.get("orderAliases")):
        alias = _dict(alias)
        if alias.get("aliasType") == "SELLER_ORDER_ID":
            seller_order_id = _text(alias.get("aliasId"))
    packages = order_packages(data)
    programs = order_programs(data)
    # Unknown values of Amazon's lists are kept as they came, and said.
    warnings.extend(f"unknown {what} kept as is" for what in unknown_list_values(data))
    return AmazonOrder(
        order_id=order_id,
        created_time=created,
        last_updated_time=updated,
        status=status,
        marketplace_id=_text(channel.get("marketplaceId")),
        marketplace_name=_text(channel.get("marketplaceName")),
        channel_name=_text(channel.get("channelName")),
        fulfilled_by=_text(fulfillment.get("fulfilledBy")),
        service_level=_text(fulfillment.get("fulfillmentServiceLevel")),
        ship_by=parse_iso_or_none(_dict(fulfillment.get("shipByWindow")).get("latestDateTime")),
        deliver_by=parse_iso_or_none(_dict(fulfillment.get("deliverByWindow")).get("latestDateTime")),
        programs=programs,
        buyer_name=_text(buyer.get("buyerName")),
        buyer_email=_text(buyer.get("buyerEmail")),
        buyer_company=_text(buyer.get("buyerCompanyName")),
        buyer_po_number=_text(buyer.get("buyerPurchaseOrderNumber")),
        seller_order_id=seller_order_id,
        shipping_address=_address(recipient.get("deliveryAddress")),
        currency=currency,
        grand_total=grand_total,
        items=tuple(items),
        packages=tuple(packages),
        raw=data,
        warnings=tuple(warnings),
        delivery_tip=delivery_tip,
    )
