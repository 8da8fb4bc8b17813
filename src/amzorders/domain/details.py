"""What Amazon says about an order beyond what the commerce order needs, kept and shown.

From the Order schema of Orders API v2026-01-01 (orders_2026-01-01.json): ``programs``,
``associatedOrders`` (replacements, exchanges), ``salesChannel.channelName``,
``fulfillment`` windows (ship by, deliver by, label printing), ``tax.taxRegistrations``
(buyer and marketplace VAT / business ids: a B2B invoice needs the buyer's) and
``tax.taxInvoicing``, per-item ``fulfillment.shipping.shippingConstraints`` (pallet,
cash on delivery, signature, identity and age verification), per-item points
(``expense.pointsCost``), and ``packages`` with their status. Read from the stored raw
order, so nothing Amazon sent is lost even where no column holds it.

Values of Amazon's lists that this version does not know are kept as they came and
reported by ``unknown_values``: a new program may change what may be done with an order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from amzorders.domain import codes
from amzorders.domain.jsonread import as_dict as _dict
from amzorders.domain.jsonread import as_list as _list
from amzorders.domain.jsonread import as_text as _text
from amzorders.domain.jsonread import order_packages, order_programs
from amzorders.domain.timefmt import parse_iso_or_none

# ItemShippingConstraints properties, with the words shown for them.
SHIPPING_CONSTRAINTS: dict[str, str] = {
    "palletDelivery": "pallet delivery",
    "cashOnDelivery": "cash on delivery",
    "signatureConfirmation": "signature on delivery",
    "recipientIdentityVerification": "recipient identity verification",
    "recipientAgeVerification": "recipient age verification",
}


class TimeWindow(msgspec.Struct, frozen=True):
    earliest: datetime | None
    latest: datetime | None


class TaxRegistration(msgspec.Struct, frozen=True):
    entity_type: str | None  # BUYER, MARKETPLACE...
    registration_type: str | None  # VAT, BUSINESS, CST, CPF, CNPJ
    number: str | None
    legal_name: str | None
    attributes: tuple[tuple[str, str], ...] = ()  # e.g. (TAX_OFFICE, ...)


class AssociatedOrder(msgspec.Struct, frozen=True):
    order_id: str
    association_type: str | None  # REPLACEMENT_ORIGINAL_ID, EXCHANGE_ORIGINAL_ID


class ItemConstraint(msgspec.Struct, frozen=True):
    order_item_id: str
    constraint: str  # a SHIPPING_CONSTRAINTS key
    level: str | None  # MANDATORY


class PackageDetail(msgspec.Struct, frozen=True):
    package_reference_id: str
    carrier: str | None
    tracking_number: str | None
    shipping_service: str | None
    ship_time: datetime | None
    status: str | None  # PENDING, IN_TRANSIT, SHIPPED, DELIVERED, CANCELLED, UNDELIVERABLE
    detailed_status: str | None


class ItemPoints(msgspec.Struct, frozen=True):
    order_item_id: str
    points: int | None
    value: str | None  # "12.00 JPY": money as Amazon gave it


class AmazonOrderDetails(msgspec.Struct, frozen=True):
    programs: tuple[str, ...]
    channel_name: str | None  # AMAZON, NON_AMAZON
    fulfilled_by: str | None  # AMAZON, MERCHANT
    ship_by: TimeWindow | None
    deliver_by: TimeWindow | None
    label_printing: TimeWindow | None
    tax_registrations: tuple[TaxRegistration, ...]
    buyer_invoice_preference: str | None
    invoice_status: str | None
    associated_orders: tuple[AssociatedOrder, ...]
    constraints: tuple[ItemConstraint, ...]
    packages: tuple[PackageDetail, ...]
    points: tuple[ItemPoints, ...]

    @property
    def buyer_tax_registrations(self) -> tuple[TaxRegistration, ...]:
        return tuple(r for r in self.tax_registrations if (r.entity_type or "BUYER") == "BUYER")

    @property
    def marketplace_tax_registrations(self) -> tuple[TaxRegistration, ...]:
        return tuple(r for r in self.tax_registrations if r.entity_type not in (None, "BUYER"))

    def unknown_values(self) -> list[str]:
        """Values of Amazon's documented lists this version does not know."""
        found = [f"program {p!r}" for p in self.programs if p not in codes.ORDER_PROGRAMS]
        if self.fulfilled_by is not None and self.fulfilled_by not in codes.FULFILLED_BY:
            found.append(f"fulfilledBy {self.fulfilled_by!r}")
        if self.channel_name is not None and self.channel_name not in codes.CHANNEL_NAMES:
            found.append(f"channelName {self.channel_name!r}")
        found += [f"package status {p.status!r}" for p in self.packages if p.status and p.status not in codes.PACKAGE_STATUSES]
        return found

    def blocks_shipping(self) -> str | None:
        """Why amzorders must not confirm a shipment for this order, or None.

        IN_STORE_PICK_UP: the buyer collects it, nothing is shipped. FBM_SHIP_PLUS: Amazon
        rejects confirmShipment for these orders (400). An unknown program may be either."""
        for program, why in (
            ("IN_STORE_PICK_UP", "the buyer picks it up in store"),
            ("FBM_SHIP_PLUS", "Ship+ orders are confirmed through Amazon's Ship+ flow, confirmShipment rejects them"),
        ):
            if program in self.programs:
                return why
        unknown = [p for p in self.programs if p not in codes.ORDER_PROGRAMS]
        if unknown:
            return f"it carries program(s) {', '.join(unknown)} that this version of amzorders does not know"
        return None


def unknown_list_values(raw: Any) -> list[str]:
    """``order_details(raw).unknown_values()`` without building the details (import path)."""
    data = _dict(raw)
    found = [f"program {p!r}" for p in _list(data.get("programs")) if p not in codes.ORDER_PROGRAMS]
    fulfilled_by = _dict(data.get("fulfillment")).get("fulfilledBy")
    if fulfilled_by is not None and fulfilled_by not in codes.FULFILLED_BY:
        found.append(f"fulfilledBy {fulfilled_by!r}")
    channel = _dict(data.get("salesChannel")).get("channelName")
    if channel is not None and channel not in codes.CHANNEL_NAMES:
        found.append(f"channelName {channel!r}")
    for package in _list(data.get("packages")):
        status = _dict(_dict(package).get("packageStatus")).get("status")
        if status is not None and status not in codes.PACKAGE_STATUSES:
            found.append(f"package status {status!r}")
    return found


def _window(value: Any) -> TimeWindow | None:
    data = _dict(value)
    if not data:
        return None
    return TimeWindow(parse_iso_or_none(data.get("earliestDateTime")), parse_iso_or_none(data.get("latestDateTime")))


def order_details(raw: Any) -> AmazonOrderDetails:
    """The details of one raw Order object (tolerant: missing parts are empty)."""
    data = _dict(raw)
    fulfillment = _dict(data.get("fulfillment"))
    tax = _dict(data.get("tax"))
    invoicing = _dict(tax.get("taxInvoicing"))
    registrations = []
    for entry in _list(tax.get("taxRegistrations")):
        entry = _dict(entry)
        attributes = tuple(
            (k, v) for k, v in ((_text(_dict(a).get("key")), _text(_dict(a).get("value"))) for a in _list(entry.get("taxRegistrationAttributes")))
            if k and v
        )
        registrations.append(TaxRegistration(
            entity_type=_text(entry.get("entityType")),
            registration_type=_text(entry.get("taxRegistrationType")),
            number=_text(entry.get("taxRegistrationNumber")),
            legal_name=_text(entry.get("legalName")),
            attributes=attributes,
        ))
    associated = tuple(
        AssociatedOrder(order_id=oid, association_type=_text(_dict(a).get("associationType")))
        for a in _list(data.get("associatedOrders"))
        if (oid := _text(_dict(a).get("orderId")))
    )
    constraints: list[ItemConstraint] = []
    points: list[ItemPoints] = []
    for item in _list(data.get("orderItems")):
        item = _dict(item)
        item_id = _text(item.get("orderItemId")) or "?"
        shipping = _dict(_dict(item.get("fulfillment")).get("shipping"))
        for name, level in _dict(shipping.get("shippingConstraints")).items():
            if isinstance(name, str) and level:
                constraints.append(ItemConstraint(item_id, name, _text(level)))
        granted = _dict(_dict(_dict(item.get("expense")).get("pointsCost")).get("pointsGranted"))
        if granted:
            money = _dict(granted.get("pointsMonetaryValue"))
            value = f"{money.get('amount')} {money.get('currencyCode')}" if money.get("amount") is not None else None
            number = granted.get("pointsNumber")
            points.append(ItemPoints(item_id, number if isinstance(number, int) and not isinstance(number, bool) else None, value))
    packages = [
        PackageDetail(
            package_reference_id=p.package_reference_id, carrier=p.carrier, tracking_number=p.tracking_number,
            shipping_service=p.shipping_service, ship_time=p.ship_time, status=p.status, detailed_status=p.detailed_status,
        )
        for p in order_packages(data)
    ]
    return AmazonOrderDetails(
        programs=order_programs(data),
        channel_name=_text(_dict(data.get("salesChannel")).get("channelName")),
        fulfilled_by=_text(fulfillment.get("fulfilledBy")),
        ship_by=_window(fulfillment.get("shipByWindow")),
        deliver_by=_window(fulfillment.get("deliverByWindow")),
        label_printing=_window(fulfillment.get("labelPrintingWindow")),
        tax_registrations=tuple(registrations),
        buyer_invoice_preference=_text(invoicing.get("buyerInvoicePreference")),
        invoice_status=_text(invoicing.get("invoiceStatus")),
        associated_orders=associated,
        constraints=tuple(constraints),
        packages=tuple(packages),
        points=tuple(points),
    )
