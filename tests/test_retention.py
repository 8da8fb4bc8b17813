"""purge-pii: buyer personal data leaves the store file for good, accounting data stays."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from amzorders.amazon.client import LwaCredentials, SpApiClient
from amzorders.domain.timefmt import parse_iso
from amzorders.services.importer import ImportSettings, sync_orders
from amzorders.services.retention import purge_pii
from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
from amzorders.store import Store
from amzorders.store.retention import PURGE_HISTORY_COMMENT, scrub_raw_order
from amzorders.store.times import read_time

MARKETPLACES = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"]  # conftest's account 'main'


class World:
    def __init__(self, sim: Simulator, db_path: Path) -> None:
        self.sim = sim
        self.db_path = db_path
        self.client = SpApiClient(
            sim.base_url,
            credentials=LwaCredentials(
                SIMULATOR_CREDENTIALS["client_id"],
                SIMULATOR_CREDENTIALS["client_secret"],
                SIMULATOR_CREDENTIALS["refresh_token"],
            ),
            token_url=sim.token_url,
        )

    def sync(self, since: datetime | None = None) -> None:
        store = Store.open(self.db_path)
        try:
            sync_orders(store, self.client, ImportSettings(account="main"), marketplace_ids=MARKETPLACES, since=since)
        finally:
            store.close()

    def open(self) -> Store:
        return Store.open(self.db_path)


@pytest.fixture
def world(tmp_path: Path, amzorders_home: Path):
    from conftest import write_account_config

    # 90 days of history: orders delivered long ago (due) and recently (not due) side by side.
    with Simulator(tmp_path / "market.json", seed=23, orders=160, history_days=90, rate_limits=False) as sim:
        write_account_config(amzorders_home, sim)
        w = World(sim, amzorders_home / "amzorders.db")
        w.sync(since=sim.now() - timedelta(days=100))
        yield w
        w.client.close()


def file_bytes(db_path: Path) -> bytes:
    """Everything SQLite left on disk for the store: the file, its WAL and shared memory."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{db_path}{suffix}")
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def personal_strings(raw: dict) -> set[str]:
    buyer = raw.get("buyer") or {}
    address = (raw.get("recipient") or {}).get("deliveryAddress") or {}
    values = {buyer.get("buyerName"), buyer.get("buyerEmail"), address.get("name"), address.get("addressLine1"),
              address.get("phone")}
    for item in raw.get("orderItems") or []:
        values.add((((item.get("fulfillment") or {}).get("packing") or {}).get("giftOption") or {}).get("giftMessage"))
    return {v for v in values if v}


def retention_clock(raw: dict) -> datetime:
    """The test's own reading of the documented rule (store/retention.py)."""
    fulfillment = raw["fulfillment"]
    if fulfillment["fulfillmentStatus"] == "CANCELLED":
        return parse_iso(raw["lastUpdatedTime"])
    times = [parse_iso(p["shipTime"]) for p in raw.get("packages") or []]
    deliver = (fulfillment.get("deliverByWindow") or {}).get("latestDateTime")
    if deliver:
        times.append(parse_iso(deliver))
    return max(times) if times else parse_iso(raw["lastUpdatedTime"])


def stored_ids(db_path: Path) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [r[0] for r in conn.execute("SELECT amazon_order_id FROM amazon_orders")]
    finally:
        conn.close()


@pytest.mark.sqlite_only
def test_no_trace_of_a_purged_buyer_remains_in_the_database_file(world: World):
    ids = stored_ids(world.db_path)
    raws = {i: world.sim.order(i) for i in ids}
    store = world.open()
    due = store.orders_due_for_pii_purge(datetime.now().astimezone() - timedelta(days=30))
    assert 5 < len(due) < len(ids)  # a mix: some due, some kept
    # An operator's comment quoting the buyer must not keep the e-mail alive either.
    victim = due[0]
    email = raws[victim]["buyer"]["buyerEmail"]
    store.add_history(victim, f"Buyer {email} called about the parcel.", source="operator", now=datetime.now().astimezone())
    store.close()
    before = file_bytes(world.db_path)
    assert email.encode() in before  # the search below would find it

    store = world.open()
    report = purge_pii(store)
    store.close()

    assert sorted(report.order_ids) == sorted(due) and report.compacted and report.warning is None
    kept = set(ids) - set(report.order_ids)
    kept_strings = set().union(*(personal_strings(raws[i]) for i in kept))
    after = file_bytes(world.db_path)
    checked = 0
    for order_id in report.order_ids:
        # Names and streets repeat between buyers; only strings of no kept order prove anything.
        for text in personal_strings(raws[order_id]):
            if any(text in other for other in kept_strings):  # e.g. '81 Elm St' inside '181 Elm St'
                continue
            assert text.encode() not in after, f"{text!r} of purged order {order_id} is still in the file"
            checked += 1
        assert raws[order_id]["buyer"]["buyerEmail"] not in kept_strings  # e-mails are unique: always checked
    assert checked >= 3 * len(report.order_ids)
    # Orders not yet due keep their buyer data.
    for order_id in list(kept)[:10]:
        assert raws[order_id]["buyer"]["buyerEmail"].encode() in after


@pytest.mark.sqlite_only
def test_due_orders_follow_the_retention_clock_and_keep_accounting_data(world: World):
    ids = stored_ids(world.db_path)
    raws = {i: world.sim.order(i) for i in ids}
    now = datetime.now().astimezone()
    store = world.open()
    try:
        totals_before = {r[0]: tuple(r[1:]) for r in store.conn.execute(
            "SELECT amazon_order_id, grand_total, currency, purchase_date, status, item_count FROM amazon_orders")}
        report = purge_pii(store, older_than_days=30, now=now)
        cutoff = now - timedelta(days=30)
        for order_id, raw in raws.items():
            status = raw["fulfillment"]["fulfillmentStatus"]
            due = status in ("SHIPPED", "CANCELLED") and retention_clock(raw) <= cutoff
            assert (order_id in report.order_ids) == due, (order_id, status, retention_clock(raw))
        totals_after = {r[0]: tuple(r[1:]) for r in store.conn.execute(
            "SELECT amazon_order_id, grand_total, currency, purchase_date, status, item_count FROM amazon_orders")}
        assert totals_after == totals_before
        purged = report.order_ids[0]
        row = store.conn.execute(
            "SELECT buyer_name, buyer_email, shipping_address_json, raw_json, pii_purged_at FROM amazon_orders"
            " WHERE amazon_order_id = ?", (purged,)).fetchone()
        assert row[0] is None and row[1] is None and row[2] is None and row[4]
        assert row[3] == ""  # the JSON is kept compressed (raw_zlib), read through the store
        raw = store.raw_order(purged)
        assert raw["recipient"] == {"deliveryAddress": {
            k: raws[purged]["recipient"]["deliveryAddress"][k] for k in ("countryCode", "stateOrRegion")}}
        assert "buyerName" not in json.dumps(raw) and raw["orderItems"] and raw["proceeds"]["grandTotal"]
        history = [h.comment for h in store.history(purged)]
        assert history[-1] == PURGE_HISTORY_COMMENT
        # The commerce order and its invoice are untouched.
        assert store.load_commerce_order(amazon_order_id=purged).grand_total == \
            store.order_view(purged).commerce.grand_total
        # Purging again finds nothing new and does not stamp twice.
        again = purge_pii(store, older_than_days=30, now=now)
        assert again.count == 0 and not again.compacted
        assert [h.comment for h in store.history(purged)].count(PURGE_HISTORY_COMMENT) == 1
    finally:
        store.close()


@pytest.mark.sqlite_only
def test_dry_run_changes_nothing_and_lists_the_due_orders(world: World, cli):
    def snapshot() -> list:
        conn = sqlite3.connect(world.db_path)
        try:
            return [tuple(r) for r in conn.execute("SELECT * FROM amazon_orders ORDER BY id")] + [
                tuple(r) for r in conn.execute("SELECT * FROM status_history ORDER BY id")]
        finally:
            conn.close()

    before = snapshot()
    result = cli("--db", world.db_path, "purge-pii", "--older-than", "30d", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) > 5 and all(row["purged"] is False and row["older_than_days"] == 30 for row in rows)
    assert f"{len(rows)} order(s) due" in result.stderr
    assert snapshot() == before
    text = cli("--db", world.db_path, "purge-pii", "--dry-run")
    assert text.exit_code == 0 and "nothing changed (dry run)" in text.stderr
    listed = {word for word in text.stdout.split() if word.count("-") == 2}
    assert listed == {row["amazon_order_id"] for row in rows}
    assert f"{len(rows)} order(s) due for a buyer data purge" in text.stdout  # the table's title


def test_show_says_purged_and_search_no_longer_finds_the_buyer(world: World, cli):
    store = world.open()
    victim = store.orders_due_for_pii_purge(datetime.now().astimezone() - timedelta(days=30))[0]
    store.close()
    email = world.sim.order(victim)["buyer"]["buyerEmail"]
    assert victim in cli("--db", world.db_path, "list", "--search", email, "--json").stdout
    result = cli("--db", world.db_path, "purge-pii", "--json", "--yes")
    assert result.exit_code == 0, result.stderr
    assert victim in [row["amazon_order_id"] for row in json.loads(result.stdout)]
    shown = cli("--db", world.db_path, "show", victim)
    assert shown.exit_code == 0, shown.stderr
    assert "Personal data" in shown.stdout and "purged" in shown.stdout
    assert email not in shown.stdout
    found = json.loads(cli("--db", world.db_path, "list", "--search", email, "--json").stdout)
    assert found == []


def test_a_later_sync_does_not_bring_purged_data_back(world: World):
    store = world.open()
    report = purge_pii(store)
    store.close()
    victims = report.order_ids[:3]
    for order_id in victims:
        # Amazon touches the order: the next sync reads and rewrites it.
        world.sim.set_status(order_id, world.sim.order(order_id)["fulfillment"]["fulfillmentStatus"])
    world.sim.advance(minutes=5)
    world.sync(since=world.sim.now() - timedelta(days=100))
    store = world.open()
    try:
        for order_id in victims:
            raw = world.sim.order(order_id)
            row = store.conn.execute(
                "SELECT buyer_name, buyer_email, buyer_company, shipping_address_json, raw_json, last_updated"
                " FROM amazon_orders WHERE amazon_order_id = ?", (order_id,)).fetchone()
            assert read_time(row[5]) == parse_iso(raw["lastUpdatedTime"])  # the re-import did happen
            assert row[0] is None and row[1] is None and row[2] is None and row[3] is None
            stored_raw = json.dumps(store.raw_order(order_id), ensure_ascii=False)
            for text in personal_strings(raw):
                assert text not in row[4] and text not in stored_raw
            search = store.conn.execute(
                "SELECT text FROM order_search WHERE rowid = (SELECT id FROM amazon_orders WHERE amazon_order_id = ?)",
                (order_id,)).fetchone()[0]
            assert raw["buyer"]["buyerEmail"] not in search and order_id in search
            gifts = store.conn.execute(
                "SELECT count(*) FROM amazon_order_items WHERE amazon_order_id = ? AND gift_message IS NOT NULL",
                (order_id,)).fetchone()[0]
            assert gifts == 0
    finally:
        store.close()


def test_scrub_raw_order_keeps_accounting_fields_only():
    raw = {
        "orderId": "111-1",
        "buyer": {"buyerName": "Ann Lee", "buyerEmail": "a@x", "buyerCompanyName": "Lee Ltd",
                  "buyerPurchaseOrderNumber": "PO-9"},
        "recipient": {"deliveryAddress": {"name": "Ann Lee", "addressLine1": "1 Elm St", "city": "Leeds",
                                          "postalCode": "LS1", "countryCode": "GB", "stateOrRegion": "WYK",
                                          "phone": "+44 1"},
                      "deliveryPreference": {"addressInstruction": "behind the shed"}},
        "orderItems": [{"orderItemId": "1", "fulfillment": {"packing": {"giftOption": {"giftMessage": "Love, Ann",
                                                                                        "giftWrapLevel": "Classic"}}}}],
        "packages": [{"packageReferenceId": "9", "shipFromAddress": {"name": "My Warehouse", "city": "York"}}],
        "proceeds": {"grandTotal": {"amount": "10.00", "currencyCode": "GBP"}},
    }
    cleaned = scrub_raw_order(raw)
    assert cleaned["buyer"] == {"buyerPurchaseOrderNumber": "PO-9"}
    assert cleaned["recipient"] == {"deliveryAddress": {"countryCode": "GB", "stateOrRegion": "WYK"}}
    assert cleaned["orderItems"][0]["fulfillment"]["packing"]["giftOption"] == {"giftWrapLevel": "Classic"}
    assert cleaned["packages"][0]["shipFromAddress"] == {"name": "My Warehouse", "city": "York"}  # the seller's
    assert cleaned["proceeds"] == raw["proceeds"]
    for text in ("Ann Lee", "a@x", "Lee Ltd", "1 Elm St", "+44 1", "behind the shed", "Love, Ann", "Leeds"):
        assert text not in json.dumps(cleaned)
    assert raw["buyer"]["buyerName"] == "Ann Lee"  # the input is not modified


def test_older_than_must_be_a_number_of_days(world: World, cli):
    result = cli("--db", world.db_path, "purge-pii", "--older-than", "soon")
    assert result.exit_code == 2 and "30d" in result.stderr


def test_purge_blanks_set_aside_notification_bodies_of_purged_buyers(world: World):
    """listen's poison messages may quote a buyer (ORDER_CHANGE carries DestinationPostalCode):
    purge-pii blanks the body when it names a purged order, or when it is past retention."""
    now = datetime.now().astimezone()
    store = world.open()
    try:
        due = store.orders_due_for_pii_purge(now - timedelta(days=30))
        stored = {r[0] for r in store.conn.execute("SELECT amazon_order_id FROM amazon_orders")}
        kept = sorted(stored - set(due))
        assert due and kept

        def body(order_id: str) -> str:
            return json.dumps({"Payload": {"OrderChangeNotification": {
                "AmazonOrderId": order_id, "Summary": {"DestinationPostalCode": "98101"}}}})

        with store.transaction():
            store.set_aside_message(account="main", message_id="m-due", notification_id="n1", body=body(due[0]),
                                    reason="not in Amazon's shape", receive_count=1, now=now)
            store.set_aside_message(account="main", message_id="m-kept", notification_id="n2", body=body(kept[0]),
                                    reason="not in Amazon's shape", receive_count=1, now=now)
            store.set_aside_message(account="main", message_id="m-old", notification_id="n3", body=body(kept[1]),
                                    reason="not in Amazon's shape", receive_count=1, now=now - timedelta(days=31))
        bodies = {p.message_id: store.poison_body(p.id) for p in store.poison_messages("main")}
        assert all(bodies.values())

        report = purge_pii(store, older_than_days=30, now=now)

        assert due[0] in report.order_ids and report.poison_bodies_blanked == 2
        assert "2 set-aside notification message(s) blanked" in report.summary()
        after = {p.message_id: store.poison_body(p.id) for p in store.poison_messages("main")}
        assert after == {"m-due": "", "m-kept": bodies["m-kept"], "m-old": ""}  # the rows stay, listed
        assert purge_pii(store, older_than_days=30, now=now).poison_bodies_blanked == 0
    finally:
        store.close()
