"""One money model: every proceeds component Amazon reports per order item, and the rules
that turn a share of them into the signed amounts of a refund.

Where the rules come from:

- Orders API v2026-01-01 (``orders_2026-01-01.json``): ``ItemProceeds.breakdowns`` of type
  ITEM, SHIPPING, GIFT_WRAP, COD_FEE, OTHER, TAX, DISCOUNT; TAX and DISCOUNT carry
  ``detailedBreakdowns`` with subtypes ITEM, SHIPPING, GIFT_WRAP, COD_FEE, OTHER, DISCOUNT;
  ``ItemExpense.pointsCost.pointsGranted.pointsMonetaryValue`` is the cost of Amazon Points
  (the seller's expense, not paid by the buyer). Order ``proceeds.grandTotal`` is what the
  buyer paid; the order-level DELIVERY_TIP is "charged separately and not attributed to a
  specific item".
- POST_PAYMENT_ADJUSTMENT_DATA (Seller Central help for the OrderAdjustment feed, summarised
  in DESIGN.md "Amazon facts..."): components returned to the buyer are positive
  (Principal, Tax, Shipping, ShippingTax, GiftWrap, GiftWrapTax, COD, CODTax, Other,
  Goodwill); charges kept from the buyer (RestockingFee, ReturnShipping) are negative;
  promotions that were given go back through ``PromotionAdjustments`` (Principal or
  Shipping), negative because they reduce what goes back.

Amounts keep Amazon's full precision here and in the store. What goes to Amazon is in the
currency's minor units (ISO 4217 exponents: 0 for JPY/KRW/CLP..., 3 for BHD/KWD/OMR/JOD/TND),
rounded TOWARD ZERO per component (``minor_floor``): a refund never sends more than was
charged for any component, and a promotion reversal never exceeds the promotion given.
Partial refunds share each component out by units cumulatively (the first n of N units
carry ``floor(amount * n / N)``), so any sequence of partial refunds adds up to exactly the
full refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal

# ISO 4217 minor-unit exponents of the currencies that do not use two decimals.
CURRENCY_DIGITS: dict[str, int] = {
    "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "PYG": 0, "UGX": 0, "XAF": 0, "XOF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}

# Our component kinds. Charges are what the buyer paid (positive); promotions are what was
# taken off (kept as positive amounts); POINTS is the seller's cost of Amazon Points.
ITEM = "ITEM"
ITEM_TAX = "ITEM_TAX"
SHIPPING = "SHIPPING"
SHIPPING_TAX = "SHIPPING_TAX"
GIFT_WRAP = "GIFT_WRAP"
GIFT_WRAP_TAX = "GIFT_WRAP_TAX"
COD_FEE = "COD_FEE"
COD_FEE_TAX = "COD_FEE_TAX"
OTHER = "OTHER"
OTHER_TAX = "OTHER_TAX"
ITEM_PROMOTION = "ITEM_PROMOTION"
SHIPPING_PROMOTION = "SHIPPING_PROMOTION"
POINTS = "POINTS"

CHARGE_KINDS: tuple[str, ...] = (
    ITEM, ITEM_TAX, SHIPPING, SHIPPING_TAX, GIFT_WRAP, GIFT_WRAP_TAX, COD_FEE, COD_FEE_TAX, OTHER, OTHER_TAX,
)
PROMOTION_KINDS: tuple[str, ...] = (ITEM_PROMOTION, SHIPPING_PROMOTION)
ALL_KINDS: tuple[str, ...] = (*CHARGE_KINDS, *PROMOTION_KINDS, POINTS)
TAX_KINDS: frozenset[str] = frozenset({ITEM_TAX, SHIPPING_TAX, GIFT_WRAP_TAX, COD_FEE_TAX, OTHER_TAX})
# Refunded with the units of the item; the shipping group only when shipping is refunded.
UNIT_KINDS: tuple[str, ...] = (ITEM, ITEM_TAX, GIFT_WRAP, GIFT_WRAP_TAX, COD_FEE, COD_FEE_TAX, OTHER, OTHER_TAX, ITEM_PROMOTION)
SHIPPING_KINDS: tuple[str, ...] = (SHIPPING, SHIPPING_TAX, SHIPPING_PROMOTION)

# Our kind -> the OrderAdjustment ItemPriceAdjustments component type.
FEED_COMPONENT: dict[str, str] = {
    ITEM: "Principal",
    ITEM_TAX: "Tax",
    OTHER_TAX: "Tax",
    SHIPPING: "Shipping",
    SHIPPING_TAX: "ShippingTax",
    GIFT_WRAP: "GiftWrap",
    GIFT_WRAP_TAX: "GiftWrapTax",
    COD_FEE: "COD",
    COD_FEE_TAX: "CODTax",
    OTHER: "Other",
}
# Our promotion kind -> the PromotionAdjustments component type.
FEED_PROMOTION: dict[str, str] = {ITEM_PROMOTION: "Principal", SHIPPING_PROMOTION: "Shipping"}
# Kept from the buyer: sent negative.
DEDUCTION_COMPONENTS: frozenset[str] = frozenset({"RestockingFee", "ReturnShipping"})

# Orders API TAX / DISCOUNT detailed subtypes -> our kind.
_TAX_SUBTYPE = {"ITEM": ITEM_TAX, "SHIPPING": SHIPPING_TAX, "GIFT_WRAP": GIFT_WRAP_TAX, "COD_FEE": COD_FEE_TAX,
                "OTHER": OTHER_TAX, "DISCOUNT": ITEM_TAX}
_DISCOUNT_SUBTYPE = {"ITEM": ITEM_PROMOTION, "SHIPPING": SHIPPING_PROMOTION, "GIFT_WRAP": ITEM_PROMOTION,
                     "COD_FEE": ITEM_PROMOTION, "OTHER": ITEM_PROMOTION, "DISCOUNT": ITEM_PROMOTION}
_PLAIN_BREAKDOWN = {"ITEM": ITEM, "SHIPPING": SHIPPING, "GIFT_WRAP": GIFT_WRAP, "COD_FEE": COD_FEE, "OTHER": OTHER}


def currency_digits(currency: str) -> int:
    return CURRENCY_DIGITS.get((currency or "").upper(), 2)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_digits(currency))


def minor_floor(amount: Decimal, currency: str) -> Decimal:
    """``amount`` in the currency's minor units, rounded toward zero (never more)."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_DOWN)


def has_sub_unit_digits(amount: Decimal, currency: str) -> bool:
    return minor_floor(amount, currency) != amount


def unit_share(amount: Decimal, units: int, ordered: int, currency: str) -> Decimal:
    """What the first ``units`` of ``ordered`` units carry of ``amount``, to Amazon's digits."""
    if ordered <= 0 or units <= 0:
        return Decimal(0)
    if units >= ordered:
        return minor_floor(amount, currency)
    return minor_floor(amount * units / ordered, currency)


def unit_part(amount: Decimal, before: int, units: int, ordered: int, currency: str) -> Decimal:
    """What units ``before+1 .. before+units`` carry (cumulative, so parts add up)."""
    return unit_share(amount, before + units, ordered, currency) - unit_share(amount, before, ordered, currency)


def paid(components: Mapping[str, Decimal]) -> Decimal:
    """What the buyer paid for an item: every charge less every promotion (points excluded)."""
    # A plain loop: the import calls this a few times per item (~3x faster than sum()).
    total = Decimal(0)
    for kind in CHARGE_KINDS:
        value = components.get(kind)
        if value is not None:
            total += value
    for kind in PROMOTION_KINDS:
        value = components.get(kind)
        if value is not None:
            total -= value
    return total


def from_breakdowns(breakdowns: list[tuple[str, Decimal, list[tuple[str, Decimal]]]],
                    points: Decimal | None = None) -> tuple[dict[str, Decimal], list[str]]:
    """Orders API item proceeds breakdowns [(type, subtotal, [(subtype, value)])] -> our
    components, and warnings for what did not add up or was not understood."""
    components: dict[str, Decimal] = {}
    warnings: list[str] = []

    def add(kind: str, amount: Decimal) -> None:
        components[kind] = components.get(kind, Decimal(0)) + amount

    for kind, subtotal, detailed in breakdowns:
        if kind in _PLAIN_BREAKDOWN:
            add(_PLAIN_BREAKDOWN[kind], subtotal)
        elif kind == "TAX":
            spread = sum((v for _, v in detailed), Decimal(0))
            for subtype, value in detailed:
                add(_TAX_SUBTYPE.get(subtype, ITEM_TAX), value)
            if spread != subtotal:
                if detailed:
                    warnings.append(f"TAX detailed breakdowns add to {spread}, not {subtotal}; the rest counted as item tax")
                add(ITEM_TAX, subtotal - spread)
        elif kind == "DISCOUNT":
            # Amazon reports discounts as negative proceeds; we keep the amount taken off.
            sign = Decimal(-1) if subtotal < 0 else Decimal(1)
            spread = sum((v for _, v in detailed), Decimal(0))
            for subtype, value in detailed:
                add(_DISCOUNT_SUBTYPE.get(subtype, ITEM_PROMOTION), value * sign)
            if spread != subtotal:
                if detailed:
                    warnings.append(f"DISCOUNT detailed breakdowns add to {spread}, not {subtotal}; the rest counted as item promotion")
                add(ITEM_PROMOTION, (subtotal - spread) * sign)
        else:
            warnings.append(f"proceeds breakdown type {kind!r} is not known; counted as OTHER")
            add(OTHER, subtotal)
    if points:
        components[POINTS] = points
    return {k: v for k, v in components.items() if v != 0}, warnings


def legacy_components(row_total: Decimal, tax: Decimal, discount: Decimal, shipping: Decimal) -> dict[str, Decimal]:
    """Components of an item stored before the money model (only the four totals known)."""
    parts = {ITEM: row_total, ITEM_TAX: tax, ITEM_PROMOTION: discount, SHIPPING: shipping}
    return {k: v for k, v in parts.items() if v}


def aggregates(components: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The four commerce totals an item shows: row total (ITEM), tax (every tax), discount
    (every promotion), shipping & other charges (shipping, gift wrap, COD fee, other).
    row_total + shipping + tax - discount == paid(components)."""
    get = lambda k: components.get(k, Decimal(0))  # noqa: E731
    return {
        "row_total": get(ITEM),
        "tax": sum((get(k) for k in TAX_KINDS), Decimal(0)),
        "discount": get(ITEM_PROMOTION) + get(SHIPPING_PROMOTION),
        "shipping": get(SHIPPING) + get(GIFT_WRAP) + get(COD_FEE) + get(OTHER),
    }


def components_to_json(components: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: format(v, "f") for k, v in components.items()}


def components_from_json(data: Mapping[str, str]) -> dict[str, Decimal]:
    return {str(k): Decimal(str(v)) for k, v in data.items()}
