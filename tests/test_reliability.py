"""Seeded soak: many sync cycles against a faulty simulated marketplace with operators at
work, then the store is checked against the simulator's truth (nothing lost or doubled)."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.amazon.ratelimit import RateLimiter
from amzorders.config import AccountConfig
from amzorders.domain.codes import ADJUSTMENT_REASONS
from amzorders.errors import AmazonError, NotAllowedError, NotFoundError
from amzorders.services import processing
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.outbox import MAYBE_APPLIED_NOTE, deliver_outbox, follow_feeds
from amzorders.services.processing import ProcessingContext
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store

pytestmark = pytest.mark.slow

NA_MARKETPLACES = ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8")
ACCOUNT = AccountConfig(name="main", region="na", marketplace_ids=NA_MARKETPLACES, merchant_id="A1SIMULATEDSELLER")
SETTINGS = ImportSettings(account="main")
TRANSIENT_KINDS = ["429", "500", "503", "reset", "slow", "bad_json", "expire_token"]
SEED = int(os.environ.get("AMZORDERS_SOAK_SEED", "20261120"))  # other seeds: explore
FAULTY_CYCLES = 30
CLEAN_CYCLES = 4
SETTLE_CYCLES = 5
ORDERS = 2000


class FaultTally:
    """Counts the faults the simulator actually played, by kind (wraps take_fault)."""

    def __init__(self, sim: Simulator) -> None:
        self.counts: Counter[str] = Counter()
        original = sim.take_fault

        def counting(operation: str, applicable: tuple[str, ...]) -> str | None:
            fault = original(operation, applicable)
            if fault is not None:
                self.counts[fault] += 1
            return fault

        sim.take_fault = counting  # type: ignore[method-assign]


def make_client(sim: Simulator) -> SpApiClient:
    # The simulator's "slow" fault holds its answer until the client gives up, so the
    # read timeout always fires there; 1.5 s is far above any normal answer on a loaded
    # machine, so it fires nowhere else. Backoff small enough to keep the soak fast while
    # the retry logic still runs for real.
    return SpApiClient(
        sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url,
        timeout=(5.0, 1.5), max_retries=8, backoff_base=0.001, backoff_cap=0.01,
        rate_limiter=RateLimiter(plans={}),  # the simulator runs without rate limits
        # Time compressed: after a 429 the client waits 1/rate (a minute for searchOrders).
        sleep=lambda seconds: time.sleep(min(seconds, 0.01)),
    )


def run_sync(store: Store, client: SpApiClient, sim: Simulator, errors: Counter[str], *, rewind_days: float = 0) -> None:
    """One cron-style sync: import, deliver the outbox, follow feeds; errors are logged, not fatal.

    ``rewind_days`` re-reads that far back (an operator's 'sync --since'): a many-page read,
    where the paging faults can strike."""
    since = None if store.get_watermark("main") else sim.now() - timedelta(days=40)
    if rewind_days:
        since = sim.now() - timedelta(days=rewind_days)
    try:
        sync_orders(store, client, SETTINGS, marketplace_ids=NA_MARKETPLACES, since=since)
    except AmazonError as error:
        errors[type(error).__name__] += 1
    now = sim.now()
    for step in (deliver_outbox, follow_feeds):
        try:
            report = step(store, client, ACCOUNT, now=now)
            errors["delivery report errors"] += len(report.errors)
        except AmazonError as error:
            errors[type(error).__name__] += 1


def operator_actions(store: Store, sim: Simulator, rng: random.Random, tally: Counter[str], count: int) -> None:
    ctx = ProcessingContext(store=store, account=ACCOUNT, push=False, now=sim.now)
    mfn = [row[0] for row in store.conn.execute(
        "SELECT a.amazon_order_id FROM amazon_orders a JOIN commerce_orders c USING (amazon_order_id) "
        "WHERE a.channel = 'MFN' ORDER BY a.amazon_order_id"
    )]
    if not mfn:
        return
    for _ in range(count):
        order_id = rng.choice(mfn)
        action = rng.choice(("invoice", "ship", "ship", "refund", "cancel", "invoice", "refund_item", "ship_item",
                             "cancel_item"))
        try:
            if action == "invoice":
                processing.invoice(ctx, order_id)
            elif action == "ship_item":  # one item only: the order is partly shipped (and charged)
                order = store.load_commerce_order(amazon_order_id=order_id)
                items = [i for i in (order.items if order else []) if i.qty_to_ship]
                if not items:
                    raise NotAllowedError("nothing to ship")
                item = rng.choice(items)
                processing.ship(ctx, order_id, carrier="UPS", tracking=f"1Z{rng.randrange(10**16):016d}",
                                items=[f"{item.order_item_id}={item.qty_to_ship}"])
            elif action == "cancel_item":  # invoiced, nothing shipped: the credit memo is a cancellation
                processing.invoice(ctx, order_id)
                order = store.load_commerce_order(amazon_order_id=order_id)
                items = [i for i in order.items if i.qty_to_ship] if order else []
                if not items:
                    raise NotAllowedError("nothing left to cancel")
                item = rng.choice(items)
                processing.refund(ctx, order_id, reason="NoInventory", items=[f"{item.order_item_id}={item.qty_to_ship}"])
            elif action == "refund_item":
                # One item's units: a cancellation when nothing shipped (Amazon charged
                # nothing), else a refund cancelling the units never shipped.
                order = store.load_commerce_order(amazon_order_id=order_id)
                items = [i for i in (order.items if order else []) if i.qty_to_refund]
                if not items:
                    raise NotAllowedError("nothing invoiced to refund")
                item = rng.choice(items)
                processing.refund(ctx, order_id, reason=rng.choice(ADJUSTMENT_REASONS),
                                  items=[f"{item.order_item_id}={item.qty_to_refund}"])
            elif action == "ship":
                processing.ship(ctx, order_id, carrier="UPS", tracking=f"1Z{rng.randrange(10**16):016d}")
            elif action == "refund":
                processing.refund(ctx, order_id, reason=rng.choice(ADJUSTMENT_REASONS))
            else:
                processing.cancel(ctx, order_id, reason="NoInventory")
        except (NotAllowedError, NotFoundError):
            tally[f"{action} refused"] += 1
        else:
            tally[f"{action} done"] += 1


def accepted(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the simulator applied. A refund sent again is applied again (counted: it would be
    a second refund); a shipment sent again with the same packageReferenceId edits the same
    package (Amazon's upsert), so only its first application counts."""
    return [a for a in actions if a["accepted"] and not (a["duplicate"] and a["kind"] == "confirmShipment")]


def test_soak_with_random_faults_loses_and_doubles_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    errors: Counter[str] = Counter()
    operator: Counter[str] = Counter()
    with Simulator(tmp_path / "market.json", seed=SEED, orders=ORDERS, rate_limits=False,
                   feed_processing_seconds=60) as sim:
        client = make_client(sim)
        sim.slow_seconds = 120.0  # held until the client's 1.5 s read timeout gives up
        faults = FaultTally(sim)
        store = Store.open(tmp_path / "store.db")
        try:
            run_sync(store, client, sim, errors)  # a clean first import
            sim.random_faults(0.15, TRANSIENT_KINDS + ["lwa_refuse"], seed=SEED)
            for cycle in range(FAULTY_CYCLES):
                # Faults that are not per-call: queue some at random.
                for kind in ("update_during_paging", "duplicate_across_pages", "feed_fatal", "feed_message_error"):
                    if rng.random() < 0.3:
                        sim.inject(kind)
                if cycle % 7 == 6:
                    # A new cron process: a new client, so a new token call, which LWA
                    # refuses once for sure (credentials revoked for a moment).
                    client.close()
                    client = make_client(sim)
                    if cycle == 6:
                        sim.inject("lwa_refuse", operation="token")
                run_sync(store, client, sim, errors, rewind_days=10 if cycle % 5 == 4 else 0)
                operator_actions(store, sim, rng, operator, count=12)
                run_sync(store, client, sim, errors)
                sim.advance(minutes=rng.choice((5, 20, 45)))
            sim.clear_faults()
            for _ in range(CLEAN_CYCLES):
                sim.advance(minutes=90)  # beyond the outbox backoff cap and feed processing
                run_sync(store, client, sim, errors)
            for _ in range(SETTLE_CYCLES):
                # Refunds whose answer was lost wait for Amazon's financial events (up to
                # 48 h) before anything is sent again: let two days pass, as cron would.
                sim.advance(minutes=12 * 60)
                run_sync(store, client, sim, errors)
            # The last sync ran after the last change at the simulator.
            watermark = store.get_watermark("main")
            assert watermark is not None

            orders_checked = check_orders_match(store, sim, watermark)
            actions_checked = check_actions_exactly_once(store, sim)
            totals_checked = check_commerce_totals(store)
            money_checked = check_money(store, sim)
        finally:
            store.close()
            client.close()
    elapsed = time.monotonic() - started
    print(
        f"\nsoak: {FAULTY_CYCLES} faulty + {CLEAN_CYCLES} clean cycles in {elapsed:.1f} s; "
        f"faults played by kind: {dict(sorted(faults.counts.items()))}; "
        f"sim calls: {sim.call_counts()}; errors surfaced (as cron would log): {dict(errors)}; "
        f"operator: {dict(sorted(operator.items()))}; orders checked: {orders_checked}; "
        f"actions checked: {actions_checked}; commerce orders balanced: {totals_checked}; money: {money_checked}"
    )
    assert sum(faults.counts.values()) > 50, "the soak must actually run under faults"
    for kind in ("update_during_paging", "duplicate_across_pages", "lwa_refuse", "feed_fatal", "expire_token"):
        assert faults.counts[kind] > 0, f"fault {kind} never struck: the soak does not exercise it"
    assert orders_checked > 1000
    assert sum(actions_checked.values()) > 20


def check_orders_match(store: Store, sim: Simulator, watermark: datetime) -> int:
    """Every simulator order of the account's marketplaces, updated before the watermark,
    is stored exactly once with Amazon's latest status and shipped quantities."""
    stored_ids = Counter(row[0] for row in store.conn.execute("SELECT amazon_order_id FROM amazon_orders"))
    assert all(count == 1 for count in stored_ids.values())
    checked = 0
    problems: list[str] = []
    for order_id in sim.order_ids():
        truth = sim.order(order_id)
        if truth["salesChannel"]["marketplaceId"] not in NA_MARKETPLACES:
            continue
        updated = datetime.fromisoformat(truth["lastUpdatedTime"].replace("Z", "+00:00"))
        if updated >= watermark:
            continue
        checked += 1
        row = store.conn.execute(
            "SELECT status FROM amazon_orders WHERE amazon_order_id = ?", (order_id,)
        ).fetchone()
        if row is None:
            problems.append(f"{order_id}: missing")
            continue
        if row[0] != truth["fulfillment"]["fulfillmentStatus"]:
            problems.append(f"{order_id}: status {row[0]} != {truth['fulfillment']['fulfillmentStatus']}")
        shipped = dict(store.conn.execute(
            "SELECT order_item_id, quantity_shipped FROM amazon_order_items WHERE amazon_order_id = ?", (order_id,)
        ).fetchall())
        for item in truth["orderItems"]:
            want = (item.get("fulfillment") or {}).get("quantityFulfilled", 0)
            if shipped.get(item["orderItemId"]) != want:
                problems.append(f"{order_id}/{item['orderItemId']}: shipped {shipped.get(item['orderItemId'])} != {want}")
    assert not problems, f"{len(problems)} mismatches: {problems[:10]}"
    return checked


def check_actions_exactly_once(store: Store, sim: Simulator) -> Counter[str]:
    """Each outbox row is done (applied once at Amazon) or failed with a reason (never
    applied); nothing was applied at Amazon that no row asked for."""
    rows = store.conn.execute(
        "SELECT id, kind, amazon_order_id, payload_json, state, last_error FROM outbox ORDER BY id"
    ).fetchall()
    import json

    ships = Counter()
    for a in accepted(sim.received_actions("confirmShipment")):
        ships[(a["order_id"], a["payload"]["packageDetail"]["packageReferenceId"])] += 1
    # A cancel is known by its order and the items it names (a credit memo's cancellation
    # names its items only, the order's cancellation all of them).
    cancels = Counter((a["order_id"], frozenset(i["order_item_id"] for i in a["payload"]["items"]))
                      for a in accepted(sim.received_actions("cancel")))
    refunds = Counter()
    for a in accepted(sim.received_actions("refund")):
        refunds[(a["order_id"], a["payload"]["merchant_adjustment_id"])] += 1

    checked: Counter[str] = Counter()
    problems: list[str] = []
    expected_ships, expected_cancels, expected_refunds = set(), set(), set()
    for row_id, kind, order_id, payload_json, state, last_error in rows:
        payload = json.loads(payload_json)
        if kind == "confirm_shipment":
            key: Any = (order_id, payload["packageDetail"]["packageReferenceId"])
            seen, expected = ships[key], expected_ships
        elif kind == "cancel":
            key = (order_id, frozenset(str(i["order_item_id"]) for i in payload["items"]))
            seen, expected = cancels[key], expected_cancels
        else:
            key = (order_id, payload["merchant_adjustment_id"])
            seen, expected = refunds[key], expected_refunds
        assert key not in expected, f"outbox row {row_id} duplicates {key}"
        expected.add(key)
        checked[f"{kind} {state}"] += 1
        if state == "done":
            if seen != 1:
                problems.append(f"row {row_id} {kind} {key} done but applied {seen} times")
        elif state == "failed":
            if not last_error:
                problems.append(f"row {row_id} failed without a reason")
            # A row whose earlier submission lost its answer may have been applied by that
            # feed; the product says so on the row (never doubled, never silently dropped).
            maybe_applied = seen == 1 and MAYBE_APPLIED_NOTE in (last_error or "")
            if seen != 0 and not maybe_applied:
                problems.append(f"row {row_id} {kind} {key} failed ({last_error}) but applied {seen} times: "
                                f"{[a for a in sim.received_actions() if a['order_id'] == order_id]}")
        else:
            problems.append(f"row {row_id} {kind} left {state}: {last_error}")
    orphans = (set(ships) - expected_ships) | (set(cancels) - expected_cancels) | (set(refunds) - expected_refunds)
    assert not orphans, f"applied at Amazon without an outbox row: {sorted(orphans)[:10]}"
    assert not problems, f"{len(problems)} outbox problems: {problems[:10]}"
    return checked


def check_money(store: Store, sim: Simulator) -> dict[str, int]:
    """Money, counted from what the simulator applied (its record of applied adjustments),
    never from what it received: each credit memo whose refund is done was applied for exactly
    its total; a credit memo sent as a cancellation, voided (refused) or with nothing for
    Amazon moved no money; each commerce order's refunded total is its live credit memos."""
    import json

    applied: Counter = Counter()
    for order_id in {r[0] for r in store.conn.execute("SELECT amazon_order_id FROM outbox WHERE kind = 'refund'")}:
        for record in sim.refunds(order_id):
            applied[(order_id, record["merchant_adjustment_id"])] += Decimal(record["amount"])
    memos = store.conn.execute(
        """SELECT m.increment_id, m.grand_total, c.amazon_order_id, o.kind, o.state, o.result_json, o.last_error
             FROM credit_memos m JOIN commerce_orders c ON c.id = m.order_id
             LEFT JOIN outbox o ON o.id = m.outbox_id ORDER BY m.id"""
    ).fetchall()
    counts: Counter[str] = Counter()
    problems: list[str] = []
    live: Counter = Counter()
    for number, total, order_id, kind, state, result_json, last_error in memos:
        total = Decimal(str(total))
        result = json.loads(result_json) if result_json else {}
        money_at_amazon = applied.pop((order_id, number), Decimal(0))
        if kind == "refund" and state == "done":
            counts["refunds applied"] += 1
            if money_at_amazon != total:
                problems.append(f"credit memo {number} of {order_id}: {total} here, {money_at_amazon} applied at Amazon")
        elif kind == "refund" and state == "failed" and MAYBE_APPLIED_NOTE in (last_error or "") and money_at_amazon == total:
            counts["refunds rejected, maybe applied earlier (marked)"] += 1
        else:
            counts[f"{kind or 'no action'} {state or ''}".strip()] += 1
            if money_at_amazon:
                problems.append(f"credit memo {number} of {order_id} ({kind} {state}) moved {money_at_amazon} at Amazon")
        if not result.get("voided_at"):
            live[order_id] += total
    if applied:
        problems.append(f"refunds applied at Amazon without a credit memo: {dict(list(applied.items())[:5])}")
    for order_id, refunded in store.conn.execute("SELECT amazon_order_id, total_refunded FROM commerce_orders"):
        if Decimal(str(refunded)) != live.get(order_id, Decimal(0)):
            problems.append(f"order {order_id}: refunded {refunded}, its live credit memos {live.get(order_id, 0)}")
    counts["mismatches"] = len(problems)
    assert not problems, f"{len(problems)} money mismatches: {problems[:10]}"
    return dict(counts)


def check_commerce_totals(store: Store) -> int:
    bad = store.conn.execute(
        "SELECT order_id, order_item_id FROM commerce_order_items WHERE qty_invoiced > qty_ordered "
        "OR qty_shipped > qty_ordered OR qty_refunded > qty_ordered OR qty_canceled > qty_ordered "
        "OR qty_invoiced + qty_canceled > qty_ordered OR qty_shipped + qty_canceled > qty_ordered "
        "OR qty_refunded > qty_invoiced"
    ).fetchall()
    assert not bad, f"item quantities out of balance: {bad[:10]}"
    count = 0
    for increment_id, grand_total, invoiced, paid, refunded, canceled in store.conn.execute(
        "SELECT increment_id, grand_total, total_invoiced, total_paid, total_refunded, total_canceled FROM commerce_orders"
    ):
        count += 1
        grand, inv, pay, ref, can = (Decimal(v) for v in (grand_total, invoiced, paid, refunded, canceled))
        assert ref <= pay, f"{increment_id}: refunded {ref} > paid {pay}"
        assert inv <= grand, f"{increment_id}: invoiced {inv} > grand total {grand}"
        assert min(inv, pay, ref, can) >= 0, f"{increment_id}: a negative total"
    return count
