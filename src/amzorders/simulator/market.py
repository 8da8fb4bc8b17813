"""The simulated marketplace: orders generated from (seed, index), their lifecycle as a
function of the marketplace clock, the mutations applied by sellers and buyers, and the
rendering of an order as Orders API v2026-01-01 JSON.

Orders are never stored whole. Order ``index`` 0..N-1 are the history, N.. are the
orders that keep arriving after the marketplace was created, and 10**13.. are orders
added by ``add_orders``. Each order's *skeleton* (creation time, marketplace, channel,
natural lifecycle events) and *details* (items, buyer, address) are pure functions of
(seed, index), computed on demand and cached. Only mutations are persisted.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from collections.abc import Iterator
from typing import Any

from amzorders.domain.codes import MARKETPLACES

from .catalog import (
    FX_FROM_USD,
    AMAZON_CARRIER,
    CARRIERS_BY_COUNTRY,
    CATALOG,
    COUNTRY_WEIGHTS,
    GIFT_MESSAGES,
    LOCALES,
    MARKETPLACE_BY_COUNTRY,
    ORDER_ID_PREFIXES,
    SIMULATED_COUNTRIES,
    TAX_RATE,
    currency_digits,
    fill_pattern,
    price_in,
    quantize,
    shipping_in,
)

MINUTE = 60
HOUR = 3600
DAY = 86400
EXTRA_BASE = 10**13  # indices of orders added through add_orders()
ID_SPACE = 10**14
ID_MULTIPLIER = 48_271_182_763  # odd and not a multiple of 5: invertible modulo 10**14
ID_MULTIPLIER_INVERSE = pow(ID_MULTIPLIER, -1, ID_SPACE)
# Natural lifecycle events happen at most this long after an order's creation (pre-orders
# are released within 5 days, then ship within hours): bounds lastUpdated searches.
MAX_NATURAL_LAG = 6 * DAY
MFN_HISTORY_SHIPPED_AGE = 3 * DAY

_COUNTRY_CUMULATIVE: tuple[int, ...] = tuple(sum(COUNTRY_WEIGHTS[: i + 1]) for i in range(len(COUNTRY_WEIGHTS)))
COUNTRY_OF_MARKETPLACE = {mid: country for country, mid in MARKETPLACE_BY_COUNTRY.items()}


def _amount_text(value: Decimal, currency: str) -> str:
    """Amazon's decimal string: the currency's digits, or more when the amount has them."""
    quantized = quantize(value, currency)
    if quantized == value:
        return str(quantized)
    return format(value, "f")


def iso(epoch: float) -> str:
    """Amazon's timestamp form: whole seconds, UTC, 'Z'."""
    return _iso_second(int(epoch))


@lru_cache(maxsize=16384)
def _iso_second(second: int) -> str:
    # Cached: a page repeats its instants (ship-by and deliver-by windows end on day
    # boundaries; created and shipBy earliest are the same second) ~8 per order.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mix(value: int) -> float:
    """A cheap deterministic uniform in [0, 1) from an integer (splitmix64 finaliser)."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    value ^= value >> 31
    return (value >> 11) / float(1 << 53)


def _base36(number: int) -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    while number:
        number, rest = divmod(number, 36)
        out.append(alphabet[rest])
    return "".join(out).ljust(14, "x")


@dataclass(slots=True)
class Skeleton:
    """What a search needs to know about an order, cheaply."""

    index: int
    order_id: str
    created: int
    country: str
    afn: bool
    initial_status: str
    # (time, kind) sorted; kinds: release, ship, cancel_request, cancel
    events: tuple[tuple[int, str], ...]
    opts: dict[str, Any] | None = None
    # Once every natural event has passed, an untouched order's status and
    # lastUpdatedTime no longer change: computed once, so big windows stay cheap.
    settled_at: int = 0
    settled_status: str = ""
    settled_updated: int = 0

    @property
    def marketplace_id(self) -> str:
        return MARKETPLACE_BY_COUNTRY[self.country]

    @property
    def fulfilled_by(self) -> str:
        return "AMAZON" if self.afn else "MERCHANT"


@dataclass(slots=True)
class Line:
    order_item_id: str
    product_index: int
    quantity: int
    unit_price: Decimal
    item: Decimal  # unit price * quantity
    shipping: Decimal
    discount: Decimal  # <= 0: every promotion of the line (item and shipping)
    tax: Decimal  # every tax of the line
    promotion_id: str | None
    gift_message: str | None
    # The amounts as Amazon's decimal strings, formatted once (rendering is the hot path).
    text: dict[str, str] = field(default_factory=dict)
    # Every proceeds component (domain.money kinds, positive; promotions as amounts taken off).
    money: dict[str, Decimal] = field(default_factory=dict)
    total: Decimal = Decimal(0)  # what the buyer paid for the line (proceedsTotal)


@dataclass(slots=True)
class Details:
    currency: str
    lines: list[Line]
    buyer_name: str
    buyer_email: str
    company: str | None
    purchase_order: str | None
    address: dict[str, str]
    programs: list[str]
    service_level: str
    ship_by_days: int
    deliver_days: int
    natural_package: dict[str, str]  # carrier, trackingNumber, shippingService
    totals_text: dict[str, str] = field(default_factory=dict)  # order breakdowns + GRAND


@dataclass(slots=True)
class OrderState:
    """An order's state at one moment of the marketplace clock."""

    status: str
    last_updated: int
    shipped: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)
    cancel_requested: dict[str, str] = field(default_factory=dict)  # item id -> reason
    cancel_execution: dict[str, tuple[str, str]] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    # Units cancelled by an adjustment's QuantityCancelled: the buyer was charged for them
    # (the order had shipped) and refunded, unlike units an acknowledgement cancelled.
    refund_cancelled: dict[str, int] = field(default_factory=dict)

    def charged_units(self, item_id: str, quantity: int) -> int:
        """Units of an item the buyer was charged for. Amazon charges the whole order when
        the first shipment is confirmed (Seller Central forums, "Quick Tip: Partial Order
        Cancellation": "When you confirm shipment for even one item in an order, we charge
        the buyer for the entire order"); units cancelled before that were never charged."""
        if not self.shipped:
            return 0
        uncharged = self.cancelled.get(item_id, 0) - self.refund_cancelled.get(item_id, 0)
        return max(0, quantity - uncharged)


class Market:
    """Generates, evolves and renders the orders of one simulated marketplace."""

    def __init__(self, *, seed: int, orders: int, history_days: float, arrivals_per_hour: float,
                 epoch: int) -> None:
        self.seed = seed
        self.history_count = orders
        self.history_seconds = max(1, int(history_days * DAY))
        self.arrivals_per_hour = arrivals_per_hour
        self.epoch = epoch  # marketplace creation time, epoch seconds
        self.id_offset = int(_mix(seed * 7919) * ID_SPACE)
        self._hash_key = seed.to_bytes(8, "little", signed=True)
        self._skeletons: dict[int, Skeleton] = {}
        self._details: dict[int, Details] = {}
        self.extras: dict[int, dict[str, Any]] = {}  # index -> {"created", "opts"}

    # ----- creation times (monotonic in index, so created ranges are a bisect) -----

    def history_created(self, index: int) -> int:
        jitter = 0.9 * _mix(self.seed * 1_000_003 + index)
        return self.epoch - self.history_seconds + int(self.history_seconds * (index + jitter) / max(1, self.history_count))

    def arrival_created(self, k: int) -> int:
        jitter = 0.9 * _mix(self.seed * 2_000_003 + k)
        return self.epoch + int((k + jitter) * HOUR / self.arrivals_per_hour)

    def created_of(self, index: int) -> int:
        if index >= EXTRA_BASE:
            return int(self.extras[index]["created"])
        if index < self.history_count:
            return self.history_created(index)
        return self.arrival_created(index - self.history_count)

    def arrived_count(self, now: float) -> int:
        """How many post-creation orders exist at ``now``."""
        if self.arrivals_per_hour <= 0 or now < self.epoch:
            return 0
        # Start one past the estimate (creation times are floored to whole seconds) and walk back.
        k = int((now - self.epoch) * self.arrivals_per_hour / HOUR) + 2
        while k > 0 and self.arrival_created(k - 1) > now:
            k -= 1
        # At high rates several arrivals share a floored second: walk forward too.
        while self.arrival_created(k) <= now:
            k += 1
        return k

    def iter_created(self, low: float, high: float, now: float,
                     after: tuple[int, int] | None = None) -> Iterator[tuple[int, int]]:
        """(created, index) of orders with low <= created <= high (and created <= now), in
        (created, index) order, starting after the ``after`` pair when given."""
        high = min(high, now)
        streams = []
        for offset, count, created_of in (
            (0, self.history_count, self.history_created),
            (self.history_count, self.arrived_count(now), self.arrival_created),
        ):
            if not count:
                continue
            start = bisect_left(range(count), low, key=created_of)
            if after is not None:
                start = max(start, bisect_right(range(count), after, key=lambda k, o=offset, f=created_of: (f(k), k + o)))
            streams.append(self._walk(offset, start, count, high, created_of))
        extras = sorted((int(e["created"]), i) for i, e in self.extras.items() if low <= e["created"] <= high)
        if after is not None:
            extras = [pair for pair in extras if pair > after]
        if extras:
            streams.append(iter(extras))
        return heapq.merge(*streams)

    @staticmethod
    def _walk(offset: int, start: int, count: int, high: float, created_of: Any) -> Iterator[tuple[int, int]]:
        for k in range(start, count):
            created = created_of(k)
            if created > high:
                return
            yield created, k + offset

    def indices_created_between(self, low: float, high: float, now: float) -> list[int]:
        """Indices with low <= created <= high (and <= now), history and arrivals in
        creation order, then extras."""
        high = min(high, now)
        indices: list[int] = []
        for offset, count, created_of in (
            (0, self.history_count, self.history_created),
            (self.history_count, self.arrived_count(now), self.arrival_created),
        ):
            if count:
                start = bisect_left(range(count), low, key=created_of)
                stop = bisect_right(range(count), high, key=created_of)
                indices.extend(range(offset + start, offset + stop))
        indices.extend(sorted(i for i, e in self.extras.items() if low <= e["created"] <= high))
        return indices

    # ----- identifiers -----

    def order_id_for(self, index: int, country: str, rng_value: float) -> str:
        number = (index * ID_MULTIPLIER + self.id_offset) % ID_SPACE
        prefixes = ORDER_ID_PREFIXES[country]
        prefix = prefixes[int(rng_value * len(prefixes))]
        return f"{prefix}-{number // 10**7:07d}-{number % 10**7:07d}"

    def index_of(self, order_id: str, now: float) -> int | None:
        """The index an order id stands for, or None when no such order exists (yet)."""
        parts = order_id.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or [len(p) for p in parts] != [3, 7, 7]:
            return None
        number = int(parts[1]) * 10**7 + int(parts[2])
        index = ((number - self.id_offset) * ID_MULTIPLIER_INVERSE) % ID_SPACE
        if index >= EXTRA_BASE:
            if index not in self.extras:
                return None
        elif index >= self.history_count + self.arrived_count(now):
            return None
        if self.skeleton(index).order_id != order_id:
            return None
        return index

    # ----- skeletons -----

    def skeleton(self, index: int) -> Skeleton:
        cached = self._skeletons.get(index)
        if cached is None:
            cached = self._build_skeleton(index)
            self._skeletons[index] = cached
        return cached

    def _build_skeleton(self, index: int) -> Skeleton:
        # Cheap independent uniforms instead of a seeded random.Random: a 100,000-order
        # window builds its skeletons in a fraction of a second.
        bits = int.from_bytes(hashlib.blake2b(index.to_bytes(8, "little"), digest_size=16,
                                              key=self._hash_key).digest(), "little")
        u = [((bits >> (10 * k)) & 1023) / 1024 for k in range(12)]
        opts = self.extras[index]["opts"] if index >= EXTRA_BASE else {}
        created = self.created_of(index)
        country = SIMULATED_COUNTRIES[bisect_right(_COUNTRY_CUMULATIVE, u[0] * _COUNTRY_CUMULATIVE[-1])]
        if opts.get("marketplace_id"):
            country = COUNTRY_OF_MARKETPLACE[opts["marketplace_id"]]
        afn = u[1] < 0.30
        if opts.get("fulfilled_by"):
            afn = opts["fulfilled_by"] == "AMAZON"
        order_id = self.order_id_for(index, country, u[2])
        if opts.get("status"):
            return self._settle(Skeleton(index, order_id, created, country, afn, opts["status"], (), opts))
        events: list[tuple[int, str]] = []
        if u[3] < 0.02:  # a pre-order, released days later
            initial = "PENDING_AVAILABILITY"
            release = created + int((1 + 4 * u[5]) * DAY)
        else:
            initial = "PENDING"
            release = created + int((5 + 40 * u[5]) * MINUTE)
        events.append((release, "release"))
        ship_at: int | None = None
        if afn:
            ship_at = release + int((2 + 6 * u[6]) * HOUR)
        elif index < self.history_count and created < self.epoch - MFN_HISTORY_SHIPPED_AGE and u[7] < 0.92:
            ship_at = release + int((4 + 44 * u[6]) * HOUR)
        if u[4] < 0.03:  # the buyer asks to cancel; half of those end cancelled
            window = (ship_at - release) * 0.8 if ship_at else 20 * HOUR
            request_at = release + int(5 * MINUTE + (window - 5 * MINUTE) * u[8])
            events.append((request_at, "cancel_request"))
            if u[9] < 0.5:
                events.append((request_at + int((10 * MINUTE) + 6 * HOUR * u[10]), "cancel"))
                if not afn or u[11] < 0.8:
                    ship_at = None
        if ship_at is not None:
            events.append((ship_at, "ship"))
        events.sort()
        return self._settle(Skeleton(index, order_id, created, country, afn, initial, tuple(events), opts or None))

    def _settle(self, skel: Skeleton) -> Skeleton:
        state = OrderState(status=skel.initial_status, last_updated=skel.created)
        for when, kind in skel.events:
            self._apply_natural(skel, state, when, kind, full=False)
        skel.settled_at = skel.events[-1][0] if skel.events else skel.created
        skel.settled_status = state.status
        skel.settled_updated = state.last_updated
        return skel

    # ----- details -----

    def details(self, index: int) -> Details:
        cached = self._details.get(index)
        if cached is None:
            cached = self._build_details(index)
            if len(self._details) > 50_000:
                self._details.clear()
            self._details[index] = cached
        return cached

    def _build_details(self, index: int) -> Details:
        skel = self.skeleton(index)
        rng = random.Random((self.seed << 48) | (index << 1) | 1)
        country = skel.country
        currency = MARKETPLACES[skel.marketplace_id].currency
        locale = LOCALES[country]
        prime = rng.random() < (0.75 if skel.afn else 0.35)
        business = rng.random() < 0.08
        gift = rng.random() < 0.07
        promoted = rng.random() < 0.12
        opts = skel.opts or {}
        wanted_lines = opts.get("items")
        if isinstance(wanted_lines, list):
            quantities = [max(1, int(q)) for q in wanted_lines]
        else:
            count = int(wanted_lines) if wanted_lines else rng.choices((1, 2, 3, 4, 5), (60, 22, 10, 5, 3))[0]
            quantities = [rng.choices((1, 2, 3), (80, 15, 5))[0] for _ in range(count)]
        order_number = int(skel.order_id.replace("-", ""))
        products = rng.sample(range(len(CATALOG)), len(quantities))
        free_shipping = prime or skel.afn or rng.random() < 0.3
        lines: list[Line] = []
        tax_rate = TAX_RATE[country]
        # Money shapes beyond price, shipping and one promotion come from their own stream,
        # so the orders' other details stay what they were for a seed.
        shapes = random.Random(((self.seed << 48) | (index << 1)) ^ 0x5EED_0F_9)
        if opts.get("currency"):
            currency = str(opts["currency"])
        free_shipping_promotion = not free_shipping and shapes.random() < 0.15
        cod = country in ("JP", "MX") and shapes.random() < 0.15
        points = country == "JP" and shapes.random() < 0.5
        sub_unit = shapes.random() < 0.04
        other_charge = shapes.random() < 0.02
        for k in opts.get("shapes") or ():
            free_shipping_promotion |= k == "shipping_promotion"
            cod |= k == "cod"
            points |= k == "points"
            sub_unit |= k == "sub_unit"
            other_charge |= k == "other"
            gift |= k == "gift_wrap"
            promoted |= k == "promotion"
            free_shipping &= k != "shipping"
        for position, (product_index, quantity) in enumerate(zip(products, quantities, strict=True)):
            product = CATALOG[product_index]
            unit = price_in(product, "USD" if currency not in FX_FROM_USD else currency)
            if currency not in FX_FROM_USD:  # a test's currency: dollar prices re-expressed
                unit = quantize(unit, currency)
            if business:
                unit = quantize(unit * Decimal("0.95"), currency)
            item_total = unit * quantity
            shipping = Decimal(0) if free_shipping or position else shipping_in(currency if currency in FX_FROM_USD else "USD")
            discount = Decimal(0)
            promotion_id = None
            parts: dict[str, Decimal] = {"ITEM": item_total}
            if promoted and position == 0:
                parts["ITEM_PROMOTION"] = quantize(item_total * Decimal("0.10"), currency)
                promotion_id = f"PROMO-{country}-{rng.randint(1000, 9999)}"
            if shipping:
                parts["SHIPPING"] = shipping
                if free_shipping_promotion:
                    parts["SHIPPING_PROMOTION"] = shipping
                    promotion_id = promotion_id or f"FREESHIP-{country}-{shapes.randint(1000, 9999)}"
            if gift:
                parts["GIFT_WRAP"] = quantize(Decimal("3.99") * FX_FROM_USD.get(currency, Decimal(1)), currency) * quantity
            if cod and position == 0:
                parts["COD_FEE"] = quantize(Decimal("2.20") * FX_FROM_USD.get(currency, Decimal(1)), currency)
            if other_charge and position == 0:
                parts["OTHER"] = quantize(Decimal("0.99") * FX_FROM_USD.get(currency, Decimal(1)), currency)
            # Sub-unit tax (Amazon's amounts may carry more digits than the currency uses).
            tax_digits = Decimal(1).scaleb(-(currency_digits(currency) + 1)) if sub_unit else None

            def taxed(amount: Decimal) -> Decimal:
                value = amount * tax_rate
                if tax_digits is not None:
                    return value.quantize(tax_digits, rounding=ROUND_HALF_UP)
                return quantize(value, currency)

            parts["ITEM_TAX"] = taxed(item_total - parts.get("ITEM_PROMOTION", Decimal(0)))
            net_shipping = shipping - parts.get("SHIPPING_PROMOTION", Decimal(0))
            if net_shipping:
                parts["SHIPPING_TAX"] = taxed(net_shipping)
            for charge in ("GIFT_WRAP", "COD_FEE", "OTHER"):
                if charge in parts:
                    parts[f"{charge}_TAX"] = taxed(parts[charge])
            if points:
                parts["POINTS"] = quantize(item_total * Decimal("0.01"), currency)
            parts = {k: v for k, v in parts.items() if v}
            discount = -(parts.get("ITEM_PROMOTION", Decimal(0)) + parts.get("SHIPPING_PROMOTION", Decimal(0)))
            tax = sum((v for k, v in parts.items() if k.endswith("_TAX")), Decimal(0))
            item_id = f"{(order_number * 16 + position) * 2_654_435_761 % ID_SPACE:014d}"
            extra = parts.get("GIFT_WRAP", Decimal(0)) + parts.get("COD_FEE", Decimal(0)) + parts.get("OTHER", Decimal(0))
            lines.append(
                Line(item_id, product_index, quantity, unit, item_total, shipping, discount, tax,
                     promotion_id, rng.choice(GIFT_MESSAGES) if gift else None, money=parts,
                     total=item_total + shipping + discount + tax + extra)
            )
        sums = {"ITEM": Decimal(0), "SHIPPING": Decimal(0), "GIFT_WRAP": Decimal(0), "COD_FEE": Decimal(0),
                "OTHER": Decimal(0), "TAX": Decimal(0), "DISCOUNT": Decimal(0)}
        for line in lines:
            line.text = {name: _amount_text(value, currency) for name, value in (
                ("unit", line.unit_price), ("ITEM", line.item), ("SHIPPING", line.shipping),
                ("TAX", line.tax), ("DISCOUNT", line.discount), ("total", line.total))}
            for kind, value in line.money.items():
                line.text[kind] = _amount_text(value, currency)
            sums["ITEM"] += line.item
            sums["SHIPPING"] += line.shipping
            sums["TAX"] += line.tax
            sums["DISCOUNT"] += line.discount
            for charge in ("GIFT_WRAP", "COD_FEE", "OTHER"):
                sums[charge] += line.money.get(charge, Decimal(0))
        totals_text = {name: _amount_text(value, currency) for name, value in sums.items()
                       if value or name in ("ITEM", "SHIPPING", "TAX")}
        totals_text["GRAND"] = _amount_text(sum((line.total for line in lines), Decimal(0)), currency)
        first = rng.choice(locale.first_names)
        last = rng.choice(locale.last_names)
        name = f"{last} {first}" if country == "JP" else f"{first} {last}"
        email_user = _base36(rng.getrandbits(72))[:14]
        city, region, postal = rng.choice(locale.cities)
        street = locale.street_format.format(number=rng.randint(1, 240), street=rng.choice(locale.streets))
        company = rng.choice(locale.companies) if business else None
        address: dict[str, str] = {"name": name}
        if company:
            address["companyName"] = company
        address.update(
            addressLine1=street,
            city=city,
            stateOrRegion=region,
            postalCode=fill_pattern(postal, rng),
            countryCode=country,
            phone=fill_pattern(locale.phone_format, rng),
            addressType="COMMERCIAL" if business else "RESIDENTIAL",
        )
        if rng.random() < 0.2:
            address["addressLine2"] = f"Apt {rng.randint(1, 40)}"
        programs: list[str] = []
        if prime:
            programs.append("PRIME")
        if business:
            programs.append("AMAZON_BUSINESS")
        if skel.initial_status == "PENDING_AVAILABILITY":
            programs.append("PREORDER")
        if prime:
            service_level = rng.choice(("NEXT_DAY", "SECOND_DAY", "SECOND_DAY"))
        else:
            service_level = rng.choice(("STANDARD", "STANDARD", "STANDARD", "EXPEDITED"))
        carrier = AMAZON_CARRIER if skel.afn else rng.choice(CARRIERS_BY_COUNTRY[country])
        tracking = f"TBA{rng.getrandbits(48) % 10**12:012d}" if skel.afn else f"1Z{rng.getrandbits(64) % 10**16:016d}"
        return Details(
            currency=currency,
            lines=lines,
            buyer_name=name,
            buyer_email=f"{email_user}@{locale.email_domain}",
            company=company,
            purchase_order=f"PO-{rng.randint(100000, 999999)}" if business else None,
            address=address,
            programs=programs,
            service_level=service_level,
            ship_by_days=1 if prime else 2,
            deliver_days=2 if prime else rng.randint(3, 7),
            natural_package={"carrier": carrier, "trackingNumber": tracking,
                             "shippingService": f"{carrier} {service_level.replace('_', ' ').title()}"},
            totals_text=totals_text,
        )

    # ----- lifecycle -----

    def quick_state(self, index: int, now: float) -> tuple[str, int]:
        """(status, lastUpdated) of an order without mutations, at ``now``."""
        skel = self.skeleton(index)
        if now >= skel.settled_at:
            return skel.settled_status, skel.settled_updated
        state = self.state_of(index, now, None, full=False)
        return state.status, state.last_updated

    def state_of(self, index: int, now: float, mutations: list[dict[str, Any]] | None,
                 *, full: bool = True) -> OrderState:
        """Fold the natural events and the mutations up to ``now`` into a state.

        ``full=False`` (for listing windows) computes only status and lastUpdated of
        untouched orders, without item quantities and packages."""
        skel = self.skeleton(index)
        if not mutations and not full and now >= skel.settled_at:
            return OrderState(status=skel.settled_status, last_updated=skel.settled_updated)
        state = OrderState(status=skel.initial_status, last_updated=skel.created)
        if not mutations and not full:
            for when, kind in skel.events:
                if when > now:
                    break
                self._apply_natural(skel, state, when, kind, full=False)
            return state
        if skel.initial_status == "SHIPPED":  # an order added as SHIPPED: every unit shipped (charged)
            state.shipped = {line.order_item_id: line.quantity for line in self.details(skel.index).lines}
        merged: list[tuple[int, int, str | dict[str, Any]]] = [(w, 0, k) for w, k in skel.events if w <= now]
        merged.extend((int(m["t"]), 1, m) for m in mutations or () if m["t"] <= now)
        merged.sort(key=lambda entry: (entry[0], entry[1]))
        for when, _, event in merged:
            if isinstance(event, str):
                self._apply_natural(skel, state, when, event, full=True)
            else:
                self._apply_mutation(skel, state, when, event)
        return state

    def _apply_natural(self, skel: Skeleton, state: OrderState, when: int, kind: str, *, full: bool) -> None:
        status = state.status
        if kind == "release":
            if status not in ("PENDING", "PENDING_AVAILABILITY"):
                return
            state.status = "UNSHIPPED"
        elif kind == "ship":
            if status not in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                return
            state.status = "SHIPPED"
            if full:
                details = self.details(skel.index)
                items = {}
                for line in details.lines:
                    left = line.quantity - state.shipped.get(line.order_item_id, 0) - state.cancelled.get(line.order_item_id, 0)
                    if left > 0:
                        items[line.order_item_id] = left
                        state.shipped[line.order_item_id] = state.shipped.get(line.order_item_id, 0) + left
                state.packages.append({
                    "packageReferenceId": f"{skel.index % 10**9}1",
                    "createdTime": when,
                    "carrier": details.natural_package["carrier"],
                    "trackingNumber": details.natural_package["trackingNumber"],
                    "shippingService": details.natural_package["shippingService"],
                    "shipTime": when,
                    "items": items,
                })
        elif kind == "cancel_request":
            if status in ("SHIPPED", "CANCELLED"):
                return
            if full:
                for line in self.details(skel.index).lines:
                    state.cancel_requested[line.order_item_id] = "Order placed by mistake"
        elif kind == "cancel":
            if status not in ("PENDING", "PENDING_AVAILABILITY", "UNSHIPPED"):
                return
            state.status = "CANCELLED"
            if full:
                by = "AMAZON" if skel.afn else "BUYER"
                for line in self.details(skel.index).lines:
                    left = line.quantity - state.shipped.get(line.order_item_id, 0) - state.cancelled.get(line.order_item_id, 0)
                    state.cancelled[line.order_item_id] = state.cancelled.get(line.order_item_id, 0) + left
                    state.cancel_execution[line.order_item_id] = (by, "BuyerCanceled")
        state.last_updated = when

    def _apply_mutation(self, skel: Skeleton, state: OrderState, when: int, mutation: dict[str, Any]) -> None:
        kind = mutation["kind"]
        if kind == "ship":
            for item_id, quantity in mutation["items"].items():
                state.shipped[item_id] = state.shipped.get(item_id, 0) + quantity
            package = dict(mutation["package"])
            package["items"] = dict(mutation["items"])
            state.packages.append(package)
            state.status = "SHIPPED" if self.remaining(skel.index, state) == {} else "PARTIALLY_SHIPPED"
        elif kind == "buyer_cancel":
            for line in self.details(skel.index).lines:
                state.cancel_requested[line.order_item_id] = mutation.get("reason", "Buyer requested cancellation")
        elif kind == "status":
            state.status = mutation["status"]
            if state.status == "SHIPPED":  # shipped outside the API: the rest counts as shipped
                for item_id, quantity in self.remaining(skel.index, state).items():
                    state.shipped[item_id] = state.shipped.get(item_id, 0) + quantity
        elif kind == "cancel":
            for item_id, reason in mutation["items"].items():
                state.cancelled[item_id] = state.cancelled.get(item_id, 0) + self.remaining(skel.index, state).get(item_id, 0)
                state.cancel_execution[item_id] = ("MERCHANT", reason)
            if not self.remaining(skel.index, state):
                state.status = "CANCELLED" if not state.shipped else "SHIPPED"
        elif kind == "cancel_units":  # an adjustment's QuantityCancelled (checked when applied)
            for item_id, quantity in mutation["items"].items():
                state.cancelled[item_id] = state.cancelled.get(item_id, 0) + quantity
                state.refund_cancelled[item_id] = state.refund_cancelled.get(item_id, 0) + quantity
            if not self.remaining(skel.index, state):
                state.status = "SHIPPED"
        # "touch" only moves lastUpdatedTime
        state.last_updated = max(state.last_updated, when)

    def remaining(self, index: int, state: OrderState) -> dict[str, int]:
        """Quantity per item still to ship (neither shipped nor cancelled)."""
        left = {}
        for line in self.details(index).lines:
            qty = line.quantity - state.shipped.get(line.order_item_id, 0) - state.cancelled.get(line.order_item_id, 0)
            if qty > 0:
                left[line.order_item_id] = qty
        return left

    # ----- rendering -----

    def render(self, index: int, state: OrderState, included: frozenset[str] | set[str]) -> dict[str, Any]:
        skel = self.skeleton(index)
        details = self.details(index)
        currency = details.currency
        marketplace = MARKETPLACES[skel.marketplace_id]
        extras = self._extras(index, skel, details)
        order: dict[str, Any] = {
            "orderId": skel.order_id,
            "createdTime": iso(skel.created),
            "lastUpdatedTime": iso(state.last_updated),
            "programs": list(details.programs) + extras["programs"],
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": marketplace.marketplace_id,
                             "marketplaceName": marketplace.name},
        }
        if extras["associated"]:
            order["associatedOrders"] = extras["associated"]
        if "BUYER" in included:
            buyer = {"buyerName": details.buyer_name, "buyerEmail": details.buyer_email}
            if details.company:
                buyer["buyerCompanyName"] = details.company
                buyer["buyerPurchaseOrderNumber"] = details.purchase_order or ""
            order["buyer"] = buyer
        if "RECIPIENT" in included:
            order["recipient"] = {"deliveryAddress": dict(details.address)}
        if "PROCEEDS" in included:
            totals = details.totals_text
            order["proceeds"] = {
                "grandTotal": {"amount": totals["GRAND"], "currencyCode": currency},
                "breakdowns": [{"type": kind, "subtotal": {"amount": amount, "currencyCode": currency}}
                               for kind, amount in totals.items() if kind != "GRAND"],
            }
        if "FULFILLMENT" in included:
            ship_by_end = (skel.created // DAY + details.ship_by_days) * DAY + DAY - 1
            order["fulfillment"] = {
                "fulfillmentStatus": state.status,
                "fulfilledBy": skel.fulfilled_by,
                "fulfillmentServiceLevel": details.service_level,
                "shipByWindow": {"earliestDateTime": iso(skel.created), "latestDateTime": iso(ship_by_end)},
                "deliverByWindow": {
                    "earliestDateTime": iso(ship_by_end + 1 + (details.deliver_days - 1) * DAY),
                    "latestDateTime": iso(ship_by_end + details.deliver_days * DAY),
                },
            }
        items = []
        for line in details.lines:
            product = CATALOG[line.product_index]
            text = line.text
            price: dict[str, Any] = {"unitPrice": {"amount": text["unit"], "currencyCode": currency}}
            if details.company:
                price["priceDesignation"] = "BUSINESS_PRICE"
            item: dict[str, Any] = {
                "orderItemId": line.order_item_id,
                "quantityOrdered": line.quantity,
                "measurement": {"unit": "COUNT", "value": line.quantity},
                "product": {
                    "asin": product.asin,
                    "title": product.title,
                    "sellerSku": product.sku,
                    "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                    "price": price,
                },
            }
            if "PROCEEDS" in included:
                item["proceeds"] = {
                    "proceedsTotal": {"amount": text["total"], "currencyCode": currency},
                    "breakdowns": self._item_breakdowns(line, currency),
                }
            if "EXPENSE" in included and "POINTS" in line.money:
                item["expense"] = {"pointsCost": {"pointsGranted": {
                    "pointsNumber": int(line.money["POINTS"] * (1 if currency == "JPY" else 100)),
                    "pointsMonetaryValue": {"amount": text["POINTS"], "currencyCode": currency}}}}
            if "PROMOTION" in included and line.promotion_id:
                item["promotion"] = {"breakdowns": [{"promotionId": line.promotion_id}]}
            if "CANCELLATION" in included:
                cancellation: dict[str, Any] = {}
                if line.order_item_id in state.cancel_requested:
                    cancellation["cancellationRequest"] = {
                        "requester": "BUYER", "cancelReason": state.cancel_requested[line.order_item_id]}
                if line.order_item_id in state.cancel_execution:
                    by, reason = state.cancel_execution[line.order_item_id]
                    cancellation["cancellationExecution"] = {"cancelledBy": by, "cancelReason": reason}
                if cancellation:
                    item["cancellation"] = cancellation
            if "TAX" in included and marketplace.region == "na":
                # US marketplace facilitator: Amazon collects and remits the sales tax.
                item["tax"] = {"taxCollections": [{"model": "MARKETPLACE_FACILITATOR",
                                                   "responsibleParty": "Amazon Services LLC"}]}
            if "FULFILLMENT" in included:
                shipped = state.shipped.get(line.order_item_id, 0)
                cancelled = state.cancelled.get(line.order_item_id, 0)
                fulfillment: dict[str, Any] = {
                    "quantityFulfilled": shipped,
                    "quantityUnfulfilled": max(0, line.quantity - shipped - cancelled),
                }
                if line.gift_message:
                    fulfillment["packing"] = {"giftOption": {"giftMessage": line.gift_message, "giftWrapLevel": "Classic"}}
                constraints = extras["constraints"].get(line.order_item_id)
                if constraints:
                    fulfillment["shipping"] = {"shippingConstraints": {name: "MANDATORY" for name in constraints}}
                item["fulfillment"] = fulfillment
            items.append(item)
        order["orderItems"] = items
        if "TAX" in included and extras["tax"]:
            order["tax"] = extras["tax"]
        if "PACKAGES" in included and state.packages:
            order["packages"] = [self._render_package(p) for p in state.packages]
        return order

    def _extras(self, index: int, skel: Any, details: Any) -> dict[str, Any]:
        """Order facts Amazon's model documents that the base generator leaves out, drawn
        deterministically per order (orders_2026-01-01.json): tax registrations of business
        buyers (VAT in the EU and GB, BUSINESS elsewhere) and the marketplace's own VAT
        registration in the EU and GB (Amazon as deemed supplier); shipping constraints on
        some items (signature, age verification, pallet); replacement orders pointing at
        an earlier order; and, rarely, a program value Amazon added after this version
        (a client must keep it and not guess what it allows)."""
        rng = random.Random((self.seed << 40) ^ (index * 2_654_435_761) ^ 0x5EED)
        country = MARKETPLACES[skel.marketplace_id].country
        eu = country in ("GB", "DE", "FR", "IT", "ES")
        programs: list[str] = []
        if rng.random() < 0.004:
            programs.append("NEW_PROGRAM_NOT_IN_THE_MODEL")
        registrations = []
        if details.company:
            number = f"{country}{rng.randint(100_000_000, 999_999_999)}"
            registrations.append({
                "entityType": "BUYER",
                "legalName": details.company,
                "taxRegistrationType": "VAT" if eu else "BUSINESS",
                "taxRegistrationNumber": number,
                **({"taxRegistrationAttributes": [{"key": "TAX_OFFICE", "value": "Finanzamt Berlin"}]} if country == "DE" else {}),
            })
        if eu:
            registrations.append({
                "entityType": "MARKETPLACE",
                "legalName": "Amazon EU S.a r.l.",
                "taxRegistrationType": "VAT",
                "taxRegistrationNumber": "GB727255821" if country == "GB" else "LU20260743",
            })
        tax: dict[str, Any] = {}
        if registrations:
            tax["taxRegistrations"] = registrations
        if details.company and eu:
            tax["taxInvoicing"] = {"buyerInvoicePreference": "BUSINESS"}
        constraints: dict[str, list[str]] = {}
        for line in details.lines:
            roll = rng.random()
            if roll < 0.03:
                constraints[line.order_item_id] = ["signatureConfirmation"]
            elif roll < 0.04:
                constraints[line.order_item_id] = ["recipientAgeVerification", "signatureConfirmation"]
            elif roll < 0.045 and details.company:
                constraints[line.order_item_id] = ["palletDelivery"]
        associated = []
        if 10 < index < self.history_count and rng.random() < 0.01:
            original = self.skeleton(index - 1 - rng.randrange(min(index - 1, 50)))
            associated.append({"orderId": original.order_id, "associationType": "REPLACEMENT_ORIGINAL_ID"})
        return {"programs": programs, "tax": tax, "constraints": constraints, "associated": associated}

    @staticmethod
    def _item_breakdowns(line: Line, currency: str) -> list[dict[str, Any]]:
        """Orders API v2026-01-01 ItemProceedsBreakdown: ITEM, SHIPPING, GIFT_WRAP, COD_FEE,
        OTHER, TAX and DISCOUNT, the last two with detailedBreakdowns by subtype."""
        text = line.text

        def money(value: str) -> dict[str, str]:
            return {"amount": value, "currencyCode": currency}

        out: list[dict[str, Any]] = [{"type": "ITEM", "subtotal": money(text["ITEM"])},
                                     {"type": "SHIPPING", "subtotal": money(text["SHIPPING"])}]
        for charge in ("GIFT_WRAP", "COD_FEE", "OTHER"):
            if charge in line.money:
                out.append({"type": charge, "subtotal": money(text[charge])})
        taxes = [(sub, f"{sub}_TAX" if sub != "ITEM" else "ITEM_TAX") for sub in ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER")]
        out.append({"type": "TAX", "subtotal": money(text["TAX"]),
                    "detailedBreakdowns": [{"subtype": sub, "value": money(text[kind])}
                                           for sub, kind in taxes if kind in line.money]})
        if line.discount:
            out.append({"type": "DISCOUNT", "subtotal": money(text["DISCOUNT"]),
                        "detailedBreakdowns": [{"subtype": sub, "value": money("-" + text[kind])}
                                               for sub, kind in (("ITEM", "ITEM_PROMOTION"), ("SHIPPING", "SHIPPING_PROMOTION"))
                                               if kind in line.money]})
        return out

    @staticmethod
    def _render_package(package: dict[str, Any]) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "packageReferenceId": str(package["packageReferenceId"]),
            "createdTime": iso(package["createdTime"]),
            "packageStatus": {"status": "SHIPPED"},
            "carrier": package["carrier"],
            "shipTime": iso(package["shipTime"]),
            "trackingNumber": package["trackingNumber"],
        }
        if package.get("shippingService"):
            rendered["shippingService"] = package["shippingService"]
        rendered["packageItems"] = [{"orderItemId": item_id, "quantity": qty} for item_id, qty in package["items"].items()]
        return rendered
