"""What may be invoiced, shipped, refunded and canceled, and what each does to an order.

Pure functions, no I/O. Each takes the commerce order (and what Amazon says about it),
checks the request, and returns a *plan*: the document lines, the amounts (Decimal) and
a changed copy of the order with states derived from the new quantities. The input
order is never modified, so plans can be chained (bulk shipping validates several
packages of one order in a row) or thrown away (--dry-run).

Refusals raise ``errors`` types whose messages say why and what to do instead:
``UsageError`` (exit 2) for malformed input, ``NotFoundError`` (exit 1) for an unknown
SKU, ``NotAllowedError`` (exit 1) when the order's state forbids the action.

Money split rule: an item's amounts (row total, tax, discount, shipping) are shared out
by quantity *cumulatively*: the first n units of an item carry
``round(amount * n / ordered)``, so partial documents always add up exactly to the whole.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal, InvalidOperation

from amzorders.domain import codes, money
from amzorders.domain.commerce import CommerceItem, CommerceOrder, with_derived_state
from amzorders.domain.models import quantize_money
from amzorders.domain.timefmt import parse_when
from amzorders.errors import NotAllowedError, NotFoundError, UsageError

# Ship dates a little ahead of our clock are accepted: the operator's or carrier's clock
# may run slightly fast.
SHIP_DATE_CLOCK_SKEW = timedelta(minutes=10)
MAX_TRACKING_LENGTH = 64
MAX_TEXT_LENGTH = 250
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Amazon statuses.
PENDING_STATUSES = frozenset({"PENDING", "PENDING_AVAILABILITY"})


# ------------------------------------------------------------------ small helpers


def _copy(order: CommerceOrder) -> CommerceOrder:
    return copy.deepcopy(order)


def _finish(order: CommerceOrder, now: datetime) -> CommerceOrder:
    updated = with_derived_state(order)
    updated.updated_at = now
    return updated


def share(amount: Decimal, units: int, ordered: int, currency: str) -> Decimal:
    """The part of an item amount carried by its first ``units`` of ``ordered`` units."""
    if ordered <= 0 or units <= 0:
        return Decimal(0)
    if units >= ordered:
        return amount
    return quantize_money(amount * units / ordered, currency)


def part(amount: Decimal, before: int, units: int, ordered: int, currency: str) -> Decimal:
    """The part carried by units ``before+1 .. before+units`` (cumulative split)."""
    return share(amount, before + units, ordered, currency) - share(amount, before, ordered, currency)


# Far above any order line (Amazon's quantityOrdered is an int32) and short enough to
# check before int() sees it.
MAX_QUANTITY = 1_000_000
# Amounts an operator types: up to 10 integer digits, 6 decimals (the currency's minor
# unit is checked later); plain ASCII decimal, no exponent, sign or digit separators.
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{0,6})?|\.[0-9]{1,6}", re.ASCII)


def parse_quantity(text: str, what: str) -> int:
    value = text.strip()
    # ASCII digits only: int() would take '١' (an Arabic-Indic one) as 1.
    if not re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII):
        raise UsageError(f"{what}: quantity '{text}' is not a whole number. Write SKU=QTY, e.g. SKU-1=2.")
    if len(value.lstrip("+-").lstrip("0")) > len(str(MAX_QUANTITY)):
        raise UsageError(f"{what}: quantity {value[:20]}... is far more than any order has (at most {MAX_QUANTITY}).")
    qty = int(value)
    if qty <= 0:
        raise UsageError(f"{what}: quantity must be at least 1 (got {qty}). Leave the item out instead.")
    if qty > MAX_QUANTITY:
        raise UsageError(f"{what}: quantity {qty} is far more than any order has (at most {MAX_QUANTITY}).")
    return qty


def parse_item_specs(values: Iterable[str], option: str = "--item") -> list[tuple[str, int]]:
    """``SKU=QTY`` strings -> [(sku, qty)]; a SKU given twice is refused (ambiguous)."""
    specs: list[tuple[str, int]] = []
    seen: set[str] = set()
    for value in values:
        key, sep, qty_text = value.rpartition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{option} '{value}': write SKU=QTY, e.g. {option} SKU-1=2.")
        qty = parse_quantity(qty_text, f"{option} {key}")
        if key in seen:
            raise UsageError(f"{option}: SKU {key} is listed twice; give it once with the total quantity.")
        seen.add(key)
        specs.append((key, qty))
    return specs


def parse_amount(text: str | None, option: str) -> Decimal | None:
    """A money amount typed by the operator: a non-negative decimal number."""
    if text is None:
        return None
    value = text.strip()
    if value.startswith("-") and _AMOUNT.fullmatch(value[1:]):
        raise UsageError(f"{option}: the amount cannot be negative (got {text}); give it as a positive number.")
    if not _AMOUNT.fullmatch(value):
        # Decimal() would take '1e400', 'NaN', '١' and '1_000'; none is an amount one types.
        raise UsageError(
            f"{option}: '{text}' is not an amount; write a number like 4.99 "
            "(digits and a decimal point, at most 10 digits before it)."
        )
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise UsageError(f"{option}: '{text}' is not an amount; write a number like 4.99.") from None


def _check_money_digits(amount: Decimal, currency: str, option: str) -> Decimal:
    if quantize_money(amount, currency) != amount:
        raise UsageError(
            f"{option}: {amount} has more decimals than {currency} allows; round it to "
            f"{quantize_money(amount, currency)}."
        )
    return quantize_money(amount, currency)


def find_item(order: CommerceOrder, key: str) -> CommerceItem:
    """The order item for a SKU (exact, then case-insensitive) or an Amazon order item id."""
    matches = [i for i in order.items if i.sku == key]
    if not matches:
        matches = [i for i in order.items if i.sku.casefold() == key.casefold()]
    if not matches:
        matches = [i for i in order.items if i.order_item_id == key]
    if not matches:
        skus = ", ".join(i.sku for i in order.items)
        raise NotFoundError(f"Order {order.increment_id} has no item with SKU '{key}'. Its SKUs: {skus}.")
    if len(matches) > 1:
        ids = ", ".join(f"{i.order_item_id} ({i.sku})" for i in matches)
        raise UsageError(
            f"SKU '{key}' is on more than one item of order {order.increment_id}; "
            f"name the item by its Amazon order item id instead: {ids}."
        )
    return matches[0]


def resolve_items(order: CommerceOrder, specs: Iterable[tuple[str, int]]) -> dict[str, int]:
    """[(sku, qty)] -> {order_item_id: qty}."""
    result: dict[str, int] = {}
    for key, qty in specs:
        item = find_item(order, key)
        if item.order_item_id in result:
            raise UsageError(f"Item {item.sku} is listed twice; give it once with the total quantity.")
        result[item.order_item_id] = qty
    return result


def check_text(value: str | None, option: str, *, required: bool = False, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    if value is None or not value.strip():
        if required:
            raise UsageError(f"{option} is required and cannot be empty.")
        return None
    text = value.strip()
    if _CONTROL_CHARS.search(text):
        raise UsageError(f"{option} contains control characters; type plain text.")
    if len(text) > max_length:
        raise UsageError(f"{option} is too long ({len(text)} characters, at most {max_length}).")
    return text


def canonical_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    wanted = value.strip().casefold()
    for choice in choices:
        if choice.casefold() == wanted:
            return choice
    raise UsageError(f"{option}: '{value}' is not one of Amazon's values. Use one of: {', '.join(choices)}.")


def _closed_or_canceled(order: CommerceOrder, action: str) -> None:
    if order.state == "canceled":
        raise NotAllowedError(f"Order {order.increment_id} is canceled; it cannot be {action}.")
    if order.state == "holded":
        raise NotAllowedError(
            f"Order {order.increment_id} is on hold; release the hold before it can be {action}."
        )


# ------------------------------------------------------------------ invoice


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    order_item_id: str
    sku: str
    qty: int
    row_total: Decimal
    tax: Decimal
    discount: Decimal
    shipping: Decimal


@dataclass(frozen=True, slots=True)
class InvoicePlan:
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    shipping: Decimal
    tax: Decimal
    discount: Decimal
    grand_total: Decimal
    order: CommerceOrder  # the order after the invoice


def _wanted_quantities(
    order: CommerceOrder,
    requested: Mapping[str, int] | None,
    available: Callable[[CommerceItem], int],
    too_many: Callable[[CommerceItem, int], str],
) -> dict[str, int]:
    """{order_item_id: qty} to act on: all that is ``available`` when nothing was
    requested, else the request, each line checked against what is available."""
    if requested is None:
        return {i.order_item_id: available(i) for i in order.items if available(i)}
    wanted = dict(requested)
    for order_item_id, qty in wanted.items():
        item = order.item(order_item_id)
        assert item is not None  # resolve_items only returns the order's own items
        if qty > available(item):
            raise NotAllowedError(too_many(item, qty))
    return wanted


def plan_invoice(order: CommerceOrder, items: Mapping[str, int] | None, now: datetime) -> InvoicePlan:
    """A full invoice (``items`` None) or one of the given {order_item_id: qty}.

    Amazon collected the money, so the invoice is paid at once (captured offline):
    total_invoiced and total_paid both grow by its grand total.
    """
    _closed_or_canceled(order, "invoiced")
    if order.state == "closed":
        raise NotAllowedError(f"Order {order.increment_id} is closed (refunded); there is nothing left to invoice.")
    wanted = _wanted_quantities(
        order,
        items,
        lambda i: i.qty_to_invoice,
        lambda i, qty: (
            f"Cannot invoice {qty} x {i.sku} on order {order.increment_id}: only "
            f"{i.qty_to_invoice} of {i.qty_ordered} remain to invoice."
        ),
    )
    if items is None and not wanted:
        raise NotAllowedError(
            f"Order {order.increment_id} is already fully invoiced; see its invoices with "
            f"'amzorders show {order.increment_id}'."
        )
    updated = _copy(order)
    currency = order.currency
    lines = []
    for item in updated.items:
        qty = wanted.get(item.order_item_id, 0)
        if not qty:
            continue
        before = item.qty_invoiced
        line = InvoiceLine(
            order_item_id=item.order_item_id,
            sku=item.sku,
            qty=qty,
            row_total=part(item.row_total, before, qty, item.qty_ordered, currency),
            tax=part(item.tax_amount, before, qty, item.qty_ordered, currency),
            discount=part(item.discount_amount, before, qty, item.qty_ordered, currency),
            shipping=part(item.shipping_amount, before, qty, item.qty_ordered, currency),
        )
        lines.append(line)
        item.qty_invoiced += qty
    subtotal = sum((l.row_total for l in lines), Decimal(0))
    shipping = sum((l.shipping for l in lines), Decimal(0))
    tax = sum((l.tax for l in lines), Decimal(0))
    discount = sum((l.discount for l in lines), Decimal(0))
    grand_total = subtotal + shipping + tax - discount
    everything_invoiced = all(i.qty_invoiced == i.qty_ordered for i in updated.items)
    if everything_invoiced:
        # The last invoice takes what Amazon's grand total says is left (it may hold
        # charges the item lines do not show, e.g. gift wrap tax).
        grand_total = order.grand_total - order.total_invoiced
    updated.total_invoiced += grand_total
    updated.total_paid += grand_total
    return InvoicePlan(
        lines=tuple(lines),
        subtotal=subtotal,
        shipping=shipping,
        tax=tax,
        discount=discount,
        grand_total=grand_total,
        order=_finish(updated, now),
    )


# ------------------------------------------------------------------ ship

_TRACKING_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "UPS": (re.compile(r"1Z[0-9A-Z]{16}"), "1Z followed by 16 letters or digits"),
    "USPS": (re.compile(r"\d{20,22}|[A-Z]{2}\d{9}US"), "20-22 digits, or 2 letters + 9 digits + US"),
    "FedEx": (re.compile(r"\d{12}|\d{15}|\d{20}|\d{22}"), "12, 15, 20 or 22 digits"),
    "DHL": (re.compile(r"\d{10}|JJD\d{8,22}"), "10 digits, or JJD followed by digits"),
}
# Carriers whose numbers follow the family's pattern.
_TRACKING_FAMILY = {
    "UPS": "UPS",
    "UPSMI": None,
    "USPS": "USPS",
    "FedEx": "FedEx",
    "DHL": "DHL",
    "DHL Express": "DHL",
}


def tracking_problem(carrier_code: str, tracking: str) -> str | None:
    """Why a tracking number does not look like one of ``carrier_code``'s, or None."""
    family = _TRACKING_FAMILY.get(carrier_code)
    if family is None:
        return None
    pattern, description = _TRACKING_PATTERNS[family]
    compact = tracking.replace(" ", "").upper()
    if pattern.fullmatch(compact):
        return None
    return f"'{tracking}' does not look like a {carrier_code} tracking number ({description})"


@dataclass(frozen=True, slots=True)
class ShipmentRequest:
    """What the operator asked for, still as typed (validated by ``plan_shipment``)."""

    carrier: str
    tracking: str
    carrier_name: str | None = None
    method: str | None = None
    ship_date: str | None = None
    items: Mapping[str, int] | None = None  # order_item_id -> qty; None: everything left
    force: bool = False


@dataclass(frozen=True, slots=True)
class ShipPlan:
    lines: tuple[tuple[str, str, int], ...]  # (order_item_id, sku, qty)
    carrier_code: str
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str
    ship_date: datetime
    order: CommerceOrder


def check_carrier(carrier: str, carrier_name: str | None) -> tuple[str, str | None]:
    code = codes.carrier_code_canonical(carrier or "")
    if code is None:
        raise UsageError(
            f"Unknown carrier code '{carrier}'. Use one of Amazon's carrier codes: "
            f"{', '.join(codes.CARRIER_CODES)} (with 'Other', add --carrier-name)."
        )
    name = check_text(carrier_name, "--carrier-name", max_length=100)
    if code == "Other" and not name:
        raise UsageError("Carrier 'Other' needs the carrier's name: add --carrier-name NAME.")
    return code, name


def check_ship_date(value: str | None, now: datetime, not_before: datetime | None) -> datetime:
    if value is None or not value.strip():
        return now.replace(microsecond=0)
    try:
        when = parse_when(value, now)
    except ValueError as exc:
        raise UsageError(f"--ship-date: {exc}.") from None
    if when > now + SHIP_DATE_CLOCK_SKEW:
        raise UsageError(
            f"--ship-date {value} is in the future; Amazon only takes shipments that left. "
            "Give the date the package was handed to the carrier (or leave it out for now)."
        )
    if not_before is not None and when < not_before - SHIP_DATE_CLOCK_SKEW:
        raise UsageError(
            f"--ship-date {value} is before the order was placed ({not_before:%Y-%m-%d %H:%M} UTC); "
            "check the date."
        )
    return when.replace(microsecond=0)


def plan_shipment(
    order: CommerceOrder,
    *,
    amazon_status: str,
    channel: str,
    request: ShipmentRequest,
    now: datetime,
    purchase_date: datetime | None = None,
) -> ShipPlan:
    number = order.increment_id
    if channel == "AFN":
        raise NotAllowedError(
            f"Order {number} is fulfilled by Amazon (AFN): Amazon ships it, so it cannot be shipped "
            "from here. Its shipments come in with 'amzorders sync'."
        )
    if channel != "MFN":
        raise NotAllowedError(
            f"Order {number} is not known to be merchant-fulfilled (fulfilledBy {channel}); it is not "
            "shipped from here."
        )
    if amazon_status in PENDING_STATUSES:
        raise NotAllowedError(f"Order {number} is still {amazon_status} at Amazon; wait until Amazon releases it.")
    if amazon_status == "CANCELLED":
        raise NotAllowedError(f"Amazon canceled order {number}; it must not be shipped.")
    _closed_or_canceled(order, "shipped")
    code, name = check_carrier(request.carrier, request.carrier_name)
    tracking = check_text(request.tracking, "--tracking", required=True, max_length=MAX_TRACKING_LENGTH)
    assert tracking is not None
    problem = tracking_problem(code, tracking)
    if problem and not request.force:
        raise UsageError(f"{problem}. Check the number, or add --force if it is right.")
    method = check_text(request.method, "--method", max_length=100)
    ship_date = check_ship_date(request.ship_date, now, purchase_date)
    wanted = _wanted_quantities(
        order,
        request.items,
        lambda i: i.qty_to_ship,
        lambda i, qty: (
            f"Cannot ship {qty} x {i.sku} on order {number}: {i.qty_ordered} ordered, "
            f"{i.qty_shipped} shipped, {i.qty_canceled} canceled, so at most "
            f"{i.qty_to_ship} can still be shipped."
        ),
    )
    if request.items is None and not wanted:
        raise NotAllowedError(f"Order {number} has nothing left to ship.")
    updated = _copy(order)
    lines = []
    for item in updated.items:
        qty = wanted.get(item.order_item_id, 0)
        if qty:
            item.qty_shipped += qty
            lines.append((item.order_item_id, item.sku, qty))
    return ShipPlan(
        lines=tuple(lines),
        carrier_code=code,
        carrier_name=name,
        shipping_method=method,
        tracking_number=tracking,
        ship_date=ship_date,
        order=_finish(updated, now),
    )


# ------------------------------------------------------------------ refund

GOODWILL = "GOODWILL"  # ledger kinds of the operator's adjustments (domain.money has the rest)
RESTOCKING_FEE = "RESTOCKING_FEE"


@dataclass(frozen=True, slots=True)
class RefundLine:
    order_item_id: str
    sku: str
    qty: int
    principal: Decimal  # what the buyer paid for these units, tax aside (item, gift wrap, COD, other less promotions)
    tax: Decimal


@dataclass(frozen=True, slots=True)
class RefundComponent:
    """One amount of the adjustment feed, signed as Amazon reads it."""

    type: str  # ItemPriceAdjustments / PromotionAdjustments component type
    amount: Decimal
    promotion: bool = False  # a PromotionAdjustments component
    promotion_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefundPlan:
    reason: str
    lines: tuple[RefundLine, ...]
    subtotal: Decimal
    tax_refund: Decimal
    shipping_refund: Decimal
    adjustment_refund: Decimal
    adjustment_fee: Decimal
    grand_total: Decimal  # == the signed sum of every component sent to Amazon
    # Amazon's view: order_item_id -> signed components (refunded +, kept -, promotions -).
    components: tuple[tuple[str, tuple[RefundComponent, ...]], ...]
    # Our ledger: order_item_id -> {money kind: amount refunded (positive)}.
    parts: tuple[tuple[str, tuple[tuple[str, Decimal], ...]], ...]
    order: CommerceOrder
    # Amazon has not charged the buyer (nothing of the order shipped): the credit memo goes
    # to Amazon as a cancellation of these items (all their units), not as a refund.
    cancels: tuple[str, ...] = ()
    # A refund on a shipped order: units of an item that will now never ship
    # (QuantityCancelled of the adjustment feed), order_item_id -> units.
    quantity_cancelled: tuple[tuple[str, int], ...] = ()

    @property
    def is_cancellation(self) -> bool:
        return bool(self.cancels)


@dataclass(frozen=True, slots=True)
class RefundRequest:
    reason: str
    items: Mapping[str, int] | None = None  # None: every invoiced unit not yet refunded
    shipping: Decimal | None = None  # None: all refundable shipping when refunding everything, else 0
    adjustment_refund: Decimal = Decimal(0)
    adjustment_fee: Decimal = Decimal(0)


def invoiced_shipping(item: CommerceItem, currency: str) -> Decimal:
    """Net shipping (shipping less shipping promotions) charged for the item's invoiced units."""
    components = item.money
    gross = money.unit_share(components.get(money.SHIPPING, Decimal(0)), item.qty_invoiced, item.qty_ordered, currency)
    promo = money.unit_share(components.get(money.SHIPPING_PROMOTION, Decimal(0)), item.qty_invoiced, item.qty_ordered, currency)
    return gross - promo


def _shipping_room(item: CommerceItem, currency: str, prior: Mapping[tuple[str, str], Decimal]) -> dict[str, Decimal]:
    """Per shipping kind, what can still be refunded on the item (invoiced share less refunded)."""
    components = item.money
    room = {}
    for kind in money.SHIPPING_KINDS:
        charged = money.unit_share(components.get(kind, Decimal(0)), item.qty_invoiced, item.qty_ordered, currency)
        room[kind] = max(Decimal(0), charged - prior.get((item.order_item_id, kind), Decimal(0)))
    return room


def amazon_has_charged(order: CommerceOrder, amazon_status: str) -> bool:
    """Whether Amazon has charged the buyer for the order. Amazon charges the whole order
    when the first shipment is confirmed (Seller Central forums, Amazon's "Quick Tip:
    Partial Order Cancellation"); before that nothing was charged, so nothing can be
    refunded: unshipped units are cancelled instead (Seller Central help 200198080)."""
    return amazon_status in ("PARTIALLY_SHIPPED", "SHIPPED") or any(i.qty_shipped for i in order.items)


def plan_refund(
    order: CommerceOrder,
    request: RefundRequest,
    *,
    shipping_refunded: Decimal = Decimal(0),
    now: datetime,
    prior_components: Mapping[tuple[str, str], Decimal] | None = None,
    amazon_charged: bool = True,
) -> RefundPlan:
    """A credit memo, built component by component as Amazon's adjustment feed reads it.

    ``prior_components``: (order_item_id, money kind) -> amount refunded by earlier credit
    memos (the ledger of their refund actions). ``shipping_refunded`` is kept for callers
    of the old signature; the ledger decides.

    Units refunded carry their cumulative share (domain.money, rounded toward zero) of
    every unit component: item price (Principal), its tax (Tax), gift wrap and its tax
    (GiftWrap, GiftWrapTax), COD fee and its tax (COD, CODTax), other charges (Other);
    item promotions go back as PromotionAdjustments Principal (negative). Shipping
    (Shipping, ShippingTax, shipping promotions as PromotionAdjustments Shipping) is
    refunded in full with a full refund, or as ``--shipping`` (a net amount, spread over the
    items within what each was charged). The adjustment refund is Goodwill (positive), the
    adjustment fee RestockingFee (negative: kept from the buyer), both on the first
    refunded item. The credit memo's total is the signed sum of what is sent.
    
    ``amazon_charged`` False (``amazon_has_charged``: nothing shipped yet): the buyer paid
    nothing at Amazon, so the credit memo becomes a cancellation of its items at Amazon
    (``RefundPlan.cancels``). The order acknowledgement feed cancels an item with all its
    units (its Item has no quantity: OrderAcknowledgement.xsd), so each item must be
    credited with every unit still to ship, its shipping comes with it, and there is no
    payment to adjust. On a charged order, refunded units that were never shipped are
    cancelled with the refund (``quantity_cancelled``: the adjustment feed's
    QuantityCancelled, Seller Central help 200198080); refunds count shipped units first.
    """
    number = order.increment_id
    currency = order.currency
    prior = prior_components or {}
    reason = canonical_choice(request.reason, codes.ADJUSTMENT_REASONS, "--reason")
    if order.state == "canceled":
        raise NotAllowedError(f"Order {number} is canceled; nothing was charged that could be refunded.")
    if order.state == "closed":
        raise NotAllowedError(f"Order {number} is closed: it was refunded in full already.")
    if not any(i.qty_invoiced for i in order.items):
        raise NotAllowedError(
            f"Order {number} has no invoice yet, so there is nothing to refund. Invoice it first "
            f"(amzorders invoice {number}), or cancel it while unshipped (amzorders cancel {number})."
        )
    for amount, option in (
        (request.shipping, "--shipping"),
        (request.adjustment_refund, "--adjustment-refund"),
        (request.adjustment_fee, "--adjustment-fee"),
    ):
        if amount is not None:
            if amount < 0:
                raise UsageError(f"{option}: the amount cannot be negative (got {amount}).")
            _check_money_digits(amount, currency, option)

    wanted = _wanted_quantities(
        order,
        request.items,
        lambda i: i.qty_to_refund,
        lambda i, qty: (
            f"Cannot refund {qty} x {i.sku} on order {number}: {i.qty_invoiced} invoiced, "
            f"{i.qty_refunded} refunded already, so at most {i.qty_to_refund} can be refunded."
        ),
    )
    refunds_everything = all(wanted.get(i.order_item_id, 0) == i.qty_to_refund for i in order.items)
    if not amazon_charged:
        _check_cancellation_memo(order, request, wanted)
    parts: dict[str, dict[str, Decimal]] = {}

    def add(order_item_id: str, kind: str, amount: Decimal) -> None:
        if amount:
            bucket = parts.setdefault(order_item_id, {})
            bucket[kind] = bucket.get(kind, Decimal(0)) + amount

    updated = _copy(order)
    refunded_ids: list[str] = []
    for item in updated.items:
        qty = wanted.get(item.order_item_id, 0)
        if not qty:
            continue
        refunded_ids.append(item.order_item_id)
        components = item.money
        for kind in money.UNIT_KINDS:
            # Cumulative from the ledger: what the refunded units carry in all, less what
            # earlier credit memos sent (so an earlier cut by _hold_to_paid_share comes back).
            carried = money.unit_share(components.get(kind, Decimal(0)), item.qty_refunded + qty, item.qty_ordered, currency)
            add(item.order_item_id, kind, max(Decimal(0), carried - prior.get((item.order_item_id, kind), Decimal(0))))
        item.qty_refunded += qty
        _hold_to_paid_share(parts.setdefault(item.order_item_id, {}), item, prior, currency)

    rooms = {i.order_item_id: _shipping_room(i, currency, prior) for i in order.items if i.qty_invoiced}
    net_room = {oid: r[money.SHIPPING] - r[money.SHIPPING_PROMOTION] for oid, r in rooms.items()}
    shipping_left = sum((max(Decimal(0), v) for v in net_room.values()), Decimal(0))
    if not amazon_charged:
        # A cancelled item is not charged its shipping either: it comes back with the item.
        for order_item_id in refunded_ids:
            for kind, amount in rooms.get(order_item_id, {}).items():
                add(order_item_id, kind, amount)
    elif request.shipping is None:
        if refunds_everything:
            for order_item_id, room in rooms.items():
                for kind, amount in room.items():
                    add(order_item_id, kind, amount)
    else:
        if request.shipping > shipping_left:
            raise NotAllowedError(
                f"--shipping {request.shipping} is more than the shipping that can still be refunded on order "
                f"{number}: {shipping_left} {currency} (after shipping promotions and earlier refunds)."
            )
        left = request.shipping
        ordering = refunded_ids + [oid for oid in rooms if oid not in refunded_ids]
        for order_item_id in ordering:
            room = rooms.get(order_item_id)
            if left <= 0 or room is None or net_room[order_item_id] <= 0:
                continue
            take = min(left, net_room[order_item_id])
            if take == net_room[order_item_id]:
                for kind, amount in room.items():
                    add(order_item_id, kind, amount)
            else:
                add(order_item_id, money.SHIPPING, take)
                add(order_item_id, money.SHIPPING_TAX,
                    money.minor_floor(room[money.SHIPPING_TAX] * take / net_room[order_item_id], currency))
            left -= take

    adjustment_refund = quantize_money(request.adjustment_refund, currency)
    adjustment_fee = quantize_money(request.adjustment_fee, currency)
    first = refunded_ids[0] if refunded_ids else next(
        (i.order_item_id for i in order.items if i.qty_invoiced), order.items[0].order_item_id
    )
    add(first, GOODWILL, adjustment_refund)
    add(first, RESTOCKING_FEE, adjustment_fee)

    def total(kinds: Iterable[str], minus: Iterable[str] = ()) -> Decimal:
        kinds, minus = tuple(kinds), tuple(minus)
        return sum((p.get(k, Decimal(0)) for p in parts.values() for k in kinds), Decimal(0)) - sum(
            (p.get(k, Decimal(0)) for p in parts.values() for k in minus), Decimal(0)
        )

    unit_charges = (money.ITEM, money.GIFT_WRAP, money.COD_FEE, money.OTHER)
    subtotal = total(unit_charges, (money.ITEM_PROMOTION,))
    tax = total(money.TAX_KINDS)
    shipping = total((money.SHIPPING,), (money.SHIPPING_PROMOTION,))
    grand_total = subtotal + tax + shipping + adjustment_refund - adjustment_fee
    lines = []
    for item in order.items:
        qty = wanted.get(item.order_item_id, 0)
        if qty:
            p = parts.get(item.order_item_id, {})
            lines.append(RefundLine(
                order_item_id=item.order_item_id, sku=item.sku, qty=qty,
                principal=sum((p.get(k, Decimal(0)) for k in unit_charges), Decimal(0)) - p.get(money.ITEM_PROMOTION, Decimal(0)),
                tax=sum((p.get(k, Decimal(0)) for k in money.TAX_KINDS if k != money.SHIPPING_TAX), Decimal(0)),
            ))
    refundable = order.total_paid - order.total_refunded
    if not lines and shipping == 0 and adjustment_refund == 0 and not total(money.SHIPPING_KINDS):
        raise NotAllowedError(
            f"This credit memo for order {number} would refund nothing: give --item SKU=QTY, "
            "--shipping or --adjustment-refund."
        )
    if grand_total < 0:
        raise NotAllowedError(
            f"The adjustment fee {adjustment_fee} is more than the refund ({grand_total + adjustment_fee} "
            f"{currency}); lower --adjustment-fee."
        )
    if grand_total > refundable:
        raise NotAllowedError(
            f"A refund of {grand_total} {currency} is more than can still be refunded on order {number}: "
            f"{refundable} {currency} ({order.total_paid} paid, {order.total_refunded} refunded)."
        )
    updated.total_refunded += grand_total
    quantity_cancelled = []
    if amazon_charged:
        for item in order.items:
            qty = wanted.get(item.order_item_id, 0)
            if qty:
                # Refunds count shipped units first (CommerceItem.qty_refunded_unshipped).
                before = max(0, item.qty_refunded - item.qty_shipped)
                after = max(0, item.qty_refunded + qty - item.qty_shipped)
                if after > before:
                    quantity_cancelled.append((item.order_item_id, after - before))
    components = _amazon_components(order, parts)
    sent = sum((c.amount for _, cs in components for c in cs), Decimal(0))
    assert sent == grand_total, (sent, grand_total)  # the credit memo is exactly what Amazon gets
    return RefundPlan(
        reason=reason,
        lines=tuple(lines),
        subtotal=subtotal,
        tax_refund=tax,
        shipping_refund=shipping,
        adjustment_refund=adjustment_refund,
        adjustment_fee=adjustment_fee,
        grand_total=grand_total,
        components=components,
        parts=tuple(
            (i.order_item_id, tuple((k, v) for k, v in parts[i.order_item_id].items() if v))
            for i in order.items if parts.get(i.order_item_id)
        ),
        order=_finish(updated, now),
        cancels=tuple(refunded_ids) if not amazon_charged else (),
        quantity_cancelled=tuple(quantity_cancelled),
    )


def _check_cancellation_memo(order: CommerceOrder, request: RefundRequest, wanted: Mapping[str, int]) -> None:
    """A credit memo on an order Amazon has not charged is a cancellation at Amazon: each
    item with all its units still to ship, nothing to adjust."""
    number = order.increment_id
    if request.shipping or request.adjustment_refund or request.adjustment_fee:
        raise NotAllowedError(
            f"Nothing of order {number} has shipped, so Amazon has not charged the buyer: this credit memo goes to "
            "Amazon as a cancellation of its items, with their shipping, and there is no payment to adjust. Leave out "
            "--shipping, --adjustment-refund and --adjustment-fee."
        )
    for item in order.items:
        qty = wanted.get(item.order_item_id, 0)
        if qty and qty != item.qty_to_ship:
            raise NotAllowedError(
                f"Nothing of order {number} has shipped, so Amazon has not charged the buyer and this credit memo "
                f"goes to Amazon as a cancellation; Amazon cancels an unshipped item with all its units. Credit "
                f"{item.sku} with all {item.qty_to_ship} unit(s) still to ship (--item {item.sku}={item.qty_to_ship})"
                + (f", after invoicing the {item.qty_to_invoice} not invoiced yet" if item.qty_to_invoice else "")
                + ", or ship the units you can and then refund the rest."
            )


def _unit_net(parts: Mapping[str, Decimal]) -> Decimal:
    charges = sum((parts.get(k, Decimal(0)) for k in money.UNIT_KINDS if k != money.ITEM_PROMOTION), Decimal(0))
    return charges - parts.get(money.ITEM_PROMOTION, Decimal(0))


def _hold_to_paid_share(parts: dict[str, Decimal], item: CommerceItem, prior: Mapping[tuple[str, str], Decimal],
                        currency: str) -> None:
    """Each component rounds toward zero, but a promotion rounded toward zero takes off a
    little less: the units' net could then pass what the buyer paid for them. The item
    price (Principal) gives way by the excess, so refunds of an item never add up to more
    than its paid share (with amounts in minor units a full refund stays exact)."""
    before = {k: prior.get((item.order_item_id, k), Decimal(0)) for k in money.UNIT_KINDS}
    refunded_net = _unit_net(before) + _unit_net(parts)
    components = item.money
    unit_paid = _unit_net({k: components.get(k, Decimal(0)) for k in money.UNIT_KINDS})
    allowed = unit_paid * item.qty_refunded / item.qty_ordered if item.qty_ordered else Decimal(0)
    excess = refunded_net - allowed
    if excess > 0:
        cut = min(parts.get(money.ITEM, Decimal(0)), excess.quantize(money.minor_unit(currency), rounding=ROUND_UP))
        parts[money.ITEM] = parts.get(money.ITEM, Decimal(0)) - cut


def _amazon_components(
    order: CommerceOrder, parts: Mapping[str, Mapping[str, Decimal]]
) -> tuple[tuple[str, tuple[RefundComponent, ...]], ...]:
    out = []
    for item in order.items:
        p = parts.get(item.order_item_id)
        if not p:
            continue
        prices: dict[str, Decimal] = {}
        promotions: dict[str, Decimal] = {}
        for kind, amount in p.items():
            if kind in money.FEED_COMPONENT:
                name = money.FEED_COMPONENT[kind]
                prices[name] = prices.get(name, Decimal(0)) + amount
            elif kind in money.FEED_PROMOTION:
                name = money.FEED_PROMOTION[kind]
                promotions[name] = promotions.get(name, Decimal(0)) - amount
            elif kind == GOODWILL:
                prices["Goodwill"] = prices.get("Goodwill", Decimal(0)) + amount
            elif kind == RESTOCKING_FEE:
                prices["RestockingFee"] = prices.get("RestockingFee", Decimal(0)) - amount
        promotion_id = item.promotion_ids[0] if item.promotion_ids else None
        components = [RefundComponent(t, a) for t, a in prices.items() if a]
        components += [RefundComponent(t, a, promotion=True, promotion_id=promotion_id) for t, a in promotions.items() if a]
        if components:
            out.append((item.order_item_id, tuple(components)))
    return tuple(out)


# ------------------------------------------------------------------ cancel


@dataclass(frozen=True, slots=True)
class CancelPlan:
    reason: str
    lines: tuple[tuple[str, str, int], ...]  # (order_item_id, sku, qty canceled now)
    amazon_item_ids: tuple[str, ...]  # every item of the order: Amazon cancels the order
    canceled_amount: Decimal
    order: CommerceOrder


def pending_cancel_refusal(number: str, amazon_status: str) -> NotAllowedError:
    return NotAllowedError(
        f"Order {number} is still {amazon_status} at Amazon (payment not yet authorized), so it has "
        "no commerce order here to cancel. Cancel it in Seller Central (Orders > Manage Orders > "
        "Cancel order); the next 'amzorders sync' brings the cancellation in."
    )


def plan_cancel(order: CommerceOrder, *, amazon_status: str, reason: str, now: datetime) -> CancelPlan:
    number = order.increment_id
    reason = canonical_choice(reason, codes.CANCEL_REASONS, "--reason")
    if amazon_status in PENDING_STATUSES:
        raise pending_cancel_refusal(number, amazon_status)
    if order.state == "canceled" or amazon_status == "CANCELLED":
        raise NotAllowedError(f"Order {number} is canceled already.")
    if any(i.qty_shipped for i in order.items) or amazon_status in ("PARTIALLY_SHIPPED", "SHIPPED"):
        raise NotAllowedError(
            f"Order {number} has shipped items, so it can no longer be canceled; refund it instead: "
            f"amzorders refund {number} --reason CustomerReturn"
        )
    if amazon_status != "UNSHIPPED":
        raise NotAllowedError(
            f"Amazon reports order {number} as {amazon_status}; only UNSHIPPED orders can be canceled. "
            f"Run 'amzorders sync' to refresh it."
        )
    if order.state == "holded":
        raise NotAllowedError(f"Order {number} is on hold; release the hold before canceling it.")
    if order.state == "closed":
        raise NotAllowedError(f"Order {number} is closed (refunded in full); there is nothing left to cancel.")
    unrefunded = [i for i in order.items if i.qty_invoiced > i.qty_refunded]
    if unrefunded:
        raise NotAllowedError(
            f"Order {number} is invoiced ({', '.join(i.sku for i in unrefunded)}); give the invoiced units a credit "
            f"memo instead: amzorders refund {number} --reason CustomerCancel. Nothing has shipped, so Amazon has "
            "not charged the buyer and the credit memo goes to Amazon as the cancellation of its items."
        )
    updated = _copy(order)
    lines = []
    for item in updated.items:
        open_qty = item.qty_ordered - item.qty_invoiced - item.qty_canceled
        if open_qty > 0:
            item.qty_canceled += open_qty
            lines.append((item.order_item_id, item.sku, open_qty))
    if not lines:
        raise NotAllowedError(f"Order {number} has nothing left to cancel.")
    canceled_amount = max(Decimal(0), order.grand_total - order.total_invoiced - order.total_canceled)
    updated.total_canceled += canceled_amount
    return CancelPlan(
        reason=reason,
        lines=tuple(lines),
        amazon_item_ids=tuple(i.order_item_id for i in order.items),
        canceled_amount=canceled_amount,
        order=_finish(updated, now),
    )



# ------------------------------------------------------------------ undo what Amazon refused
#
# When Amazon refuses an action for good (or the operator dismisses it), the local change it
# came from is taken back, so the order never shows money or states Amazon does not have;
# ``outbox retry`` applies it again when the order still allows it.


def reverse_credit_memo(order: CommerceOrder, items: Iterable[tuple[str, int]], total: Decimal,
                        now: datetime) -> CommerceOrder:
    """The order without a credit memo (voided): its units and amount no longer refunded."""
    updated = _copy(order)
    for order_item_id, qty in items:
        item = updated.item(order_item_id)
        if item is not None:
            item.qty_refunded = max(0, item.qty_refunded - qty)
    updated.total_refunded = max(Decimal(0), updated.total_refunded - total)
    return _finish(updated, now)


def _add_back(updated: CommerceOrder, items: Iterable[tuple[str, int]], counter: str,
              room: Callable[[CommerceItem], int], refusal: Callable[[int, str], str]) -> None:
    """Count a document's units again on ``updated`` (an undone reversal), refusing with
    ``refusal(qty, sku)`` when an item no longer has ``room`` for them: the order changed
    in between, and counting them would exceed what was ordered."""
    for order_item_id, qty in items:
        item = updated.item(order_item_id)
        if item is None or qty > room(item):
            raise NotAllowedError(refusal(qty, item.sku if item else order_item_id))
        setattr(item, counter, getattr(item, counter) + qty)


def reapply_credit_memo(order: CommerceOrder, items: Iterable[tuple[str, int]], total: Decimal,
                        now: datetime) -> CommerceOrder:
    updated = _copy(order)
    _closed_or_canceled(order, "refunded")
    _add_back(updated, items, "qty_refunded", lambda item: item.qty_to_refund, lambda qty, sku: (
        f"The credit memo cannot be restored: order {order.increment_id} no longer has "
        f"{qty} unit(s) of {sku} to refund. Make a new credit memo instead."))
    if updated.total_refunded + total > updated.total_paid:
        raise NotAllowedError(
            f"The credit memo cannot be restored: {total} {order.currency} is more than can still be refunded on "
            f"order {order.increment_id}. Make a new credit memo instead."
        )
    updated.total_refunded += total
    return _finish(updated, now)


def reverse_shipment(order: CommerceOrder, items: Iterable[tuple[str, int]], now: datetime) -> CommerceOrder:
    """The order without a shipment Amazon refused: its units are to ship again."""
    updated = _copy(order)
    for order_item_id, qty in items:
        item = updated.item(order_item_id)
        if item is not None:
            item.qty_shipped = max(0, item.qty_shipped - qty)
    return _finish(updated, now)


def reapply_shipment(order: CommerceOrder, items: Iterable[tuple[str, int]], now: datetime) -> CommerceOrder:
    updated = _copy(order)
    _closed_or_canceled(order, "shipped")
    _add_back(updated, items, "qty_shipped", lambda item: item.qty_to_ship, lambda qty, sku: (
        f"The shipment cannot be confirmed again: order {order.increment_id} no longer has {qty} unit(s) "
        f"of {sku} to ship. Ship what is left with a new 'amzorders ship'."))
    return _finish(updated, now)


def reverse_cancel(order: CommerceOrder, units: Mapping[str, int], amount: Decimal, now: datetime) -> CommerceOrder:
    """The order reopened: the units a refused cancel took away are open again."""
    updated = _copy(order)
    for order_item_id, qty in units.items():
        item = updated.item(order_item_id)
        if item is not None:
            item.qty_canceled = max(0, item.qty_canceled - qty)
    updated.total_canceled = max(Decimal(0), updated.total_canceled - amount)
    if updated.state == "canceled":
        updated.state = "new"  # derived again from the quantities below
    return _finish(updated, now)


def reapply_cancel(order: CommerceOrder, units: Mapping[str, int], amount: Decimal, now: datetime) -> CommerceOrder:
    updated = _copy(order)
    _add_back(updated, units.items(), "qty_canceled",
              lambda item: item.qty_ordered - item.qty_invoiced - item.qty_canceled - item.qty_shipped,
              lambda qty, sku: (
                  f"The cancellation cannot be sent again: order {order.increment_id} has changed since (invoiced or "
                  f"shipped). Look at it with 'amzorders show {order.increment_id}'."))
    updated.total_canceled += amount
    return _finish(updated, now)
