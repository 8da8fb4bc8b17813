"""Notifications (issue 16): latency to the store, Amazon calls per 1,000 changes, throughput.

    .venv/bin/python benchmarks/notifications.py [--quick]

Real parts: the simulator on loopback (its Notifications API and SQS endpoint, boto3 as the
SQS client), the listener and the importer in this process, a SQLite store file.

1. Latency from a status change at the simulated Amazon to the store.
   - listen: the simulator clock is frozen, so what is measured is wall time from the
     change (``set_status``) to the end of the listener's poll that stored it (receive,
     schema check, getOrder, commit, delete). Amazon's own delivery delay (change -> message
     in the queue) is NOT included: Amazon publishes no figure for it; the simulator
     delivers at once.
   - cron sync every 5 minutes: simulated clock. Changes at random times; the clock is
     moved to each cron tick and sync_orders runs (real HTTP, real store). Latency = the
     simulated time from the change to the tick whose sync stored it (searchOrders serves
     an order only 2 minutes after its last update), plus that sync's wall time.
2. Amazon calls per 1,000 changes: 1,000 orders changed once each (10 % delivered twice),
   drained by listen --once's service; then one sync sweep.
3. Throughput at the usage plans (orders/day): getOrder 0.5/s burst 30 (one per changed
   order) against searchOrders 0.0056/s burst 20 at 100 orders a page; and measured: 300
   notifications drained against the simulator's getOrder bucket at time scale 20 with the
   client's limiter on the same scaled plan, scaled back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

from amzorders.amazon.client import LwaCredentials, SpApiClient  # noqa: E402
from amzorders.amazon.ratelimit import RateLimiter  # noqa: E402
from amzorders.amazon.sqs import NotificationQueue  # noqa: E402
from amzorders.domain import codes  # noqa: E402
from amzorders.services.importer import ImportSettings, sync_orders  # noqa: E402
from amzorders.services.listener import Listener  # noqa: E402
from amzorders.services.notifications import setup  # noqa: E402
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator  # noqa: E402
from amzorders.simulator.notifications import AWS_REGION, AWS_TEST_CREDENTIALS, DEFAULT_QUEUE, queue_arn  # noqa: E402
from amzorders.store import Store  # noqa: E402

CREDENTIALS = LwaCredentials(*(SIMULATOR_CREDENTIALS[k] for k in ("client_id", "client_secret", "refresh_token")))
SETTINGS = ImportSettings(account="main")
US = "ATVPDKIKX0DER"


class Account:
    name = "main"
    merchant_id = "A1SIMULATEDSELLER"
    marketplace_ids = (US,)


def world(work: Path, name: str, orders: int, *, time_scale: float = 1.0, plans=None):
    """A simulator with ``orders`` UNSHIPPED orders already in the store, subscribed.
    ``plans`` None: no usage plans on either side and a frozen clock (latency and call
    counts); else the simulator's buckets at ``time_scale`` on a running clock and the
    client's limiter on ``plans`` (throughput)."""
    sim = Simulator(work / f"{name}.json", seed=3, orders=0, arrivals_per_hour=0, rate_limits=plans is not None,
                    time_scale=time_scale, frozen_clock=plans is None)
    sim.start()
    limiter = RateLimiter(plans=plans if plans is not None else {})
    client = SpApiClient(sim.base_url, CREDENTIALS, sim.token_url, rate_limiter=limiter)
    store = Store.open(work / f"{name}.db")
    added = sim.add_orders(orders, status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id=US) if orders else []
    sim.advance(minutes=3)
    sync_orders(store, client, SETTINGS, since=sim.now() - timedelta(days=1), now=sim.now)
    if plans is not None:
        sim.advance(seconds=60)  # the Notifications API's burst of 5 is shared with nothing, but refill anyway
    setup(client, queue_arn(DEFAULT_QUEUE))
    queue = NotificationQueue(sim.notifications.queue_url(sim.base_url), region=AWS_REGION,
                              endpoint_url=sim.base_url, credentials=dict(AWS_TEST_CREDENTIALS))
    listener = Listener(store, client, queue, Account(), SETTINGS, visibility_timeout=300, now=lambda: sim.now())
    return sim, client, store, queue, listener, added


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency(work: Path, changes: int) -> list[list[str]]:
    sim, client, store, queue, listener, orders = world(work, "latency", changes)
    listen_ms = []
    for order in orders:
        sim.advance(seconds=2)
        began = time.perf_counter()
        sim.set_status(order, "SHIPPED")
        report = listener.poll(wait_seconds=0)
        listen_ms.append((time.perf_counter() - began) * 1000)
        assert report.imported == 1, report.summary()
    queue.close()
    store.close()
    sim.stop()

    # cron every 5 minutes, on the simulated clock
    sim, client, store, queue, listener, orders = world(work, "cron", changes)
    rng = random.Random(16)
    period = 300.0
    horizon = period * max(4, changes // 10)
    times = sorted(rng.uniform(0, horizon) for _ in orders)
    changed_at = {}
    pending = list(zip(times, orders))
    seconds_now = 0.0
    cron_s = []
    tick = period
    while True:
        # apply the changes that happen before this tick, each at its own simulated time
        while pending and pending[0][0] <= tick:
            at, order = pending.pop(0)
            sim.advance(seconds=at - seconds_now)
            seconds_now = at
            sim.set_status(order, "SHIPPED")
            changed_at[order] = at
        sim.advance(seconds=tick - seconds_now)
        seconds_now = tick
        began = time.perf_counter()
        sync_orders(store, client, SETTINGS, now=sim.now)
        wall = time.perf_counter() - began
        states = store.stored_order_states(list(changed_at))
        for order, at in list(changed_at.items()):
            if states[order].status == "SHIPPED":
                cron_s.append(tick - at + wall)
                del changed_at[order]
        if not pending and not changed_at:
            break
        tick += period
    queue.close()
    store.close()
    sim.stop()
    return [
        ["listen (wall, frozen clock; Amazon's delivery delay not included)", f"{statistics.median(listen_ms):.0f} ms",
         f"{pct(listen_ms, 99):.0f} ms", str(len(listen_ms))],
        ["cron sync every 5 min (simulated clock + sync wall time)", f"{statistics.median(cron_s):.0f} s",
         f"{pct(cron_s, 99):.0f} s", str(len(cron_s))],
    ]


def calls_per_changes(work: Path, changes: int) -> tuple[list[list[str]], dict[str, int]]:
    sim, client, store, queue, listener, orders = world(work, "calls", changes)
    sim.notifications.inject("twice", count=changes // 10)
    sim.advance(seconds=5)
    before = sim.call_counts()
    for order in orders:
        sim.set_status(order, "SHIPPED")
    report = listener.drain(wait_seconds=1)
    after = sim.call_counts()
    sim.advance(minutes=3)
    sync_orders(store, client, SETTINGS, now=sim.now)
    swept = sim.call_counts()
    queue.close()
    store.close()
    sim.stop()

    def delta(a: dict[str, int], b: dict[str, int], name: str) -> int:
        return b.get(name, 0) - a.get(name, 0)

    facts = {
        "changes": changes, "received": report.received, "duplicates": report.duplicates,
        "getOrder": delta(before, after, "getOrder"), "searchOrders": delta(before, after, "searchOrders"),
        "receive": delta(before, after, "sqs:ReceiveMessage"), "delete": delta(before, after, "sqs:DeleteMessage"),
        "sweep_search": delta(after, swept, "searchOrders"), "sweep_get": delta(after, swept, "getOrder"),
    }
    per = 1000 / changes
    rows = [
        ["getOrder (SP-API)", f"{facts['getOrder'] * per:.0f}", "1,000 (1 per changed order)"],
        ["searchOrders between sweeps (SP-API)", f"{facts['searchOrders'] * per:.0f}", "0"],
        ["SQS ReceiveMessage / DeleteMessage (AWS)", f"{facts['receive'] * per:.0f} / {facts['delete'] * per:.0f}", "-"],
        ["duplicates delivered (10 % sent twice) -> extra getOrder", f"{facts['duplicates'] * per:.0f} -> 0", "0"],
        ["the sweep after: searchOrders pages / getOrder", f"{facts['sweep_search']} / {facts['sweep_get']}", "-"],
    ]
    return rows, facts


def throughput(work: Path, notifications: int) -> list[list[str]]:
    get_rate, get_burst = codes.USAGE_PLANS["getOrder"]
    search_rate, search_burst = codes.USAGE_PLANS["searchOrders"]
    day = 86_400
    scale = 20.0
    plans = dict(codes.USAGE_PLANS)
    plans["getOrder"] = (get_rate * scale, get_burst)
    sim, client, store, queue, listener, orders = world(work, "rate", notifications, time_scale=scale, plans=plans)
    for order in orders:
        sim.set_status(order, "SHIPPED")
    throttled_before = sim.count_429s()
    imported, began = 0, time.perf_counter()
    while imported < notifications:
        imported += listener.poll(wait_seconds=1).imported
    wall = time.perf_counter() - began
    throttled = sim.count_429s() - throttled_before
    queue.close()
    store.close()
    sim.stop()
    # N = burst + rate x t: the rate the run sustained beyond the burst
    steady = (imported - get_burst) / wall if wall else 0.0
    measured_day = steady / scale * day
    return [
        ["notifications: getOrder plan, 1 call per changed order", f"{get_rate * day + get_burst:,.0f}",
         f"{measured_day + get_burst:,.0f} ({steady / scale:.3f}/s beyond the burst, {throttled} x 429)"],
        ["polling: searchOrders plan x 100 orders a page", f"{(search_rate * day + search_burst) * 100:,.0f}", "-"],
        ["both budgets together (listen + sync sweep)", f"{(get_rate * day + get_burst) + (search_rate * day + search_burst) * 100:,.0f}", "-"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    changes = 200 if args.quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"# Notifications (issue 16), {machine()}\n")
        print(f"## Latency from a status change to the store ({changes // 5 if args.quick else 200} changes)\n")
        print(table(["path", "median", "p99", "changes"], latency(work, 40 if args.quick else 200)))
        rows, facts = calls_per_changes(work, changes)
        print(f"\n## Amazon calls per 1,000 changes (measured on {changes})\n")
        print(table(["calls", "per 1,000 changes", "goal"], rows))
        print(f"\nraw: {facts}")
        print("\n## Throughput (orders a day)\n")
        print(table(["path", "usage plan allows", "measured (time scale 20, scaled back)"],
                    throughput(work, 150 if args.quick else 300)))


if __name__ == "__main__":
    main()
