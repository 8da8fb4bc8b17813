"""The commerce order: amzorders' own order record for an Amazon order, Magento-style.

States follow Adobe Commerce: new -> processing -> complete; closed (fully refunded);
canceled; holded. The state is derived from item quantities, so every change to
quantities goes through ``derive_state`` and states never drift from the numbers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec
from msgspec.structs import replace

from amzorders.domain import money as money_model
from amzorders.domain.models import AmazonOrder, AmazonOrderItem, Money

# Amazon statuses under which the Sales Channel creates a commerce order.
MFN_IMPORT_STATUSES = frozenset({"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"})
AFN_IMPORT_STATUSES = frozenset({"SHIPPED"})

STATES = ("new", "processing", "complete", "closed", "canceled", "holded")
# Default status label of each state (Magento's default state -> status mapping).
STATUS_OF_STATE = {
    "new": "pending",
    "processing": "processing",
    "complete": "complete",
    "closed": "closed",
    "canceled": "canceled",
    "holded": "holded",
}


def should_create_commerce_order(order: AmazonOrder) -> bool:
    """Whether the Sales Channel would create a commerce order for this Amazon order now."""
    if not order.items:
        return False
    if order.fulfilled_by == "AMAZON":
        return order.status in AFN_IMPORT_STATUSES
    if order.fulfilled_by == "MERCHANT":
        return order.status in MFN_IMPORT_STATUSES
    return False  # fulfilledBy unknown: an Amazon order only, until Amazon says who ships


class CommerceItem(msgspec.Struct):
    order_item_id: str  # Amazon's orderItemId: the link used in every Amazon-bound action
    sku: str
    name: str
    asin: str | None
    price: Decimal  # unit price
    qty_ordered: int
    row_total: Decimal  # price x qty before discount
    tax_amount: Decimal = Decimal(0)
    discount_amount: Decimal = Decimal(0)
    shipping_amount: Decimal = Decimal(0)  # Amazon charges shipping per item
    qty_invoiced: int = 0
    qty_shipped: int = 0
    qty_refunded: int = 0
    qty_canceled: int = 0
    id: int | None = None
    # Every proceeds component (domain.money kinds), Amazon's full precision. Empty for
    # items stored before the money model: ``money`` then derives them from the totals.
    components: dict[str, Decimal] = msgspec.field(default_factory=dict)
    promotion_ids: tuple[str, ...] = ()

    @property
    def money(self) -> dict[str, Decimal]:
        if self.components:
            return self.components
        return money_model.legacy_components(self.row_total, self.tax_amount, self.discount_amount, self.shipping_amount)

    @property
    def qty_to_invoice(self) -> int:
        return max(0, self.qty_ordered - self.qty_invoiced - self.qty_canceled)

    @property
    def qty_to_ship(self) -> int:
        return max(0, self.qty_ordered - self.qty_shipped - self.qty_canceled - self.qty_refunded_unshipped)

    @property
    def qty_refunded_unshipped(self) -> int:
        # Refunded units that were never shipped will not be shipped either.
        return max(0, self.qty_refunded - self.qty_shipped)

    @property
    def qty_to_refund(self) -> int:
        return max(0, self.qty_invoiced - self.qty_refunded)


class CommerceOrder(msgspec.Struct):
    increment_id: str
    amazon_order_id: str
    account: str
    state: str
    status: str
    currency: str
    items: list[CommerceItem]
    created_at: datetime
    updated_at: datetime
    subtotal: Decimal = Decimal(0)
    shipping_amount: Decimal = Decimal(0)
    tax_amount: Decimal = Decimal(0)
    discount_amount: Decimal = Decimal(0)
    grand_total: Decimal = Decimal(0)
    total_invoiced: Decimal = Decimal(0)
    total_paid: Decimal = Decimal(0)
    total_refunded: Decimal = Decimal(0)
    total_canceled: Decimal = Decimal(0)
    version: int = 0
    id: int | None = None
    extra: dict = msgspec.field(default_factory=dict)
    money_warning: str | None = None  # the parts do not add up to Amazon's grand total

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.currency)

    def item(self, order_item_id: str) -> CommerceItem | None:
        return next((i for i in self.items if i.order_item_id == order_item_id), None)

    @property
    def total_due(self) -> Decimal:
        return self.grand_total - self.total_paid - self.total_canceled


def _amount(money: Money | None) -> Decimal:
    return money.amount if money is not None else Decimal(0)


def commerce_item_from_amazon(item: AmazonOrderItem) -> CommerceItem:
    """The commerce item of an Amazon order item, its money taken from the proceeds
    components (``domain.money``). An item without breakdowns (older shapes, or proceeds
    not sent) is described by the totals Amazon did send, as the same components."""
    components = item.component_map() or _components_from_totals(item)
    totals = money_model.aggregates(components)
    if item.unit_price is not None:
        price = item.unit_price.amount
    elif item.quantity_ordered:
        price = totals["row_total"] / item.quantity_ordered
    else:
        price = Decimal(0)
    return CommerceItem(
        order_item_id=item.order_item_id,
        sku=item.sku or item.asin or item.order_item_id,
        name=item.title or item.sku or item.asin or "(untitled item)",
        asin=item.asin,
        price=price,
        qty_ordered=item.quantity_ordered,
        row_total=totals["row_total"],
        tax_amount=totals["tax"],
        discount_amount=totals["discount"],
        shipping_amount=totals["shipping"],
        components=components,  # a new dict already (component_map or the totals')
        promotion_ids=tuple(item.promotion_ids),
    )


def _components_from_totals(item: AmazonOrderItem) -> dict[str, Decimal]:
    row_total = _amount(item.item_price)
    if item.item_price is None and item.unit_price is not None:
        row_total = item.unit_price.amount * item.quantity_ordered
    parts = {
        money_model.ITEM: row_total,
        money_model.ITEM_TAX: _amount(item.tax),
        money_model.ITEM_PROMOTION: _amount(item.discount),
        money_model.SHIPPING: _amount(item.shipping_price),
        money_model.GIFT_WRAP: _amount(item.gift_wrap),
    }
    return {k: v for k, v in parts.items() if v}


def money_warning(order: AmazonOrder, items: list[CommerceItem]) -> str | None:
    """Why the items' parts do not add up to Amazon's grand total, or None when they do."""
    if order.grand_total is None:
        return None
    parts = sum((money_model.paid(i.money) for i in items), Decimal(0))
    tip = order.delivery_tip.amount if order.delivery_tip else Decimal(0)
    if parts + tip == order.grand_total.amount:
        return None
    text = (
        f"The items' proceeds add up to {parts:f} {order.grand_total.currency}"
        + (f" plus a delivery tip of {tip:f}" if tip else "")
        + f", but Amazon's grand total is {order.grand_total.amount:f}: check the order in Seller Central "
        "before refunding it in full."
    )
    return text


def build_commerce_order(
    order: AmazonOrder,
    *,
    increment_id: str,
    account: str,
    initial_status: str,
    now: datetime,
) -> CommerceOrder:
    """A new commerce order mirroring the Amazon order's items and money."""
    items = [commerce_item_from_amazon(i) for i in order.items]
    currency = order.currency or "USD"
    subtotal = sum((i.row_total for i in items), Decimal(0))
    shipping = sum((i.shipping_amount for i in items), Decimal(0))
    tax = sum((i.tax_amount for i in items), Decimal(0))
    discount = sum((i.discount_amount for i in items), Decimal(0))
    computed = subtotal + shipping + tax - discount
    grand_total = order.grand_total.amount if order.grand_total else computed
    state = "processing" if initial_status == "processing" else "new"
    commerce = CommerceOrder(
        increment_id=increment_id,
        amazon_order_id=order.order_id,
        account=account,
        state=state,
        status=STATUS_OF_STATE[state],
        currency=currency,
        items=items,
        created_at=order.created_time,
        updated_at=now,
        subtotal=subtotal,
        shipping_amount=shipping,
        tax_amount=tax,
        discount_amount=discount,
        grand_total=grand_total,
        money_warning=money_warning(order, items),
    )
    return commerce


def derive_state(order: CommerceOrder) -> tuple[str, str]:
    """The (state, status) the quantities call for. ``holded`` is kept as set by hand."""
    if order.state == "holded":
        return order.state, order.status
    items = order.items
    ordered = sum(i.qty_ordered for i in items)
    canceled = sum(i.qty_canceled for i in items)
    refunded = sum(i.qty_refunded for i in items)
    if ordered and canceled >= ordered:
        state = "canceled"
    elif ordered and refunded + canceled >= ordered and refunded > 0:
        state = "closed"
    elif all(i.qty_to_ship == 0 and i.qty_to_invoice == 0 for i in items) and ordered:
        state = "complete"
    elif any(i.qty_invoiced or i.qty_shipped or i.qty_canceled for i in items):
        state = "processing"
    else:
        state = order.state if order.state in ("new", "processing") else "new"
    if state == order.state:
        return state, order.status
    return state, STATUS_OF_STATE[state]


def with_derived_state(order: CommerceOrder) -> CommerceOrder:
    state, status = derive_state(order)
    return replace(order, state=state, status=status)
