"""Plain records (msgspec.Struct) shared by every layer. Money is Decimal; times are aware UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from amzorders.domain.money import currency_digits  # noqa: F401  (ISO 4217 minor units)


def repr_without(record: msgspec.Struct, hidden: tuple[str, ...]) -> str:
    """The record's repr without the ``hidden`` fields (msgspec has no per-field repr=False):
    secrets in config's settings, Amazon's raw JSON in an order, which a log line or a test
    failure must never show."""
    shown = ", ".join(f"{name}={getattr(record, name)!r}" for name in record.__struct_fields__ if name not in hidden)
    return f"{type(record).__name__}({shown})"


def quantize_money(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-currency_digits(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


class Money(msgspec.Struct, frozen=True):
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def to_str(self) -> str:
        """The amount as a plain decimal string with the currency's digits ('12.50')."""
        return f"{quantize_money(self.amount, self.currency):f}"

    def __str__(self) -> str:
        return f"{self.to_str()} {self.currency}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Address(msgspec.Struct, frozen=True):
    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    district: str | None = None
    state_or_region: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    phone: str | None = None
    address_type: str | None = None

    def lines(self) -> list[str]:
        """The address as printable lines, empty parts left out."""
        city_line = " ".join(p for p in (self.postal_code, self.city) if p)
        region_line = ", ".join(p for p in (self.district, self.state_or_region) if p)
        parts = [
            self.name,
            self.company,
            self.line1,
            self.line2,
            self.line3,
            city_line,
            region_line,
            self.country_code,
        ]
        return [p for p in parts if p]


class AmazonOrderItem(msgspec.Struct, frozen=True):
    order_item_id: str
    quantity_ordered: int
    sku: str | None = None
    asin: str | None = None
    title: str | None = None
    quantity_shipped: int = 0
    unit_price: Money | None = None
    item_price: Money | None = None  # ITEM proceeds: unit price x quantity
    shipping_price: Money | None = None
    tax: Money | None = None
    discount: Money | None = None  # DISCOUNT proceeds, as a positive amount taken off
    gift_wrap: Money | None = None
    total: Money | None = None  # proceedsTotal
    condition: str | None = None
    is_gift: bool = False
    gift_message: str | None = None
    cancel_requested_by: str | None = None  # BUYER / SELLER / ... when a request exists
    cancel_reason: str | None = None
    # Every proceeds component (domain.money kinds -> amount, Amazon's full precision).
    components: tuple[tuple[str, Decimal], ...] = ()
    promotion_ids: tuple[str, ...] = ()
    cancelled_by: str | None = None  # cancellationExecution.cancelledBy: the cancel is done

    def component_map(self) -> dict[str, Decimal]:
        return dict(self.components)


class AmazonPackage(msgspec.Struct, frozen=True):
    package_reference_id: str
    carrier: str | None = None
    tracking_number: str | None = None
    ship_time: datetime | None = None
    shipping_service: str | None = None
    status: str | None = None
    detailed_status: str | None = None  # packageStatus.detailedStatus
    items: tuple[tuple[str, int], ...] = ()  # (orderItemId, quantity)


class AmazonOrder(msgspec.Struct, frozen=True):
    """An order as Amazon reports it (Orders API v2026-01-01), parsed and typed."""

    order_id: str
    created_time: datetime
    last_updated_time: datetime
    status: str  # fulfillment.fulfillmentStatus
    marketplace_id: str | None
    marketplace_name: str | None = None
    channel_name: str | None = None
    fulfilled_by: str | None = None  # MERCHANT / AMAZON
    service_level: str | None = None
    ship_by: datetime | None = None  # latest ship date of the promise
    deliver_by: datetime | None = None
    programs: tuple[str, ...] = ()
    buyer_name: str | None = None
    buyer_email: str | None = None
    buyer_company: str | None = None
    buyer_po_number: str | None = None
    seller_order_id: str | None = None
    shipping_address: Address | None = None
    currency: str | None = None
    grand_total: Money | None = None
    items: tuple[AmazonOrderItem, ...] = ()
    packages: tuple[AmazonPackage, ...] = ()
    raw: dict = msgspec.field(default_factory=dict)  # not part of the value: see _value
    warnings: tuple[str, ...] = ()  # what could not be understood, kept for the import report
    delivery_tip: Money | None = None  # order-level DELIVERY_TIP, not attributed to items

    # ``raw`` is Amazon's JSON as received: two parses of one order are equal whatever
    # their raw (e.g. a scrubbed copy), and a repr (log, test failure) never dumps it.
    def _value(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__struct_fields__ if name != "raw")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._value() == other._value()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._value())

    def __repr__(self) -> str:
        return repr_without(self, ("raw",))

    @property
    def channel(self) -> str:
        """MFN for merchant-fulfilled, AFN for Amazon-fulfilled (Seller Central's words);
        any other ``fulfilledBy`` is kept as Amazon sent it (never taken for MFN: nothing
        may be shipped from here unless the order is known to be merchant-fulfilled)."""
        if self.fulfilled_by == "AMAZON":
            return "AFN"
        if self.fulfilled_by == "MERCHANT":
            return "MFN"
        return self.fulfilled_by or "UNKNOWN"

    @property
    def is_prime(self) -> bool:
        return "PRIME" in self.programs

    @property
    def is_business(self) -> bool:
        return "AMAZON_BUSINESS" in self.programs or bool(self.buyer_company)

    @property
    def is_gift(self) -> bool:
        return any(i.is_gift for i in self.items)

    @property
    def buyer_cancel_requested(self) -> bool:
        # An executed cancellation (cancellationExecution) answers the request: not open.
        return any(i.cancel_requested_by == "BUYER" and not i.cancelled_by for i in self.items) and self.status != "CANCELLED"

    @property
    def item_count(self) -> int:
        return sum(i.quantity_ordered for i in self.items)
