"""Hold and release orders, as Magento does it.

Magento's ``Order::hold()`` is allowed unless the order is canceled, complete, closed
or held; it keeps the state and status the order had (``hold_before_state``,
``hold_before_status``) and sets both to ``holded``; ``unhold()`` puts them back. A held
order cannot be invoiced, shipped, refunded or canceled (``domain.rules`` refuses it)
until it is released. The hold is local: Amazon knows nothing of it, and Amazon's own
changes (status, buyer cancellation requests) still come in while an order is held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from msgspec.structs import replace  # CommerceOrder is a msgspec.Struct

from amzorders.domain.commerce import with_derived_state
from amzorders.domain.rules import check_text
from amzorders.errors import AmzOrdersError, NotAllowedError, UsageError
from amzorders.services.orders import find_amazon_order_id
from amzorders.store import Store

NOT_HOLDABLE = ("canceled", "complete", "closed")


@dataclass
class HoldOutcome:
    order: str  # the key as given
    outcome: str  # held | released | skipped
    message: str


@dataclass
class HoldResult:
    outcomes: list[HoldOutcome] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        done = sum(1 for o in self.outcomes if o.outcome != "skipped")
        skipped = len(self.outcomes) - done
        return f"{done} order(s) {verb}" + (f", {skipped} skipped" if skipped else "")


def hold(store: Store, keys: list[str], reason: str | None, now: datetime) -> HoldResult:
    """Put the orders on hold. Every order is checked before any is changed."""
    reason = check_text(reason, "--reason", max_length=500)

    def refusal(order) -> str | None:
        if order.state == "holded":
            return f"order {order.increment_id} is on hold already"
        if order.state in NOT_HOLDABLE:
            raise NotAllowedError(f"order {order.increment_id} is {order.state}; only open orders can be put on hold")
        return None

    result = HoldResult()
    plans = _plan(store, keys, refusal, result, "Nothing was put on hold")
    for key, order in plans:
        with store.transaction():
            held = replace(order, state="holded", status="holded", updated_at=now)
            store.save_commerce_order(held)
            store.set_hold(order.id, held_at=now, reason=reason, before_state=order.state, before_status=order.status)
            text = "Order put on hold" + (f": {reason}" if reason else "") + ". 'amzorders unhold' releases it."
            store.add_history(order.amazon_order_id, text, source="operator", status="holded", entity_type="order", is_customer_notified=False, now=now)
        result.outcomes.append(HoldOutcome(key, "held", f"Order {order.increment_id} is on hold" + (f" ({reason})." if reason else ".")))
    return result


def unhold(store: Store, keys: list[str], now: datetime) -> HoldResult:
    """Release held orders to the state and status they had before."""

    def refusal(order) -> str | None:
        return None if order.state == "holded" else f"order {order.increment_id} is not on hold"

    result = HoldResult()
    plans = _plan(store, keys, refusal, result, "Nothing was released")
    for key, order in plans:
        with store.transaction():
            before_state, before_status = store.hold_before(order.id)
            released = replace(order, state=before_state or "new", status=before_status or "pending", updated_at=now)
            # Amazon may have changed quantities while it was held (a shipment in Seller
            # Central): the state follows them, as after any change.
            released = with_derived_state(released)
            store.save_commerce_order(released)
            store.clear_hold(order.id)
            store.add_history(order.amazon_order_id, "Order released from hold.", source="operator", status=released.status, entity_type="order", is_customer_notified=False, now=now)
        result.outcomes.append(HoldOutcome(key, "released", f"Order {order.increment_id} released ({released.status})."))
    return result


def _plan(store: Store, keys: list[str], refusal, result: HoldResult, headline: str) -> list:
    """Check every order before any is changed: ``refusal(order)`` returns why an order is
    skipped (None: act on it) or raises why the whole command must stop. Every problem is
    reported at once, and nothing changes when there is one."""
    plans = []
    problems: list[str] = []
    for key in _keys(keys):
        try:
            order = _commerce_order(store, key)
            skip = refusal(order)
            if skip is not None:
                result.outcomes.append(HoldOutcome(key, "skipped", skip))
                continue
            plans.append((key, order))
        except AmzOrdersError as exc:
            problems.append(f"  {key}: {exc.message}")
    if problems:
        raise NotAllowedError(f"{headline}:\n" + "\n".join(problems))
    return plans


def _keys(keys: list[str]) -> list[str]:
    cleaned = [k.strip() for k in keys if k and k.strip()]
    if not cleaned:
        raise UsageError("Give one or more orders: commerce numbers (e.g. 000000012) or Amazon order numbers.")
    return list(dict.fromkeys(cleaned))


def _commerce_order(store: Store, key: str):
    amazon_order_id = find_amazon_order_id(store, key)
    order = store.load_commerce_order(amazon_order_id=amazon_order_id)
    if order is None:
        raise NotAllowedError(f"Amazon order {amazon_order_id} has no commerce order yet; there is nothing to hold")
    return order
